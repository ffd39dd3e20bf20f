// Row moves for the kernels that stage planes (Planes.c exports them; Depthwise.c inlines them
// into its per-plane loop, where a call per plane cost more than the move on small maps).
// Rows are mostly 2-32 floats, too short for a memcpy call each: each row is one masked vector
// move per 16 floats instead (AVX-512), or whole vectors and a scalar tail (AVX2: AMD's AVX2 masked
// stores are microcoded, 42 micro-ops with one every 12 cycles on Zen 3 (uops.info), and staging
// a plane so took as long as convolving it). With `store_lanes_avx2` likewise, the depthwise kernel
// on one core of an AMD Zen 3 (depthwise_bench.c, in one process, outputs bit for bit the same):
// 192 planes of 28x28 0.55x the time, 16x16 0.56x, 96 of 32x32 at stride 2 0.43x, 96 of 112x112
// at stride 2 0.73x, 144 of 56x56 0.85-0.89x; mobilenet_v2 at 224, two cores, whole passes 0.91-0.98x
// (six pairs, isp bench).
#include <stddef.h>
#include <stdint.h>
#include <immintrin.h>

static inline __attribute__((target("avx512f"))) void rows_avx512(const float *from, size_t fromPitch, float *to, size_t toPitch,
                                                          int32_t rows, int32_t width) {
    for (int32_t y = 0; y < rows; y++, from += fromPitch, to += toPitch)
        for (int32_t x = 0; x < width; x += 16) {
            __mmask16 lanes = width - x >= 16 ? 0xffff : (__mmask16)((1u << (width - x)) - 1);
            _mm512_mask_storeu_ps(to + x, lanes, _mm512_maskz_loadu_ps(lanes, from + x));
        }
}

static inline __attribute__((target("avx2"))) void rows_avx2(const float *from, size_t fromPitch, float *to, size_t toPitch,
                                                     int32_t rows, int32_t width) {
    for (int32_t y = 0; y < rows; y++, from += fromPitch, to += toPitch) {
        int32_t x = 0;
        for (; x + 8 <= width; x += 8) _mm256_storeu_ps(to + x, _mm256_loadu_ps(from + x));
        for (; x < width; x++) to[x] = from[x];
    }
}

// Evens 0, 2, ... and odds 1, 3, ... of 32 values in two vectors, for widths of up to 32 left.
static inline __attribute__((target("avx512f"))) void split_avx512(const float *from, size_t fromPitch, float *evens, float *odds,
                                                           size_t toPitch, int32_t rows, int32_t width) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int32_t y = 0; y < rows; y++, from += fromPitch, evens += toPitch, odds += toPitch)
        for (int32_t x = 0; x < width; x += 32) {
            const int32_t n = width - x >= 32 ? 32 : width - x;
            const __mmask32 in = n == 32 ? 0xffffffffu : (__mmask32)((1u << n) - 1);
            const __m512 a = _mm512_maskz_loadu_ps((__mmask16)in, from + x), b = _mm512_maskz_loadu_ps((__mmask16)(in >> 16), from + x + 16);
            const int32_t ne = (n + 1) / 2, no = n / 2;
            _mm512_mask_storeu_ps(evens + x / 2, (__mmask16)((1u << ne) - 1), _mm512_permutex2var_ps(a, even, b));
            _mm512_mask_storeu_ps(odds + x / 2, (__mmask16)((1u << no) - 1), _mm512_permutex2var_ps(a, odd, b));
        }
}

static inline __attribute__((target("avx2"))) void split_avx2(const float *from, size_t fromPitch, float *evens, float *odds,
                                                      size_t toPitch, int32_t rows, int32_t width) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int32_t y = 0; y < rows; y++, from += fromPitch, evens += toPitch, odds += toPitch)
        for (int32_t x = 0; x < width; x += 16) {
            const int32_t n = width - x >= 16 ? 16 : width - x;
            const __m256 a = _mm256_maskload_ps(from + x, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
            const __m256 b = _mm256_maskload_ps(from + x + 8, _mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), lane));
            // Within each 128-bit half, then the halves' 64-bit pairs in order.
            const __m256 e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8));
            const __m256 o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8));
            if (n == 16) {
                _mm256_storeu_ps(evens + x / 2, e);
                _mm256_storeu_ps(odds + x / 2, o);
            } else {  // the row's last values: scalar stores, not masked ones (see rows_avx2)
                float ev[8], od[8];
                _mm256_storeu_ps(ev, e);
                _mm256_storeu_ps(od, o);
                for (int32_t i = 0; i < (n + 1) / 2; i++) evens[x / 2 + i] = ev[i];
                for (int32_t i = 0; i < n / 2; i++) odds[x / 2 + i] = od[i];
            }
        }
}

// The first n (1-8) lanes of v to p, without AVX2's masked stores (see above).
static inline __attribute__((always_inline, target("avx2"))) void store_first_avx2(float *p, __m256 v, int32_t n) {
    if (n == 8) { _mm256_storeu_ps(p, v); return; }
    __m128 half = _mm256_castps256_ps128(v);
    if (n >= 4) { _mm_storeu_ps(p, half); p += 4; n -= 4; half = _mm256_extractf128_ps(v, 1); }
    if (n >= 2) { _mm_storel_pi((__m64 *)p, half); p += 2; n -= 2; half = _mm_movehl_ps(half, half); }
    if (n == 1) _mm_store_ss(p, half);
}

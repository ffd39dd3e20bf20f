// y += W x for one feature vector: the batch-1 classifier, on the weights as 16-output panels
// (`WeightPanels`: tile p holds rows 16p..16p+15 as `inputs` runs of 16 floats), so each tile is one
// sequential stream that every step reads a whole cache line of. Weight-bandwidth bound: the 5 MB
// of mobilenet_v2's classifier (1000 x 1280) come from L3 or memory every pass.
//
// Against reading the row-major matrix eight rows at a time (eight streams, each advancing half a
// cache line a step: the kernel before this one, which had replaced sgemm, whose packing of the
// whole matrix each call cost more than the product), 1000 x 1280, benchmarks/matrix_vector_bench.c,
// AMD Zen 5, 2026-12-03: one core, 2 MB read between calls, 77 -> 45 us (AVX2 kernel 78 -> 48);
// 24 MB between (the weights from memory) 155 -> 108 us; two cores 80 -> 57 us (AVX2 87 -> 61). In
// the pass (isp bench --profile, torchvision mobilenet_v2 at 224, the classifier step,
// alternating, a VM slow throughout): one core 157-182 -> 118-169 us (lower in 4 rounds of 5), two
// cores 109-206 -> 120-155 us (lower in 4 of 6).
#include "CKernels.h"
#include <immintrin.h>
#include <stddef.h>

// Floats ahead of the loads that each step prefetches (1 KB): level with 4 KB in the harness, and
// mostly better than none.
#define PREFETCH_AHEAD 256

// Four independent sums per lane (steps k = 0, 1, 2, 3 mod 4), added at the end: one chain of
// multiply-adds would wait on its own latency.
__attribute__((target("avx512f"))) static void panels_avx512(const float *panels, const float *x, int32_t inputs, int32_t outputs,
                                                             int32_t tile0, int32_t tile1, float *y) {
    for (int32_t t = tile0; t < tile1; t++) {
        const float *w = panels + (size_t)t * inputs * 16;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int32_t k = 0;
        for (; k + 4 <= inputs; k += 4) {
            const float *r = w + (size_t)k * 16;
            for (int j = 0; j < 4; j++) _mm_prefetch((const char *)(r + PREFETCH_AHEAD + 16 * j), _MM_HINT_T0);
            a0 = _mm512_fmadd_ps(_mm512_load_ps(r), _mm512_set1_ps(x[k]), a0);
            a1 = _mm512_fmadd_ps(_mm512_load_ps(r + 16), _mm512_set1_ps(x[k + 1]), a1);
            a2 = _mm512_fmadd_ps(_mm512_load_ps(r + 32), _mm512_set1_ps(x[k + 2]), a2);
            a3 = _mm512_fmadd_ps(_mm512_load_ps(r + 48), _mm512_set1_ps(x[k + 3]), a3);
        }
        for (; k < inputs; k++) a0 = _mm512_fmadd_ps(_mm512_load_ps(w + (size_t)k * 16), _mm512_set1_ps(x[k]), a0);
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
        const int32_t o = 16 * t, lanes = outputs - o < 16 ? outputs - o : 16;
        const __mmask16 m = (__mmask16)((1u << lanes) - 1);
        _mm512_mask_storeu_ps(y + o, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + o), sum));
    }
}

// AVX2: two tiles at a time, two streams of weights in flight instead of one, each tile's 16
// lanes as two halves with two sums each (even and odd steps k), added at the end; an odd last
// tile alone in the same order (AVX-512 keeps one tile and four sums a lane). 1000 x 1280
// (mobilenet_v2's classifier), benchmarks/matrix_vector_bench.c built with the one-tile loop and
// with this one, alternating, AMD Zen 3, 2026-12-07: one core, 2 MB read between calls 91.6-93.9
// -> 67.5-82.9 us, 40 MB between (the weights from memory) 224-234 -> 192-250; two cores 42.8-50.1
// -> 42.2-47.8 and 122-131 -> 105-120. In the pass (isp bench --profile, torchvision mobilenet_v2
// at 224, five alternations): one core 0.30-0.37 -> 0.18-0.27 ms (ONNX Runtime's Gemm 0.27-0.29),
// two cores 0.17-0.23 -> 0.11-0.19. Four tiles at a time were no faster than two in a harness of
// these loops (74-78 against 71-72 us, 2 MB between).
static inline __attribute__((always_inline, target("avx2,fma"))) void tiles_avx2(const int TILES, const float *w, const float *x,
                                                                                int32_t inputs, float *y, int32_t lanes) {
    const size_t pitch = (size_t)inputs * 16;  // from one tile's panel to the next's
    __m256 even[2][2], odd[2][2];
    for (int t = 0; t < TILES; t++)
        for (int h = 0; h < 2; h++) even[t][h] = odd[t][h] = _mm256_setzero_ps();
    int32_t k = 0;
    for (; k + 2 <= inputs; k += 2) {
        const float *r = w + (size_t)k * 16;
        const __m256 x0 = _mm256_set1_ps(x[k]), x1 = _mm256_set1_ps(x[k + 1]);
        for (int t = 0; t < TILES; t++) {
            const float *rt = r + t * pitch;
            _mm_prefetch((const char *)(rt + PREFETCH_AHEAD), _MM_HINT_T0);
            _mm_prefetch((const char *)(rt + PREFETCH_AHEAD + 16), _MM_HINT_T0);
            for (int h = 0; h < 2; h++) {
                even[t][h] = _mm256_fmadd_ps(_mm256_load_ps(rt + 8 * h), x0, even[t][h]);
                odd[t][h] = _mm256_fmadd_ps(_mm256_load_ps(rt + 16 + 8 * h), x1, odd[t][h]);
            }
        }
    }
    if (k < inputs) {
        const __m256 xk = _mm256_set1_ps(x[k]);
        for (int t = 0; t < TILES; t++)
            for (int h = 0; h < 2; h++) even[t][h] = _mm256_fmadd_ps(_mm256_load_ps(w + t * pitch + (size_t)k * 16 + 8 * h), xk, even[t][h]);
    }
    for (int t = 0; t < TILES; t++) {
        float sum[16];
        for (int h = 0; h < 2; h++) _mm256_storeu_ps(sum + 8 * h, _mm256_add_ps(even[t][h], odd[t][h]));
        const int32_t n = lanes - 16 * t < 16 ? lanes - 16 * t : 16;
        for (int32_t l = 0; l < n; l++) y[16 * t + l] += sum[l];
    }
}

__attribute__((target("avx2,fma"))) static void panels_avx2(const float *panels, const float *x, int32_t inputs, int32_t outputs,
                                                          int32_t tile0, int32_t tile1, float *y) {
    int32_t t = tile0;
    for (; t + 2 <= tile1; t += 2) tiles_avx2(2, panels + (size_t)t * inputs * 16, x, inputs, y + 16 * t, outputs - 16 * t);
    if (t < tile1) tiles_avx2(1, panels + (size_t)t * inputs * 16, x, inputs, y + 16 * t, outputs - 16 * t);
}

void isp_matrix_vector(isp_isa isa, const float *panels, const float *x, int32_t inputs, int32_t outputs, int32_t tile0, int32_t tile1,
                       float *y) {
    if (isa == ISP_AVX512) panels_avx512(panels, x, inputs, outputs, tile0, tile1, y);
    else panels_avx2(panels, x, inputs, outputs, tile0, tile1, y);
}

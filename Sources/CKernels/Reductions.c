// Batch normalisation over one channel plane, and channel saliency. Compilers keep a float sum in
// source order, one add at a time; these keep sixteen (saliency: eight) partial sums instead,
// which is several times faster and no less exact (batch norm adds the per-plane results in double).
#include "CKernels.h"
#include <stddef.h>
#include <immintrin.h>
#pragma clang diagnostic ignored "-Wpsabi"  // lanes() is always inlined into its callers

#include "Clamp.h"
typedef int32_t vi16 __attribute__((vector_size(64), aligned(4)));
#define splat16(v) ((v16){0} + (float)(v))

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __attribute__((always_inline)) float lanes(v16 v) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}

AVX2 void isp_shifted_sums(const float *x, int64_t n, float shift, float *sum, float *squares) {
    v16 s = {0}, q = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { v16 d = *(const v16 *)(x + i) - shift; s += d; q += d * d; }
    float ss = lanes(s), qq = lanes(q);
    for (; i < n; i++) { float d = x[i] - shift; ss += d; qq += d * d; }
    *sum = ss; *squares = qq;
}

// Batch norm over one plane: y = clamp(x * scale + offset, low, high), with a fused ReLU (low 0,
// high its cap) or without (infinite bounds). The backward passes recompute z = x * scale +
// offset with the same fused multiply-add, so they agree with the forward pass on every value
// about where the clamp let the gradient through, without reading y.
#define NORMALIZED(x, scale, offset) __builtin_elementwise_fma(x, scale, offset)
// Inside the clamp (a NaN passes): lanes all ones or all zeros, and the same for one value.
#define PASSES16(z, low, high) (~((z) <= (low)) & ~((z) >= (high)))
#define PASSES(z, low, high) (!((z) <= (low)) && !((z) >= (high)))

AVX2 void isp_normalize(const float *x, float *y, int64_t n, float scale, float offset, float low, float high) {
    v16 s = splat16(scale), o = splat16(offset), lo = splat16(low), hi = splat16(high);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        *(v16 *)(y + i) = clamp16(NORMALIZED(*(const v16 *)(x + i), s, o), lo, hi);
    for (; i < n; i++) {
        const float z = NORMALIZED(x[i], scale, offset), above = z < low ? low : z;  // as clamp16
        y[i] = above > high ? high : above;
    }
}

AVX2 void isp_normalize_sums(const float *dy, const float *x, int64_t n, float scale, float offset, float low, float high,
                             float shift, float *sum, float *centred) {
    v16 s = splat16(scale), o = splat16(offset), lo = splat16(low), hi = splat16(high), sh = splat16(shift);
    v16 ss = {0}, cc = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16 xv = *(const v16 *)(x + i), z = NORMALIZED(xv, s, o);
        v16 passed = (v16)((vi16)*(const v16 *)(dy + i) & PASSES16(z, lo, hi));
        ss += passed;
        cc += passed * (xv - sh);
    }
    float st = lanes(ss), ct = lanes(cc);
    for (; i < n; i++) {
        float z = NORMALIZED(x[i], scale, offset), passed = PASSES(z, low, high) ? dy[i] : 0;
        st += passed;
        ct += passed * (x[i] - shift);
    }
    *sum = st; *centred = ct;
}

AVX2 void isp_normalize_backward(const float *dy, const float *x, float *dx, int64_t n, float scale, float offset,
                                 float low, float high, float meanDy, float mean, float slope) {
    v16 s = splat16(scale), o = splat16(offset), lo = splat16(low), hi = splat16(high);
    v16 md = splat16(meanDy), m = splat16(mean), sl = splat16(slope);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16 xv = *(const v16 *)(x + i);
        v16 passed = (v16)((vi16)*(const v16 *)(dy + i) & PASSES16(NORMALIZED(xv, s, o), lo, hi));
        *(v16 *)(dx + i) = s * (passed - md - (xv - m) * sl);
    }
    for (; i < n; i++) {
        float passed = PASSES(NORMALIZED(x[i], scale, offset), low, high) ? dy[i] : 0;
        dx[i] = scale * (passed - meanDy - (x[i] - mean) * slope);
    }
}

// Saliency: one call per gate, not per channel, because the planes are small (VGG16's last gates:
// 2x2): with batch norm's sums called per channel, pruned VGG16 inference spent twice as long
// measuring saliency (perf samples). In C because Swift's SIMD8 addingProduct, compiled without a
// CPU target, calls fmaf once per lane (pruned MobileNetV2 inference took 4.8x longer).
//
// Each plane's arithmetic is fixed, whatever the ISA, the path, or how its rows were split between
// cores. Row by row: eight running sums from zero, sum k taking the row's values k, k + 8, ... (each
// a fused multiply-add; a row's values past its last multiple of 8 in one more step, the lanes past
// the row's end zero), added as ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)) into the row's sum;
// the rows' sums added in order within blocks of SALIENCY_BLOCK rows, from zero, and the blocks' sums
// in order. A map the cores wrote by rows (a convolution split by rows) is measured by each core on
// the rows it wrote, while they are in its cache: each block it wrote whole as one sum, the rows of a
// block the split cut in two each apart; the gate adds them up in the same order, which gives the
// whole plane's saliency bit for bit, so the executor decides alike at a threshold however it split.
// (Until stop 87 a plane was one run of eight sums and a split map's each core's rows' sums added:
// the last bit could differ, and with cuts placed at channels' saliencies 59 of 2210 kept another
// channel count split than on one core.) Blocks, not rows: what a core hands the gate crosses to the
// other core, and one float a row (2 KB for ResNet-18 w0.5's 32x32 gates) took the pruned passes to
// 1.025-1.031x stop 86's time with the vCPUs far apart (eight floats a row, 16 KB: the gates 0.6-0.9
// -> 1.7-2.1 us). A float a plane per block of 8 rows (two for a share of 16 rows, where the cores'
// sums were one): the shipped models' pruned passes level with stop 86's close and within about 1%
// far apart (benchmarks/interleave.py, block medians 1.008-1.017; AMD Zen 5 AVX-512).
// Planes of fewer than 64 values with rows of at most 8 (8x8 maps and below, where VGG16 and
// MobileNetV2 have most of their gates) go side by side, one per lane, their values gathered column by
// column: a row is then one step, and the same operations in the same order give the same bits. Plane
// by plane, 2.5 us for VGG16's 256 planes of 4x4 (isp bench --profile, one thread, Intel Xeon AVX-512).

#define FMA(a, b, c) __builtin_elementwise_fma(a, b, c)
// Rows a block (see above).
#define SALIENCY_BLOCK 8

// The row sums of eight planes at once, plane p's in lane p: R[p] holds plane p's row's eight sums,
// added in the order above by shuffles across the eight (one horizontal sum a row took the 8x8 and
// 14x14 maps' measurement from 0.41 to 0.60 us and 0.72 to 1.00 us, one core, AMD Zen 5; this way
// every lane's additions are the same and three levels serve eight planes). Fed in the order that
// brings plane p to lane p.
static inline __attribute__((always_inline)) AVX2 v8 row_sums8(const v8 *R) {
    const __m256 r0 = (__m256)R[0], r1 = (__m256)R[4], r2 = (__m256)R[1], r3 = (__m256)R[5];
    const __m256 r4 = (__m256)R[2], r5 = (__m256)R[6], r6 = (__m256)R[3], r7 = (__m256)R[7];
#define HALVES(a, b) _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31))  // s_k + s_k+4
    const __m256 a01 = HALVES(r0, r1), a23 = HALVES(r2, r3), a45 = HALVES(r4, r5), a67 = HALVES(r6, r7);
#undef HALVES
#define PAIRS(a, b, even, odd) _mm256_add_ps(_mm256_shuffle_ps(a, b, even), _mm256_shuffle_ps(a, b, odd))
    const __m256 b03 = PAIRS(a01, a23, _MM_SHUFFLE(1, 0, 1, 0), _MM_SHUFFLE(3, 2, 3, 2));  // (s0+s4)+(s2+s6), (s1+s5)+(s3+s7)
    const __m256 b47 = PAIRS(a45, a67, _MM_SHUFFLE(1, 0, 1, 0), _MM_SHUFFLE(3, 2, 3, 2));
    return (v8)PAIRS(b03, b47, _MM_SHUFFLE(2, 0, 2, 0), _MM_SHUFFLE(3, 1, 3, 1));
#undef PAIRS
}

// Rows [0, rows) of `width` values of K <= 8 planes (constant when inlined) `stride` apart from p,
// from a block's first row: each row's sums stored at out + r * pitch, lane k plane k (out not null,
// not byBlocks); or each block's, at its first row's place (byBlocks); or the blocks' added in order
// to *plane (out null). The planes' rows are independent chains of dependent multiply-adds, which
// keep the FMA units busy (one chain: 96 planes of 32x32 took 10 us on two threads, MobileNetV2's
// first expanded gate, Intel Xeon AVX-512).
static inline __attribute__((always_inline)) AVX2 void row_sums(const float *p, int K, int64_t stride, int32_t rows, int32_t width,
                                                                 v8 *plane, float *out, int64_t pitch, int byBlocks) {
    const int32_t whole = width / 8 * 8, rest = width - whole;
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i planes = _mm256_cmpgt_epi32(_mm256_set1_epi32(K), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    v8 block = {0};
    for (int32_t r = 0; r < rows; r++) {
        v8 row[8] = {{0}};
        const float *q = p + (int64_t)r * width;
        for (int32_t i = 0; i < whole; i += 8)
            for (int k = 0; k < K; k++) { v8 v = *(const v8 *)(q + k * stride + i); row[k] = FMA(v, v, row[k]); }
        if (rest)
            for (int k = 0; k < K; k++) { v8 v = (v8)_mm256_maskload_ps(q + k * stride + whole, tail); row[k] = FMA(v, v, row[k]); }
        const v8 sums = row_sums8(row);
        if (out && !byBlocks) {
            if (K == 8) *(v8 *)(out + (size_t)r * pitch) = sums;
            else _mm256_maskstore_ps(out + (size_t)r * pitch, planes, (__m256)sums);
            continue;
        }
        block += sums;
        if (r % SALIENCY_BLOCK != SALIENCY_BLOCK - 1 && r != rows - 1) continue;
        if (!out) *plane += block;
        else if (K == 8) *(v8 *)(out + (size_t)(r - r % SALIENCY_BLOCK) * pitch) = block;
        else _mm256_maskstore_ps(out + (size_t)(r - r % SALIENCY_BLOCK) * pitch, planes, (__m256)block);
        block = (v8){0};
    }
}

// Groups of up to eight planes from x (`stride` apart) through row_sums (`plane`: the group's sums;
// `out`: the rows' sums, its group's lanes at out + c).
#define BY_GROUPS(planes, stride, rows, width, out, pitch, byBlocks, AFTER) \
    for (int32_t c = 0; c < planes; c += 8) { \
        const float *p = x + (size_t)c * (stride); \
        v8 plane = {0}; \
        float *o = (out) ? (out) + c : 0; \
        const int K = planes - c < 8 ? planes - c : 8; \
        switch (K) { \
        case 1: row_sums(p, 1, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        case 2: row_sums(p, 2, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        case 3: row_sums(p, 3, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        case 4: row_sums(p, 4, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        case 5: row_sums(p, 5, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        case 6: row_sums(p, 6, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        case 7: row_sums(p, 7, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        default: row_sums(p, 8, stride, rows, width, &plane, o, pitch, byBlocks); break; \
        } \
        AFTER \
    }

AVX2 void isp_row_square_sums(const float *x, int32_t planes, int64_t stride, int32_t rows, int32_t width, float *out,
                              int64_t pitch) {
    BY_GROUPS(planes, stride, rows, width, out, pitch, 0, )
}

int32_t isp_saliency_block(void) { return SALIENCY_BLOCK; }

AVX2 void isp_block_square_sums(const float *x, int32_t planes, int64_t stride, int32_t rows, int32_t width, float *out,
                                int64_t pitch) {
    BY_GROUPS(planes, stride, rows, width, out, pitch, 1, )
}

// Eight planes a vector, one per lane: each block's sum (a whole block's as measured, another's its
// rows' added in order), the blocks' added in order; then the same one plane at a time.
#define BLOCKS_TO_NORMS(V, LOAD, SQRT, STORE) \
    { \
        V plane = (V){0}; \
        for (int32_t r0 = 0; r0 < rows; r0 += SALIENCY_BLOCK) { \
            V block = (V){0}; \
            if (whole[r0 / SALIENCY_BLOCK] != 0) block = LOAD(r0); \
            else for (int32_t r = r0; r < rows && r < r0 + SALIENCY_BLOCK; r++) block += LOAD(r); \
            plane += block; \
        } \
        STORE(SQRT(plane) * scale); \
    }
AVX2 void isp_norms_from_row_sums(const float *sums, const float *whole, int32_t planes, int32_t rows, float scale, float *norms) {
    int32_t c = 0;
    for (; c + 8 <= planes; c += 8) {
#define LOAD8(r) (*(const v8 *)(sums + (size_t)(r) * planes + c))
#define STORE8(v) (*(v8 *)(norms + c) = (v))
        BLOCKS_TO_NORMS(v8, LOAD8, __builtin_elementwise_sqrt, STORE8)
    }
    for (; c < planes; c++) {
#define LOAD1(r) (sums[(size_t)(r) * planes + c])
#define STORE1(v) (norms[c] = (v))
        BLOCKS_TO_NORMS(float, LOAD1, __builtin_sqrtf, STORE1)
    }
#undef LOAD8
#undef STORE8
#undef LOAD1
#undef STORE1
}

AVX2 static void norms_plane_by_plane(const float *x, int32_t planes, int32_t rows, int32_t width, float scale, float *norms) {
    const int64_t n = (int64_t)rows * width;
    BY_GROUPS(planes, n, rows, width, (float *)0, 0, 0,
              { const v8 v = __builtin_elementwise_sqrt(plane) * scale; for (int k = 0; k < K; k++) norms[c + k] = v[k]; })
}

// LANES planes at a time (V of float, I of int), column k of row r of them gathered from
// x + lane * n + r * width + k; rows of W <= 8 values. A row's one step is sum k = x * x from zero
// (one rounding, as the fused multiply-add from zero; zero past the row's end), then the row's sum
// as row_sums8 adds its eight; separate statements, so that the compiler fuses nothing.
#define SIDE_BY_SIDE(name, attr, V, I, LANES, GATHER) \
    static inline __attribute__((always_inline)) attr void name##_rows(const float *p, I lane, int32_t rows, const int W, V *plane) { \
        V block = (V){0}; \
        for (int32_t r = 0; r < rows; r++) { \
            V s[8]; \
            for (int k = 0; k < 8; k++) s[k] = (V){0}; \
            for (int k = 0; k < W; k++) { V v = GATHER(p + r * W + k, lane); s[k] = v * v; } \
            /* the sums past the row's end are +0, and adding +0 to a square changes nothing: left out */ \
            V a0 = W > 4 ? s[0] + s[4] : s[0], a1 = W > 5 ? s[1] + s[5] : s[1]; \
            V a2 = W > 6 ? s[2] + s[6] : s[2], a3 = W > 7 ? s[3] + s[7] : s[3]; \
            V b0 = W > 2 ? a0 + a2 : a0, b1 = W > 3 ? a1 + a3 : a1; \
            V row = W > 1 ? b0 + b1 : b0; \
            block += row; \
            if (r % SALIENCY_BLOCK == SALIENCY_BLOCK - 1 || r == rows - 1) { *plane += block; block = (V){0}; } \
        } \
    } \
    attr static int32_t name(const float *x, int32_t planes, int32_t rows, int32_t width, float scale, float *norms) { \
        const int32_t n = rows * width; \
        I lane; \
        for (int k = 0; k < LANES; k++) lane[k] = k * n; \
        int32_t c = 0; \
        for (; c + LANES <= planes; c += LANES) { \
            const float *p = x + (size_t)c * n; \
            V plane = (V){0}; \
            switch (width) { /* a constant row width, so that the sums stay in registers */ \
            case 1: name##_rows(p, lane, rows, 1, &plane); break; \
            case 2: name##_rows(p, lane, rows, 2, &plane); break; \
            case 3: name##_rows(p, lane, rows, 3, &plane); break; \
            case 4: name##_rows(p, lane, rows, 4, &plane); break; \
            case 5: name##_rows(p, lane, rows, 5, &plane); break; \
            case 6: name##_rows(p, lane, rows, 6, &plane); break; \
            case 7: name##_rows(p, lane, rows, 7, &plane); break; \
            default: name##_rows(p, lane, rows, 8, &plane); break; \
            } \
            *(V *)(norms + c) = __builtin_elementwise_sqrt(plane) * scale; \
        } \
        return c; \
    }

#define GATHER16(base, index) ((v16)_mm512_i32gather_ps((__m512i)(index), (base), 4))
#define GATHER8(base, index) ((v8)_mm256_i32gather_ps((base), (__m256i)(index), 4))
SIDE_BY_SIDE(norms_side_by_side_avx512, __attribute__((target("avx512f"))), v16, i16, 16, GATHER16)
SIDE_BY_SIDE(norms_side_by_side_avx2, AVX2, v8, i8, 8, GATHER8)

void isp_plane_norms(isp_isa isa, const float *x, int32_t planes, int32_t rows, int32_t width, float scale, float *norms) {
    int32_t done = 0;
    if (rows * width < 64 && width <= 8)
        done = isa == ISP_AVX512 ? norms_side_by_side_avx512(x, planes, rows, width, scale, norms)
                                 : norms_side_by_side_avx2(x, planes, rows, width, scale, norms);
    norms_plane_by_plane(x + (size_t)done * rows * width, planes - done, rows, width, scale, norms + done);
}

// A gate's kept channels: every index whose saliency (squared for the energy policy) reaches the
// cut and is not zero, ascending. Which channels pass is unpredictable, so the scalar form is
// branch-free (each index written, kept by moving on); AVX-512 compresses 16 indices a step in a
// register and stores the kept ones with a mask: compressed straight to memory (vpcompressd's
// store form), a Zen 4 took 372 ns for 256 channels instead of 19 (one core, 100,000 selections;
// the store form is microcoded there), 0.6 us of each of VGG16's gates on 256 channels.
// Together with the maximum below: a gate on VGG16's 256 channels of 2x2 spent 1.3 us deciding
// in Swift (a mispredicted branch and a dependent max a channel; isp bench --profile, one thread).
// Channels i..<n, after `count` kept ones, one at a time.
static inline __attribute__((always_inline)) int32_t select_from(const float *s, int32_t i, int32_t n, float cut, int squared,
                                                                 int32_t *kept, int32_t count) {
    for (; i < n; i++) { kept[count] = i; count += ((squared ? s[i] * s[i] : s[i]) >= cut) & (s[i] > 0); }
    return count;
}

__attribute__((target("avx512f"))) static int32_t select_avx512(const float *s, int32_t n, float cut, int squared, int32_t *kept) {
    int32_t count = 0, i = 0;
    __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 vcut = _mm512_set1_ps(cut), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16, index = _mm512_add_epi32(index, _mm512_set1_epi32(16))) {
        __m512 v = _mm512_loadu_ps(s + i), measure = squared ? _mm512_mul_ps(v, v) : v;
        __mmask16 pass = _mm512_cmp_ps_mask(measure, vcut, _CMP_GE_OQ) & _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
        const int32_t passed = __builtin_popcount(pass);
        _mm512_mask_storeu_epi32(kept + count, (__mmask16)((1u << passed) - 1), _mm512_maskz_compress_epi32(pass, index));
        count += passed;
    }
    return select_from(s, i, n, cut, squared, kept, count);
}

// AVX2 four channels a step: the lanes that pass, in order, from a table by their mask, offset by
// the step's first index and stored whole (the entries past the kept ones are overwritten by the
// next step, or lie below n). 256 channels 351 -> 96 ns (one core, Zen 4, as above; random saliencies).
static const int32_t passing_lanes[16][4] = {
    {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0}, {2, 0, 0, 0}, {0, 2, 0, 0}, {1, 2, 0, 0}, {0, 1, 2, 0},
    {3, 0, 0, 0}, {0, 3, 0, 0}, {1, 3, 0, 0}, {0, 1, 3, 0}, {2, 3, 0, 0}, {0, 2, 3, 0}, {1, 2, 3, 0}, {0, 1, 2, 3}};

AVX2 static int32_t select_avx2(const float *s, int32_t n, float cut, int squared, int32_t *kept) {
    int32_t count = 0, i = 0;
    const __m128 vcut = _mm_set1_ps(cut), zero = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) {
        __m128 v = _mm_loadu_ps(s + i), measure = squared ? _mm_mul_ps(v, v) : v;
        const int pass = _mm_movemask_ps(_mm_and_ps(_mm_cmp_ps(measure, vcut, _CMP_GE_OQ), _mm_cmp_ps(v, zero, _CMP_GT_OQ)));
        const __m128i lanes = _mm_loadu_si128((const __m128i *)passing_lanes[pass]);
        _mm_storeu_si128((__m128i *)(kept + count), _mm_add_epi32(lanes, _mm_set1_epi32(i)));
        count += (pass & 1) + (pass >> 1 & 1) + (pass >> 2 & 1) + (pass >> 3);
    }
    return select_from(s, i, n, cut, squared, kept, count);
}

int32_t isp_select_channels(isp_isa isa, const float *s, int32_t n, float cut, int32_t squared, int32_t *kept) {
    return isa == ISP_AVX512 ? select_avx512(s, n, cut, squared, kept) : select_avx2(s, n, cut, squared, kept);
}

// The largest saliency (0 for none), NaNs passed over (maxNum). Eight independent maxima instead
// of one chain of n dependent ones.
AVX2 float isp_max_saliency(const float *s, int32_t n) {
    v8 m = {0};
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) m = __builtin_elementwise_max(m, *(const v8 *)(s + i));
    float best = 0;
    for (int lane = 0; lane < 8; lane++) best = __builtin_elementwise_max(best, m[lane]);
    for (; i < n; i++) best = __builtin_elementwise_max(best, s[i]);
    return best;
}

// The energy policy's cut: the smallest squared saliency among the fewest largest channels whose
// squared saliencies reach `share` of the total (ties at the cut all kept). A selection, not a
// sort: around a pivot, one branch-free pass sums and counts the squares above it and counts the
// equal ones, then the side that holds the cut is compacted (branch-free) and searched again.
// Sorting MobileNetV2's 480 channel indices with a comparison closure took 10-15 us per gate;
// quickselect with a branch per value 4.8 us (a mispredicted branch on most values); this, 1.1 us
// (one core, Intel Xeon, 480 random values, share 0.999). Sums in double: a float square is
// exact there, and the order of the adds moves a sum by parts in 10^16. `scratch` holds n floats.
// Returns +infinity when no square is positive and finite (nothing to keep by energy).
typedef float v4f __attribute__((vector_size(16), aligned(4)));
typedef double v4d __attribute__((vector_size(32)));
typedef int v4i __attribute__((vector_size(16)));
typedef long long v4l __attribute__((vector_size(32)));

// Sum of the values above `pivot` (four vectors of four running sums: one chain of dependent adds
// would make the pass latency-bound), and how many equal it.
static inline __attribute__((always_inline)) AVX2 double sum_above(const float *v, int32_t n, float pivot, int32_t *equal) {
    v4d sums[4] = {{0}};
    v4i same = {0};
    int32_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++) {
            v4f x = *(const v4f *)(v + i + 4 * k);
            v4i greater = x > pivot;  // -1 (all ones) where true
            sums[k] += (v4d)((v4l)__builtin_convertvector(x, v4d) & __builtin_convertvector(greater, v4l));
            same -= x == pivot;
        }
    v4d all = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    double sum = (all[0] + all[1]) + (all[2] + all[3]);
    int32_t e = same[0] + same[1] + same[2] + same[3];
    for (; i < n; i++) { sum += v[i] > pivot ? (double)v[i] : 0.0; e += v[i] == pivot; }
    *equal = e;
    return sum;
}

AVX2 float isp_energy_cut(const float *s, int32_t n, float share, float *scratch) {
    for (int32_t i = 0; i < n; i++) scratch[i] = s[i] * s[i];
    int32_t none;
    const double total = sum_above(scratch, n, -1, &none);
    if (!(total > 0) || total > __DBL_MAX__) return __builtin_inff();
    double need = share * total;
    int32_t m = n;  // the candidates, scratch[0..<m], all below the values already counted in
    while (1) {
        const float pivot = scratch[m / 2];
        int32_t equal;
        const double above = sum_above(scratch, m, pivot, &equal), withPivot = above + (double)pivot * equal;
        if (above < need && withPivot >= need) return pivot;  // the pivot completes the share
        int32_t kept = 0;
        if (withPivot < need) {  // keep looking below the pivot, these all counted in
            need -= withPivot;
            for (int32_t i = 0; i < m; i++) { float x = scratch[i]; scratch[kept] = x; kept += x < pivot; }
        } else {                 // the cut lies among the greater
            for (int32_t i = 0; i < m; i++) { float x = scratch[i]; scratch[kept] = x; kept += x > pivot; }
        }
        if (kept == 0) return pivot;  // rounding left `need` unmet: the smallest value counted in
        m = kept;
    }
}

// Global average pooling, shared by training and inference (so they agree to the bit): each
// plane's sum in sixteen partial sums, as above. Summed in source order one add at a time,
// MobileNetV2 w0.5's 1280 planes of 16 took 12-13 us of a 0.8 ms batch-1 pass (isp bench
// --profile, Intel Xeon AVX-512).
AVX2 void isp_plane_means(const float *x, int64_t planes, int64_t n, float *means) {
    const float scale = 1.0f / (float)n;
    for (int64_t c = 0; c < planes; c++, x += n) {
        v16 s = {0};
        int64_t i = 0;
        for (; i + 16 <= n; i += 16) s += *(const v16 *)(x + i);
        float sum = lanes(s);
        for (; i < n; i++) sum += x[i];
        means[c] = sum * scale;
    }
}

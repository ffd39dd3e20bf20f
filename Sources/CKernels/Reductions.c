// Batch normalisation over one channel plane, and channel saliency. Compilers keep a float sum in
// source order, one add at a time; these keep sixteen (saliency: eight) partial sums instead,
// which is several times faster and no less exact (batch norm adds the per-plane results in double).
#include "CKernels.h"
#include <stddef.h>
#pragma clang diagnostic ignored "-Wpsabi"  // lanes() is always inlined into its callers

typedef float v16 __attribute__((vector_size(64), aligned(4)));
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
        *(v16 *)(y + i) = __builtin_elementwise_minimum(__builtin_elementwise_maximum(NORMALIZED(*(const v16 *)(x + i), s, o), lo), hi);
    for (; i < n; i++) y[i] = __builtin_elementwise_minimum(__builtin_elementwise_maximum(NORMALIZED(x[i], scale, offset), low), high);
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

// Saliency: one call per gate, not per channel, and eight lanes rather than sixteen, because the
// planes are small (VGG16's last gates: 2x2): with batch norm's sums called per channel, pruned
// VGG16 inference spent twice as long measuring saliency (perf samples). In C because Swift's
// SIMD8 addingProduct, compiled without a CPU target, calls fmaf once per lane (pruned
// MobileNetV2 inference took 4.8x longer).
typedef float v8 __attribute__((vector_size(32), aligned(4)));

AVX2 void isp_plane_norms(const float *x, int32_t planes, int64_t n, float scale, float *norms) {
    for (int32_t c = 0; c < planes; c++) {
        const float *p = x + (size_t)c * n;
        v8 acc = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) { v8 v = *(const v8 *)(p + i); acc = __builtin_elementwise_fma(v, v, acc); }
        float sum = 0;
        for (int lane = 0; lane < 8; lane++) sum += acc[lane];
        for (; i < n; i++) sum += p[i] * p[i];
        norms[c] = __builtin_sqrtf(sum) * scale;
    }
}

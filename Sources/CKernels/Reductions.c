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

// The energy policy's cut: the smallest squared saliency among the fewest largest channels whose
// squared saliencies reach `share` of the total. A selection (quickselect with running sums), not
// a sort: sorting MobileNetV2's 480 channel indices with a comparison closure took 10-15 us per
// gate, 10% of a pruned batch-1 pass (perf, isp bench --prune stored on mobilenetv2-fd).
// `scratch` holds n floats. Sums in double, so a total of a thousand squares rounds the same
// whichever order the partitions visit them in. Returns +infinity when every saliency is zero.
float isp_energy_cut(const float *s, int32_t n, float share, float *scratch) {
    double total = 0;
    for (int32_t i = 0; i < n; i++) { scratch[i] = s[i] * s[i]; total += scratch[i]; }
    if (total == 0) return __builtin_inff();
    double need = share * total;
    int32_t lo = 0, hi = n;  // the candidates, all below the values already counted in
    while (hi > lo) {
        // Three-way partition of [lo, hi) around the pivot: greater | equal | less.
        float pivot = scratch[lo + (hi - lo) / 2];
        int32_t gt = lo, i = lo, lt = hi;
        double above = 0;
        while (i < lt) {
            float v = scratch[i];
            if (v > pivot) { scratch[i] = scratch[gt]; scratch[gt++] = v; above += v; i++; }
            else if (v < pivot) { scratch[i] = scratch[--lt]; scratch[lt] = v; }
            else i++;
        }
        if (above >= need) { hi = gt; continue; }                // the cut lies among the greater
        double withPivot = above + (double)pivot * (lt - gt);
        if (withPivot >= need || lt == hi) return pivot;         // the pivot completes the share
        need -= withPivot; lo = lt;                              // keep all of these, look below
    }
    return scratch[lo > 0 ? lo - 1 : 0];  // rounding left `need` unmet: the smallest value seen
}

// Sums over one channel plane for batch normalisation. Compilers keep a float sum in source order,
// one add at a time; these keep sixteen partial sums instead, which is several times faster and no
// less exact (the callers add the per-plane results in double).
#include "CKernels.h"
#include <stddef.h>
#pragma clang diagnostic ignored "-Wpsabi"  // lanes() is always inlined into its callers

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef int32_t vi16 __attribute__((vector_size(64), aligned(4)));

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __attribute__((always_inline)) float lanes(v16 v) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += v[i];
    return s;
}

AVX2 float isp_sum(const float *x, int64_t n) {
    v16 acc = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += *(const v16 *)(x + i);
    float s = lanes(acc);
    for (; i < n; i++) s += x[i];
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

AVX2 float isp_dot_shifted(const float *a, const float *b, int64_t n, float shift) {
    v16 acc = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += *(const v16 *)(a + i) * (*(const v16 *)(b + i) - shift);
    float s = lanes(acc);
    for (; i < n; i++) s += a[i] * (b[i] - shift);
    return s;
}

AVX2 void isp_clamped_sums(const float *dy, const float *y, const float *x, int64_t n, float cap, float shift,
                           float *sum, float *centred) {
    v16 s = {0}, c = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16 yv = *(const v16 *)(y + i);
        vi16 inside = (yv > 0) & (yv < cap);  // all bits set where the ReLU passes
        v16 passed = (v16)((vi16)*(const v16 *)(dy + i) & inside);
        s += passed;
        c += passed * (*(const v16 *)(x + i) - shift);
    }
    float ss = lanes(s), cc = lanes(c);
    for (; i < n; i++) {
        float passed = y[i] > 0 && y[i] < cap ? dy[i] : 0;
        ss += passed;
        cc += passed * (x[i] - shift);
    }
    *sum = ss; *centred = cc;
}

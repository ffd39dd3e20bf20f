// y += W x for one feature vector: the batch-1 classifier. OpenBLAS's sgemm with one column, with
// its Haswell kernel (what it runs on AVX2 machines, and wherever OPENBLAS_CORETYPE=Haswell, as on
// the development machine), first packs the whole weight matrix: mobilenet_v2's classifier (1000 x
// 1280, 5 MB) took 0.46-0.54 ms of a 5.7-6.0 ms pass on one core, and here 0.17-0.22 ms (the pass
// 5.45-5.92 ms; isp bench --profile, AMD Zen 5, alternating). With OpenBLAS's AVX-512 kernel the
// two are level (one core 0.16-0.22 ms either way, two cores 0.08-0.15 ms). Four rows at a time,
// each weight read once: weight-bandwidth bound, so AVX2 with FMA suffices on every CPU.
#include "CKernels.h"
#include <immintrin.h>
#include <stddef.h>

__attribute__((target("avx2,fma"))) static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) void isp_matrix_vector(const float *w, const float *x, int32_t inputs, int32_t row0, int32_t row1,
                                                         float *y) {
    const int32_t body = inputs / 16 * 16;
    int32_t o = row0;
    for (; o + 4 <= row1; o += 4) {
        const float *r[4] = {w + (size_t)o * inputs, w + (size_t)(o + 1) * inputs, w + (size_t)(o + 2) * inputs,
                             w + (size_t)(o + 3) * inputs};
        __m256 a[4][2];
        for (int j = 0; j < 4; j++) a[j][0] = a[j][1] = _mm256_setzero_ps();
        for (int32_t k = 0; k < body; k += 16) {
            const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
            for (int j = 0; j < 4; j++) {
                a[j][0] = _mm256_fmadd_ps(_mm256_loadu_ps(r[j] + k), x0, a[j][0]);
                a[j][1] = _mm256_fmadd_ps(_mm256_loadu_ps(r[j] + k + 8), x1, a[j][1]);
            }
        }
        for (int j = 0; j < 4; j++) {
            float s = sum8(_mm256_add_ps(a[j][0], a[j][1]));
            for (int32_t k = body; k < inputs; k++) s += r[j][k] * x[k];
            y[o + j] += s;
        }
    }
    for (; o < row1; o++) {
        const float *r = w + (size_t)o * inputs;
        __m256 a = _mm256_setzero_ps();
        int32_t k = 0;
        for (; k + 8 <= inputs; k += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(r + k), _mm256_loadu_ps(x + k), a);
        float s = sum8(a);
        for (; k < inputs; k++) s += r[k] * x[k];
        y[o] += s;
    }
}

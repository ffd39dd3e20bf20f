// y += W x for one feature vector: the batch-1 classifier. OpenBLAS's sgemm with one column, with
// its Haswell kernel (what it runs on AVX2 machines, and wherever OPENBLAS_CORETYPE=Haswell, as on
// the development machine), first packs the whole weight matrix: mobilenet_v2's classifier (1000 x
// 1280, 5 MB) took 0.46-0.54 ms of a 5.7-6.0 ms pass on one core, and here 0.17-0.22 ms (the pass
// 5.45-5.92 ms; isp bench --profile, AMD Zen 5, alternating). With OpenBLAS's AVX-512 kernel the
// two are level (one core 0.16-0.22 ms either way, two cores 0.08-0.15 ms). Eight rows at a time,
// each weight read once: weight-bandwidth bound, so AVX2 with FMA suffices on every CPU. Against
// four rows (two accumulators a row), one core, weights from memory, alternating in one process,
// AMD Zen 5: 1000 x 1280 145 -> 123 us best, with the prefetch 111-115 (ONNX Runtime's Gemm node
// 123 us); resnet18's 1000 x 512 from memory 52-58 -> 53-54, but from L3 30-39 -> 35-43.
#include "CKernels.h"
#include <immintrin.h>
#include <stddef.h>

__attribute__((target("avx2,fma"))) static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Rows ahead of the loads, in floats: the eight row streams come from memory (5 MB does not stay
// in cache between passes), and the hardware's prefetch alone left them waiting.
#define PREFETCH_AHEAD 512

__attribute__((target("avx2,fma"))) void isp_matrix_vector(const float *w, const float *x, int32_t inputs, int32_t row0, int32_t row1,
                                                         float *y) {
    const int32_t body = inputs / 8 * 8;
    int32_t o = row0;
    for (; o + 8 <= row1; o += 8) {
        const float *r = w + (size_t)o * inputs;
        __m256 a[8];
        for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_ps();
        for (int32_t k = 0; k < body; k += 8) {
            const __m256 xk = _mm256_loadu_ps(x + k);
            for (int j = 0; j < 8; j++) {
                const float *rj = r + (size_t)j * inputs + k;
                if ((k & 15) == 0) _mm_prefetch((const char *)(rj + PREFETCH_AHEAD), _MM_HINT_T0);
                a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(rj), xk, a[j]);
            }
        }
        for (int j = 0; j < 8; j++) {
            float s = sum8(a[j]);
            for (int32_t k = body; k < inputs; k++) s += r[(size_t)j * inputs + k] * x[k];
            y[o + j] += s;
        }
    }
    for (; o < row1; o++) {
        const float *r = w + (size_t)o * inputs;
        __m256 a = _mm256_setzero_ps();
        for (int32_t k = 0; k < body; k += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(r + k), _mm256_loadu_ps(x + k), a);
        float s = sum8(a);
        for (int32_t k = body; k < inputs; k++) s += r[k] * x[k];
        y[o] += s;
    }
}

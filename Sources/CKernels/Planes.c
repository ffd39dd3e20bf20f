// Copying rows of a plane between two row pitches: an image plane into the interior of a
// zero-bordered plane (the layout the depthwise kernels and the micro-kernel read, so no tap needs
// a bounds check) and back. Rows are mostly 2-32 floats, too short for a memcpy call each: each
// row is one masked vector move per 16 floats instead. In Swift, without a CPU target and
// -Ounchecked, the same loop compiled to one scalar copy per value with overflow checks:
// MobileNetV2 w0.5 training spent twice as long in the functions making these copies (perf).
#include "CKernels.h"
#include <stddef.h>
#include <immintrin.h>

__attribute__((target("avx512f"))) static void rows_avx512(const float *from, size_t fromPitch, float *to, size_t toPitch,
                                                          int32_t rows, int32_t width) {
    for (int32_t y = 0; y < rows; y++, from += fromPitch, to += toPitch)
        for (int32_t x = 0; x < width; x += 16) {
            __mmask16 lanes = width - x >= 16 ? 0xffff : (__mmask16)((1u << (width - x)) - 1);
            _mm512_mask_storeu_ps(to + x, lanes, _mm512_maskz_loadu_ps(lanes, from + x));
        }
}

__attribute__((target("avx2"))) static void rows_avx2(const float *from, size_t fromPitch, float *to, size_t toPitch,
                                                     int32_t rows, int32_t width) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int32_t y = 0; y < rows; y++, from += fromPitch, to += toPitch)
        for (int32_t x = 0; x < width; x += 8) {
            __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(width - x), lane);
            _mm256_maskstore_ps(to + x, lanes, _mm256_maskload_ps(from + x, lanes));
        }
}

void isp_copy_rows(isp_isa isa, const float *from, int32_t fromPitch, float *to, int32_t toPitch, int32_t rows,
                   int32_t width) {
    if (isa == ISP_AVX512) rows_avx512(from, (size_t)fromPitch, to, (size_t)toPitch, rows, width);
    else rows_avx2(from, (size_t)fromPitch, to, (size_t)toPitch, rows, width);
}

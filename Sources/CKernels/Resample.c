// The two passes of PIL's 8-bit resampling (see Images/Resample.swift for the weights and the
// order of the passes). Sums are PIL's: 32-bit integers starting at half of 2^22, weights in
// 22-bit fixed point, clipped to 0...255 after the shift. As Swift loops these took 2 ms of a
// 500 x 375 -> 224 x 224 crop; the channel count as a constant and the vertical pass run row by
// row (contiguous, vectorised) make them several times faster.
#include "CKernels.h"
#include <stdlib.h>

#define AVX2 __attribute__((target("avx2")))

AVX2 static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << ISP_RESAMPLE_PRECISION_BITS) << 8) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> ISP_RESAMPLE_PRECISION_BITS);
}

AVX2 static inline __attribute__((always_inline)) void horizontal(const uint8_t *src, int64_t src_stride, int32_t rows,
                                                             const int32_t C, const int32_t *first, const int32_t *count,
                                                             const int32_t *weights, int32_t taps, int32_t outputs,
                                                             uint8_t *dst, int64_t dst_stride) {
    for (int32_t y = 0; y < rows; y++) {
        const uint8_t *row = src + y * src_stride;
        uint8_t *out = dst + y * dst_stride;
        for (int32_t o = 0; o < outputs; o++) {
            const uint8_t *p = row + (int64_t)first[o] * C;
            const int32_t *k = weights + (int64_t)o * taps;
            const int32_t half = 1 << (ISP_RESAMPLE_PRECISION_BITS - 1);
            int32_t sum[4] = {half, half, half, half};
            for (int32_t x = 0; x < count[o]; x++) {
                for (int32_t c = 0; c < C; c++) sum[c] += (int32_t)p[x * C + c] * k[x];
            }
            for (int32_t c = 0; c < C; c++) out[o * C + c] = clip8(sum[c]);
        }
    }
}

AVX2 void isp_resample_horizontal(const uint8_t *src, int64_t src_stride, int32_t rows, int32_t channels,
                                  const int32_t *first, const int32_t *count, const int32_t *weights, int32_t taps,
                                  int32_t outputs, uint8_t *dst, int64_t dst_stride) {
    // Constant channel counts let the compiler unroll the inner loop.
    switch (channels) {
    case 1: horizontal(src, src_stride, rows, 1, first, count, weights, taps, outputs, dst, dst_stride); break;
    case 3: horizontal(src, src_stride, rows, 3, first, count, weights, taps, outputs, dst, dst_stride); break;
    default: horizontal(src, src_stride, rows, channels, first, count, weights, taps, outputs, dst, dst_stride); break;
    }
}

AVX2 void isp_resample_vertical(const uint8_t *src, int64_t src_stride, const int32_t *first, const int32_t *count,
                           const int32_t *weights, int32_t taps, int32_t outputs, int32_t bytes, uint8_t *dst,
                           int64_t dst_stride, int32_t *sums) {
    for (int32_t o = 0; o < outputs; o++) {
        const int32_t *k = weights + (int64_t)o * taps;
        for (int32_t b = 0; b < bytes; b++) sums[b] = 1 << (ISP_RESAMPLE_PRECISION_BITS - 1);
        for (int32_t y = 0; y < count[o]; y++) {
            const uint8_t *row = src + (int64_t)(first[o] + y) * src_stride;
            const int32_t w = k[y];
            for (int32_t b = 0; b < bytes; b++) sums[b] += (int32_t)row[b] * w;
        }
        uint8_t *out = dst + (int64_t)o * dst_stride;
        for (int32_t b = 0; b < bytes; b++) out[b] = clip8(sums[b]);
    }
}

// Depthwise convolution, one channel plane at a time, sixteen output pixels per vector, forward
// and backward. Compiled for AVX-512 and AVX2 like the tiled kernel (see ConvTiles.c), picked at
// run time.
#include "CKernels.h"
#include <stddef.h>
#pragma clang diagnostic ignored "-Wpsabi"  // plane() is always inlined into its callers

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v32 __attribute__((vector_size(128), aligned(4)));

static inline __attribute__((always_inline))
void plane(const float *in, int32_t pitch, const float *w, int32_t k, int32_t stride,
           int32_t oh, int32_t ow, float bias, float low, float high, float *out) {
    const v16 lo = (v16){0} + low, hi = (v16){0} + high;
    for (int32_t y = 0; y < oh; y++) {
        const float *row = in + (size_t)y * stride * pitch;
        int32_t x = 0;
        for (; x + 16 <= ow; x += 16) {
            v16 acc = (v16){0} + bias;
            for (int32_t ky = 0; ky < k; ky++)
                for (int32_t kx = 0; kx < k; kx++) {
                    const float *p = row + ky * pitch + x * stride + kx;
                    v16 v;
                    if (stride == 1) {
                        v = *(const v16 *)p;
                    } else {  // every other of 32 consecutive values
                        v32 pair = *(const v32 *)p;
                        v = __builtin_shufflevector(pair, pair, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                    }
                    acc += v * w[ky * k + kx];
                }
            *(v16 *)(out + y * ow + x) = __builtin_elementwise_minimum(__builtin_elementwise_maximum(acc, lo), hi);
        }
        for (; x < ow; x++) {
            float acc = bias;
            for (int32_t ky = 0; ky < k; ky++)
                for (int32_t kx = 0; kx < k; kx++) acc += w[ky * k + kx] * row[ky * pitch + x * stride + kx];
            acc = acc < low ? low : acc;
            out[y * ow + x] = acc > high ? high : acc;
        }
    }
}

// MobileNetV2's 3x3 at stride 1 and 2 get their taps unrolled (and no stride test per tap): at
// stride 2 the generic loop ran torchvision's features.2.conv.1 (96 channels, 112x112 -> 56x56)
// at 1.5 ms of a 224x224 pass (isp bench --profile, medians).
#define PLANE(name, attr) \
    attr static void name(const float *in, int32_t pitch, const float *w, int32_t k, int32_t stride, \
                          int32_t oh, int32_t ow, float bias, float low, float high, float *out) { \
        if (k == 3 && stride == 1) plane(in, pitch, w, 3, 1, oh, ow, bias, low, high, out); \
        else if (k == 3 && stride == 2) plane(in, pitch, w, 3, 2, oh, ow, bias, low, high, out); \
        else plane(in, pitch, w, k, stride, oh, ow, bias, low, high, out); \
    }

PLANE(plane_avx512, __attribute__((target("avx512f,avx512vl,fma"))))
PLANE(plane_avx2, __attribute__((target("avx2,fma"))))

void isp_depthwise_plane(isp_isa isa, const float *in, int32_t pitch, const float *w, int32_t k, int32_t stride,
                         int32_t oh, int32_t ow, float bias, float low, float high, float *out) {
    if (isa == ISP_AVX512) plane_avx512(in, pitch, w, k, stride, oh, ow, bias, low, high, out);
    else plane_avx2(in, pitch, w, k, stride, oh, ow, bias, low, high, out);
}

// Backward of plane(): each output gradient vector meets the sixteen (stride 2: thirty-two) input
// values under every tap once, feeding both the tap's weight gradient (kept in a vector per tap,
// summed across lanes at the end) and the input gradient.
static inline __attribute__((always_inline))
void plane_backward(const float *in, float *din, int32_t pitch, const float *w, float *gw, int32_t k,
                    int32_t stride, int32_t oh, int32_t ow, const float *dy) {
    v16 acc[ISP_DEPTHWISE_MAX_TAPS];
    float rest[ISP_DEPTHWISE_MAX_TAPS];
    for (int32_t t = 0; t < k * k; t++) { acc[t] = (v16){0}; rest[t] = 0; }
    for (int32_t y = 0; y < oh; y++) {
        const float *row = in + (size_t)y * stride * pitch;
        float *drow = din + (size_t)y * stride * pitch;
        int32_t x = 0;
        for (; x + 16 <= ow; x += 16) {
            const v16 g = *(const v16 *)(dy + y * ow + x);
            for (int32_t ky = 0; ky < k; ky++)
                for (int32_t kx = 0; kx < k; kx++) {
                    const int32_t t = ky * k + kx, at = ky * pitch + x * stride + kx;
                    const v16 gw16 = g * w[t];
                    if (stride == 1) {
                        acc[t] += g * *(const v16 *)(row + at);
                        *(v16 *)(drow + at) += gw16;
                    } else {  // the sixteen values sit at every other of 32 floats
                        v32 pair = *(const v32 *)(row + at);
                        acc[t] += g * __builtin_shufflevector(pair, pair, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                        *(v32 *)(drow + at) += __builtin_shufflevector(gw16, (v16){0}, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22,
                                                                       7, 23, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
                    }
                }
        }
        for (; x < ow; x++) {
            const float g = dy[y * ow + x];
            for (int32_t ky = 0; ky < k; ky++)
                for (int32_t kx = 0; kx < k; kx++) {
                    const int32_t t = ky * k + kx, at = ky * pitch + x * stride + kx;
                    rest[t] += g * row[at];
                    drow[at] += g * w[t];
                }
        }
    }
    for (int32_t t = 0; t < k * k; t++) {
        float sum = rest[t];
        for (int lane = 0; lane < 16; lane++) sum += acc[t][lane];
        gw[t] += sum;
    }
}

#define PLANE_BACKWARD(name, attr) \
    attr static void name(const float *in, float *din, int32_t pitch, const float *w, float *gw, int32_t k, \
                          int32_t stride, int32_t oh, int32_t ow, const float *dy) { \
        if (k == 3 && stride == 1) plane_backward(in, din, pitch, w, gw, 3, 1, oh, ow, dy); \
        else if (k == 3 && stride == 2) plane_backward(in, din, pitch, w, gw, 3, 2, oh, ow, dy); \
        else plane_backward(in, din, pitch, w, gw, k, stride, oh, ow, dy); \
    }

PLANE_BACKWARD(plane_backward_avx512, __attribute__((target("avx512f,avx512vl,fma"))))
PLANE_BACKWARD(plane_backward_avx2, __attribute__((target("avx2,fma"))))

void isp_depthwise_plane_backward(isp_isa isa, const float *in, float *din, int32_t pitch, const float *w, float *gw,
                                  int32_t k, int32_t stride, int32_t oh, int32_t ow, const float *dy) {
    if (isa == ISP_AVX512) plane_backward_avx512(in, din, pitch, w, gw, k, stride, oh, ow, dy);
    else plane_backward_avx2(in, din, pitch, w, gw, k, stride, oh, ow, dy);
}

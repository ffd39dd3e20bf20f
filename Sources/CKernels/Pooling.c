// Max pooling without winners (batch-1 inference and training's forward pass in evaluation mode):
// a 2x2 window at stride 2 (VGG16's pools) and a 3x3 window at stride 2 with padding 1 (ResNet's
// stem). In Swift each output took one scalar comparison chain with an
// optional index store: 18 us for VGG16 w0.5's first pool (32 planes of 32x32), 4.4% of a pruned
// pass (isp bench --profile, Intel Xeon AVX-512). Here a row pair's maximum is taken a vector at a
// time and its even and odd columns are separated with one two-source shuffle. The same generic
// body is compiled per instruction set, as in ConvTiles.c.
#include "CKernels.h"
#include <stddef.h>
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
typedef float v4 __attribute__((vector_size(16), aligned(4)));

// __builtin_elementwise_maximum is llvm.maximum: NaN wins (as in PyTorch), and no branch, which
// mattered on the narrow maps that end in scalars (random data, a mispredicted branch a value).
#define MAX(a, b) __builtin_elementwise_maximum(a, b)

// Outputs j.. of one output row, a row pair (a, b) of input, W at a time while W fit.
#define STEP(V, W, EVEN, ODD) \
    for (; j + W <= ow; j += W) { \
        V m0 = MAX(*(const V *)(a + 2 * j), *(const V *)(b + 2 * j)); \
        V m1 = MAX(*(const V *)(a + 2 * j + W), *(const V *)(b + 2 * j + W)); \
        *(V *)(o + j) = MAX(__builtin_shufflevector(m0, m1, EVEN), __builtin_shufflevector(m0, m1, ODD)); \
    }

#define EVEN16 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ODD16 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#define EVEN8 0, 2, 4, 6, 8, 10, 12, 14
#define ODD8 1, 3, 5, 7, 9, 11, 13, 15
#define EVEN4 0, 2, 4, 6
#define ODD4 1, 3, 5, 7
#define WIDE_STEPS16 STEP(v16, 16, EVEN16, ODD16) STEP(v8, 8, EVEN8, ODD8)
#define WIDE_STEPS8 STEP(v8, 8, EVEN8, ODD8)

// VGG16 w0.5's maps give rows of 16, 8, 4, 2 and 1 outputs: each width is one step.
#define POOL(name, attr, WIDE_STEPS) \
    attr static void name(const float *x, int32_t planes, int32_t ih, int32_t iw, float *out) { \
        const int32_t oh = ih / 2, ow = iw / 2; \
        for (int32_t p = 0; p < planes; p++) \
            for (int32_t oy = 0; oy < oh; oy++) { \
                const float *a = x + ((size_t)p * ih + 2 * oy) * iw, *b = a + iw; \
                float *o = out + ((size_t)p * oh + oy) * ow; \
                int32_t j = 0; \
                WIDE_STEPS \
                STEP(v4, 4, EVEN4, ODD4) \
                for (; j < ow; j++) o[j] = MAX(MAX(a[2 * j], a[2 * j + 1]), MAX(b[2 * j], b[2 * j + 1])); \
            } \
    }

POOL(pool_avx512, __attribute__((target("avx512f"))), WIDE_STEPS16)
POOL(pool_avx2, __attribute__((target("avx2"))), WIDE_STEPS8)

void isp_max_pool_2x2(isp_isa isa, const float *x, int32_t planes, int32_t ih, int32_t iw, float *out) {
    if (isa == ISP_AVX512) pool_avx512(x, planes, ih, iw, out);
    else pool_avx2(x, planes, ih, iw, out);
}

// 3x3 windows at stride 2, padding 1 (positions in the padding never win): per output row, the
// maximum of its two or three input rows into a column buffer bordered with -infinity, then the
// maximum of each window's three columns, the even and odd ones separated by shuffles. ResNet-18's
// pool at 112x112 (64 planes) took 0.58 ms in Swift (a column loop, then each window's columns one
// by one; isp bench --profile, Intel Xeon AVX-512).
#define STEP3(V, W, EVEN, ODD) \
    for (; j + W <= ow; j += W) { \
        V a0 = *(const V *)(c + 2 * j), a1 = *(const V *)(c + 2 * j + W); \
        V b0 = *(const V *)(c + 2 * j + 2), b1 = *(const V *)(c + 2 * j + 2 + W); \
        V m = MAX(__builtin_shufflevector(a0, a1, EVEN), __builtin_shufflevector(a0, a1, ODD)); \
        *(V *)(o + j) = MAX(m, __builtin_shufflevector(b0, b1, EVEN)); \
    }

#define POOL3(name, attr, WIDE_STEPS) \
    attr static void name(const float *x, int32_t planes, int32_t ih, int32_t iw, float *out) { \
        const int32_t oh = (ih - 1) / 2 + 1, ow = (iw - 1) / 2 + 1; \
        float column[iw + 3]; /* column[1 + x]: input column x; the border -infinity */ \
        float *c = column; \
        c[0] = c[iw + 1] = c[iw + 2] = -__builtin_inff(); \
        for (int32_t p = 0; p < planes; p++) \
            for (int32_t oy = 0; oy < oh; oy++) { \
                const int32_t y0 = 2 * oy - 1 < 0 ? 0 : 2 * oy - 1, y1 = 2 * oy + 1 < ih ? 2 * oy + 1 : ih - 1; \
                const float *plane = x + (size_t)p * ih * iw; \
                for (int32_t i = 0; i < iw; i++) c[1 + i] = plane[(size_t)y0 * iw + i]; \
                for (int32_t y = y0 + 1; y <= y1; y++) \
                    for (int32_t i = 0; i < iw; i++) c[1 + i] = MAX(c[1 + i], plane[(size_t)y * iw + i]); \
                float *o = out + ((size_t)p * oh + oy) * ow; \
                int32_t j = 0; \
                WIDE_STEPS \
                STEP3(v4, 4, EVEN4, ODD4) \
                for (; j < ow; j++) o[j] = MAX(MAX(c[2 * j], c[2 * j + 1]), c[2 * j + 2]); \
            } \
    }

#define WIDE_STEPS3_16 STEP3(v16, 16, EVEN16, ODD16) STEP3(v8, 8, EVEN8, ODD8)
#define WIDE_STEPS3_8 STEP3(v8, 8, EVEN8, ODD8)
POOL3(pool3_avx512, __attribute__((target("avx512f"))), WIDE_STEPS3_16)
POOL3(pool3_avx2, __attribute__((target("avx2"))), WIDE_STEPS3_8)

void isp_max_pool_3x3_stride2(isp_isa isa, const float *x, int32_t planes, int32_t ih, int32_t iw, float *out) {
    if (isa == ISP_AVX512) pool3_avx512(x, planes, ih, iw, out);
    else pool3_avx2(x, planes, ih, iw, out);
}

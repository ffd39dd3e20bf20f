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

// Rows of 2 and 4 inputs (VGG16 w0.5's 2x2 and 4x4 maps), whose outputs a row pair would give as
// scalars: 4 row pairs at a time instead, their top and bottom rows gathered into one vector
// each. Row pair by row pair, VGG16 w0.5's pools of 256 planes of 4x4 and of 2x2 took 3.4 and 1.7
// us for 1024 and 256 outputs (isp bench --profile, one core, AMD Zen 4).
#define PAIRS4_OF_4 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27
#define PAIRS4_OF_4_BOTTOM 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31
#define NARROW_ROWS(x, pairs, iw, out) \
    for (; k + 4 <= pairs; k += 4) { \
        const float *r = x + (size_t)k * 2 * iw; \
        if (iw == 4) { /* 4 pairs: 32 floats, 8 outputs */ \
            const v16 c0 = *(const v16 *)r, c1 = *(const v16 *)(r + 16); \
            const v16 m = MAX(__builtin_shufflevector(c0, c1, PAIRS4_OF_4), __builtin_shufflevector(c0, c1, PAIRS4_OF_4_BOTTOM)); \
            *(v8 *)(out + 2 * k) = MAX(__builtin_shufflevector(m, m, EVEN8), __builtin_shufflevector(m, m, ODD8)); \
        } else { /* 4 pairs: 16 floats, 4 outputs */ \
            const v16 c = *(const v16 *)r; \
            const v8 m = MAX(__builtin_shufflevector(c, c, EVEN8), __builtin_shufflevector(c, c, ODD8)); \
            *(v4 *)(out + k) = MAX(__builtin_shufflevector(m, m, EVEN4), __builtin_shufflevector(m, m, ODD4)); \
        } \
    }

// `pairs` row pairs from x (pair k at x + 2 k iw) to out (pair k's outputs at out + k ow).
// VGG16 w0.5's maps give rows of 16, 8, 4, 2 and 1 outputs: each width is one step.
#define ROW_PAIRS(WIDE_STEPS, x, pairs, iw, out) \
    do { \
        const int32_t ow = iw / 2; \
        int32_t k = 0; \
        if (iw == 2 || iw == 4) NARROW_ROWS(x, pairs, iw, out) \
        for (; k < pairs; k++) { \
            const float *a = x + (size_t)k * 2 * iw, *b = a + iw; \
            float *o = out + (size_t)k * ow; \
            int32_t j = 0; \
            WIDE_STEPS \
            STEP(v4, 4, EVEN4, ODD4) \
            for (; j < ow; j++) o[j] = MAX(MAX(a[2 * j], a[2 * j + 1]), MAX(b[2 * j], b[2 * j + 1])); \
        } \
    } while (0)

// Planes of even height follow one another as row pairs; an odd height leaves each plane's last row out.
#define POOL(name, attr, WIDE_STEPS) \
    attr static void name(const float *x, int32_t planes, int32_t ih, int32_t iw, float *out) { \
        const int32_t oh = ih / 2, ow = iw / 2; \
        if (ih % 2 == 0) { ROW_PAIRS(WIDE_STEPS, x, planes * oh, iw, out); return; } \
        for (int32_t p = 0; p < planes; p++) ROW_PAIRS(WIDE_STEPS, x + (size_t)p * ih * iw, oh, iw, out + (size_t)p * oh * ow); \
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

// The batch-1 convolution micro-kernel. Written in C rather than Swift for one reason: it needs
// AVX-512 on CPUs that have it and AVX2 elsewhere, chosen at run time, and Swift has no
// per-function target attributes. The same generic body is compiled twice, once per instruction
// set; `isp_conv_tiles` runs the one its caller names.
//
// Register blocking: TILES x 16 output channels (one vector each) by PIXELS grid positions, so
// every weight vector loaded is used PIXELS times and every input value broadcast TILES times.
#include "CKernels.h"
#include <stddef.h>
#pragma clang diagnostic ignored "-Wpsabi"  // block() is always inlined into its callers

typedef float v16 __attribute__((vector_size(64), aligned(4)));

// Macros, not functions: a v16 passed by value outside an AVX-512 function changes the ABI.
#define splat(v) ((v16){0} + (float)(v))  // outside the inner loop only: it costs an add
#define load16(p) (*(const v16 *)(p))

static inline __attribute__((always_inline))
void block(const int TILES, const int PIXELS, const int STRIDE, const isp_conv_input *in, const float *panels, int32_t rows,
           int32_t outChannels, int32_t tile, int32_t tileEnd, int32_t q, int32_t shift, const isp_conv_output *out) {
    v16 acc[2][24];
    _Pragma("clang loop unroll(full)")
    for (int t = 0; t < TILES; t++) _Pragma("clang loop unroll(full)") for (int p = 0; p < PIXELS; p++) acc[t][p] = (v16){0};
    const float *tilePanel = panels + (size_t)tile * rows * 16;
    // The next tiles' weights are fetched into L2 while these compute. With few grid positions
    // the weights dominate the traffic, and one stream from memory cannot keep the FMAs busy:
    // measured on a 4x4 map, 256 -> 256 channels, weights not in cache, 240 -> 175 us.
    // Only tiles of this call's range: past it they are another core's, or past the panels' end.
    const int32_t ahead = tileEnd - tile - TILES;
    const float *nextPanel = ahead > 0 ? tilePanel + (size_t)TILES * rows * 16 : tilePanel;
    const int32_t taps = in->taps;
    for (int32_t i = 0; i < in->channels; i++) {
        const float *xc = in->x + in->xOffset[i] + (size_t)q * STRIDE;
        const size_t row = (size_t)in->weightChannel[i] * taps * 16;
        const float *w = tilePanel + row, *next = nextPanel + row;
        for (int32_t k = 0; k < taps; k++) {
            const float *xt = xc + in->tapOffset[k];
            _Pragma("clang loop unroll(full)")
            for (int t = 0; t < TILES; t++) __builtin_prefetch(next + (size_t)(t < ahead ? t : 0) * rows * 16 + k * 16, 0, 2);
            v16 w0 = load16(w + k * 16);
            v16 w1 = TILES > 1 ? load16(w + (size_t)rows * 16 + k * 16) : w0;
            _Pragma("clang loop unroll(full)")
            for (int p = 0; p < PIXELS; p++) {
                float b = xt[p * STRIDE];  // vector * scalar broadcasts the scalar
                acc[0][p] += w0 * b;
                if (TILES > 1) acc[1][p] += w1 * b;
            }
        }
    }
    // Bias, clamp, then a transpose through a small buffer: each output channel's pixels are
    // written as one run instead of 16 lane extracts per pixel. A residual is added (and the
    // clamp applied) during the transpose, where each value meets its output pixel.
    for (int t = 0; t < TILES; t++) {
        int32_t o0 = (tile + t) * 16;
        int32_t n = outChannels - o0 < 16 ? outChannels - o0 : 16;
        float bias[16] = {0};
        for (int j = 0; j < n; j++) bias[j] = out->bias[o0 + j];
        v16 vb = load16(bias), lo = splat(out->low), hi = splat(out->high);
        float buffer[PIXELS][16];
        float *dst = out->out + (size_t)o0 * out->plane + q + shift;
        if (out->residual) {
            const float *res = out->residual + (size_t)o0 * out->plane + q + shift;
            _Pragma("clang loop unroll(full)")
            for (int p = 0; p < PIXELS; p++) *(v16 *)buffer[p] = acc[t][p] + vb;
            for (int j = 0; j < n; j++, dst += out->plane, res += out->plane)
                _Pragma("clang loop unroll(full)")
                for (int p = 0; p < PIXELS; p++) {
                    float v = buffer[p][j] + res[p];
                    v = v < out->low ? out->low : v;
                    dst[p] = v > out->high ? out->high : v;
                }
        } else {
            _Pragma("clang loop unroll(full)")
            for (int p = 0; p < PIXELS; p++)
                *(v16 *)buffer[p] = __builtin_elementwise_minimum(__builtin_elementwise_maximum(acc[t][p] + vb, lo), hi);
            for (int j = 0; j < n; j++, dst += out->plane)
                _Pragma("clang loop unroll(full)")
                for (int p = 0; p < PIXELS; p++) dst[p] = buffer[p][j];
        }
    }
}

// One block of TILES x PIXELS at pixel stride S, with the arguments every call passes.
#define CALL(TILES, PIXELS, S) block(TILES, PIXELS, S, in, panels, rows, outChannels, tile, tile1, q, shift, out)

#define SMALL_CASES(T, S) \
    switch (n) { \
    case 12: CALL(T, 12, S); break; \
    case 11: CALL(T, 11, S); break; \
    case 10: CALL(T, 10, S); break; \
    case 9: CALL(T, 9, S); break; \
    case 8: CALL(T, 8, S); break; \
    case 7: CALL(T, 7, S); break; \
    case 6: CALL(T, 6, S); break; \
    case 5: CALL(T, 5, S); break; \
    case 4: CALL(T, 4, S); break; \
    case 3: CALL(T, 3, S); break; \
    case 2: CALL(T, 2, S); break; \
    default: CALL(T, 1, S); break; \
    }

// One tile, 13-24 positions (see `whole` below).
#define WHOLE_CASES(S) \
    switch (n) { \
    case 24: CALL(1, 24, S); break; \
    case 23: CALL(1, 23, S); break; \
    case 22: CALL(1, 22, S); break; \
    case 21: CALL(1, 21, S); break; \
    case 20: CALL(1, 20, S); break; \
    case 19: CALL(1, 19, S); break; \
    case 18: CALL(1, 18, S); break; \
    case 17: CALL(1, 17, S); break; \
    case 16: CALL(1, 16, S); break; \
    case 15: CALL(1, 15, S); break; \
    case 14: CALL(1, 14, S); break; \
    default: CALL(1, 13, S); break; \
    }

// Tiles outermost: a pair of weight tiles stays in cache while the grid positions stream past.
// Grids of 13-24 positions (an unrolled 4x4 map: 16) run as one block of one tile
// (24 accumulators), so the weights, which then dominate the traffic, are read exactly once.
// The constant conditions on WHOLE and MAXTILES keep the AVX2 build from compiling blocks it
// can never run.
#define DISPATCH(S, MAXTILES, WHOLE) \
    if (WHOLE > 12 && n > 12) { WHOLE_CASES(S) } else if (MAXTILES > 1 && two) { SMALL_CASES(2, S) } else { SMALL_CASES(1, S) }

#define KERNEL(name, attr, MAXPIX, MAXTILES, WHOLE) \
    attr static void name(const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, \
                          int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out) { \
        int whole = q1 - q0 > MAXPIX && q1 - q0 <= WHOLE; \
        /* equal blocks: 10 positions as 5 + 5, not 6 + a weight-bound 4 */ \
        int32_t blocks = whole ? 1 : (q1 - q0 + MAXPIX - 1) / MAXPIX; \
        int32_t step = blocks ? (q1 - q0 + blocks - 1) / blocks : 1; \
        for (int32_t tile = tile0; tile < tile1; tile += (whole ? 1 : MAXTILES)) { \
            int two = !whole && MAXTILES > 1 && tile + 1 < tile1; \
            for (int32_t q = q0; q < q1; q += step) { \
                int32_t n = q1 - q < step ? q1 - q : step; \
                if (in->pixelStride == 2) { DISPATCH(2, MAXTILES, WHOLE) } else { DISPATCH(1, MAXTILES, WHOLE) } \
            } \
        } \
    }

KERNEL(conv_avx512, __attribute__((target("avx512f,avx512vl,fma"))), 12, 2, 24)
KERNEL(conv_avx2, __attribute__((target("avx2,fma"))), 6, 1, 6)

isp_isa isp_cpu_isa(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? ISP_AVX512 : ISP_AVX2;
}

void isp_conv_tiles(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels,
                    int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out) {
    if (isa == ISP_AVX512) conv_avx512(in, panels, rows, outChannels, tile0, tile1, q0, q1, shift, out);
    else conv_avx2(in, panels, rows, outChannels, tile0, tile1, q0, q1, shift, out);
}

int32_t isp_conv_block(isp_isa isa) { return isa == ISP_AVX512 ? 12 : 6; }

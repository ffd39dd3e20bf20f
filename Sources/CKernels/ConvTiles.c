// The batch-1 convolution micro-kernel. Written in C rather than Swift for one reason: it needs
// AVX-512 on CPUs that have it and AVX2 elsewhere, chosen at run time, and Swift has no
// per-function target attributes. The same generic body is compiled twice, once per instruction
// set; `isp_conv_tiles` runs the one its caller names.
//
// Register blocking: TILES x 16 output channels (one vector each) by PIXELS grid positions, so
// every weight vector loaded is used PIXELS times and every input value broadcast TILES times.
#include "CKernels.h"
#include <stddef.h>
#include <immintrin.h>
#pragma clang diagnostic ignored "-Wpsabi"  // block() is always inlined into its callers

typedef float v16 __attribute__((vector_size(64), aligned(4)));

// Macros, not functions: a v16 passed by value outside an AVX-512 function changes the ABI.
#define splat(v) ((v16){0} + (float)(v))  // outside the inner loop only: it costs an add
#define load16(p) (*(const v16 *)(p))

// r[p] lane c -> r[c] lane p: four stages, each swapping the off-diagonal B x B blocks between
// rows i and i + B (two-source shuffles); after the stage of size 1 every block is transposed.
// LOWB and HIGHB pick the lanes of the new rows i and i + B from (r[i], r[i + B]).
#define LOW8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define HIGH8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define LOW4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define HIGH4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define LOW2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define HIGH2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define LOW1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define HIGH1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define SWAP_BLOCKS(B) \
    _Pragma("clang loop unroll(full)") \
    for (int i = 0; i < 16; i++) \
        if (!(i & B)) { \
            v16 a = r[i], b = r[i + B]; \
            r[i] = __builtin_shufflevector(a, b, LOW##B); \
            r[i + B] = __builtin_shufflevector(a, b, HIGH##B); \
        }
static inline __attribute__((always_inline)) void transpose16(v16 r[16]) {
    SWAP_BLOCKS(8) SWAP_BLOCKS(4) SWAP_BLOCKS(2) SWAP_BLOCKS(1)
}

#define BLOCK block_avx512
#define BLOCK_TARGET __attribute__((target("avx512f,avx512vl,fma")))
#define TRANSPOSE_EPILOGUE 1
#include "ConvBlock.h"
#undef BLOCK
#undef BLOCK_TARGET
#undef TRANSPOSE_EPILOGUE
#define BLOCK block_avx2
#define BLOCK_TARGET __attribute__((target("avx2,fma")))
#define TRANSPOSE_EPILOGUE 0
#include "ConvBlock.h"

// One block of TILES x PIXELS at pixel stride S, with the arguments every call passes.
#define CALL(TILES, PIXELS, S) BLOCK_OF_KERNEL(TILES, PIXELS, S, in, panels, rows, outChannels, tile, tile1, q, shift, out)

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

// CALL names BLOCK_OF_KERNEL, the block of the kernel being defined.
#define BLOCK_OF_KERNEL block_avx512
KERNEL(conv_avx512, __attribute__((target("avx512f,avx512vl,fma"))), 12, 2, 24)
#undef BLOCK_OF_KERNEL
#define BLOCK_OF_KERNEL block_avx2
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

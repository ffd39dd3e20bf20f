// The weight gradient of a convolution on the same input layout as isp_conv_tiles: for a block of
// weight rows (input channel, tap) and 16 or 32 output channels, the sums over every output pixel
// of dy times the input value under that tap stay in registers, so each dy vector loaded is used
// by every row of the block and each input value broadcast to both channel tiles.
#include "CKernels.h"
#include "Transpose.h"
#include <stddef.h>
#include <immintrin.h>
#pragma clang diagnostic ignored "-Wpsabi"  // gblock() is always inlined into its callers

typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define load16(p) (*(const v16 *)(p))

static inline __attribute__((always_inline))
void gblock(const int TILES, const int R, const isp_weight_gradient_args *a, int32_t tile, int32_t row0) {
    v16 sum[2][12];
    _Pragma("clang loop unroll(full)")
    for (int t = 0; t < TILES; t++) _Pragma("clang loop unroll(full)") for (int r = 0; r < R; r++) sum[t][r] = (v16){0};
    const float *x[12];
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < R; r++) x[r] = a->x + a->rowOffset[row0 + r];
    const float *dy0 = a->dyT + (size_t)tile * a->pixels * 16, *dy1 = dy0 + (size_t)a->pixels * 16;
    const int32_t s = a->pixelStride;
    for (int32_t y = 0; y < a->outputRows; y++) {
        int32_t q0 = y * a->rowPitch, p0 = y * a->outputWidth;
        for (int32_t i = 0; i < a->outputWidth; i++) {
            v16 d0 = load16(dy0 + (size_t)(p0 + i) * 16);
            v16 d1 = TILES > 1 ? load16(dy1 + (size_t)(p0 + i) * 16) : d0;
            int32_t at = (q0 + i) * s;
            _Pragma("clang loop unroll(full)")
            for (int r = 0; r < R; r++) {
                float v = x[r][at];
                sum[0][r] += d0 * v;
                if (TILES > 1) sum[1][r] += d1 * v;
            }
        }
    }
    for (int t = 0; t < TILES; t++) {
        float *g = a->gradient + ((size_t)(tile + t) * a->weightRows + row0) * 16;
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < R; r++) *(v16 *)(g + r * 16) += sum[t][r];
    }
}

// Blocks of more than MAXROWS rows never run; the constant conditions keep the AVX2 build from
// compiling them (their accumulators would not fit its registers).
#define GCASES(T, MAXROWS) \
    switch (n) { \
    case 12: if (MAXROWS >= 12) gblock(T, 12, a, tile, row); break; \
    case 11: if (MAXROWS >= 11) gblock(T, 11, a, tile, row); break; \
    case 10: if (MAXROWS >= 10) gblock(T, 10, a, tile, row); break; \
    case 9: if (MAXROWS >= 9) gblock(T, 9, a, tile, row); break; \
    case 8: if (MAXROWS >= 8) gblock(T, 8, a, tile, row); break; \
    case 7: if (MAXROWS >= 7) gblock(T, 7, a, tile, row); break; \
    case 6: gblock(T, 6, a, tile, row); break; \
    case 5: gblock(T, 5, a, tile, row); break; \
    case 4: gblock(T, 4, a, tile, row); break; \
    case 3: gblock(T, 3, a, tile, row); break; \
    case 2: gblock(T, 2, a, tile, row); break; \
    default: gblock(T, 1, a, tile, row); break; \
    }

#define GKERNEL(name, attr, MAXROWS, MAXTILES) \
    attr static void name(const isp_weight_gradient_args *a, int32_t tile0, int32_t tile1) { \
        int32_t blocks = (a->weightRows + MAXROWS - 1) / MAXROWS; \
        int32_t step = (a->weightRows + blocks - 1) / blocks; \
        for (int32_t tile = tile0; tile < tile1; tile += MAXTILES) { \
            int two = MAXTILES > 1 && tile + 1 < tile1; \
            for (int32_t row = 0; row < a->weightRows; row += step) { \
                int32_t n = a->weightRows - row < step ? a->weightRows - row : step; \
                if (MAXTILES > 1 && two) { GCASES(2, MAXROWS) } else { GCASES(1, MAXROWS) } \
            } \
        } \
    }

GKERNEL(gradient_avx512, __attribute__((target("avx512f,avx512vl,fma"))), 12, 2)
GKERNEL(gradient_avx2, __attribute__((target("avx2,fma"))), 6, 1)

void isp_conv_weight_gradient(isp_isa isa, const isp_weight_gradient_args *a, int32_t tile0, int32_t tile1) {
    if (isa == ISP_AVX512) gradient_avx512(a, tile0, tile1);
    else gradient_avx2(a, tile0, tile1);
}

// Transposes of 16-lane tiles, sixteen rows by sixteen lanes at a time in registers
// (`transpose16x16`) on AVX-512: 3.5x faster than a scalar loop over this layout, which was 2-3%
// of VGG16 training. With AVX2, four 8 x 8 transposes (`transpose8x8`): VGG16 w0.5's training
// step with AVX2 spent 2.2% in the scalar loop here and 0.4% in the one below, now 1.1% in both
// (AVX-512's: 1.1%; perf, AMD Zen 4).
// Partial tiles and the last rows go one value at a time.

/// dst[j * dstStride + i] (+)= src[i * srcStride + j] for i, j < 16.
__attribute__((target("avx512f"))) static inline void transpose16(const float *src, size_t srcStride, float *dst,
                                                                 size_t dstStride, int accumulate) {
    __m512 r[16];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * srcStride);
    transpose16x16(r);
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 16; i++) {
        float *d = dst + i * dstStride;
        _mm512_storeu_ps(d, accumulate ? _mm512_add_ps(_mm512_loadu_ps(d), r[i]) : r[i]);
    }
}

/// The same with AVX2, as four 8 x 8 transposes.
__attribute__((target("avx2"))) static inline void transpose16_avx2(const float *src, size_t srcStride, float *dst,
                                                                   size_t dstStride, int accumulate) {
    _Pragma("clang loop unroll(full)")
    for (int q = 0; q < 4; q++) {  // quarter (rows 8 * (q / 2), columns 8 * (q % 2))
        const float *s = src + (size_t)(q / 2) * 8 * srcStride + (q % 2) * 8;
        float *d = dst + (size_t)(q % 2) * 8 * dstStride + (q / 2) * 8;
        __m256 r[8];
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + i * srcStride);
        transpose8x8(r);
        _Pragma("clang loop unroll(full)")
        for (int i = 0; i < 8; i++) {
            float *di = d + i * dstStride;
            _mm256_storeu_ps(di, accumulate ? _mm256_add_ps(_mm256_loadu_ps(di), r[i]) : r[i]);
        }
    }
}

void isp_transpose_tiles(isp_isa isa, const float *x, int32_t channels, int32_t length, float *tiles) {
    for (int32_t tile = 0; tile * 16 < channels; tile++) {
        const float *rows = x + (size_t)tile * 16 * length;
        float *out = tiles + (size_t)tile * length * 16;
        int32_t lanes = channels - tile * 16 < 16 ? channels - tile * 16 : 16, p = 0;
        if (lanes == 16)
            for (; p + 16 <= length; p += 16)
                (isa == ISP_AVX512 ? transpose16 : transpose16_avx2)(rows + p, (size_t)length, out + (size_t)p * 16, 16, 0);
        for (; p < length; p++)
            for (int32_t l = 0; l < lanes; l++) out[(size_t)p * 16 + l] = rows[(size_t)l * length + p];
    }
}

void isp_untile_add(isp_isa isa, const float *tiles, int32_t channels, int32_t length, float *x) {
    for (int32_t tile = 0; tile * 16 < channels; tile++) {
        const float *in = tiles + (size_t)tile * length * 16;
        float *rows = x + (size_t)tile * 16 * length;
        int32_t lanes = channels - tile * 16 < 16 ? channels - tile * 16 : 16, p = 0;
        if (lanes == 16)
            for (; p + 16 <= length; p += 16)
                (isa == ISP_AVX512 ? transpose16 : transpose16_avx2)(in + (size_t)p * 16, 16, rows + p, (size_t)length, 1);
        for (; p < length; p++)
            for (int32_t l = 0; l < lanes; l++) rows[(size_t)l * length + p] += in[(size_t)p * 16 + l];
    }
}

void isp_flipped_panels(const float *w, int32_t outputs, int32_t inputs, int32_t taps, int32_t first, int32_t count,
                        float *panels) {
    const size_t rows = (size_t)outputs * taps;
    for (int32_t c = first; c < first + count; c++) {
        float *tile = panels + (size_t)(c / 16) * rows * 16 + c % 16;
        for (int32_t o = 0; o < outputs; o++) {
            const float *src = w + ((size_t)o * inputs + c) * taps;
            float *dst = tile + (size_t)o * taps * 16;
            for (int32_t t = 0; t < taps; t++) dst[(taps - 1 - t) * 16] = src[t];
        }
    }
}

// Unrolling a small plane for the micro-kernel (`isp_unroll_plane`). A plane of at most 16 values
// sits in one register and every tap row is one permute of it; larger planes gather 16 values at
// a time. Padding lanes (index -1) are masked to zero. 4x per value faster than a scalar gather.
__attribute__((target("avx512f"))) static void unroll_avx512(const float *plane, int32_t planeSize, const int32_t *index,
                                                            int32_t taps, int32_t pixels, int32_t rowLength, float *rows) {
    const __m512 whole = _mm512_maskz_loadu_ps(planeSize <= 16 ? (__mmask16)((1u << planeSize) - 1) : 0, plane);
    for (int32_t t = 0; t < taps; t++, rows += rowLength, index += pixels) {
        for (int32_t j = 0; j < pixels; j += 16) {
            __mmask16 lanes = pixels - j >= 16 ? 0xffff : (__mmask16)((1u << (pixels - j)) - 1);
            __m512i at = _mm512_maskz_loadu_epi32(lanes, index + j);
            __mmask16 inside = _mm512_mask_cmpge_epi32_mask(lanes, at, _mm512_setzero_si512());
            __m512 v = planeSize <= 16 ? _mm512_maskz_permutexvar_ps(inside, at, whole)
                                       : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, at, plane, 4);
            _mm512_mask_storeu_ps(rows + j, lanes, v);
        }
    }
}

// A plane of up to 16 values (`small`) in two AVX2 registers, zero past its end; larger planes are
// read in place (`lookup_avx2`).
typedef struct { int small; __m256 low, high; } plane16_avx2;

__attribute__((target("avx2"))) static inline plane16_avx2 load_plane16_avx2(const float *plane, int32_t planeSize) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    plane16_avx2 p = {planeSize <= 16, _mm256_setzero_ps(), _mm256_setzero_ps()};
    if (p.small) {
        p.low = _mm256_maskload_ps(plane, _mm256_cmpgt_epi32(_mm256_set1_epi32(planeSize), lane));
        p.high = _mm256_maskload_ps(plane + 8, _mm256_cmpgt_epi32(_mm256_set1_epi32(planeSize - 8), lane));
    }
    return p;
}

// The values of `plane` at the 8 indices `at` (lanes outside `inside` zero): for a small plane two
// permutes and a blend (an index's bit 3 picks the register), else a gather.
__attribute__((target("avx2"))) static inline __m256 lookup_avx2(const float *plane, const plane16_avx2 *p, __m256i at, __m256i inside) {
    if (!p->small) return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), plane, at, _mm256_castsi256_ps(inside), 4);
    const __m256 fromHigh = _mm256_castsi256_ps(_mm256_cmpgt_epi32(at, _mm256_set1_epi32(7)));
    const __m256 v = _mm256_blendv_ps(_mm256_permutevar8x32_ps(p->low, at), _mm256_permutevar8x32_ps(p->high, at), fromHigh);
    return _mm256_and_ps(v, _mm256_castsi256_ps(inside));
}

// Packed by blocks of up to 8 positions (rowLength == block): each tap's row of a block is one
// lookup (lookup_avx2), stored 8 lanes wide (the lanes past the block land in the next tap's row,
// written after it; the last tap's row is stored lane by lane, as the next channel's values may
// belong to another thread). The scalar loop below took 6 cycles a value, gathers about 4: one
// core, 128 channels of 28x28 unrolled for a stride-2 3x3 (14x14 outputs), 0.46 -> 0.32 ms (AMD
// Zen 3). Planes of up to 16 values (4x4 and 2x2 maps) by permutes instead: VGG16 w0.5's 4x4
// layers at batch 1, AVX2, one core, three alternations (isp bench --profile, AMD Zen 4): 256 ->
// 256 channels 0.225-0.229 -> 0.213-0.221 ms, 128 -> 256 0.116-0.119 -> 0.110-0.113; 2x2 level.
__attribute__((target("avx2"))) static void unroll_blocks_avx2(const float *plane, int32_t planeSize, const int32_t *index, int32_t taps,
                                                             int32_t pixels, int32_t block, int64_t blockPitch, float *rows) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), none = _mm256_set1_epi32(-1);
    const plane16_avx2 small = load_plane16_avx2(plane, planeSize);
    for (int32_t j = 0; j < pixels; j += block, rows += blockPitch) {
        const __m256i real = _mm256_cmpgt_epi32(_mm256_set1_epi32(pixels - j < block ? pixels - j : block), lane);
        for (int32_t t = 0; t < taps; t++) {
            const __m256i at = _mm256_maskload_epi32(index + (size_t)t * pixels + j, real);
            const __m256 v = lookup_avx2(plane, &small, at, _mm256_and_si256(real, _mm256_cmpgt_epi32(at, none)));
            if (t + 1 < taps) {
                _mm256_storeu_ps(rows + t * block, v);
            } else {
                float last[8];
                _mm256_storeu_ps(last, v);
                for (int32_t p = 0; p < block; p++) rows[t * block + p] = last[p];
            }
        }
    }
}

// Unrolled rows with AVX2, by the same lookups. The scalar loop below was 8.4% of VGG16 w0.5's
// training step with AVX2 (perf, AMD Zen 4: unrolling its 4x4 and 2x2 maps, 128 images a call),
// this 3.2% (the AVX-512 version above 1.4%).
__attribute__((target("avx2"))) static void unroll_avx2(const float *plane, int32_t planeSize, const int32_t *index, int32_t taps,
                                                       int32_t pixels, int32_t rowLength, float *rows) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), none = _mm256_set1_epi32(-1);
    const plane16_avx2 small = load_plane16_avx2(plane, planeSize);
    for (int32_t t = 0; t < taps; t++, rows += rowLength, index += pixels) {
        for (int32_t j = 0; j < pixels; j += 8) {
            const __m256i real = _mm256_cmpgt_epi32(_mm256_set1_epi32(pixels - j), lane);
            const __m256i at = _mm256_maskload_epi32(index + j, real);
            const __m256 v = lookup_avx2(plane, &small, at, _mm256_and_si256(real, _mm256_cmpgt_epi32(at, none)));
            if (pixels - j >= 8) _mm256_storeu_ps(rows + j, v);
            else _mm256_maskstore_ps(rows + j, real, v);
        }
    }
}

void isp_unroll_plane(isp_isa isa, const float *plane, int32_t planeSize, const int32_t *index, int32_t taps,
                      int32_t pixels, int32_t rowLength, int32_t block, int64_t blockPitch, float *rows) {
    if (block >= pixels) {
        (isa == ISP_AVX512 ? unroll_avx512 : unroll_avx2)(plane, planeSize, index, taps, pixels, rowLength, rows);
        return;
    }
    if (block < pixels && block <= 8 && rowLength == block) {
        unroll_blocks_avx2(plane, planeSize, index, taps, pixels, block, blockPitch, rows);
        return;
    }
    for (int32_t t = 0; t < taps; t++, rows += rowLength, index += pixels)
        for (int32_t j = 0; j < pixels; j++)
            rows[(j / block) * blockPitch + j % block] = index[j] >= 0 ? plane[index[j]] : 0;
}

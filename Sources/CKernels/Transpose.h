// A 16 x 16 transpose in AVX-512 registers, r[i] lane j -> r[j] lane i: pairs of rows
// interleaved, then pairs of pairs, then 128-bit lanes twice. Used by the weight gradient's tile
// transposes (WeightGradient.c) and the micro-kernel's epilogue (ConvBlock.h). Every loop is
// unrolled by pragma: at -O2 clang left some rolled, with the rows on the stack, and the
// transposes took 15% longer than at -O3 (perf samples, ResNet-18 w0.5 training).
#ifndef ISP_TRANSPOSE_H
#define ISP_TRANSPOSE_H
#include <immintrin.h>

__attribute__((target("avx512f"), always_inline)) static inline void transpose16x16(__m512 r[16]) {
    __m512 t[16];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 16; i += 2) {  // pairs of rows interleaved
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 16; i += 4) {  // then pairs of pairs
        __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
        __m512d c = _mm512_castps_pd(t[i + 2]), d = _mm512_castps_pd(t[i + 3]);
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 4; i++) {  // then 128-bit lanes, twice
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xdd);
    }
}
// The first two stages of the 8 x 8 transpose below on four rows (pairs of rows interleaved, then
// pairs of pairs): r[j] holds column j of the four rows in its low half, column j + 4 in its high.
__attribute__((target("avx2"), always_inline)) static inline void transpose_quads(__m256 r[4]) {
    const __m256d a = _mm256_castps_pd(_mm256_unpacklo_ps(r[0], r[1])), b = _mm256_castps_pd(_mm256_unpackhi_ps(r[0], r[1]));
    const __m256d c = _mm256_castps_pd(_mm256_unpacklo_ps(r[2], r[3])), d = _mm256_castps_pd(_mm256_unpackhi_ps(r[2], r[3]));
    r[0] = _mm256_castpd_ps(_mm256_unpacklo_pd(a, c));
    r[1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a, c));
    r[2] = _mm256_castpd_ps(_mm256_unpacklo_pd(b, d));
    r[3] = _mm256_castpd_ps(_mm256_unpackhi_pd(b, d));
}
// The same for 8 x 8 in AVX2 registers: both quads of rows, then their 128-bit halves exchanged.
__attribute__((target("avx2"), always_inline)) static inline void transpose8x8(__m256 r[8]) {
    transpose_quads(r);
    transpose_quads(r + 4);
    __m256 t[8];
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    _Pragma("clang loop unroll(full)")
    for (int i = 0; i < 8; i++) r[i] = t[i];
}
#endif

// Winograd's minimal filtering F(2x2, 3x3) for 3x3 convolutions at stride 1 with padding 1 (Lavin
// and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of output
// pixels (a tile) comes from the 4x4 input window around it as
//     Y = A^T [ (G g G^T) . (B^T d B) ] A
// (. elementwise), 16 multiplications per input channel instead of 36. Summed over the input
// channels, the 16 elementwise products are 16 matrix products, one per position xi of the 4x4
// transformed window, U[xi] (outputs x inputs) times V[xi] (inputs x tiles): the tiled kernel's
// register blocks (isp_conv_products), with the tiles as grid positions. These functions are the
// transforms around them. The input transform takes sixteen tiles a vector: a tile row's inputs
// are read as the even and odd columns of each bordered input row. The transforms have only
// additions and halvings; the exactness tests hold the networks' logits to the masked dense
// network's (forced onto direct convolutions) within 1e-4, relative. Training runs them too
// (forward, and the input gradient as a forward convolution of dy), and the weight gradient's own
// transforms below: dy through A (isp_winograd_output_gradient) and dU back through G
// (isp_winograd_weight_gradient).
#include "CKernels.h"
#include <stddef.h>
#include "Clamp.h"
#pragma clang diagnostic ignored "-Wpsabi"  // the vector helpers are always inlined into their callers

#define even16(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define odd16(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
#define low_pairs(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define high_pairs(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
#define upper8(a) __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15)

static inline __attribute__((always_inline)) v16 load16(const float *p) { return *(const v16 *)p; }

// Keeps clang from turning bordered_row's loop of vector copies into a memmove call: for rows of
// 32 floats the call cost more than the copy (training ResNet-18 w0.5 on Winograd's transforms:
// 6.9% of its time in memmove from the input transforms, `perf record`, AMD Zen 4).
#define NO_LIBRARY_COPIES __attribute__((no_builtin("memmove", "memcpy", "memset")))

typedef float v4 __attribute__((vector_size(16), aligned(4)));

// The first n (0-16) floats of `from` to `to`, in pieces of 8, 4, 2 and 1: a loop of single
// floats became a memcpy call, up to three a tile row and channel in the output transform (one
// core, benchmarks/winograd_bench.c, three alternations: 64 -> 64 channels at 56x56 93-106 ->
// 70-72 us, 128 -> 128 at 28x28 58 -> 35 us; AMD Zen 5 AVX-512).
static inline __attribute__((always_inline)) void copy_part(float *to, const float *from, int32_t n) {
    int32_t k = 0;
    if (n & 8) { *(v8 *)(to + k) = *(const v8 *)(from + k); k += 8; }
    if (n & 4) { *(v4 *)(to + k) = *(const v4 *)(from + k); k += 4; }
    if (n & 2) { to[k] = from[k]; to[k + 1] = from[k + 1]; k += 2; }
    if (n & 1) to[k] = from[k];
}

// The first n (0-16) floats at p; the rest zero. Only at a row's end: a whole vector there could
// read past the end of the last plane.
static inline __attribute__((always_inline)) v16 load_part(const float *p, int32_t n) {
    if (n >= 16) return load16(p);
    float v[16] __attribute__((aligned(64))) = {0};
    copy_part(v, p, n);
    return *(v16 *)v;
}

static inline __attribute__((always_inline)) void store_part(float *p, v16 v, int32_t n) {
    if (n >= 16) { *(v16 *)p = v; return; }
    float part[16] __attribute__((aligned(64)));
    *(v16 *)part = v;
    copy_part(p, part, n);
}

int32_t isp_winograd_tiles(int32_t length) { return (length + 1) / 2; }

// Row y of a plane as a bordered row: row[k] = plane[y][k - 1] for k in 1...width, zero at k = 0
// and for the 32 after (the vectors' reach past the last tile), or all zero outside the plane.
// Copied a vector at a time, whole vectors past the row's end (the zeros after it overwrite what
// they brought) except on the plane's last row, where they could read past the last plane.
static inline __attribute__((always_inline)) void bordered_row(const float *plane, int32_t height, int32_t width, int32_t y,
                                                               float *row) {
    if (y < 0 || y >= height) {
        for (int32_t k = 0; k < width + 33; k += 16) *(v16 *)(row + k) = (v16){0};
        return;
    }
    const float *from = plane + (size_t)y * width;
    const int32_t whole = y + 1 < height ? width : width / 16 * 16;
    int32_t k = 0;
    for (; k < whole; k += 16) *(v16 *)(row + 1 + k) = load16(from + k);
    if (k < width) copy_part(row + 1 + k, from + k, width - k);  // the plane's last row
    row[0] = 0;
    *(v16 *)(row + 1 + width) = (v16){0};
    *(v16 *)(row + 17 + width) = (v16){0};
}

// Prefetches rows [y0, y1) (clipped to the plane) of a plane into L1, a cache line at a time:
// each band reads a few rows of every channel, streams too short for the hardware prefetcher when
// the map is not in cache. Training, the input rows of the channel 2 on (two cores, `isp bench
// --train-steps 15`, alternating, images/s, AMD Zen 4): ResNet-18 w0.5 246-267 against 244-257,
// VGG16 w0.5 461-518 against 451-508; batch-1 inference, whose maps the layer before has just
// written, 1.030x the time (VGG16 w0.5) and 0.983x (ResNet-18), one core interleaved: not there.
static inline __attribute__((always_inline)) void prefetch_rows(const float *plane, int32_t height, int32_t width, int32_t y0,
                                                                int32_t y1) {
    if (y0 < 0) y0 = 0;
    if (y1 > height) y1 = height;
    if (y1 <= y0) return;
    const char *from = (const char *)(plane + (size_t)y0 * width), *to = (const char *)(plane + (size_t)y1 * width);
    for (const char *p = from; p < to; p += 64) __builtin_prefetch(p, 0, 3);
}

// Tile rows a vector of 16 tiles covers: on maps 4 or 8 tiles wide (7-8 and 15-16 pixels), 4 or 2
// whole rows, so that a vector's lanes are not a half or a quarter empty (tiles are contiguous
// across rows in V and M, so a vector's loads and stores stay where they were); else one. Only
// where a tile row's outputs are a whole half or whole vector of the interleaved pairs, so that
// the output transform takes them with a shuffle (on 14x14 maps, 7 tiles wide, two rows a vector
// took the output transform 1.15x the time, 256 -> 256 channels: the rows' values went through
// memory, a vector read across two stores).
static inline __attribute__((always_inline)) int32_t packed_rows(int32_t tilesPerRow) {
    return tilesPerRow == 4 ? 4 : tilesPerRow == 8 ? 2 : 1;
}

static inline __attribute__((always_inline)) void input_transform_packed(const int PACKED, const float *x, const int32_t *channel,
                                                                  int32_t channels, int32_t height, int32_t width, int32_t row0,
                                                                  int32_t row1, float *v, int64_t vStride, int32_t vPitch,
                                                                  int32_t ahead) {
    const int32_t tw = isp_winograd_tiles(width);  // PACKED: packed_rows(tw)
    // Bordered rows 2 row0 - 1 to 2 row1 of a channel: each vector of 16 tiles reads columns 2 j0
    // to 2 j0 + 33 of four of them, and a row copied past its end writes up to 15 floats beyond.
    // (Copying eight channels' rows before reading any, so that no load waits on the stores it
    // overlaps, measured no faster: 64 -> 64 channels at 56x56 83-114 against 87-96 us.)
    const int32_t pitch = (width + 33 + 15) / 16 * 16 + 16, rows = 2 * (row1 - row0) + 2;
    float border[rows * pitch] __attribute__((aligned(64)));
    // With several tile rows a vector: per window row r, the columns 0 to 2 tw - 1 of each tile
    // row's bordered row one after another (left[r]), and the columns 2 to 2 tw + 1 (right[r]).
    // (Zeroed first: the lanes past a group's tiles then hold numbers copied before, never
    // uninitialised bits.)
    float left[4][48] __attribute__((aligned(64))) = {{0}}, right[4][48] __attribute__((aligned(64))) = {{0}};
    for (int32_t i = 0; i < channels; i++) {
        const float *plane = x + (size_t)channel[i] * height * width;
        if (ahead && i + ahead < channels)
            prefetch_rows(x + (size_t)channel[i + ahead] * height * width, height, width, 2 * row0 - 1, 2 * row1 + 1);
        for (int32_t r = 0; r < rows; r++) bordered_row(plane, height, width, 2 * row0 - 1 + r, border + (size_t)r * pitch);
        for (int32_t ty = row0; ty < row1; ty += PACKED) {
            const int32_t group = row1 - ty < PACKED ? row1 - ty : PACKED;
            const float *a[4], *b[4];  // window row r of tile j of the group: columns 2 j to 2 j + 1 of a[r], of b[r]
            for (int r = 0; r < 4; r++) {
                const float *row = border + (size_t)(2 * (ty - row0) + r) * pitch;
                if (PACKED == 1) { a[r] = row; b[r] = row + 2; continue; }
                for (int32_t k = 0; k < group; k++) {  // in order: each copy's spill is overwritten by the next
                    *(v16 *)(left[r] + 2 * k * tw) = load16(row + (size_t)2 * k * pitch);
                    *(v16 *)(right[r] + 2 * k * tw) = load16(row + (size_t)2 * k * pitch + 2);
                }
                a[r] = left[r]; b[r] = right[r];
            }
            float *to = v + (size_t)i * vPitch + (size_t)(ty - row0) * tw;
            for (int32_t j0 = 0; j0 < group * tw; j0 += 16) {
                // t[k][r]: row r of the window times B, for the 16 tiles j0..j0+15; their window
                // columns are d0 = a[2j], d1 = a[2j + 1], d2 = b[2j], d3 = b[2j + 1].
                v16 t[4][4];
                for (int r = 0; r < 4; r++) {
                    const v16 a0 = load16(a[r] + 2 * j0), a1 = load16(a[r] + 2 * j0 + 16);
                    const v16 b0 = load16(b[r] + 2 * j0), b1 = load16(b[r] + 2 * j0 + 16);
                    const v16 d0 = even16(a0, a1), d1 = odd16(a0, a1), d2 = even16(b0, b1), d3 = odd16(b0, b1);
                    t[0][r] = d0 - d2;
                    t[1][r] = d1 + d2;
                    t[2][r] = d2 - d1;
                    t[3][r] = d1 - d3;
                }
                // B^T on the left, column by column: xi = 4 ky + kx. A vector reaching past the
                // group writes the next one's tiles (written after it) or the vector of slack.
                for (int kx = 0; kx < 4; kx++) {
                    *(v16 *)(to + (size_t)(0 + kx) * vStride + j0) = t[kx][0] - t[kx][2];
                    *(v16 *)(to + (size_t)(4 + kx) * vStride + j0) = t[kx][1] + t[kx][2];
                    *(v16 *)(to + (size_t)(8 + kx) * vStride + j0) = t[kx][2] - t[kx][1];
                    *(v16 *)(to + (size_t)(12 + kx) * vStride + j0) = t[kx][1] - t[kx][3];
                }
            }
        }
    }
}

// The transform with its tile rows a vector fixed: each count a function of its own, its loops
// known to the compiler.
static inline __attribute__((always_inline)) void input_transform(const float *x, const int32_t *channel, int32_t channels,
                                                                  int32_t height, int32_t width, int32_t row0, int32_t row1,
                                                                  float *v, int64_t vStride, int32_t vPitch, int32_t ahead) {
    switch (packed_rows(isp_winograd_tiles(width))) {
    case 4: input_transform_packed(4, x, channel, channels, height, width, row0, row1, v, vStride, vPitch, ahead); break;
    case 2: input_transform_packed(2, x, channel, channels, height, width, row0, row1, v, vStride, vPitch, ahead); break;
    default: input_transform_packed(1, x, channel, channels, height, width, row0, row1, v, vStride, vPitch, ahead);
    }
}

// r[i] lane j -> r[j] lane i, by swapping ever smaller blocks: the 8x8 blocks off the diagonal,
// then the 4x4 ones inside each, and so on (one vpermt2ps a row and round with AVX-512).
#define LOW8(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
#define HIGH8(a, b) __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)
#define LOW4(a, b) __builtin_shufflevector(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27)
#define HIGH4(a, b) __builtin_shufflevector(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)
#define LOW2(a, b) __builtin_shufflevector(a, b, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)
#define HIGH2(a, b) __builtin_shufflevector(a, b, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31)
#define LOW1(a, b) __builtin_shufflevector(a, b, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30)
#define HIGH1(a, b) __builtin_shufflevector(a, b, 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31)
#define SWAP_BLOCKS(r, D) \
    for (int i = 0; i < 16; i++) \
        if (!(i & D)) { const v16 a = r[i], b = r[i + D]; r[i] = LOW##D(a, b); r[i + D] = HIGH##D(a, b); }

static inline __attribute__((always_inline)) void transpose16(v16 r[16]) {
    _Pragma("clang loop unroll(full)") SWAP_BLOCKS(r, 8)
    _Pragma("clang loop unroll(full)") SWAP_BLOCKS(r, 4)
    _Pragma("clang loop unroll(full)") SWAP_BLOCKS(r, 2)
    _Pragma("clang loop unroll(full)") SWAP_BLOCKS(r, 1)
}

// The products come position-major (isp_conv_products: 16 output channels a vector), so the
// transform runs on 16 channels of one tile at a time; each of its four outputs is then turned
// around for 16 tiles at once, to 16 tiles of one channel, and stored into the rows.
static inline __attribute__((always_inline)) void output_transform_packed(const int PACKED, const float *m, int64_t mStride,
                                                                   int32_t mPitch, int32_t outChannels, int32_t height,
                                                                   int32_t width, int32_t row0, int32_t row1,
                                                                   const isp_conv_output *out) {
    const int32_t tw = isp_winograd_tiles(width);  // PACKED: packed_rows(tw)
    const v16 lo = (v16){0} + out->low, hi = (v16){0} + out->high;
    for (int32_t ty = row0; ty < row1; ty += PACKED) {
        const int32_t group = row1 - ty < PACKED ? row1 - ty : PACKED;
        for (int32_t j0 = 0; j0 < group * tw; j0 += 16) {
            const int32_t tiles = group * tw - j0 < 16 ? group * tw - j0 : 16;
            // Output columns 2 j0 on of each tile row of the group (one row, or whole rows).
            const int32_t n = PACKED > 1 ? width : width - 2 * j0 < 32 ? width - 2 * j0 : 32;
            for (int32_t o0 = 0; o0 < outChannels; o0 += 16) {
                v16 y[4][16];  // output (dy, dx) = y[2 dy + dx], tile k (then, turned, channel k)
                _Pragma("clang loop unroll(full)")
                for (int k = 0; k < 16; k++) {
                    if (k >= tiles) { y[0][k] = y[1][k] = y[2][k] = y[3][k] = (v16){0}; continue; }
                    const float *from = m + (size_t)((ty - row0) * tw + j0 + k) * mPitch + o0;
                    v16 p[16];
                    _Pragma("clang loop unroll(full)")
                    for (int xi = 0; xi < 16; xi++) p[xi] = load16(from + (size_t)xi * mStride);
                    // A^T on the left (rows [1 1 1 0] and [0 1 -1 -1]), then A on the right.
                    v16 s0[4], s1[4];
                    _Pragma("clang loop unroll(full)")
                    for (int kx = 0; kx < 4; kx++) {
                        s0[kx] = p[kx] + p[4 + kx] + p[8 + kx];
                        s1[kx] = p[4 + kx] - p[8 + kx] - p[12 + kx];
                    }
                    y[0][k] = s0[0] + s0[1] + s0[2];
                    y[1][k] = s0[1] - s0[2] - s0[3];
                    y[2][k] = s1[0] + s1[1] + s1[2];
                    y[3][k] = s1[1] - s1[2] - s1[3];
                }
                _Pragma("clang loop unroll(full)")
                for (int d = 0; d < 4; d++) transpose16(y[d]);
                const int32_t channels = outChannels - o0 < 16 ? outChannels - o0 : 16;
                for (int32_t c = 0; c < channels; c++) {
                    const v16 bias = (v16){0} + out->bias[o0 + c];
                    for (int dy = 0; dy < 2; dy++) {
                        // Output rows 2 ty + dy of the group, each tile's pair interleaved: one row
                        // of 32 values, or tile row g's 2 tw values from lane 2 g tw of the pairs.
                        const v16 left = y[2 * dy][c] + bias, right = y[2 * dy + 1][c] + bias;
                        const v16 half[2] = {low_pairs(left, right), high_pairs(left, right)};
                        for (int32_t g = 0; g < group && 2 * (ty + g) + dy < height; g++) {
                            const size_t at = (size_t)(o0 + c) * out->plane + (size_t)(2 * (ty + g) + dy) * width + 2 * j0;
                            for (int h = 0; h < 2 && n > 16 * h; h++) {
                                v16 value = PACKED == 1 ? half[h] : PACKED == 2 ? half[g] : g % 2 ? upper8(half[g / 2]) : half[g / 2];
                                if (out->residual) value += load_part(out->residual + at + 16 * h, n - 16 * h);
                                store_part(out->out + at + 16 * h, clamp16(value, lo, hi), n - 16 * h);
                            }
                        }
                    }
                }
            }
        }
    }
}

static inline __attribute__((always_inline)) void output_transform(const float *m, int64_t mStride, int32_t mPitch,
                                                                   int32_t outChannels, int32_t height, int32_t width,
                                                                   int32_t row0, int32_t row1, const isp_conv_output *out) {
    switch (packed_rows(isp_winograd_tiles(width))) {
    case 4: output_transform_packed(4, m, mStride, mPitch, outChannels, height, width, row0, row1, out); break;
    case 2: output_transform_packed(2, m, mStride, mPitch, outChannels, height, width, row0, row1, out); break;
    default: output_transform_packed(1, m, mStride, mPitch, outChannels, height, width, row0, row1, out);
    }
}

// dM = A dy A^T of each tile (its 2x2 output pixels, zero outside the map), the transform the
// weight gradient takes dy through: with dy = [[a, b], [c, d]], A dy has the rows (a, b),
// (a + c, b + d), (a - c, b - d), (-c, -d), and each row (p, q) times A^T is (p, p + q, p - q, -q).
// Sixteen channels' rows are read, sixteen tiles a vector, then each position's sixteen vectors are
// turned around to sixteen channels of one tile, the layout isp_conv_weight_gradient reads.
static inline __attribute__((always_inline)) void output_gradient_transform(const float *dy, int32_t channels, int32_t height,
                                                                            int32_t width, int32_t row0, int32_t row1, float *m,
                                                                            int64_t xiStride, int32_t positions, int32_t first) {
    const int32_t tw = isp_winograd_tiles(width);
    const int32_t pitch = (width + 33 + 15) / 16 * 16 + 16;
    float border[32 * pitch] __attribute__((aligned(64)));  // rows 2 ty and 2 ty + 1 of 16 channels
    for (int32_t o0 = 0; o0 < channels; o0 += 16) {
        const int32_t n = channels - o0 < 16 ? channels - o0 : 16;
        for (int32_t k = 2 * n * pitch; k < 32 * pitch; k += 16) *(v16 *)(border + k) = (v16){0};  // channels past the last
        float *tiles = m + (size_t)(o0 / 16) * positions * 16;
        for (int32_t ty = row0; ty < row1; ty++) {
            // The rows read next: the next tile row's, or the next 16 channels' first.
            const int32_t next = ty + 1 < row1 ? o0 : o0 + 16, nextRow = ty + 1 < row1 ? ty + 1 : row0;
            for (int32_t c = next; c < next + 16 && c < channels; c++)
                prefetch_rows(dy + (size_t)c * height * width, height, width, 2 * nextRow, 2 * nextRow + 2);
            for (int32_t c = 0; c < n; c++)
                for (int r = 0; r < 2; r++)
                    bordered_row(dy + (size_t)(o0 + c) * height * width, height, width, 2 * ty + r,
                                 border + (size_t)(2 * c + r) * pitch);
            for (int32_t j0 = 0; j0 < tw; j0 += 16) {
                v16 t[16][16];  // t[xi][channel], lane: tile j0 + lane; then, turned, t[xi][tile], lane: channel
                _Pragma("clang loop unroll(full)")
                for (int c = 0; c < 16; c++) {
                    const float *upper = border + (size_t)(2 * c) * pitch + 1 + 2 * j0, *lower = upper + pitch;
                    const v16 u0 = load16(upper), u1 = load16(upper + 16), l0 = load16(lower), l1 = load16(lower + 16);
                    const v16 a = even16(u0, u1), b = odd16(u0, u1), cc = even16(l0, l1), d = odd16(l0, l1);
                    const v16 p[4] = {a, a + cc, a - cc, -cc}, q[4] = {b, b + d, b - d, -d};
                    _Pragma("clang loop unroll(full)")
                    for (int r = 0; r < 4; r++) {
                        t[4 * r + 0][c] = p[r];
                        t[4 * r + 1][c] = p[r] + q[r];
                        t[4 * r + 2][c] = p[r] - q[r];
                        t[4 * r + 3][c] = -q[r];
                    }
                }
                const int32_t count = tw - j0 < 16 ? tw - j0 : 16;
                for (int xi = 0; xi < 16; xi++) {
                    transpose16(t[xi]);
                    float *to = tiles + (size_t)xi * xiStride + (size_t)(first + (ty - row0) * tw + j0) * 16;
                    for (int32_t k = 0; k < count; k++) *(v16 *)(to + (size_t)k * 16) = t[xi][k];
                }
            }
        }
    }
}

__attribute__((target("avx512f,avx512vl,fma"))) NO_LIBRARY_COPIES
static void input_avx512(const float *x, const int32_t *channel, int32_t channels, int32_t height, int32_t width, int32_t row0,
                         int32_t row1, float *v, int64_t vStride, int32_t vPitch, int32_t ahead) {
    input_transform(x, channel, channels, height, width, row0, row1, v, vStride, vPitch, ahead);
}
__attribute__((target("avx2,fma"))) NO_LIBRARY_COPIES
static void input_avx2(const float *x, const int32_t *channel, int32_t channels, int32_t height, int32_t width, int32_t row0,
                       int32_t row1, float *v, int64_t vStride, int32_t vPitch, int32_t ahead) {
    input_transform(x, channel, channels, height, width, row0, row1, v, vStride, vPitch, ahead);
}
__attribute__((target("avx512f,avx512vl,fma"))) static void output_avx512(const float *m, int64_t mStride, int32_t mPitch,
                                                                          int32_t outChannels, int32_t height, int32_t width,
                                                                          int32_t row0, int32_t row1, const isp_conv_output *out) {
    output_transform(m, mStride, mPitch, outChannels, height, width, row0, row1, out);
}
__attribute__((target("avx2,fma"))) static void output_avx2(const float *m, int64_t mStride, int32_t mPitch, int32_t outChannels,
                                                            int32_t height, int32_t width, int32_t row0, int32_t row1,
                                                            const isp_conv_output *out) {
    output_transform(m, mStride, mPitch, outChannels, height, width, row0, row1, out);
}

__attribute__((target("avx512f,avx512vl,fma"))) NO_LIBRARY_COPIES
static void output_gradient_avx512(const float *dy, int32_t channels, int32_t height, int32_t width, int32_t row0, int32_t row1,
                                   float *m, int64_t xiStride, int32_t positions, int32_t first) {
    output_gradient_transform(dy, channels, height, width, row0, row1, m, xiStride, positions, first);
}
__attribute__((target("avx2,fma"))) NO_LIBRARY_COPIES
static void output_gradient_avx2(const float *dy, int32_t channels, int32_t height, int32_t width, int32_t row0, int32_t row1,
                                 float *m, int64_t xiStride, int32_t positions, int32_t first) {
    output_gradient_transform(dy, channels, height, width, row0, row1, m, xiStride, positions, first);
}

void isp_winograd_input(isp_isa isa, const float *x, const int32_t *channel, int32_t channels, int32_t height, int32_t width,
                        int32_t row0, int32_t row1, float *v, int64_t vStride, int32_t vPitch, int32_t ahead) {
    (isa == ISP_AVX512 ? input_avx512 : input_avx2)(x, channel, channels, height, width, row0, row1, v, vStride, vPitch, ahead);
}

void isp_winograd_output(isp_isa isa, const float *m, int64_t mStride, int32_t mPitch, int32_t outChannels, int32_t height,
                         int32_t width, int32_t row0, int32_t row1, const isp_conv_output *out) {
    (isa == ISP_AVX512 ? output_avx512 : output_avx2)(m, mStride, mPitch, outChannels, height, width, row0, row1, out);
}

void isp_winograd_weights(const float *w, int32_t outputs, int32_t inputs, int32_t flipped, float *u) {
    const size_t matrix = (size_t)outputs * inputs;
    for (size_t oc = 0; oc < matrix; oc++) {
        const size_t o = oc / inputs, c = oc % inputs;
        float g[9];
        for (int k = 0; k < 9; k++) g[k] = flipped ? w[(c * outputs + o) * 9 + 8 - k] : w[oc * 9 + k];
        float gg[4][3];  // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2
        for (int c = 0; c < 3; c++) {
            gg[0][c] = g[c];
            gg[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
            gg[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
            gg[3][c] = g[6 + c];
        }
        for (int r = 0; r < 4; r++) {  // (G g) G^T, the same combinations along the row
            u[(size_t)(4 * r + 0) * matrix + oc] = gg[r][0];
            u[(size_t)(4 * r + 1) * matrix + oc] = 0.5f * (gg[r][0] + gg[r][1] + gg[r][2]);
            u[(size_t)(4 * r + 2) * matrix + oc] = 0.5f * (gg[r][0] - gg[r][1] + gg[r][2]);
            u[(size_t)(4 * r + 3) * matrix + oc] = gg[r][2];
        }
    }
}

void isp_winograd_output_gradient(isp_isa isa, const float *dy, int32_t channels, int32_t height, int32_t width, int32_t row0,
                                  int32_t row1, float *m, int64_t xiStride, int32_t positions, int32_t first) {
    (isa == ISP_AVX512 ? output_gradient_avx512 : output_gradient_avx2)(dy, channels, height, width, row0, row1, m, xiStride,
                                                                        positions, first);
}

// U = G g G^T is linear in g, so dL/dg = G^T dL/dU G; G^T takes a column (u0, u1, u2, u3) to
// (u0 + (u1 + u2) / 2, (u1 - u2) / 2, (u1 + u2) / 2 + u3).
void isp_winograd_weight_gradient(const float *du, int64_t xiStride, int32_t outputs, int32_t inputs, float *w) {
    for (int32_t o = 0; o < outputs; o++) {
        for (int32_t c = 0; c < inputs; c++) {
            float u[4][4], h[3][4];
            for (int xi = 0; xi < 16; xi++) u[xi / 4][xi % 4] = du[xi * xiStride + ((size_t)(o / 16) * inputs + c) * 16 + o % 16];
            for (int k = 0; k < 4; k++) {
                h[0][k] = u[0][k] + 0.5f * (u[1][k] + u[2][k]);
                h[1][k] = 0.5f * (u[1][k] - u[2][k]);
                h[2][k] = 0.5f * (u[1][k] + u[2][k]) + u[3][k];
            }
            float *g = w + ((size_t)o * inputs + c) * 9;
            for (int r = 0; r < 3; r++) {
                g[3 * r + 0] += h[r][0] + 0.5f * (h[r][1] + h[r][2]);
                g[3 * r + 1] += 0.5f * (h[r][1] - h[r][2]);
                g[3 * r + 2] += 0.5f * (h[r][1] + h[r][2]) + h[r][3];
            }
        }
    }
}

// Depthwise convolution, one channel plane at a time, sixteen output positions per vector (eight
// in AVX2's stride-2 kernel), forward and backward. Compiled for AVX-512 and AVX2 like the tiled kernel (see ConvTiles.c), picked at
// run time.
#include "CKernels.h"
#include <stddef.h>
#include "Rows.h"
#include "Clamp.h"
#pragma clang diagnostic ignored "-Wpsabi"  // the vector helpers are always inlined into their callers

typedef float v32 __attribute__((vector_size(128), aligned(4)));

// Forward, for "same" padding (k odd, padding k / 2, so that oh = ceil(ih / s), ow = ceil(iw / s)):
// the input plane is first split into its s x s phases, phase (a, b) holding x[s r + a][s c + b]
// at row r, column c, in rows exactly ow wide with zero rows above and below, so that every tap
// reads one phase at stride 1 and the output plane's positions y * ow + x run straight through
// it: sixteen outputs a vector whatever the map's width, stored as they are. A tap's lanes whose
// column falls outside the map (they read the neighbouring row) are masked to zero. One output row
// of 16 at a time instead, maps under 16 wide ran scalar: MobileNetV2 w0.5's 8x8 depthwise layers
// took 24 us each for 110K multiply-adds (isp bench --profile, one thread, Intel Xeon AVX-512).

// Input planes of at least PREFETCHED_PLANE floats (mobilenet_v2's at 224 down to 56x56) come from
// L3, and the kernels waited on their loads (perf annotate: most samples on the loads), so they
// fetch ahead: the staged path the first PREFETCHED_BYTES of the next plane while it convolves
// this one (all of a 112x112 plane at once was slower), the stride-2 rows path the two input rows
// of the output row ROWS_AHEAD on. torchvision mobilenet_v2 at 224, one core (isp bench --profile,
// AMD Zen 5 AVX-512), alternating: the 3x3 at stride 2 from 112x112 0.31-0.40 -> 0.12 ms, from
// 56x56 0.072-0.110 -> 0.054-0.059 ms; at stride 1 on 56x56 0.17-0.19 -> 0.14-0.15 ms.
#define PREFETCHED_PLANE 2048
#define ROWS_AHEAD 8
#define PREFETCHED_BYTES 16384

// Every cache line of [p, p + bytes) fetched into L1.
static inline __attribute__((always_inline)) void prefetch_lines(const void *p, size_t bytes) {
    for (size_t b = 0; b < bytes; b += 64) _mm_prefetch((const char *)p + b, _MM_HINT_T0);
}

typedef struct {
    int32_t above, below;  // zero rows around each phase's oh rows
    int32_t phasePlane;    // floats per phase: (above + oh + below) * ow
} geometry;

static geometry geometry_of(const isp_depthwise_args *a) {
    const int32_t s = a->stride, p = a->padding;
    geometry g;
    g.above = (p + s - 1) / s;  // rows read above row 0: ceil(p / s)
    g.below = p / s;            // and below the last
    g.phasePlane = (g.above + a->oh + g.below) * a->ow;
    return g;
}

// 16 floats of slack, the phases, 16 more: a tap reads up to one position before its phase and a
// vector up to 15 after.
int64_t isp_depthwise_scratch(const isp_depthwise_args *a) {
    return 32 + (int64_t)a->stride * a->stride * geometry_of(a).phasePlane;
}

// Phase (a, b)'s first row (after its zero rows).
static inline __attribute__((always_inline))
float *phase_row0(float *phases, const isp_depthwise_args *a, const int32_t s, geometry g, int32_t pa, int32_t pb) {
    return phases + (size_t)(pa * s + pb) * g.phasePlane + (size_t)g.above * a->ow;
}

// The instruction set's row moves (Rows.h), inlined into its kernel.
typedef void (*copy_rows)(const float *, size_t, float *, size_t, int32_t, int32_t);
typedef void (*split_rows)(const float *, size_t, float *, float *, size_t, int32_t, int32_t);

// Rows [iy0, iy1) of plane x into the phases (whose zero rows stay zero).
static inline __attribute__((always_inline))
void stage(copy_rows copy, split_rows split, const float *x, const isp_depthwise_args *a, const int32_t s, geometry g,
           int32_t iy0, int32_t iy1, float *phases) {
    const int32_t iw = a->iw, ow = a->ow;
    if (s == 1) {  // the rows themselves, between zero rows
        copy(x + (size_t)iy0 * iw, 0, phase_row0(phases, a, 1, g, 0, 0) + (size_t)iy0 * ow, 0, 1, (iy1 - iy0) * iw);
    } else if (s == 2) {  // the rows of each parity, split into their even and odd values
        for (int32_t pa = 0; pa < 2; pa++) {
            const int32_t first = iy0 + ((iy0 & 1) != pa);
            if (first >= iy1) continue;
            const size_t at = (size_t)(first / 2) * ow;
            split(x + (size_t)first * iw, 2 * (size_t)iw, phase_row0(phases, a, 2, g, pa, 0) + at, phase_row0(phases, a, 2, g, pa, 1) + at,
                  (size_t)ow, (iy1 - first + 1) / 2, iw);
        }
    } else {
        for (int32_t iy = iy0; iy < iy1; iy++)
            for (int32_t ix = 0; ix < iw; ix++)
                phase_row0(phases, a, s, g, iy % s, ix % s)[(size_t)(iy / s) * ow + ix / s] = x[(size_t)iy * iw + ix];
    }
}

// floor(n / s) for any sign of n.
static inline __attribute__((always_inline)) int32_t floor_div(int32_t n, int32_t s) { return n >= 0 ? n / s : -((-n + s - 1) / s); }

// Where each tap reads in the staged phases and its column offset in phase columns: the same for
// every plane (each is staged into the same scratch), so worked out once per call.
static inline __attribute__((always_inline))
void tap_positions(const float *phases, const isp_depthwise_args *a, const int32_t k, const int32_t s, const int32_t p, geometry g,
                   const float **tap, int32_t *dx) {
    for (int32_t ky = 0; ky < k; ky++)
        for (int32_t kx = 0; kx < k; kx++) {
            const int32_t t = ky * k + kx, dy = floor_div(ky - p, s);
            dx[t] = floor_div(kx - p, s);
            tap[t] = phase_row0((float *)phases, a, s, g, ky - p - s * dy, kx - p - s * dx[t]) + dy * a->ow + dx[t];
        }
}

// Output rows [y0, y1) of one plane from the staged phases (read through `tap`) into `out`.
static inline __attribute__((always_inline))
void convolve(const float *const *tap, const int32_t *dx, const float *w, float bias, float shift, const isp_depthwise_args *a, const int32_t k,
              i16 firstColumn, int32_t y0, int32_t y1, float *out) {
    const int32_t ow = a->ow, pixels = y1 * a->ow;
    const v16 lo = (v16){0} + a->low, hi = (v16){0} + a->high;
    i16 column = firstColumn;  // each lane's output column
    const int32_t step = 16 % ow;
    for (int32_t q = y0 * ow; q < pixels; q += 16) {  // lanes past row y1 read what they may; only rows [y0, y1) are stored
        v16 acc = (v16){0} + bias;
        for (int32_t t = 0; t < k * k; t++) {
            v16 v = *(const v16 *)(tap[t] + q);
            if (dx[t] != 0) {
                const i16 c = column + dx[t];
                v = (v16)((i16)v & ((c >= 0) & (c < ow)));
            }
            acc += v * w[t];
        }
        acc = clamp16(acc, lo, hi) - shift;
        if (q + 16 <= pixels) {
            *(v16 *)(out + q) = acc;
        } else {
            for (int32_t lane = 0; lane < pixels - q; lane++) out[q + lane] = acc[lane];
        }
        column += step;
        column -= (column >= ow) & ow;
    }
}

// 16 floats from p, lane l only where bit l of `lanes` is set (zero elsewhere, and not read: a
// lane outside the plane may lie outside the allocation); and stored to p the same way.
typedef v16 (*load_lanes)(const float *, uint32_t);
typedef void (*store_lanes)(float *, v16, uint32_t);

static inline __attribute__((always_inline, target("avx512f"))) v16 lanes_avx512(const float *p, uint32_t lanes) {
    return (v16)_mm512_maskz_loadu_ps((__mmask16)lanes, p);
}

static inline __attribute__((always_inline, target("avx512f"))) void store_lanes_avx512(float *p, v16 v, uint32_t lanes) {
    _mm512_mask_storeu_ps(p, (__mmask16)lanes, (__m512)v);
}

// AVX2's masks for lanes 0-7 and 8-15: all ones where the lane's bit is set.
static inline __attribute__((always_inline, target("avx2"))) void masks_avx2(uint32_t lanes, __m256i *low, __m256i *high) {
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    *low = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)lanes), bit), bit);
    *high = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)(lanes >> 8)), bit), bit);
}

static inline __attribute__((always_inline, target("avx2"))) v16 lanes_avx2(const float *p, uint32_t lanes) {
    __m256i low, high;
    masks_avx2(lanes, &low, &high);
    const __m256 a = _mm256_maskload_ps(p, low), b = _mm256_maskload_ps(p + 8, high);
    return __builtin_shufflevector((v8)a, (v8)b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

// Stored without AVX2's masked stores, which AMD microcodes (42 micro-ops, one every 12 cycles on
// Zen 3: see Rows.h): a whole half as one store, the other lanes one by one.
static inline __attribute__((always_inline, target("avx2"))) void store_lanes_avx2(float *p, v16 v, uint32_t lanes) {
    for (int half = 0; half < 2; half++) {
        const uint32_t bits = (lanes >> (8 * half)) & 0xff;
        if (bits == 0xff) {
            _mm256_storeu_ps(p + 8 * half, half ? (__m256)__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)
                                                : (__m256)__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7));
        } else {
            for (int l = 0; l < 8; l++)
                if (bits >> l & 1) p[8 * half + l] = v[8 * half + l];
        }
    }
}

// Stores to output lines the other core has read (in an earlier step: the steps share their
// output buffers) wait for those lines to come back, and a kernel that spills to the stack stalls
// once its spill stores queue up behind them (x86 stores leave in order). Owning the lines first,
// CLAIM_LINES lines ahead, one store a line, lets the kernel's own stores through: rows [y0, y1)
// of the plane that far ahead, at the first plane every plane up to it. Only in AVX2's stride-2
// rows kernel, which spills. MobileNetV2 (shipped), two cores, AVX2 forced (AMD Zen 4; isp bench
// --profile, alternating): 16x16 -> 8x8 8.3-8.5 -> 3.9-4.0 us (AVX-512: 3.2), 32x32 -> 16x16
// 12.7-13.7 -> 8.3; far apart 34 -> 12 and 50 -> 21; whole passes 0.971x the time, mobilenet_v2
// at 224 0.991x (benchmarks/interleave.py, 20 blocks of 20). In the other kernels level or slower
// (4x4 and 8x8 at stride 1: 1-2 us a layer). The stall alone (benchmarks/depthwise_handoff.c 114 16
// 2, close): one core over outputs the other read half of 11.1 -> 6.0 us (5.4 over unread ones);
// split between the cores, nothing shared, 2.6 -> 2.9 (the claims' own cost).
#define CLAIM_LINES 4
static inline __attribute__((always_inline))
void claim_output(const isp_depthwise_args *a, int32_t i, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    const int32_t floats = (y1 - y0) * a->ow;
    if (floats <= 0) return;
    const int32_t ahead = (CLAIM_LINES * 16 + floats - 1) / floats;
    for (int32_t n = i == first ? i : i + ahead; n <= i + ahead && n < end; n++) {
        float *o = a->out + (size_t)(a->planes ? a->planes[n] : n) * a->oh * a->ow + (size_t)y0 * a->ow;
        for (float *q = o; q < o + floats; q = (float *)(((uintptr_t)q | 63) + 1)) *(volatile float *)q = 0;
    }
}

// Maps of at most DIRECT_PIXELS outputs at stride 1, whole planes: each tap's values are read from
// the input plane itself, shifted, with the lanes that fall outside the map left out of the load,
// instead of staging every plane first. Staged, each plane's loads waited for the copy just stored
// into the same scratch, and MobileNetV2 w0.5's 4x4 layers (480 planes of one vector) took 28 ns a
// plane (13.7 us a layer on one core, isp bench --profile, Intel Xeon AVX-512).
#define DIRECT_PIXELS 64

static inline __attribute__((always_inline))
void direct(load_lanes load, const isp_depthwise_args *a, int32_t first, int32_t end, const int32_t k) {
    const int32_t p = k / 2, h = a->ih, w = a->iw, pixels = h * w, vectors = (pixels + 15) / 16;
    int32_t offset[ISP_DEPTHWISE_MAX_TAPS];
    uint32_t lanes[DIRECT_PIXELS / 16][ISP_DEPTHWISE_MAX_TAPS];
    for (int32_t t = 0; t < k * k; t++) {
        const int32_t dy = t / k - p, dx = t % k - p;
        offset[t] = dy * w + dx;
        for (int32_t v = 0; v < vectors; v++) {
            uint32_t bits = 0;
            for (int32_t lane = 0, q = 16 * v; lane < 16 && q < pixels; lane++, q++) {
                const int32_t y = q / w + dy, x = q % w + dx;
                bits |= (uint32_t)(y >= 0 && y < h && x >= 0 && x < w) << lane;
            }
            lanes[v][t] = bits;
        }
    }
    const v16 lo = (v16){0} + a->low, hi = (v16){0} + a->high;
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        const float *x = a->x + (size_t)j * pixels, *wc = a->w + (size_t)ch * k * k;
        float *out = a->out + (size_t)j * pixels;
        const float bias = a->bias ? a->bias[ch] : 0, shift = a->shift ? a->shift[ch] : 0;
        for (int32_t v = 0; v < vectors; v++) {
            v16 acc = (v16){0} + bias;
            for (int32_t t = 0; t < k * k; t++) acc += load(x + 16 * v + offset[t], lanes[v][t]) * wc[t];
            acc = clamp16(acc, lo, hi) - shift;
            const int32_t q = 16 * v;
            if (q + 16 <= pixels) {
                *(v16 *)(out + q) = acc;
            } else {
                for (int32_t lane = 0; lane < pixels - q; lane++) out[q + lane] = acc[lane];
            }
        }
    }
}

// 3x3 at stride 1 on whole planes with rows of FLAT_WIDTHS (MobileNetV2's 8x8 and 4x4 layers at
// 32x32 input, 7x7 at 224; 14x14 until AVX-512's strips kernel below took rows over 8): the plane
// as one run of positions, 16 a vector across row ends, each vector loaded once. Every tap is the
// vector before, this one and the one after (zero beyond the plane) shifted by the tap's distance
// in positions, the side taps' lanes at a row's end zeroed: the sums of the direct and staged
// paths, bit for bit, without the direct path's nine loads a vector (six split across cache lines)
// or the staged path's copy. One core, AMD Zen 5, depthwise_bench.c, best of the pairs, input in
// cache: AVX-512 192 planes of 8x8 6.1 -> 2.7 us, 480 of 4x4 3.7 -> 2.7, 960 of 7x7 25.7 -> 14.2,
// 576 of 14x14 39.1 -> 26.2 (ONNX Runtime's nodes, one core: about 4, 3, 20 and 40 us); AVX2 7.7 ->
// 4.9, 4.7 -> 4.5, 33.9 -> 24.6, 48.8 -> 48.3. (Shifting zeros in where a row's ends fall on a
// vector's ends, as when W divides 16, was 1.5x slower with AVX-512 and 1.1x faster with AVX2.)
#define SHIFTED(a, b, n) __builtin_shufflevector(a, b, n, n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7, n + 8, n + 9, n + 10, n + 11, \
                                                 n + 12, n + 13, n + 14, n + 15)
#define FLAT_WIDTHS(w) ((w) == 4 || (w) == 7 || (w) == 8)
// The nine taps on rows W wide, in the direct path's order: tap (ky, kx) reads the position
// (ky - 1) W + kx - 1 away, in the vector before (`before`), this one (`v`) or the one after.
#define FLAT_TAPS(W)                                                                  \
    acc += (v16)((i16)SHIFTED(before, v, 16 - W - 1) & notFirst) * wt[0];             \
    acc += SHIFTED(before, v, 16 - W) * wt[1];                                        \
    acc += (v16)((i16)SHIFTED(before, v, 16 - W + 1) & notLast) * wt[2];              \
    acc += (v16)((i16)SHIFTED(before, v, 15) & notFirst) * wt[3];                     \
    acc += v * wt[4];                                                                 \
    acc += (v16)((i16)SHIFTED(v, after, 1) & notLast) * wt[5];                        \
    acc += (v16)((i16)SHIFTED(v, after, W - 1) & notFirst) * wt[6];                   \
    acc += SHIFTED(v, after, W) * wt[7];                                              \
    acc += (v16)((i16)SHIFTED(v, after, W + 1) & notLast) * wt[8];

static inline __attribute__((always_inline))
void stride1_flat(load_lanes load, store_lanes store, const isp_depthwise_args *a, int32_t first, int32_t end, const int32_t w) {
    const int32_t pixels = a->ih * w, vectors = (pixels + 15) / 16;
    const uint32_t tail = (1u << (pixels - 16 * (vectors - 1))) - 1;  // the last vector's lanes
    i16 firstColumn;
    for (int32_t lane = 0; lane < 16; lane++) firstColumn[lane] = lane % w;
    const v16 lo = (v16){0} + a->low, hi = (v16){0} + a->high, zero = (v16){0};
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        const float *x = a->x + (size_t)j * pixels, *wc = a->w + (size_t)ch * 9;
        float *out = a->out + (size_t)j * pixels;
        v16 wt[9];
        for (int t = 0; t < 9; t++) wt[t] = (v16){0} + wc[t];
        const v16 bias = (v16){0} + (a->bias ? a->bias[ch] : 0), shift = (v16){0} + (a->shift ? a->shift[ch] : 0);
        i16 column = firstColumn;  // each lane's column
        v16 before = zero, v = vectors == 1 ? load(x, tail) : *(const v16 *)x;
        for (int32_t q = 0; q < vectors; q++) {
            const v16 after = q + 2 < vectors ? *(const v16 *)(x + 16 * (q + 1)) : q + 2 == vectors ? load(x + 16 * (q + 1), tail) : zero;
            const i16 notFirst = column != 0, notLast = column != w - 1;  // all ones where the lane has a left / right neighbour
            v16 acc = bias;
            switch (w) {
            case 4: FLAT_TAPS(4) break;
            case 7: FLAT_TAPS(7) break;
            default: FLAT_TAPS(8) break;
            }
            acc = clamp16(acc, lo, hi) - shift;
            if (q + 1 < vectors) *(v16 *)(out + 16 * q) = acc;
            else store(out + 16 * q, acc, tail);
            before = v;
            v = after;
            column += 16 % w;
            column -= (column >= w) & w;
        }
    }
}

static inline __attribute__((always_inline))
void depthwise(copy_rows copy, split_rows split, const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1,
               float *scratch, const int32_t k, const int32_t s) {
    const geometry g = geometry_of(a);
    const size_t floats = (size_t)isp_depthwise_scratch(a);
    for (size_t i = 0; i < floats; i++) scratch[i] = 0;
    float *phases = scratch + 16;
    i16 firstColumn;  // the output column of each of the first 16 positions
    for (int32_t lane = 0; lane < 16; lane++) firstColumn[lane] = lane % a->ow;
    const size_t inPlane = (size_t)a->ih * a->iw, outPlane = (size_t)a->oh * a->ow;
    // The input rows the output rows read: y * s - p + ky for ky < k, inside the plane.
    const int32_t p = k / 2, below = y0 * s - p, above = (y1 - 1) * s - p + k;
    const int32_t iy0 = below > 0 ? below : 0, iy1 = above < a->ih ? above : a->ih;
    const float *tap[ISP_DEPTHWISE_MAX_TAPS];
    int32_t dx[ISP_DEPTHWISE_MAX_TAPS];
    tap_positions(phases, a, k, s, p, g, tap, dx);
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        stage(copy, split, a->x + j * inPlane, a, s, g, iy0, iy1, phases);
        if (inPlane >= PREFETCHED_PLANE && i + 1 < end) {  // the next plane's rows, while this one is convolved
            const size_t bytes = (size_t)(iy1 - iy0) * a->iw * sizeof(float);
            prefetch_lines(a->x + (a->planes ? a->planes[i + 1] : i + 1) * inPlane + (size_t)iy0 * a->iw,
                           bytes < PREFETCHED_BYTES ? bytes : PREFETCHED_BYTES);
        }
        convolve(tap, dx, a->w + (size_t)ch * k * k, a->bias ? a->bias[ch] : 0, a->shift ? a->shift[ch] : 0, a, k, firstColumn, y0, y1, a->out + j * outPlane);
    }
}

// MobileNetV2's 3x3 at stride 1 with its taps unrolled (at stride 2 the rows kernels below run it).
#define DEPTHWISE(name, attr, copy, split, load, store) \
    attr static void name(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1, float *scratch) { \
        if (a->k == 3 && a->stride == 1 && FLAT_WIDTHS(a->iw) && y0 == 0 && y1 == a->oh) { \
            if (a->iw == 4) stride1_flat(load, store, a, first, end, 4); \
            else if (a->iw == 7) stride1_flat(load, store, a, first, end, 7); \
            else stride1_flat(load, store, a, first, end, 8); \
        } \
        else if (a->stride == 1 && a->oh * a->ow <= DIRECT_PIXELS && y0 == 0 && y1 == a->oh) { \
            if (a->k == 3) direct(load, a, first, end, 3); \
            else direct(load, a, first, end, a->k); \
        } \
        else if (a->k == 3 && a->stride == 1) depthwise(copy, split, a, first, end, y0, y1, scratch, 3, 1); \
        else depthwise(copy, split, a, first, end, y0, y1, scratch, a->k, a->stride); \
    }

DEPTHWISE(depthwise_avx512, __attribute__((target("avx512f,avx512vl,fma"))), rows_avx512, split_avx512, lanes_avx512, store_lanes_avx512)
DEPTHWISE(depthwise_avx2, __attribute__((target("avx2,fma"))), rows_avx2, split_avx2, lanes_avx2, store_lanes_avx2)

// The first of the two input rows output row t of plane i starts on, for t = y + ROWS_AHEAD; past
// the band of rows [y0, y1) this call convolves, in the next plane (the rows of the band's start),
// not in this plane's next band, which the other core convolves: split by rows on two cores, each
// band's first ROWS_AHEAD rows of every plane had come from L3 on demand. NULL after the last plane.
// One core, both bands of a two-way split one after the other, input from memory
// (benchmarks/depthwise_bench.c C S 2 300 9 2, AMD Zen 4, two alternations, mean time against
// the plane's next rows): 96 planes 112x112 0.88-0.89x, AVX2 0.91-0.93x; 144 of 56x56 0.85-0.86x,
// AVX2 0.84-0.89x; one band (one core) 0.98-1.04x. mobilenet_v2 at 224 on two cores (isp bench
// --profile): its stride-2 depthwise from 112x112 0.105 -> 0.098 ms.
static inline __attribute__((always_inline))
const float *rows_ahead(const isp_depthwise_args *a, const float *x, int32_t i, int32_t end, int32_t t, int32_t y0, int32_t y1) {
    if (t < y1) return x + (size_t)(2 * t + 1) * a->iw;
    t += y0 - y1;  // (no division: a row is a few vectors of work, and a division a row cost 12%)
    if (++i >= end || t >= y1) return 0;
    return a->x + (size_t)(a->planes ? a->planes[i] : i) * a->ih * a->iw + (size_t)(2 * t + 1) * a->iw;
}

// Input columns [0, 8) of `row`, those from `left` on zero (and not read).
static inline __attribute__((always_inline, target("avx2,fma"))) __m256 columns_avx2(const float *row, int32_t left) {
    if (left >= 8) return _mm256_loadu_ps(row);
    if (left <= 0) return _mm256_setzero_ps();
    return _mm256_maskload_ps(row, _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}

// What AVX2's 3x3 rows kernels need of plane i: its index j among the planes, and its channel's
// bias, shift and nine weights, each broadcast.
typedef struct {
    int32_t j;
    __m256 bias, shift, wt[9];
} plane3x3_avx2;
static inline __attribute__((always_inline, target("avx2"))) plane3x3_avx2 plane_avx2(const isp_depthwise_args *a, int32_t i) {
    plane3x3_avx2 p;
    p.j = a->planes ? a->planes[i] : i;
    const int32_t ch = p.j % a->perImage;
    p.bias = _mm256_set1_ps(a->bias ? a->bias[ch] : 0), p.shift = _mm256_set1_ps(a->shift ? a->shift[ch] : 0);
    for (int t = 0; t < 9; t++) p.wt[t] = _mm256_set1_ps(a->w[(size_t)ch * 9 + t]);
    return p;
}

// clamp16's clamp (a NaN passed through: both comparisons false), then the shift subtracted.
static inline __attribute__((always_inline, target("avx2"))) __m256 clamp_shift_avx2(__m256 acc, __m256 lo, __m256 hi, __m256 shift) {
    acc = _mm256_blendv_ps(acc, lo, _mm256_cmp_ps(acc, lo, _CMP_LT_OQ));
    acc = _mm256_blendv_ps(acc, hi, _mm256_cmp_ps(acc, hi, _CMP_GT_OQ));
    return _mm256_sub_ps(acc, shift);
}

// 3x3 at stride 2 with AVX2's own 8-float vectors: each output row from its three input rows, 8
// outputs a vector. The 16 input columns under them load as two vectors, whose evens (kx = 1) and
// odds (kx = 2) come out by one in-lane shuffle and one 64-bit permute each; the odds rotated up a
// lane, with the column before in lane 0, give kx = 0. The 16-float body AVX-512 ran then, which
// AVX2 ran on input rows of 56 or more, spent several instructions on each shuffle across the
// two halves of a 16-float value; narrower maps were staged, whose rows' tails were stored value
// by value and then loaded by the taps as vectors, which waited for them. Taps outside the plane
// add zeros in the staged path's order, so the outputs are the same bit for bit. One core, AMD Zen
// 3 AVX2, depthwise_bench.c against those (both in one process, best of 200-300 passes): 576 planes
// of 14x14 94 -> 48 us, 192 of 28x28 82 -> 51, 192 of 8x8 27 -> 15, 960 of 4x4 48 -> 23, 96 of
// 32x32 49-51 -> 45-46, 96 of 112x112 448-626 -> 339-548; 16x16, 56x56 and 64x64 level (0.89-1.02).
// Input row 2y + 1 is the last of output row y and the first of row y + 1: its taps are made once,
// row y + 1's ky = 0 sums kept in `partial` (the scratch) meanwhile, as AVX-512's strips keep theirs
// in registers. Against making them twice, one core, AMD Zen 4 with AVX2 forced, depthwise_bench.c
// (best of 300 passes, input from L3 / memory, us): 96 planes of 112x112 204 -> 152 / 238 -> 221,
// 144 of 56x56 94 -> 69 / 93 -> 69, 192 of 28x28 31 -> 25, 96 of 32x32 16 -> 12, 64 of 57x57 44 -> 34;
// mobilenet_v2 at 224, one core, its stride-2 depthwise steps 0.76-0.81x (isp bench --profile,
// best of three), the whole pass 0.994x (benchmarks/interleave.py; two cores in the VM's slow
// state 1.017x, block quartiles 0.999-1.043: within its noise).
// The kx = 0, 1, 2 taps of 8 outputs at stride 2 (`taps3_avx2`).
typedef struct { __m256 kx[3]; } taps3_avx2;

// From 16 input columns in two vectors: their evens (kx = 1) and odds (kx = 2), and the odds moved
// up a lane (kx = 0), whose lane 0 (the column before, from v1's last lane here) the caller sets.
static inline __attribute__((always_inline, target("avx2,fma"))) taps3_avx2 stride2_taps_avx2(__m256 v0, __m256 v1) {
    const __m256i up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    taps3_avx2 t;
    t.kx[1] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0x88)), 0xd8));
    t.kx[2] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0xdd)), 0xd8));
    t.kx[0] = _mm256_permutevar8x32_ps(t.kx[2], up);
    return t;
}

// Input row `row`'s taps under 8 outputs from column c0 (`left` columns from c0 inside the plane).
static inline __attribute__((always_inline, target("avx2,fma"))) taps3_avx2 row_taps_avx2(const float *row, int32_t c0, int32_t left) {
    taps3_avx2 t = stride2_taps_avx2(columns_avx2(row, left), columns_avx2(row + 8, left - 8));
    t.kx[0] = _mm256_blend_ps(t.kx[0], _mm256_set1_ps(c0 > 0 ? row[-1] : 0), 1);
    return t;
}

// acc + the taps times their weights w[0], w[1], w[2], in the staged path's order.
static inline __attribute__((always_inline, target("avx2,fma"))) __m256 fma_taps_avx2(__m256 acc, taps3_avx2 t, const __m256 *w) {
    acc = _mm256_fmadd_ps(t.kx[0], w[0], acc);
    acc = _mm256_fmadd_ps(t.kx[1], w[1], acc);
    return _mm256_fmadd_ps(t.kx[2], w[2], acc);
}

static __attribute__((target("avx2,fma")))
void stride2_rows8_avx2(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1, float *partial) {
    const int32_t ih = a->ih, iw = a->iw, oh = a->oh, ow = a->ow;
    const __m256 lo = _mm256_set1_ps(a->low), hi = _mm256_set1_ps(a->high), zero = _mm256_setzero_ps();
    const taps3_avx2 none = {{zero, zero, zero}};
    const int ahead = ih * iw >= PREFETCHED_PLANE;
    for (int32_t i = first; i < end; i++) {
        claim_output(a, i, first, end, y0, y1);
        const plane3x3_avx2 p = plane_avx2(a, i);
        const float *x = a->x + (size_t)p.j * ih * iw;
        float *out = a->out + (size_t)p.j * oh * ow;
        if (ow <= 8) {
            // Rows of one vector (mobilenet_v2's 14x14 -> 7x7 at 224): output row y's last input
            // row is row y + 1's first, its taps kept rather than shuffled out again. Small
            // planes: nothing to fetch ahead.
            taps3_avx2 shared = 2 * y0 - 1 >= 0 ? row_taps_avx2(x + (size_t)(2 * y0 - 1) * iw, 0, iw) : none;
            for (int32_t y = y0; y < y1; y++) {
                const taps3_avx2 middle = row_taps_avx2(x + (size_t)(2 * y) * iw, 0, iw);
                const taps3_avx2 below = 2 * y + 1 < ih ? row_taps_avx2(x + (size_t)(2 * y + 1) * iw, 0, iw) : none;
                __m256 acc = p.bias;
                acc = fma_taps_avx2(acc, shared, p.wt);
                acc = fma_taps_avx2(acc, middle, p.wt + 3);
                acc = fma_taps_avx2(acc, below, p.wt + 6);
                store_first_avx2(out + (size_t)y * ow, clamp_shift_avx2(acc, lo, hi, p.shift), ow);
                shared = below;
            }
            continue;
        }
        // Wider rows: `partial` holds output row y's sums with ky = 0 added (bias + the taps of
        // input row 2y - 1), written as row y - 1 made the same row's taps for its ky = 2.
        for (int32_t x0 = 0; x0 < ow; x0 += 8) {
            const int32_t c0 = 2 * x0, left = iw - c0, iy = 2 * y0 - 1;  // input columns from c0 inside the plane
            const taps3_avx2 above = iy >= 0 ? row_taps_avx2(x + (size_t)iy * iw + c0, c0, left) : none;
            _mm256_storeu_ps(partial + x0, fma_taps_avx2(p.bias, above, p.wt));
        }
        for (int32_t y = y0; y < y1; y++) {
            const float *next = ahead ? rows_ahead(a, x, i, end, y + ROWS_AHEAD, y0, y1) : 0;
            if (next) prefetch_lines(next, 2 * (size_t)iw * sizeof(float));
            const float *middle = x + (size_t)(2 * y) * iw, *below = 2 * y + 1 < ih ? middle + iw : 0;
            for (int32_t x0 = 0; x0 < ow; x0 += 8) {
                const int32_t c0 = 2 * x0, left = iw - c0;
                __m256 acc = fma_taps_avx2(_mm256_loadu_ps(partial + x0), row_taps_avx2(middle + c0, c0, left), p.wt + 3);
                const taps3_avx2 t = below ? row_taps_avx2(below + c0, c0, left) : none;
                acc = fma_taps_avx2(acc, t, p.wt + 6);
                _mm256_storeu_ps(partial + x0, fma_taps_avx2(p.bias, t, p.wt));
                store_first_avx2(out + (size_t)y * ow + x0, clamp_shift_avx2(acc, lo, hi, p.shift), ow - x0 < 8 ? ow - x0 : 8);
            }
        }
    }
}

// 3x3 at stride 2 to output rows of at most 4 (input rows of at most 8), AVX2: two output rows a
// vector, the first in lanes 0-3, the second in lanes 4-7. The rows kernel above filled half the
// lanes or less there. Loaded as the rows kernel's two vectors, the first's input row and the
// second's (two rows below) give both rows' evens and odds by the same shuffles, and the odds
// moved up a lane within each half, column -1 (the padding) zero in lanes 0 and 4, give kx = 0.
// The taps add in the staged path's order, so the outputs are the same bit for bit.
static __attribute__((target("avx2,fma")))
void stride2_row_pairs_avx2(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    const int32_t ih = a->ih, iw = a->iw, oh = a->oh, ow = a->ow;
    const __m256 lo = _mm256_set1_ps(a->low), hi = _mm256_set1_ps(a->high), zero = _mm256_setzero_ps();
    for (int32_t i = first; i < end; i++) {
        const plane3x3_avx2 p = plane_avx2(a, i);
        const float *x = a->x + (size_t)p.j * ih * iw;
        float *out = a->out + (size_t)p.j * oh * ow;
        for (int32_t y = y0; y < y1; y += 2) {
            const int pair = y + 1 < y1;
            __m256 acc = p.bias;
            for (int32_t ky = 0; ky < 3; ky++) {
                const int32_t iy = 2 * y - 1 + ky;  // the first row's input row; the second's is iy + 2
                const __m256 r0 = iy >= 0 && iy < ih ? columns_avx2(x + (size_t)iy * iw, iw) : zero;
                const __m256 r1 = pair && iy + 2 < ih ? columns_avx2(x + (size_t)(iy + 2) * iw, iw) : zero;
                taps3_avx2 t = stride2_taps_avx2(r0, r1);
                t.kx[0] = _mm256_blend_ps(t.kx[0], zero, 0x11);
                acc = fma_taps_avx2(acc, t, p.wt + 3 * ky);
            }
            const __m256 v = clamp_shift_avx2(acc, lo, hi, p.shift);
            if (pair && ow == 4) {
                _mm256_storeu_ps(out + (size_t)y * ow, v);
            } else {
                store_first_avx2(out + (size_t)y * ow, v, ow);
                if (pair) store_first_avx2(out + (size_t)(y + 1) * ow, _mm256_permute2f128_ps(v, v, 0x01), ow);
            }
        }
    }
}

// 3x3 at stride 2 from 8x8 planes to 4x4 (MobileNetV2's last stride-2 layer at 32x32 input), AVX2:
// the row-pairs kernel's vectors and shuffles, its two pairs of output rows side by side and each
// weight broadcast where both use it, so that nothing is held across the plane but the bounds.
// Held per plane (plane_avx2), its weights spilled to the stack every plane, and those stores
// queued behind the output stores where the other core had read the output lines (see
// claim_output). The taps add in the staged path's order, so the outputs are the same bit for bit.
// benchmarks/depthwise_handoff.c 437 8 2 (AMD Zen 4, close): split 3.7 -> 2.2 us (AVX-512's row
// pairs 4.3), one core over outputs the other read 11.5 -> 4.2, over unread ones 7.0 -> 4.1. In the
// shipped MobileNetV2, two cores, AVX2 forced: that layer 7.8 -> 3.0 us (isp bench --profile, best
// of four); whole passes 0.979x the time (benchmarks/interleave.py, quartiles 0.968-0.995).
// With AVX-512 too (see isp_depthwise).
static __attribute__((target("avx2,fma")))
void stride2_8x8_avx2(const isp_depthwise_args *a, int32_t first, int32_t end) {
    const __m256 lo = _mm256_set1_ps(a->low), hi = _mm256_set1_ps(a->high), zero = _mm256_setzero_ps();
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        const float *x = a->x + (size_t)j * 64, *w = a->w + (size_t)ch * 9;
        __m256 acc[2];
        acc[0] = acc[1] = _mm256_set1_ps(a->bias ? a->bias[ch] : 0);
        for (int ky = 0; ky < 3; ky++) {
            // Output rows 0 and 1 read input rows ky - 1 and ky + 1; rows 2 and 3, ky + 3 and ky + 5.
            taps3_avx2 t[2] = {stride2_taps_avx2(ky ? _mm256_loadu_ps(x + 8 * (ky - 1)) : zero, _mm256_loadu_ps(x + 8 * (ky + 1))),
                               stride2_taps_avx2(_mm256_loadu_ps(x + 8 * (ky + 3)), _mm256_loadu_ps(x + 8 * (ky + 5)))};
            for (int v = 0; v < 2; v++) t[v].kx[0] = _mm256_blend_ps(t[v].kx[0], zero, 0x11);
            for (int kx = 0; kx < 3; kx++) {
                const __m256 wt = _mm256_broadcast_ss(w + 3 * ky + kx);
                for (int v = 0; v < 2; v++) acc[v] = _mm256_fmadd_ps(t[v].kx[kx], wt, acc[v]);
            }
        }
        const __m256 shift = _mm256_set1_ps(a->shift ? a->shift[ch] : 0);
        float *out = a->out + (size_t)j * 16;
        _mm256_storeu_ps(out, clamp_shift_avx2(acc[0], lo, hi, shift));
        _mm256_storeu_ps(out + 8, clamp_shift_avx2(acc[1], lo, hi, shift));
    }
}

// 3x3 at stride 2 to output rows of at most 8 (input rows of at most 16), AVX-512: two output
// rows a vector. Row by row such a map fills at most half the lanes (7 of 16 for mobilenet_v2's
// 14x14 -> 7x7 at 224), and the vector's work is the same: for each ky the two input rows the two
// output rows read, 2 * ox - 1 + kx of the first row or the second, come out of the two loaded
// rows by one two-source permute per kx (column -1, the padding, a masked-off lane). The taps add
// in the staged path's order, so the outputs are the same bit for bit. One core, AMD Zen 5,
// depthwise_bench.c against the rows kernel, best of the pairs: 576 planes 14x14 27.2 -> 13.6 us
// (ONNX Runtime's node 14 us), 96 of 16x16 4.6 -> 2.1, 192 of 8x8 4.8 -> 2.4, 960 of 4x4 12.4 -> 6.9.
#define STRIDE2_ROW_PAIRS 8
static __attribute__((target("avx512f,avx512vl,fma")))
void stride2_row_pairs_avx512(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    const int32_t ih = a->ih, iw = a->iw, oh = a->oh, ow = a->ow;
    // Lane l < ow is output column l of the first row, ow <= l < 2 ow column l - ow of the second.
    int32_t index[3][16];
    __mmask16 taps[3] = {0, 0, 0};
    for (int kx = 0; kx < 3; kx++)
        for (int32_t l = 0; l < 16; l++) {
            const int32_t second = l >= ow, column = 2 * (l - second * ow) - 1 + kx;
            index[kx][l] = 16 * second + (column > 0 ? column : 0);
            taps[kx] |= (__mmask16)((l < 2 * ow && column >= 0) << l);
        }
    const __m512i i0 = _mm512_loadu_si512(index[0]), i1 = _mm512_loadu_si512(index[1]), i2 = _mm512_loadu_si512(index[2]);
    const __mmask16 row = (__mmask16)((1u << iw) - 1), one = (__mmask16)((1u << ow) - 1), two = (__mmask16)((1u << 2 * ow) - 1);
    const __m512 lo = _mm512_set1_ps(a->low), hi = _mm512_set1_ps(a->high);
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        const float *x = a->x + (size_t)j * ih * iw, *w = a->w + (size_t)ch * 9;
        float *out = a->out + (size_t)j * oh * ow;
        const __m512 bias = _mm512_set1_ps(a->bias ? a->bias[ch] : 0), shift = _mm512_set1_ps(a->shift ? a->shift[ch] : 0);
        for (int32_t y = y0; y < y1; y += 2) {
            const int pair = y + 1 < y1;
            __m512 acc = bias;
            for (int ky = 0; ky < 3; ky++) {
                const int32_t iy = 2 * y - 1 + ky;  // the first row's input row; the second's is iy + 2
                const __m512 r0 = _mm512_maskz_loadu_ps(iy >= 0 && iy < ih ? row : 0, x + (size_t)iy * iw);
                const __m512 r1 = _mm512_maskz_loadu_ps(pair && iy + 2 < ih ? row : 0, x + (size_t)(iy + 2) * iw);
                acc = _mm512_fmadd_ps(_mm512_maskz_permutex2var_ps(taps[0], r0, i0, r1), _mm512_set1_ps(w[3 * ky]), acc);
                acc = _mm512_fmadd_ps(_mm512_maskz_permutex2var_ps(taps[1], r0, i1, r1), _mm512_set1_ps(w[3 * ky + 1]), acc);
                acc = _mm512_fmadd_ps(_mm512_maskz_permutex2var_ps(taps[2], r0, i2, r1), _mm512_set1_ps(w[3 * ky + 2]), acc);
            }
            // clamp16's clamp, a NaN passed through (both comparisons false)
            acc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(acc, lo, _CMP_LT_OQ), acc, lo);
            acc = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(acc, hi, _CMP_GT_OQ), acc, hi);
            _mm512_mask_storeu_ps(out + (size_t)y * ow, pair ? two : one, _mm512_sub_ps(acc, shift));
        }
    }
}

// 3x3 at stride 1 on rows more than 8 wide, AVX-512 (AVX2 has its own below): each plane in
// strips of up to 4 vectors (64 columns; a wider row in strips of nearly equal width), each strip
// walked down its rows. Every input row's three taps under a vector (one column left, in place and
// one right: three unaligned loads, masked only at the row's ends) are loaded once and feed the
// three output rows that read them: ky = 2 of the row above, which is then complete and stored,
// ky = 1 of this one and ky = 0 of the row below, so each output still adds its taps in the
// staged path's order (rows outside the plane add zeros) and is the same bit for bit. Walking down
// a strip of whole cache lines keeps the reads sequential for the hardware's prefetcher. Before,
// each output row read its three input rows, and shifted each vector a lane against its
// neighbours for kx = 0 and kx = 2: six two-register shuffles a vector, and every input row
// loaded by three output rows. One core, AMD Zen 4 AVX-512, depthwise_bench.c against that kernel
// (best of 300 passes, input from L3 / memory, us): 32 planes of 112x112 129 -> 77 / 130 -> 106,
// 144 of 56x56 169 -> 99 / 168 -> 101, 192 of 28x28 61 -> 37, 96 of 32x32 34 -> 20; rows of 14,
// 13 and 9, which went through the flat or staged paths, 576 planes of 14x14 54 -> 36, 384 of
// 14x14 35 -> 20, 64 of 13x13 5.6 -> 3.7, 100 of 9x9 5.3 -> 3.7 (in cache); rows of 8 and less
// stay there (960 of 7x7 27 -> 31, 192 of 8x8 5.3 -> 6.9, 100 of 6x6 3.3 -> 3.6). The same body
// with AVX2 (two halves a vector, masked loads at the row's ends) was 1.0-1.55x slower than
// AVX2's own below. torchvision mobilenet_v2 at 224 (benchmarks/interleave.py, 20 blocks):
// one core 0.951x the time, two cores 0.977x. Software prefetches of the rows ahead (bands of rows walked strip by strip
// with a line of the next band fetched at each step) were slower from L3 than none.
#define STRIP_VECTORS 4

// Input row r's kx = 0, 1, 2 taps under vector v (16 output columns from 16 v): its values one
// column left, in place and one right, zero outside the plane.
static inline __attribute__((always_inline))
void row_taps(load_lanes load, const float *x, int32_t r, int32_t ih, int32_t iw, int32_t v, int32_t vectors, uint32_t tail, v16 *t) {
    const int32_t x0 = 16 * v;
    if (r < 0 || r >= ih) {
        t[0] = t[1] = t[2] = (v16){0};
        return;
    }
    const float *p = x + (size_t)r * iw + x0;
    if (v > 0 && x0 + 17 <= iw) {  // all three inside the row
        t[0] = *(const v16 *)(p - 1), t[1] = *(const v16 *)p, t[2] = *(const v16 *)(p + 1);
        return;
    }
    const uint32_t centre = v + 1 < vectors ? 0xffff : tail;
    t[0] = load(p - 1, (centre << 1 | (v > 0)) & 0xffff);
    t[1] = load(p, centre);
    t[2] = load(p + 1, x0 + 17 <= iw ? 0xffff : centre >> 1);
}

// acc + one input row's taps times their weights w[0], w[1], w[2], in order.
static inline __attribute__((always_inline)) v16 add_row(v16 acc, const v16 *t, const v16 *w) {
    acc += t[0] * w[0];
    acc += t[1] * w[1];
    return acc + t[2] * w[2];
}

// Output rows [y0, y1) under vectors [v0, v0 + S) of one plane (x in, out out), walking down:
// `above` holds each vector's output row y with ky = 0 and 1 added, `below` row y + 1 with ky = 0.
static inline __attribute__((always_inline))
void strip(load_lanes load, store_lanes store, const float *x, float *out, int32_t ih, int32_t iw, int32_t vectors, uint32_t tail,
           const v16 *wt, v16 bias, v16 shift, v16 lo, v16 hi, int32_t y0, int32_t y1, int32_t v0, const int S) {
    v16 above[STRIP_VECTORS], below[STRIP_VECTORS], t[3];
    for (int s = 0; s < S; s++) {
        row_taps(load, x, y0 - 1, ih, iw, v0 + s, vectors, tail, t);
        above[s] = add_row(bias, t, wt);
        row_taps(load, x, y0, ih, iw, v0 + s, vectors, tail, t);
        above[s] = add_row(above[s], t, wt + 3);
        below[s] = add_row(bias, t, wt);
    }
    for (int32_t y = y0; y < y1; y++)
        for (int s = 0; s < S; s++) {
            row_taps(load, x, y + 1, ih, iw, v0 + s, vectors, tail, t);
            const v16 done = clamp16(add_row(above[s], t, wt + 6), lo, hi) - shift;
            above[s] = add_row(below[s], t, wt + 3);
            below[s] = add_row(bias, t, wt);
            float *o = out + (size_t)y * iw + 16 * (v0 + s);
            if (v0 + s + 1 < vectors) *(v16 *)o = done;
            else store(o, done, tail);
        }
}

static inline __attribute__((always_inline))
void stride1_strips(load_lanes load, store_lanes store, const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    const int32_t ih = a->ih, iw = a->iw, vectors = (iw + 15) / 16, strips = (vectors + STRIP_VECTORS - 1) / STRIP_VECTORS;
    const uint32_t tail = (1u << (iw - 16 * (vectors - 1))) - 1;  // the last vector's lanes
    const v16 lo = (v16){0} + a->low, hi = (v16){0} + a->high;
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        const float *x = a->x + (size_t)j * ih * iw, *w = a->w + (size_t)ch * 9;
        float *out = a->out + (size_t)j * ih * iw;
        v16 wt[9];
        for (int t = 0; t < 9; t++) wt[t] = (v16){0} + w[t];
        const v16 bias = (v16){0} + (a->bias ? a->bias[ch] : 0), shift = (v16){0} + (a->shift ? a->shift[ch] : 0);
        for (int32_t k = 0, v0 = 0; k < strips; k++) {
            const int32_t n = (vectors - v0) / (strips - k);  // the rest of the row's vectors, shared evenly
            switch (n) {  // the strip's width known when compiled, so that its sums stay in registers
            case 1: strip(load, store, x, out, ih, iw, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 1); break;
            case 2: strip(load, store, x, out, ih, iw, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 2); break;
            case 3: strip(load, store, x, out, ih, iw, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 3); break;
            default: strip(load, store, x, out, ih, iw, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 4); break;
            }
            v0 += n;
        }
    }
}

static __attribute__((target("avx512f,avx512vl,fma")))
void stride1_strips_avx512(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    stride1_strips(lanes_avx512, store_lanes_avx512, a, first, end, y0, y1);
}

// 3x3 at stride 2, AVX-512 (AVX2 has its own below): each plane in strips of up to 4 output
// vectors (16 outputs a vector, from 32 input columns), walked down the output rows. A vector of
// 32 input columns gives the even (kx = 1) and odd (kx = 2) columns by two-source shuffles, and
// the odd ones moved up a lane, the column before in lane 0, give kx = 0. Output row y reads input
// rows 2y - 1, 2y and 2y + 1, and row 2y + 1 is row y + 1's first: its taps are made once and feed
// both (ky = 2 of row y, which is then complete, and ky = 0 of row y + 1), so every output adds
// its taps in the staged path's order (rows outside the plane add zeros) and is the same bit for
// bit. Input planes from L3 fetch the two rows of the output row ROWS_AHEAD on, each strip its
// columns. Before, each output row made the taps of its three input rows (and before that,
// staging the phases cost most of a small plane's time: MobileNetV2 w0.5's stride-2 layers, one
// core, AMD Zen 5, 11.8 -> 7.9 us from 32x32, 5.2 -> 4.0 from 16x16). One core, AMD Zen 4,
// depthwise_bench.c against that row kernel (best of 300 passes, input from L3 / memory, us): 96
// planes of 112x112 176 -> 130 / 195 -> 206, 144 of 56x56 72 -> 50 / 73 -> 52, 192 of 28x28 25.5
// -> 16.6 / 25.1 -> 16.6, 96 of 32x32 12.9 -> 9.0, 64 of 57x57 34.5 -> 24.1, 5 of 200x200 28.5 ->
// 21.4. Whole passes (benchmarks/interleave.py): mobilenet_v2 at 224 two cores 0.969x the time
// (block quartiles 0.959-0.993), one core 0.997x (0.969-1.048); the shipped MobileNetV2 0.995x.

// Input row r's kx = 0, 1, 2 taps under output vector v at stride 2, zero outside the plane.
static inline __attribute__((always_inline))
void stride2_row_taps(load_lanes load, const float *x, int32_t r, int32_t ih, int32_t iw, int32_t v, v16 *t) {
    if (r < 0 || r >= ih) {
        t[0] = t[1] = t[2] = (v16){0};
        return;
    }
    const int32_t c0 = 32 * v, left = iw - c0;  // input columns from c0 inside the plane
    const float *row = x + (size_t)r * iw + c0;
    const uint32_t m0 = left >= 16 ? 0xffff : (1u << left) - 1;
    const uint32_t m1 = left >= 32 ? 0xffff : left <= 16 ? 0 : (1u << (left - 16)) - 1;
    const v16 v0 = load(row, m0), v1 = load(row + 16, m1);
    t[1] = __builtin_shufflevector(v0, v1, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    t[2] = __builtin_shufflevector(v0, v1, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const v16 previous = (v16){0} + (c0 > 0 ? row[-1] : 0);
    t[0] = __builtin_shufflevector(previous, t[2], 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
}

// Output rows [y0, y1) under output vectors [v0, v0 + S) of plane i (x in, out out), walking
// down: `acc` holds each vector's output row y with ky = 0 added.
static inline __attribute__((always_inline))
void stride2_strip(load_lanes load, store_lanes store, const isp_depthwise_args *a, int32_t i, int32_t end, const float *x, float *out,
                   int32_t vectors, uint32_t tail, const v16 *wt, v16 bias, v16 shift, v16 lo, v16 hi, int32_t y0, int32_t y1, int32_t v0,
                   const int S, int ahead) {
    const int32_t ih = a->ih, iw = a->iw, ow = a->ow, c0 = 32 * v0;
    const size_t bytes = (size_t)(iw - c0 < 32 * S ? iw - c0 : 32 * S) * sizeof(float);
    v16 acc[STRIP_VECTORS], t[3];
    for (int s = 0; s < S; s++) {
        stride2_row_taps(load, x, 2 * y0 - 1, ih, iw, v0 + s, t);
        acc[s] = add_row(bias, t, wt);
    }
    for (int32_t y = y0; y < y1; y++) {
        const float *next = ahead ? rows_ahead(a, x, i, end, y + ROWS_AHEAD, y0, y1) : 0;
        if (next) {
            prefetch_lines(next + c0, bytes);
            prefetch_lines(next + iw + c0, bytes);
        }
        for (int s = 0; s < S; s++) {
            stride2_row_taps(load, x, 2 * y, ih, iw, v0 + s, t);
            acc[s] = add_row(acc[s], t, wt + 3);
            stride2_row_taps(load, x, 2 * y + 1, ih, iw, v0 + s, t);
            const v16 done = clamp16(add_row(acc[s], t, wt + 6), lo, hi) - shift;
            acc[s] = add_row(bias, t, wt);
            float *o = out + (size_t)y * ow + 16 * (v0 + s);
            if (v0 + s + 1 < vectors) *(v16 *)o = done;
            else store(o, done, tail);
        }
    }
}

static inline __attribute__((always_inline))
void stride2_strips(load_lanes load, store_lanes store, const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    const int32_t ih = a->ih, iw = a->iw, ow = a->ow, vectors = (ow + 15) / 16, strips = (vectors + STRIP_VECTORS - 1) / STRIP_VECTORS;
    const uint32_t tail = (1u << (ow - 16 * (vectors - 1))) - 1;  // the last vector's lanes
    const v16 lo = (v16){0} + a->low, hi = (v16){0} + a->high;
    const int ahead = ih * iw >= PREFETCHED_PLANE;
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        const float *x = a->x + (size_t)j * ih * iw, *w = a->w + (size_t)ch * 9;
        float *out = a->out + (size_t)j * a->oh * ow;
        v16 wt[9];
        for (int t = 0; t < 9; t++) wt[t] = (v16){0} + w[t];
        const v16 bias = (v16){0} + (a->bias ? a->bias[ch] : 0), shift = (v16){0} + (a->shift ? a->shift[ch] : 0);
        for (int32_t k = 0, v0 = 0; k < strips; k++) {
            const int32_t n = (vectors - v0) / (strips - k);  // the rest of the row's vectors, shared evenly
            switch (n) {  // known when compiled, as in stride1_strips
            case 1: stride2_strip(load, store, a, i, end, x, out, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 1, ahead); break;
            case 2: stride2_strip(load, store, a, i, end, x, out, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 2, ahead); break;
            case 3: stride2_strip(load, store, a, i, end, x, out, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 3, ahead); break;
            default: stride2_strip(load, store, a, i, end, x, out, vectors, tail, wt, bias, shift, lo, hi, y0, y1, v0, 4, ahead); break;
            }
            v0 += n;
        }
    }
}

static __attribute__((target("avx512f,avx512vl,fma")))
void stride2_strips_avx512(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    stride2_strips(lanes_avx512, store_lanes_avx512, a, first, end, y0, y1);
}

// 3x3 at stride 1 with AVX2's own 8-float vectors, on rows over STRIPS8_WIDTH (narrower ones
// until the strips kernel below came): each output row from its three input rows read in place
// (a row outside the plane reads a zero row), 8 outputs a vector, every tap one unaligned load,
// except at the row's ends: the first vector's kx = 0 tap is its centre rotated up a lane with a
// zero in lane 0, the last's kx = 2 tap its centre rotated
// down with a zero in lane 7. The last vector ends at the row's end, overlapping the one before
// when the width is no multiple of 8 (those outputs are computed twice, the same). Taps outside
// the plane add zeros, so every output is the staged path's sum in the same order. Before, AVX2
// ran rows of 40 and more through AVX-512's kernel of then (16-float lane shifts, several shuffles
// each across the two 8-float halves) and narrower ones staged (each tap's lanes masked by
// column). One core, AMD Zen 4 with AVX2 forced, depthwise_bench.c against those (one process,
// alternating, input in cache; best of 300 passes, us): 96 planes of 32x32 48.6 -> 30.2, 96 of
// 16x16 12.2 -> 9.1, 192 of 28x28 76.8 -> 58.2, 576 of 14x14 69.3 -> 58.2, 64 of 13x13 6.3 -> 5.0,
// 96 of 40x40 95.3 -> 45.1, 144 of 56x56 253 -> 130, 32 of 112x112 186 -> 112; input from memory,
// 56x56 265 -> 144, 112x112 195 -> 121; 9x9 level. (The same kernel in place of AVX-512's, same
// core: 0.89-1.43x, so not there.)
// v moved up a lane, a zero in lane 0 (the kx = 0 tap at a row's start), and down a lane, a zero
// in lane 7 (kx = 2 at its end).
static inline __attribute__((always_inline, target("avx2"))) __m256 moved_up_avx2(__m256 v) {
    return _mm256_blend_ps(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6)), _mm256_setzero_ps(), 0x01);
}
static inline __attribute__((always_inline, target("avx2"))) __m256 moved_down_avx2(__m256 v) {
    return _mm256_blend_ps(_mm256_permutevar8x32_ps(v, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0)), _mm256_setzero_ps(), 0x80);
}

static inline __attribute__((always_inline, target("avx2,fma")))
__m256 row8_avx2(const int FIRST, const int LAST, const float *const *row, int32_t x0, __m256 bias, const __m256 *wt) {
    __m256 acc = bias;
    for (int ky = 0; ky < 3; ky++) {
        const float *r = row[ky] + x0;
        taps3_avx2 t;
        t.kx[1] = _mm256_loadu_ps(r);
        t.kx[0] = FIRST ? moved_up_avx2(t.kx[1]) : _mm256_loadu_ps(r - 1);
        t.kx[2] = LAST ? moved_down_avx2(t.kx[1]) : _mm256_loadu_ps(r + 1);
        acc = fma_taps_avx2(acc, t, wt + 3 * ky);
    }
    return acc;
}

static __attribute__((target("avx2,fma")))
void stride1_rows8_avx2(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1, float *scratch) {
    const int32_t ih = a->ih, iw = a->iw;
    const __m256 lo = _mm256_set1_ps(a->low), hi = _mm256_set1_ps(a->high);
    const int ahead = ih * iw >= PREFETCHED_PLANE;
    for (int32_t c = 0; c < iw; c++) scratch[c] = 0;  // the row above or below the plane
    for (int32_t i = first; i < end; i++) {
        const plane3x3_avx2 p = plane_avx2(a, i);
        const float *x = a->x + (size_t)p.j * ih * iw;
        float *out = a->out + (size_t)p.j * ih * iw;
        for (int32_t y = y0; y < y1; y++) {
            if (ahead) prefetch_lines(x + (size_t)(y + 1 + ROWS_AHEAD) * iw, (size_t)iw * sizeof(float));
            const float *row[3];
            for (int ky = 0; ky < 3; ky++) row[ky] = y - 1 + ky >= 0 && y - 1 + ky < ih ? x + (size_t)(y - 1 + ky) * iw : scratch;
            float *o = out + (size_t)y * iw;
            for (int32_t x0 = 0;; x0 = x0 + 16 <= iw ? x0 + 8 : iw - 8) {
                const int last = x0 == iw - 8;
                const __m256 acc = x0 == 0 ? (last ? row8_avx2(1, 1, row, x0, p.bias, p.wt) : row8_avx2(1, 0, row, x0, p.bias, p.wt))
                                           : (last ? row8_avx2(0, 1, row, x0, p.bias, p.wt) : row8_avx2(0, 0, row, x0, p.bias, p.wt));
                _mm256_storeu_ps(o + x0, clamp_shift_avx2(acc, lo, hi, p.shift));
                if (last) break;
            }
        }
    }
}

// 3x3 at stride 1 on rows of 9 to STRIPS8_WIDTH, AVX2: AVX-512's strips (above) with AVX2's own
// vectors, one a strip: each 8 columns (the last ending at the row's end, as in the rows kernel
// above) walked down the plane, every input row's three taps loaded once and fed to the three
// output rows that read them, in the staged path's order (rows outside the plane add zeros). One
// core, AMD Zen 4 with AVX2 forced, depthwise_bench.c against the rows kernel (best of 300
// passes, input in cache / from memory, us): 192 planes of 28x28 57 -> 44 / 59 -> 42, 576 of
// 14x14 55 -> 35 / 55 -> 35, 96 of 32x32 31 -> 24 / 31 -> 24, 96 of 16x16 9.1 -> 6.4, 100 of
// 10x10 6.1 -> 4.6. Wider rows stay there: walked down 32 bytes at a time, a plane from memory
// came slower (96 of 40x40 47 -> 41, 48x48 66 -> 93, 144 of 56x56 140 -> 225), and strips of two
// to four vectors, their ends known only when run, were slower on every map. Whole passes, AVX2
// forced (benchmarks/interleave.py): mobilenet_v2 at 224 one core 0.983x the time, two cores
// 0.992x and 1.053x in two runs (block quartiles 0.979-1.008, 0.994-1.033); the shipped
// MobileNetV2 (32x32) 0.997x (0.975-1.001).
#define STRIPS8_WIDTH 32

// Input row r's taps under the 8 output columns from x0 (zero outside the plane); the row's first
// vector (FIRST) has a zero left of column 0, its last (LAST) right of the last column.
static inline __attribute__((always_inline, target("avx2,fma")))
taps3_avx2 row_taps8_avx2(const int FIRST, const int LAST, const float *x, int32_t r, int32_t ih, int32_t iw, int32_t x0) {
    taps3_avx2 t;
    if (r < 0 || r >= ih) {
        t.kx[0] = t.kx[1] = t.kx[2] = _mm256_setzero_ps();
        return t;
    }
    const float *p = x + (size_t)r * iw + x0;
    t.kx[1] = _mm256_loadu_ps(p);
    t.kx[0] = FIRST ? moved_up_avx2(t.kx[1]) : _mm256_loadu_ps(p - 1);
    t.kx[2] = LAST ? moved_down_avx2(t.kx[1]) : _mm256_loadu_ps(p + 1);
    return t;
}

// Output rows [y0, y1) of columns [x0, x0 + 8) of plane p, walking down: `above` holds output row
// y with ky = 0 and 1 added, `below` row y + 1 with ky = 0.
static inline __attribute__((always_inline, target("avx2,fma")))
void strip8_avx2(const int FIRST, const int LAST, const float *x, float *out, int32_t ih, int32_t iw, const plane3x3_avx2 *p,
                 __m256 lo, __m256 hi, int32_t y0, int32_t y1, int32_t x0) {
    taps3_avx2 t = row_taps8_avx2(FIRST, LAST, x, y0 - 1, ih, iw, x0);
    __m256 above = fma_taps_avx2(p->bias, t, p->wt);
    t = row_taps8_avx2(FIRST, LAST, x, y0, ih, iw, x0);
    above = fma_taps_avx2(above, t, p->wt + 3);
    __m256 below = fma_taps_avx2(p->bias, t, p->wt);
    for (int32_t y = y0; y < y1; y++) {
        t = row_taps8_avx2(FIRST, LAST, x, y + 1, ih, iw, x0);
        const __m256 done = clamp_shift_avx2(fma_taps_avx2(above, t, p->wt + 6), lo, hi, p->shift);
        above = fma_taps_avx2(below, t, p->wt + 3);
        below = fma_taps_avx2(p->bias, t, p->wt);
        _mm256_storeu_ps(out + (size_t)y * iw + x0, done);
    }
}

static __attribute__((target("avx2,fma")))
void stride1_strips8_avx2(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    const int32_t ih = a->ih, iw = a->iw;
    const __m256 lo = _mm256_set1_ps(a->low), hi = _mm256_set1_ps(a->high);
    for (int32_t i = first; i < end; i++) {
        const plane3x3_avx2 p = plane_avx2(a, i);
        const float *x = a->x + (size_t)p.j * ih * iw;
        float *out = a->out + (size_t)p.j * ih * iw;
        for (int32_t x0 = 0;; x0 = x0 + 16 <= iw ? x0 + 8 : iw - 8) {
            const int last = x0 == iw - 8;
            if (x0 == 0) strip8_avx2(1, 0, x, out, ih, iw, &p, lo, hi, y0, y1, x0);  // (iw > 8: the first is not the last)
            else if (last) strip8_avx2(0, 1, x, out, ih, iw, &p, lo, hi, y0, y1, x0);
            else strip8_avx2(0, 0, x, out, ih, iw, &p, lo, hi, y0, y1, x0);
            if (last) break;
        }
    }
}

// Input row `row` (`iw` <= 8 wide) as the kx = 0, 1, 2 taps of its output row: the row, and the
// row moved up and down a lane with a zero at the plane's edge (lanes from iw on load as zeros).
static inline __attribute__((always_inline, target("avx2,fma"))) taps3_avx2 row_of_one_taps_avx2(const float *row, int32_t iw) {
    taps3_avx2 t;
    t.kx[1] = columns_avx2(row, iw);
    t.kx[0] = moved_up_avx2(t.kx[1]);
    t.kx[2] = moved_down_avx2(t.kx[1]);
    return t;
}

// 3x3 at stride 1 on rows of at most 8 (MobileNetV2 w0.5's 8x8 and 4x4 layers, mobilenet_v2's 7x7
// at 224), AVX2: a row a vector, each input row's three taps made once and used by the three
// output rows that read it. The whole-plane path above (16-float vectors across row ends) spent
// most of its instructions on shuffles across the two 8-float halves. The taps add in the staged
// path's order (rows outside the plane add zeros), so the outputs are the same bit for bit. One
// core, depthwise_bench.c against the paths before (AMD Zen 4, AVX2 forced, input in cache, best
// of 2000 passes, us): 192 planes of 8x8 6.9 -> 4.5, 960 of 7x7 35.9 -> 28.2 (two bands 57.8 ->
// 33.9), 100 of 6x6 5.7 -> 3.8, 3x3 2.4 -> 2.1, 96 of 2x2 1.6 -> 1.0; 4x4 planes lost (480 of them
// 6.0 -> 7.7 us, half of each vector idle), where the whole-plane path holds a plane in one
// 16-float value, and stay there.
static __attribute__((target("avx2,fma")))
void stride1_rows_of_one_avx2(const isp_depthwise_args *a, int32_t first, int32_t end, int32_t y0, int32_t y1) {
    const int32_t ih = a->ih, iw = a->iw;
    const __m256 lo = _mm256_set1_ps(a->low), hi = _mm256_set1_ps(a->high), zero = _mm256_setzero_ps();
    const taps3_avx2 none = {{zero, zero, zero}};
    for (int32_t i = first; i < end; i++) {
        const plane3x3_avx2 p = plane_avx2(a, i);
        const float *x = a->x + (size_t)p.j * ih * iw;
        float *out = a->out + (size_t)p.j * ih * iw;
        taps3_avx2 above = y0 > 0 ? row_of_one_taps_avx2(x + (size_t)(y0 - 1) * iw, iw) : none;
        taps3_avx2 middle = row_of_one_taps_avx2(x + (size_t)y0 * iw, iw);
        for (int32_t y = y0; y < y1; y++) {
            const taps3_avx2 below = y + 1 < ih ? row_of_one_taps_avx2(x + (size_t)(y + 1) * iw, iw) : none;
            __m256 acc = fma_taps_avx2(p.bias, above, p.wt);
            acc = fma_taps_avx2(acc, middle, p.wt + 3);
            acc = fma_taps_avx2(acc, below, p.wt + 6);
            store_first_avx2(out + (size_t)y * iw, clamp_shift_avx2(acc, lo, hi, p.shift), iw);
            above = middle;
            middle = below;
        }
    }
}

// 3x3 at stride 1 on 4x4 planes (MobileNetV2's last blocks at 32x32 input), AVX2: a plane is two
// vectors, rows 0-1 and rows 2-3, each 128-bit half one row, so that a tap's column shift is a
// byte shift within each half (zeros shifted in at the row's ends) and its row shift a swap of
// halves. The flat kernel (stride1_flat) shuffled 16-float values across AVX2's two halves and
// held its nine weights as pairs of registers, spilling them to the stack every plane; with the
// other core's reads on its output lines those spill stores queued behind the output stores (see
// claim_output). Here each weight is broadcast where it is used, for both vectors. The taps add in
// the staged path's order, so the outputs are the same bit for bit. benchmarks/depthwise_handoff.c
// 877 4 1 (AMD Zen 4, vCPUs close): split 5.9 -> 3.0 us (AVX-512's flat kernel 4.0), one core over
// outputs the other read 21.1 -> 6.4, over unread ones 13.6 -> 5.9. The shipped MobileNetV2's
// 4x4 layers on two cores (isp bench --profile, AVX2 forced): the last 10.0 -> 3.6 us close, 32.4 ->
// 9.1 far apart; whole passes (benchmarks/interleave.py, 20 blocks of 20) 0.983x the time on one
// core, on two 0.975x far apart and 1.008x close (block quartiles 0.99-1.02: within the noise).
// With AVX-512 too (see isp_depthwise): its flat kernel 4.0 us split, this one 3.0-3.4.
static __attribute__((target("avx2,fma")))
void stride1_4x4_avx2(const isp_depthwise_args *a, int32_t first, int32_t end) {
    const __m256 lo = _mm256_set1_ps(a->low), hi = _mm256_set1_ps(a->high);
    for (int32_t i = first; i < end; i++) {
        const int32_t j = a->planes ? a->planes[i] : i, ch = j % a->perImage;
        const float *x = a->x + (size_t)j * 16, *w = a->w + (size_t)ch * 9;
        const __m256 top = _mm256_loadu_ps(x), bottom = _mm256_loadu_ps(x + 8);  // rows 0-1, rows 2-3
        // Rows r - 1 and r + 1 under each vector's rows r: (none, 0 | 1, 2) and (1, 2 | 3, none).
        const __m256 middle = _mm256_permute2f128_ps(top, bottom, 0x21);
        const __m256 rows[2][3] = {{_mm256_permute2f128_ps(top, top, 0x08), top, middle},
                                   {middle, bottom, _mm256_permute2f128_ps(bottom, bottom, 0x81)}};
        __m256 acc[2];
        acc[0] = acc[1] = _mm256_set1_ps(a->bias ? a->bias[ch] : 0);
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                const __m256 wt = _mm256_broadcast_ss(w + 3 * ky + kx);
                for (int v = 0; v < 2; v++) {
                    const __m256i r = _mm256_castps_si256(rows[v][ky]);
                    const __m256 tap = kx == 0 ? _mm256_castsi256_ps(_mm256_slli_si256(r, 4))
                                     : kx == 2 ? _mm256_castsi256_ps(_mm256_srli_si256(r, 4)) : rows[v][ky];
                    acc[v] = _mm256_fmadd_ps(tap, wt, acc[v]);
                }
            }
        const __m256 shift = _mm256_set1_ps(a->shift ? a->shift[ch] : 0);
        float *out = a->out + (size_t)j * 16;
        _mm256_storeu_ps(out, clamp_shift_avx2(acc[0], lo, hi, shift));
        _mm256_storeu_ps(out + 8, clamp_shift_avx2(acc[1], lo, hi, shift));
    }
}

// MobileNetV2's 8x8 -> 4x4 and 4x4 layers (32x32 input) run the AVX2 kernels with either instruction
// set: a 4x4 plane is two of their vectors, where AVX-512's row pairs filled half of each vector and
// its flat kernel shuffled across all of it. With AVX-512, the shipped MobileNetV2 on two cores (isp
// bench --profile): 8x8 -> 4x4 5.4 -> 3.1 us, the three 4x4 layers 4.5-5.0 -> 3.6-4.0; whole passes
// 0.980x the time (benchmarks/interleave.py, quartiles 0.962-1.000), one core 0.989x (0.940-1.068).
// Its 8x8 stride-1 layers too run AVX2's rows of one vector: benchmarks/depthwise_handoff.c, split,
// 243 planes 3.44 -> 3.12 us, 462 6.46 -> 5.86 (7x7 planes not: 13.6 against 17.2); whole passes on
// one core 0.985x (0.980-0.993), on two level (0.995x, 0.977-1.011).
void isp_depthwise(isp_isa isa, const isp_depthwise_args *a, int32_t first, int32_t end, int32_t row0, int32_t row1, float *scratch) {
    if (a->k == 3 && a->stride == 2 && a->ih == 8 && a->iw == 8 && row0 == 0 && row1 == 4) stride2_8x8_avx2(a, first, end);
    else if (a->k == 3 && a->stride == 1 && a->ih == 4 && a->iw == 4 && row0 == 0 && row1 == 4) stride1_4x4_avx2(a, first, end);
    else if (a->k == 3 && a->stride == 2 && isa == ISP_AVX512 && a->ow <= STRIDE2_ROW_PAIRS)
        stride2_row_pairs_avx512(a, first, end, row0, row1);
    else if (a->k == 3 && a->stride == 2 && isa == ISP_AVX512) stride2_strips_avx512(a, first, end, row0, row1);
    else if (a->k == 3 && a->stride == 2 && a->ow <= 4) stride2_row_pairs_avx2(a, first, end, row0, row1);
    else if (a->k == 3 && a->stride == 2) stride2_rows8_avx2(a, first, end, row0, row1, scratch);
    else if (a->k == 3 && a->stride == 1 && (isa == ISP_AVX2 ? a->iw <= 8 && a->iw != 4 : a->iw == 8))
        stride1_rows_of_one_avx2(a, first, end, row0, row1);
    else if (a->k == 3 && a->stride == 1 && isa == ISP_AVX512 && a->iw > 8) stride1_strips_avx512(a, first, end, row0, row1);
    else if (a->k == 3 && a->stride == 1 && isa == ISP_AVX2 && a->iw > 8 && a->iw <= STRIPS8_WIDTH) stride1_strips8_avx2(a, first, end, row0, row1);
    else if (a->k == 3 && a->stride == 1 && isa == ISP_AVX2 && a->iw > STRIPS8_WIDTH && a->ih * a->iw > DIRECT_PIXELS)
        stride1_rows8_avx2(a, first, end, row0, row1, scratch);
    else if (isa == ISP_AVX512) depthwise_avx512(a, first, end, row0, row1, scratch);
    else depthwise_avx2(a, first, end, row0, row1, scratch);
}

// Backward over one zero-bordered plane: each output gradient vector meets the sixteen (stride 2: thirty-two) input
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

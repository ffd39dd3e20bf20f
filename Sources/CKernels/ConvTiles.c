// The batch-1 convolution micro-kernel. Written in C rather than Swift for one reason: it needs
// AVX-512 on CPUs that have it and AVX2 elsewhere, chosen at run time, and Swift has no
// per-function target attributes. The same generic body is compiled twice, once per instruction
// set; `isp_conv_tiles` runs the one its caller names.
//
// Register blocking: TILES x 16 output channels (one vector each) by PIXELS grid positions, so
// every weight vector loaded is used PIXELS times and every input value broadcast TILES times.
// With AVX-512, 2 x 14 (28 accumulators of its 32 registers): blocks of up to 12 ran rows 28 wide
// as 10 + 10 + 8 and 14 wide as 7 + 7; as 14 + 14 and 14 they went 71 -> 112 and 59 -> 105 GMAC/s,
// 56 wide 72 -> 95, a 7x7 map 66 -> 89 (one core, Intel Xeon AVX-512, benchmarks/conv_kernel_bench.c).
#include "CKernels.h"
#include "Transpose.h"
#include "Clamp.h"
#include "Rows.h"
#include <stddef.h>
#include <cpuid.h>
#include <immintrin.h>
#pragma clang diagnostic ignored "-Wpsabi"  // the blocks are always inlined into their kernels

// Macros, not functions: a v16 passed by value outside an AVX-512 function changes the ABI.
#define splat(v) ((v16){0} + (float)(v))  // outside the inner loop only: it costs an add
#define load16(p) (*(const v16 *)(p))

// Output planes of at least STORE_AHEAD_PLANE floats (64x64 and up) do not stay in L2 from one
// image to the next, so the lines a block stores into came from L3 or memory on demand, and the
// stores waited for them. Each block fetches, for writing, every channel's line 32 floats past
// what it stored. One core (isp bench --profile, AMD Zen 5 AVX-512), three alternations:
// torchvision resnet18 at 224, its first convolution (64 planes of 112x112) 1.46-1.55 -> 1.10-1.11
// ms; mobilenet_v2's (32 planes of 112x112) 0.33-0.34 -> 0.21 ms.
#define STORE_AHEAD_PLANE 4096

// The mask of a vector's first n lanes (AVX2).
#define block_lanes(n) _mm256_setr_epi32(-(0 < (n)), -(1 < (n)), -(2 < (n)), -(3 < (n)), -(4 < (n)), -(5 < (n)), -(6 < (n)), -(7 < (n)))

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

// One block of TILES x PIXELS at pixel stride S (ONE: 1x1; PF: prefetch the weights; SPLIT: across
// a row's end after SPLIT pixels), with the arguments every call passes.
#define CALL(TILES, PIXELS, S, ONE, PF, C, SPLIT) BLOCK_OF_KERNEL(TILES, PIXELS, S, ONE, PF, C, SPLIT, 0, 0, blockIn, blockX, panels, rows, \
                                                        outChannels, tile, q, shift, blockOut, into, intoPitch, blockSums, \
                                                        sumsPitch, prefetchChannels, gap, 0, 0)

// Whether every input channel's plane lies the same distance after the one before and its weight
// rows right after the one before's (a run of consecutive channels, as in a dense network): then
// the 1x1 blocks, tiled and pixel-major, step through both instead of reading the two tables every
// channel. Those reads and their address arithmetic were about a third of the instructions of an
// AVX2 1x1 block's loop (12 FMAs a channel), and a bare loop ran 1.06-1.25x as fast (one core, in
// cache, AMD Zen 3 AVX2: 960 -> 160 channels at 7x7 28.4 -> 35.2 GMAC/s, 576 -> 96 at 14x14 29.1 ->
// 36.2, 384 -> 64 40.3 -> 47.8). The kernel so, against the tables, in one process
// (docs/results/speed/engine-ratios-2026-12-03-stop46-zen3-avx2/kernel-ab-chunks.c): 0.76-0.92x
// the time on mobilenet_v2's 1x1 shapes at 224, outputs bit for bit the same; 3x3 blocks (nine taps
// a channel) 0.93-1.06x, so they keep the tables.
static inline __attribute__((always_inline)) int contiguous_channels(const isp_conv_input *in) {
    if (in->channels < 2) return 0;
    const int32_t step = in->xOffset[1] - in->xOffset[0];
    for (int32_t i = 1; i < in->channels; i++)
        if (in->xOffset[i] - in->xOffset[i - 1] != step || in->weightChannel[i] != in->weightChannel[i - 1] + 1) return 0;
    return 1;
}

// A block of n <= MAXPIX positions (the blocks of longer runs are cut to MAXPIX). The constant
// condition keeps the AVX2 build (MAXPIX 6) from compiling blocks of 7-14 it can never run: with
// its epilogue's transposes (see ConvBlock.h) they took this file from 183 to 298 s to compile
// (clang -O3, two compiles side by side); without them 164 s, beside 167 s before the transposes.
#define SMALL_CASE(P, T, S, ONE, PF, C, MAXPIX) \
    case P: if (P <= MAXPIX) CALL(T, P, S, ONE, PF, C, 0); else __builtin_unreachable(); break;
#define SMALL_CASES(T, S, ONE, PF, C, MAXPIX) \
    switch (n) { \
    SMALL_CASE(14, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(13, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(12, T, S, ONE, PF, C, MAXPIX) \
    SMALL_CASE(11, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(10, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(9, T, S, ONE, PF, C, MAXPIX) \
    SMALL_CASE(8, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(7, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(6, T, S, ONE, PF, C, MAXPIX) \
    SMALL_CASE(5, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(4, T, S, ONE, PF, C, MAXPIX) SMALL_CASE(3, T, S, ONE, PF, C, MAXPIX) \
    SMALL_CASE(2, T, S, ONE, PF, C, MAXPIX) \
    default: CALL(T, 1, S, ONE, PF, C, 0); break; \
    }

// Tiles outermost: a pair of weight tiles stays in cache while the grid positions stream past.
// Two tiles at a time whenever there are two, also on maps of 13-24 positions: those once ran as one
// block of one tile, each weight read once, but then every multiply-add had its own broadcast load
// and the loads, not the FMAs, set the pace (16-wide rows 63 -> 71-73 GMAC/s, 24-wide 67 -> 81,
// 4x4 maps 57 -> 63 with the weights in cache, 56 -> 54 from memory; one core, Intel Xeon AVX-512).
// The constant condition on MAXTILES keeps the AVX2 build from compiling blocks it can never run.
// Blocks across a row's end (`split`, see BANDS) only where the kernel runs bands (`bands`).
#define DISPATCH(S, MAXTILES, ONE, PF, C, MAXPIX) \
    if (bands && split == 2) { CALL(1, BAND_BLOCK, S, ONE, PF, C, 2); } \
    else if (bands && split == 4) { CALL(1, BAND_BLOCK, S, ONE, PF, C, 4); } \
    else if (MAXTILES > 1 && two) { SMALL_CASES(2, S, ONE, PF, C, MAXPIX) } else { SMALL_CASES(1, S, ONE, PF, C, MAXPIX) }

// Weight rows above which the blocks prefetch the weights (see ConvBlock.h): a pair of tiles' panel
// of more than 256 KB, an eighth of L2 (ResNet-18's and VGG16's layers of 256 and 512 channels).
// 1x1 convolutions never have that many rows in our networks (MobileNetV2's most: 1280).
#define PREFETCH_ROWS 2048
// Or weight sets of more than PREFETCH_WEIGHTS floats (512 KB, half of a Zen 5 core's L2): they do
// not stay in L2 from one image to the next, and come from L3 on demand. mobilenet_v2 at 224, one
// core, alternating (isp bench --profile, AMD Zen 5 AVX-512): 320 -> 1280 at 7x7 261-283 -> 215-228
// us, 960 -> 320 174-191 -> 133-142, 160 -> 960 124-129 -> 100-112, 960 -> 160 97-101 -> 71-76; the
// whole pass 4.93-5.31 -> 4.87-5.17 ms. VGG16 and ResNet-18 w0.5's layers of 128 channels and more
// within noise (one core).
#define PREFETCH_WEIGHTS (1 << 17)

// Convolutions with a short reduction over taps (input channels x taps <= SHORT_REDUCTION, taps >
// 1: the first convolution of a network, 1-3 input channels) run pixel-major instead: one vector
// holds 16 pixels of one output channel, each weight is broadcast, and the outputs are stored as
// they are, with no transpose. With 9 multiply-adds per output the tiled blocks spent most of
// their time in the epilogue (VGG16 w0.5's first convolution: 24 us of which 16 us epilogue on one
// thread; this way 14.5 us; isp bench --profile, Intel Xeon AVX-512). Whole vectors of 16
// positions, at stride 1 (at stride 2 see PHASE_ROW). Not 1x1 convolutions of up to 27 channels
// read in place: on MobileNetV2's 32x32 maps (planes 4096 bytes apart, so each store aliased the
// loads of the same offset) they ran 1.6x slower so; from a copy of their inputs they run
// pixel-major too (STAGED_CHANNELS).
#define SHORT_REDUCTION 27

// G output channels by P vectors of 16 positions at q: G x P accumulators, P loads and G
// broadcasts per G x P multiply-adds. g <= G of the channels are real (the last group). With
// `ahead` (positions; 0: none), each line stored is fetched again `ahead` positions on, for
// writing (see LONG_RUN); with `inputAhead`, each line read `inputAhead` positions on, into L2
// (see INPUT_AHEAD).
// ONE_TAP (1x1 convolutions), as in the tiled blocks: with a tap loop that ran once, the compiler
// kept the accumulators in one set of registers across channels and another inside the loop, and
// moved all of them back and forth for every channel (16 register moves per 16 multiply-adds, perf
// annotate). One core, in cache (benchmarks/conv_kernel_bench.c, layout 2), three alternations,
// GMAC/s: 16 -> 96 channels at 28x28 59-60 -> 70-72, 24 -> 144 66-70 -> 82-84, 32 -> 192 73-74 ->
// 88-92, 64 -> 384 at 14x14 76-77 -> 104-107, 16 -> 96 at 112x112 58-59 -> 70-72; AVX2 (16-32
// inputs at 28x28) 33-38 -> 48-54 (AMD Zen 5). In mobilenet_v2 at 224, one core (isp bench
// --profile), two alternations: its expansions at 112x112 556-586 -> 375-398 us, at 56x56 275-287 ->
// 173-183, at 28x28 120-127 -> 75-80, at 14x14 116-123 -> 72-80.
// The sums start from the bias: zeroed, the accumulators went through the stack on every block
// (16 stores of 64 bytes before the channel loop, perf annotate), and the bias cost an add each
// after it. One core, in cache (conv_kernel_bench.c, layout 2, AMD Zen 4 AVX-512, two
// alternations), GMAC/s: 16 -> 96 at 28x28 39.9-40.0 -> 44.5, at 112x112 39.5-39.7 -> 44.0-44.1,
// 24 -> 144 at 56x56 44.3-44.5 -> 47.9, 32 -> 192 at 28x28 46.8 -> 49.7, 64 -> 384 at 14x14
// 52.0-52.2 -> 54.6-54.8, 32 -> 16 at 112x112 40.7-47.3 -> 50.7-51.3, 96 -> 24 at 56x56 53.9-54.0
// -> 55.6-55.7; AVX2 level. torchvision mobilenet_v2 at 224 (benchmarks/interleave.py, 20 blocks
// of 10): 0.986x the time on one core, 0.963x on two.
static inline __attribute__((always_inline)) void pixel_block(const int G, const int P, const int ONE_TAP, const int CONTIGUOUS,
                                                              const int32_t ahead, const int32_t inputAhead, const isp_conv_input *in,
                                                              const float *panels, int32_t rows, int32_t o, int32_t g,
                                                              int32_t q, int32_t shift, const isp_conv_output *out) {
    v16 acc[8][4];
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < G; j++) {
        const v16 bias = splat(out->bias[o + (j < g ? j : 0)]);
        _Pragma("clang loop unroll(full)")
        for (int h = 0; h < P; h++) acc[j][h] = bias;
    }
    size_t column[8];  // output channel o + j's lane in the panels
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < G; j++) column[j] = (size_t)((o + (j < g ? j : 0)) / 16) * rows * 16 + (o + (j < g ? j : 0)) % 16;
    const int32_t taps = ONE_TAP ? 1 : in->taps;
    // CONTIGUOUS (1x1 only), as in the tiled blocks (see contiguous_channels).
    const size_t step = CONTIGUOUS && in->channels > 1 ? (size_t)(in->xOffset[1] - in->xOffset[0]) : 0;
    const float *x0 = CONTIGUOUS && in->channels > 0 ? in->x + in->xOffset[0] + q : 0;
    const size_t row0 = CONTIGUOUS && in->channels > 0 ? (size_t)in->weightChannel[0] * 16 : 0;
    for (int32_t i = 0; i < in->channels; i++) {
        const float *x = CONTIGUOUS ? x0 + i * step : in->x + in->xOffset[i] + q;
        for (int32_t k = 0; k < taps; k++) {
            const float *xt = ONE_TAP ? x : x + in->tapOffset[k];
            const size_t row = CONTIGUOUS ? row0 + (size_t)i * 16 : ((size_t)in->weightChannel[i] * taps + k) * 16;
            v16 a[4];
            _Pragma("clang loop unroll(full)")
            for (int h = 0; h < P; h++) a[h] = load16(xt + 16 * h);
            if (inputAhead) {
                _Pragma("clang loop unroll(full)")
                for (int h = 0; h < P; h++) _mm_prefetch((const char *)(xt + inputAhead + 16 * h), _MM_HINT_T1);
            }
            _Pragma("clang loop unroll(full)")
            for (int j = 0; j < G; j++) {
                const float w = panels[column[j] + row];
                _Pragma("clang loop unroll(full)")
                for (int h = 0; h < P; h++) acc[j][h] += a[h] * w;
            }
        }
    }
    const v16 lo = splat(out->low), hi = splat(out->high);
    for (int j = 0; j < g; j++) {
        float *to = out->out + (size_t)(o + j) * out->plane + q + shift;
        const float *res = out->residual ? out->residual + (size_t)(o + j) * out->plane + q + shift : 0;
        _Pragma("clang loop unroll(full)")
        for (int h = 0; h < P; h++) {
            v16 v = acc[j][h];
            if (res) v += load16(res + 16 * h);
            *(v16 *)(to + 16 * h) = clamp16(v, lo, hi);
            if (ahead) __builtin_prefetch(to + 16 * h + ahead, 1, 2);
        }
    }
}

// G channels at a time over P vectors at a time, then the last 1..P-1 vectors; the first group
// of each P vectors fetches their input `inputAhead` positions on (0: none).
static inline __attribute__((always_inline)) void pixel_major(const int G, const int P, const int ONE_TAP, const int CONTIGUOUS,
                                                              const int32_t ahead, const int32_t inputAhead,
                                                              const isp_conv_input *in,
                                                              const float *panels, int32_t rows, int32_t outChannels,
                                                              int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift,
                                                              const isp_conv_output *out) {
    const int32_t o1 = tile1 * 16 < outChannels ? tile1 * 16 : outChannels;
    for (int32_t q = q0; q < q1; q += 16 * P) {
        const int32_t vectors = (q1 - q) / 16 < P ? (q1 - q) / 16 : P;
        for (int32_t o = tile0 * 16; o < o1; o += G) {
            const int32_t g = o1 - o < G ? o1 - o : G;
            if (inputAhead && o == tile0 * 16 && vectors == P) {
                pixel_block(G, P, ONE_TAP, CONTIGUOUS, ahead, inputAhead, in, panels, rows, o, g, q, shift, out);
                continue;
            }
            switch (vectors) {
            case 4: pixel_block(G, P < 4 ? P : 4, ONE_TAP, CONTIGUOUS, ahead, 0, in, panels, rows, o, g, q, shift, out); break;
            case 3: pixel_block(G, P < 3 ? P : 3, ONE_TAP, CONTIGUOUS, ahead, 0, in, panels, rows, o, g, q, shift, out); break;
            case 2: pixel_block(G, P < 2 ? P : 2, ONE_TAP, CONTIGUOUS, ahead, 0, in, panels, rows, o, g, q, shift, out); break;
            default: pixel_block(G, 1, ONE_TAP, CONTIGUOUS, ahead, 0, in, panels, rows, o, g, q, shift, out); break;
            }
        }
    }
}

// Stride-2 short reductions (mobilenet_v2's first convolution at 224: 3 channels x 9 taps, 112
// positions a row) run pixel-major too, one output row at a time, from the even and odd columns of
// the bordered rows it reads, copied apart (PHASE_ROW floats each at most): tap (ky, kx) of output
// position x reads column x + kx / 2 of row ky's phase kx % 2, whole vectors at stride 1. In the
// tiled blocks the epilogue, a transpose of each block's outputs (AVX2: then through a buffer, 30% of the
// layer's samples in perf annotate), served only 27 multiply-adds an output. The stores fetch
// their lines 32 positions on for writing (the planes are 49 KB). One core, 3 -> 32 channels at
// 112x112 (conv_kernel_bench.c 3 32 112 300 C 0 1 2, AMD Zen 4, two alternations), us: AVX-512
// in cache 258-259 -> 260-261, input and output from memory 332-371 -> 306-309 (without the
// write fetches 432-444); AVX2 346-347 -> 270-273, from memory 370-375 -> 282-284 (without them
// 274-276). In mobilenet_v2 at 224 (isp bench --profile, one core, two alternations) that layer
// with its staging 347-360 -> 297-336 us, AVX2 419-448 -> 361-380.
// Its blocks have the staged 1x1 reductions' shape (POINTWISE_GROUP x POINTWISE_VECTORS; both
// read a copy made for the block's row): AVX-512's 3 x 4 against the 8 x 2 of the unstaged short
// reductions, that layer alone (conv_kernel_bench.c 3 32 112 300 4 0 1 2, Zen 4, three
// alternations) 264-268 -> 234-243 us; AVX2's 2 x 2 is the same shape either way. The whole of
// mobilenet_v2 at 224 with this and the 3 x 4 expansions (benchmarks/interleave.py, 20 blocks):
// one core 0.986x the time (quartiles 0.981-0.988), two cores 0.988 (0.954-1.014); MobileNetV2
// w0.5 one core 0.978x (0.951-0.990).
#define PHASE_ROW 256
static inline __attribute__((always_inline)) int phased_rows(const isp_conv_input *in, int32_t q0, int32_t q1) {
    return in->pixelStride == 2 && in->taps > 1 && in->channels * in->taps <= SHORT_REDUCTION && q1 - q0 >= 16
        && q1 - q0 + 8 <= PHASE_ROW && in->rowPitch > 0;
}
// Output row positions [q0, q1) (whole vectors of them; returns how many) of a stride-2 input in
// rows (see phased_rows), G channels by P vectors a block.
static inline __attribute__((always_inline)) int32_t phased_pixel_major(const int G, const int P, const isp_conv_input *in,
                                                                       const float *panels, int32_t rows, int32_t outChannels,
                                                                       int32_t tile0, int32_t tile1, int32_t q0, int32_t q1,
                                                                       int32_t shift, const isp_conv_output *out) {
    float stage[SHORT_REDUCTION * 2 * PHASE_ROW] __attribute__((aligned(64)));
    int32_t offset[SHORT_REDUCTION], tapOffset[SHORT_REDUCTION];
    const int32_t n = (q1 - q0) / 16 * 16, pitch = in->rowPitch;
    int32_t height = 0, reach = 0;  // bordered rows and columns past 2 x the row's last position read
    for (int32_t k = 0; k < in->taps; k++) {
        const int32_t ky = in->tapOffset[k] / pitch, kx = in->tapOffset[k] % pitch;
        height = ky + 1 > height ? ky + 1 : height;
        reach = kx > reach ? kx : reach;
        tapOffset[k] = (ky * 2 + kx % 2) * PHASE_ROW + kx / 2;
    }
    const int32_t columns = 2 * (q1 - q0 - 1) + reach + 1;  // of each bordered row, from the row's first
    for (int32_t i = 0; i < in->channels; i++) {
        for (int32_t ky = 0; ky < height; ky++) {
            const float *from = in->x + in->xOffset[i] + (size_t)q0 * 2 + (size_t)ky * pitch;
            float *even = stage + ((size_t)(i * height + ky) * 2) * PHASE_ROW, *odd = even + PHASE_ROW;
            int32_t c = 0;
            for (; 2 * c + 32 <= columns; c += 16) {
                const v16 a = load16(from + 2 * c), b = load16(from + 2 * c + 16);
                *(v16 *)(even + c) = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                *(v16 *)(odd + c) = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            }
            for (; 2 * c < columns; c++) {
                even[c] = from[2 * c];
                if (2 * c + 1 < columns) odd[c] = from[2 * c + 1];
            }
        }
        offset[i] = i * height * 2 * PHASE_ROW - q0;
    }
    isp_conv_input phased = *in;
    phased.x = stage;
    phased.xOffset = offset;
    phased.tapOffset = tapOffset;
    phased.pixelStride = 1;
    pixel_major(G, P, 0, 0, 32, 0, &phased, panels, rows, outChannels, tile0, tile1, q0, q0 + n, shift, out);
    return n;
}

#define ROW_BUFFER 64
// Weight rows of a chunk of input channels (see RUN_BLOCKS): 9 KB of a tile's weights. Chunks of
// 72-144 rows ran alike on 512 -> 512 channels at 7x7, 288 slower (0.75-0.84 against 0.63-0.80 of
// the unchunked time, one core, AMD Zen 3 AVX2).
#define CHUNK_ROWS 144
// Floats (512 KB, a Zen 3 core's L2) of weights and input a tile's run reads, above which it runs in
// chunks.
#define CHUNK_FOOTPRINT (1 << 17)
// Which kernels chunk (CHUNKED): AVX2's, measured on AMD Zen 3. AVX-512's (blocks of two tiles by 14
// positions) not measured so; the caller chunks for it (`isp_conv_chunks`).
#define AVX2_CHUNKS 1
#define AVX512_CHUNKS 0

// Bordered planes come in whole output rows (isp_conv_input.rowWidth). AVX-512's blocks of up to
// 14 take a row of up to 14 (8-wide rows not read in place: one block of 8) and run row by row.
// AVX2's blocks of 6 cut most rows short: an 8-wide row ran as two blocks of 4, 16 as 6 + 5 + 5, 32 as five of 6 and
// one of 2, each block's loop overhead the same. With BANDS the rows run straight on in blocks of
// BAND_BLOCK, a block that crosses a row's end reading its last pixels `gap` positions on (the
// bordered row's ends): on rows of even width every block starts at an even column, so it crosses
// after 2 or 4 pixels, and those two are compiled (others end at the row's end). One core, in
// cache, alternating (benchmarks/conv_kernel_bench.c, AMD Zen 4, AVX2 forced), GMAC/s: 128 -> 128
// channels at 8x8 39.9 -> 52.3, 256 -> 256 at 8x8 39.7 -> 52.5, at 14x14 43.4 -> 51.5, 64 -> 64 at
// 16x16 51 -> 54.4, 32 -> 32 at 32x32 49.1 -> 51.8, 128 -> 128 at 28x28 48.4 -> 52.4; stride 2, 64 ->
// 128 at 16x16 48.6 -> 53.3, at 8x8 34.8 -> 40.4. Batch-1 inference runs most such layers on
// Winograd (see ConvolutionPlan); training runs them all so: with AVX2, VGG16 w0.5 285-295 ->
// 325-336 images/s, ResNet-18 w0.5 153-166 -> 174-182 (isp bench, two cores, alternating; with the
// AVX2 unrolling in WeightGradient.c). AVX-512 at 8x8 57.7 either way: not for its blocks of 14.
#define AVX2_BANDS 1
#define AVX512_BANDS 0
#define BAND_BLOCK 6

// The row buffer's channels [16 * tile, 16 * (tile + tiles)) to the output planes at pixel `at`.
static inline __attribute__((always_inline)) void copy_rows_out(const float *rowBuffer, const isp_conv_output *out,
                                                                int32_t tile, int tiles, int32_t outChannels, int32_t at,
                                                                int32_t length) {
    int32_t end = (tile + tiles) * 16 < outChannels ? (tile + tiles) * 16 : outChannels;
    for (int32_t o = tile * 16; o < end; o++) {
        const float *from = rowBuffer + (size_t)(o - tile * 16) * ROW_BUFFER;
        float *to = out->out + (size_t)o * out->plane + at;
        int32_t x = 0;
        for (; x + 16 <= length; x += 16) *(v16 *)(to + x) = load16(from + x);
        for (; x < length; x++) to[x] = from[x];
    }
}

// Runs of 16 to ROW_BUFFER positions (the rows of 16- to 64-wide maps) are computed into a row
// buffer and then copied out, whole rows of whole cache lines. Written block by block, each block
// stored a part of a line in every channel plane; on a 32x32 map the planes are 4096 bytes apart,
// so all those lines share one L1 set, and with 32 channels a line was evicted before the next
// block completed it, then fetched again (benchmarks/store_aliasing.c: 17.0 us for 32 planes of
// 32x32 written in runs of 11, 6.1 us in line-aligned runs of 16).
// Longer runs (1x1 convolutions run straight through the map) go through it in runs of
// ROW_BUFFER when their planes are a multiple of ALIASED_PLANE floats (2 KB apart: all the planes'
// lines in at most two L1 sets). Not on other planes: at 16x16 (1 KB apart, four sets) the copy
// and the 13-wide blocks of a 64-run cost 6.2 -> 7.7 us.
#define ALIASED_PLANE 512

// Short 1x1 reductions on such planes (at most STAGED_CHANNELS input channels: MobileNetV2's
// expansions) run pixel-major, POINTWISE_GROUP channels by POINTWISE_VECTORS vectors, from a
// contiguous copy of each run's inputs made once for all the output channels: the tiled blocks
// spent most of their time in the transposing epilogue (16 multiply-adds per output), and in place
// the inputs' planes 4 KB apart shared an L1 set too. MobileNetV2 w0.5's 16 -> 96 channels at
// 32x32, one core (isp bench --profile, AMD Zen 5): AVX-512 48 us in blocks written to the planes,
// 33 through the row buffer, 26 so with 4 x 4 vectors (8 x 2: 29-31; blocks from the copy: 35);
// AVX2 (a vector is two registers there) 55.5 -> 42.7 us with 2 x 2 (4 x 2 spilled: 103).
// AVX-512 since stop 63: 3 x 4. One core, inputs, weights and output from memory
// (conv_kernel_bench.c IN OUT SIZE R 8 2 1, AMD Zen 4, three alternations), us, 4 x 4 -> 3 x 4:
// 16 -> 96 at 112x112 482-491 -> 460-469, 24 -> 144 at 56x56 241-245 -> 229-232, 32 -> 192 at
// 28x28 96.2-96.7 -> 91.9-92.5; 2 x 4 was between (418-447, 217-225, 94-95), 4 x 3, 5 x 3 and
// 6 x 2 slower. The 1x1 convolutions with more input channels that use the same shape (see
// KERNEL) within 1% either way: 64 -> 384 at 14x14 88.5 -> 88.8-89.1, 160 -> 960 at 7x7 143-145
// -> 144-146.
#define STAGED_CHANNELS 32
// In runs of ROW_BUFFER positions (the row buffer's: see KERNEL), reductions of up to
// STAGED_RUN_CHANNELS: AVX2's projections to 16 channels on 32x32 maps (whose pixel-major blocks
// in place alias in L1, NARROW_ALIASED) ran through the tiled blocks and their scalar epilogue.
// One core, in cache (conv_kernel_bench.c, layout 2, AMD Zen 4, AVX2 forced, two alternations):
// 48 -> 16 21.1-21.2 -> 18.5-18.6 us, 96 -> 16 40.0-40.1 -> 36.7-37.3 (AVX-512, pixel-major in
// place, 14.5 and 28.0); MobileNetV2 w0.5 with AVX2 0.979x the time one core, 0.966x two
// (benchmarks/interleave.py, 20 blocks of 20); with AVX-512 1.005x (the path not taken).
#define STAGED_RUN_CHANNELS 96
// Expansions (1x1, at most STAGED_CHANNELS inputs, at least twice as many outputs) on grids
// of LONG_RUN positions or more run pixel-major too, from a copy of each run of LONG_RUN: in
// blocks, each block wrote a part of a line in every output plane of its tiles (mobilenet_v2 at
// 224, 16 -> 96 channels at 112x112: 96 planes of 49 KB). One core (isp bench --profile, AMD Zen 5
// AVX-512): that layer 0.69-0.89 -> 0.57-0.61 ms, 32 -> 192 at 28x28 0.098-0.111 -> 0.087 ms; the
// whole pass, three alternations, 6.33-6.45 -> 6.04-6.21 ms (two cores 3.27-3.56 -> 3.02-3.52).
// Each group of channels over the whole run before the next group (longer bursts per plane): 0.65.
// Each run also fetches the next run's input (for reading) and, as it stores, the output lines the
// next run will store to (for writing): both came from L3 on demand, as many streams as planes.
// One core, two alternations: 16 -> 96 at 112x112 0.611-0.615 -> 0.349-0.351 ms, 24 -> 144 at
// 56x56 0.245 -> 0.169, 32 -> 192 at 28x28 0.089-0.091 -> 0.075-0.077; the whole pass 5.93-5.99 ->
// 5.46-5.60 ms.
// Into L2, not L1: a run's output lines (96 planes' 1 KB) are three times a Zen 4 core's 32 KB
// L1, and fetched into it they pushed out what the blocks were reading. One core, input and
// output from memory (conv_kernel_bench.c, layout 2, 16 copies, AMD Zen 4, two alternations),
// us: 16 -> 96 at 112x112 669 -> 477, AVX2 583-618 -> 504-509; 24 -> 144 at 56x56 242-272 ->
// 232-237; in cache level (16 -> 96 431-436 against 438, 32 -> 192 at 28x28 96-104 against 96).
#define LONG_RUN 256

// Expansions of up to WIDE_EXPANSION_CHANNELS inputs to at least four times as many outputs, on
// grids of WIDE_EXPANSION_GRID positions or more too short for LONG_RUN, run pixel-major in place
// (whole vectors; the tail in blocks). mobilenet_v2 at 224, 64 -> 384 at 14x14, one core: 89-93
// -> 70-74 us (isp bench --profile, AMD Zen 5 AVX-512, alternating). Since the pixel-major blocks
// lost their tap loop (ONE_TAP above) also on 8x8 grids and with AVX2: one core, in cache
// (benchmarks/conv_kernel_bench.c, layout 2), three alternations, GMAC/s: MobileNetV2 w0.5's 48 ->
// 288 at 8x8 88-89 -> 110-111, 24 -> 144 66 -> 86-95, 32 -> 192 75-76 -> 95-103; AVX2 48 -> 60
// and 37-38 -> 57-58; AVX2 at 14x14, 48 -> 192 41-49 -> 54-57, 64 -> 384 48-51 -> 47-57 (AMD Zen
// 5). In MobileNetV2 w0.5 (isp bench --profile, one core, alternating), its 8x8 expansions 6.0-6.1
// -> 4.5-4.8 us and 11.3-11.5 -> 8.9-9.4 us; with AVX2 10.3-10.6 -> 7.5-8.1 and 20.0-20.4 ->
// 15.9-17.2 us. Not on 4x4 grids (48 -> 288: 64-76 -> 54-56), nor with more inputs (96 -> 576 at 14x14,
// 160 -> 960 at 7x7: 105-116 either way; 80 -> 480 at 4x4 87-90 -> 57-59).
#define WIDE_EXPANSION_CHANNELS 64
#define WIDE_EXPANSION_GRID 64
// Projections to at most NARROW_PROJECTION channels on such grids too, from any number of inputs:
// in blocks of two tiles, 24 outputs filled 24 of 32 lanes, and each block's transposing epilogue
// served 16-24 channels. One core, in cache (benchmarks/conv_kernel_bench.c, layout 2), two
// alternations, GMAC/s: MobileNetV2 w0.5's 16 -> 8 at 32x32 54 -> 72-74, 48 -> 16 61-63 -> 88-91,
// 96 -> 16 at 16x16 77-83 -> 111-112; mobilenet_v2's 32 -> 16 at 112x112 66-68 -> 85-86, 96 -> 24
// at 56x56 80 -> 102-106, 144 -> 24 83-84 -> 106-108, 144 -> 24 at 28x28 85 -> 107-112 (AMD Zen 5
// AVX-512). Not to 32 outputs (144 -> 32 and 192 -> 32 at 28x28: 113-118 -> 107-114) or more (192
// -> 64 at 14x14 116 -> 81-105). In the networks, one core (isp bench --profile), three
// alternations: MobileNetV2 w0.5's projections together 130-136 -> 113-117 us (its 32x32 maps'
// 48 -> 16 13.1-13.4 -> 9.2-9.5 us; their planes 4 KB apart did not hurt), mobilenet_v2 at 224's
// 96 -> 24 at 56x56 94.5-95.0 -> 71.3-71.6 us, 144 -> 24 140 -> 126-128 us. With AVX2 (its 2 x 2
// blocks) not on planes a multiple of ALIASED_PLANE (the row buffer's): MobileNetV2 w0.5's
// projections on 32x32 maps lost there (3.5-3.7 -> 4.0-4.4, 21 -> 26, 43-44 -> 51-52 us) while
// those on 16x16 maps gained (9.0-9.2 -> 7.9-8.1 us); NARROW_ALIASED (a KERNEL argument) says so.
#define NARROW_PROJECTION 24
// Both kinds read their input planes in place, and on big maps (mobilenet_v2's at 224: 32 -> 16
// at 112x112, 96 and 144 -> 24 at 56x56) those came from L3 or memory on demand, 32-144 streams
// the hardware prefetchers did not follow. The first group of channels of each block of positions
// fetches every input line INPUT_AHEAD positions on into L2 (as the tiled blocks fetch theirs:
// see ConvBlock.h). One core, input and weights from memory (conv_kernel_bench.c, layout 2, 16
// copies, AMD Zen 4, two alternations), us: 32 -> 16 at 112x112 233-247 -> 149-164, AVX2 304-309
// -> 188-238; 96 -> 24 at 56x56 204-207 -> 149-175, AVX2 173-178 -> 152-156; 144 -> 24 303-312 ->
// 231-235, AVX2 261-268 -> 225-251; in cache, and at 28x28 and smaller, level (128 and 512
// positions ahead alike). In mobilenet_v2 at 224 (isp bench --profile, one core, two
// alternations): 32 -> 16 at 112x112 156-166 -> 130 us, 96 -> 24 143-148 -> 135, 144 -> 24
// 262-271 -> 221.
#define INPUT_AHEAD 256
// Their blocks are PROJECTION_GROUP channels by PROJECTION_VECTORS vectors when the group divides
// the outputs (a KERNEL argument; else the expansions' shape). AVX2's 2 x 2 read each block's input
// (up to 144 planes' runs of 32 floats, lines 12.5 KB apart that share L1 sets) once for every 2
// outputs; 6 x 1 (12 accumulators, as many as 2 x 2's 8 plus the broadcasts allow) once for 6.
// One core, in one process (kernel-ab-chunks.c, AMD Zen 3): 144 -> 24 at 56x56 0.78x the time,
// 96 -> 24 0.85-0.93x; 5 x 1 and 4 x 1 gained less, 3 x 2 spilled (1.3-1.6x). Not to 16 outputs
// (32 -> 16 at 112x112: 6 x 1 1.01-1.06x, 4 x 1 1.03-1.08x), nor wider projections in blocks
// (to 32-96 outputs at 28x28 and 14x14: 0.98-1.15x).

// Positions [r0, r1) (whole vectors) of every input channel of `in` (at most STAGED_RUN_CHANNELS)
// copied into `stage` (`pitch` floats a channel), then computed pixel-major from there, G
// channels by P vectors a block.
static inline __attribute__((always_inline)) void staged_pixel_major(const int G, const int P, const int CONTIGUOUS, const int32_t ahead,
                                                                     const isp_conv_input *in,
                                                                     int32_t r0, int32_t r1, float *stage, int32_t pitch,
                                                                     const float *panels, int32_t rows, int32_t outChannels,
                                                                     int32_t tile0, int32_t tile1, int32_t shift,
                                                                     const isp_conv_output *out) {
    int32_t offset[STAGED_RUN_CHANNELS];
    for (int32_t i = 0; i < in->channels; i++) {
        const float *from = in->x + in->xOffset[i] + r0;
        float *to = stage + (size_t)i * pitch;
        for (int32_t x = 0; x < r1 - r0; x += 16) {
            *(v16 *)(to + x) = load16(from + x);
            if (ahead) __builtin_prefetch(from + x + ahead, 0, 2);
        }
        offset[i] = i * pitch - r0;
    }
    isp_conv_input staged = *in;
    staged.x = stage;
    staged.xOffset = offset;
    pixel_major(G, P, 1, CONTIGUOUS, ahead, 0, &staged, panels, rows, outChannels, tile0, tile1, r0, r1, shift, out);
}

// 1x1 convolutions on grids of one run (up to ROW_BUFFER positions, such as 7x7 maps) in more than
// one block read their input from a copy packed block by block: block b's channel i at
// packed[(b * channels + i) * PACKED_SLOT], its positions in the first lanes. In place, each block
// read a few floats of every input plane, 24 of the 64 bytes of one or two lines a channel, and
// with 160-960 channels those lines did not stay in L1 from one block to the next; packed, a
// block's input is one run (960 channels: 30 KB) read in order. Packed once per call for all its
// tiles, so only for PACKED_TILES or more, and on grids of more than PACKED_GRID positions (on a
// 4x4 map each plane is one line, read whole). The kernel against the unpacked one, in one
// process (kernel-ab-chunks.c, one core, AMD Zen 3 AVX2), outputs the same bit for bit: 160 ->
// 960 at 7x7 0.87-0.89x the time, 320 -> 1280 0.84-0.86 (half the channels kept 0.81-0.85), 960 ->
// 320 0.84-0.86, 960 -> 160 0.88-0.90, 576 -> 160 0.89-0.94, 160 -> 960 at 8x8 0.87-0.88; 960 ->
// 80 (5 tiles) 0.91-1.02; lost with 2-3 tiles (960 -> 48 0.95-1.15, 192 -> 32 at 8x8 1.30) and on
// 4x4 maps (480 -> 160 1.16-1.20, 480 -> 80 1.35). Up to PACKED_FLOATS floats (320 KB of the
// kernel's stack: 960 channels at 7x7); AVX2's blocks of 6 only (AVX-512's 14 not measured so).
#define PACKED_SLOT 8
#define PACKED_FLOATS 81920
#define PACKED_TILES 5
#define PACKED_GRID 16

// Where block k of n positions cut into `blocks` blocks starts: the blocks differ by at most one
// position, the longer first. (Cut ceil(n / blocks) long, 7x7's 49 positions ran as 8 blocks of 6
// and one of 1, which reloads the weights for two multiply-adds a channel: AVX2 1x1 convolutions at
// 7x7, and at 14x14 in runs of 49, spent 6% of their samples there (perf annotate); 4 x 6 + 5 x 5
// instead: see RUN_BLOCKS.)
static inline __attribute__((always_inline)) int32_t block_start(int32_t k, int32_t n, int32_t blocks) {
    const int32_t longer = n % blocks;
    return k * (n / blocks) + (k < longer ? k : longer);
}

// Channel i's positions [q0, q1) of `in` in RUN_BLOCKS's blocks (block_start), packed as above;
// offset[i] = i * PACKED_SLOT.
static inline __attribute__((always_inline)) void pack_blocks(const isp_conv_input *in, int32_t q0, int32_t q1, int32_t maxPixels,
                                                              float *packed, int32_t *offset) {
    const int32_t n = q1 - q0, blocks = (n + maxPixels - 1) / maxPixels;
    // The blocks' starts once, not two divisions for every channel's every block (they were 15% of
    // a 462 -> 96 projection at 8x8).
    int32_t start[ROW_BUFFER + 1];
    for (int32_t b = 0; b <= blocks; b++) start[b] = block_start(b, n, blocks);
    for (int32_t i = 0; i < in->channels; i++) {
        const float *from = in->x + in->xOffset[i] + q0;
        for (int32_t b = 0; b < blocks; b++) {
            float *to = packed + ((size_t)b * in->channels + i) * PACKED_SLOT;
            const int32_t p0 = start[b], p1 = start[b + 1];
            if (p0 + PACKED_SLOT <= n) {
                *(v8 *)to = *(const v8 *)(from + p0);
            } else {
                for (int32_t p = p0; p < p1; p++) to[p - p0] = from[p];
            }
        }
        offset[i] = i * PACKED_SLOT;
    }
}

// Share `part` of `parts` of the weight rows of the kept input channels in the `tiles` tiles at
// `next` (panels of `rows` rows; 1x1 convolutions: a channel's row is its index), fetched into L2.
// With NEXT_TILE, each block but the first of a tile's last run (a tile in several runs fetches
// once, not once a run) fetches a share of the next tile's rows, so that the next tile's first
// block reads its weights from L2, as the tile's other blocks do, not
// from memory on demand (the blocks' own prefetches run only 64 rows ahead). In mobilenet_v2 at
// 224 the weights of the 7x7 and 14x14 layers (14 MB in all) come from memory on every pass.
// AVX2, one core, weights cycled through 64 copies, alternating (benchmarks/conv_kernel_bench.c
// IN OUT SIZE 200 64 2 0, FIXED_INPUT=1, AMD Zen 4, 5-7 rounds, medians), us: 960 -> 160 at 7x7
// 221.8 -> 203.0, 160 -> 960 178.8 -> 158.0, 320 -> 1280 592.1 -> 509.9, 96 -> 576 at 14x14
// level (271.9 against 270.1); the same in a quieter stretch 167-169 -> 166-169, 186-191 ->
// 167-169, 460-462 -> 427-440, 230-233 -> 223-224. AVX-512 (two tiles by 14 positions, so bursts
// of a third of the rows): 960 -> 160 147.2 -> 152.0, 160 -> 960 181.8 -> 172.9, 320 -> 1280
// 427.1 -> 435.7, so not there. Spread over the block's channel loop (a countdown per channel)
// instead of a burst before the block: no better (960 -> 160 162 against 168, 160 -> 960 179
// against 168). 3x3 convolutions not measured so. mobilenet_v2 at 224, whole passes
// (benchmarks/interleave.py, 60 blocks of 10, ISP_ISA=avx2, AMD Zen 4): one core 0.972x and 0.980x
// the time (AVX-512, whose kernel is unchanged, 0.996x and 0.999x in the same runs), two cores
// 0.986x and 0.993x (order flipped).
static inline __attribute__((always_inline)) void fetch_next_tile(const float *next, int tiles, const isp_conv_input *in, int32_t rows,
                                                                  int32_t part, int32_t parts) {
    const int32_t first = (int32_t)((int64_t)part * in->channels / parts), end = (int32_t)((int64_t)(part + 1) * in->channels / parts);
    for (int32_t i = first; i < end; i++)
        for (int t = 0; t < tiles; t++) __builtin_prefetch(next + ((size_t)t * rows + in->weightChannel[i]) * 16, 0, 2);
}
#define AVX2_NEXT_TILE 1
#define AVX512_NEXT_TILE 0

// Tiles `tile` (and the next if `two`) at positions [FROM, TO) in equal blocks (block_start: 10 positions as 5
// + 5, not 6 + a weight-bound 4), through the row buffer when `buffered`. With CHUNKED, runs of
// at most ROW_BUFFER positions in more than one block, of convolutions with taps or whose tile's
// weights and input together are more than CHUNK_FOOTPRINT floats, go through their input
// channels in chunks of CHUNK_ROWS weight rows: every block of the run sums one chunk into `sums`
// (position-major, as the accumulators hold them) before the next chunk, and the last chunk's
// blocks start from those sums and write the output. Each block of the whole reduction streamed all its tile's weights (ResNet-18's 7x7
// layers: 295 KB a tile, with an input of 0.9 MB) from L3; a chunk's weights (9 KB) stay in L1
// for all the run's blocks. The sums are the same, added in the same order. One core, in one
// process, alternating (AMD Zen 3 AVX2, 512 KB L2): 512 -> 512 channels at 7x7 0.81-0.83x the
// time of the whole reduction a block; smaller footprints lost (128 -> 128 at 8x8 1.08-1.18x, at
// 4x4 1.12x, 256 -> 256 at 14x14 stride 2 1.06x, 960 -> 160 1x1 at 7x7 1.06x). In torchvision's
// resnet18 at 224, against the caller's chunks of 74 channels (isp bench --profile, alternating),
// its 7x7 layers' convolutions together: one core 19.3-20.8 -> 14.7-18.6 ms (medians 20.5 -> 18.1,
// lower in five rounds of five); two cores 9.9-13.2 -> 10.0-12.9 ms (medians 12.5 -> 11.2, lower in
// five of seven). Whole passes and two-stream throughput: within these VMs' noise.
// Those losses were measured while the blocks' weight prefetches stopped at each chunk's end (see
// ConvBlock.h); since they run on into the next chunk, every 3x3 convolution chunks: one core, in
// one process, alternating (benchmarks/conv_kernel_bench.c, AMD Zen 4, AVX2 forced), GMAC/s: 64 ->
// 64 at 32x32 44.0 -> 49.9-50.0, at 56x56 43.6 -> 51.5, 128 -> 128 at 28x28 43.1-43.3 -> 49.5-50.0,
// at 16x16 46.6-46.7 -> 49.8-49.9, 256 -> 256 at 8x8 40.1-40.2 -> 42.6-42.7, at 14x14 41.9-42.0 ->
// 44.0-44.1; stride 2, 64 -> 128 at 16x16 32.7-42.3 -> 48.4-48.8, 256 -> 256 at 14x14 38.4 ->
// 42.9-43.1; unrolled 256 -> 256 at 4x4 from memory 32.9-33.1 -> 35.7-36.2, at 2x2 level. 1x1
// convolutions keep the footprint rule (960 -> 160 and 160 -> 960 at 7x7: 2-3% slower chunked).
#define RUN_BLOCKS(MAXPIX, MAXTILES, PF, CHUNKED, NEXT_TILE, CONTIGUOUS, FROM, TO, LAST_RUN) \
    do { \
        const int32_t from = FROM, to = TO; \
        const int32_t blocks = (to - from + MAXPIX - 1) / MAXPIX; \
        const int32_t gap = in->rowPitch - in->rowWidth; \
        const int32_t perChunk = CHUNKED && blocks > 1 && to - from <= ROW_BUFFER \
                                         && (in->taps > 1 || (int64_t)in->channels * in->taps * (16 + to - from) > CHUNK_FOOTPRINT) \
                                     ? (CHUNK_ROWS / in->taps > 1 ? CHUNK_ROWS / in->taps : 1) : in->channels; \
        int32_t c0 = 0; \
        do { /* once with no kept channels: the output is then the bias (and residual) */ \
            isp_conv_input part = *in; \
            if (packed) part.xOffset = packedOffset; \
            part.xOffset += c0; part.weightChannel += c0; \
            part.channels = in->channels - c0 < perChunk ? in->channels - c0 : perChunk; \
            const isp_conv_input *blockIn = &part; \
            const int32_t prefetchChannels = in->channels - c0; \
            const int last = c0 + perChunk >= in->channels; \
            const isp_conv_output *blockOut = last ? out : 0; \
            for (int32_t q = from, n, k = 0; q < to; q += n, k++) { \
                /* packed by the caller: its blocks, cut to [from, to); bands: whole blocks */ \
                n = in->blockPitch ? MAXPIX - q % MAXPIX : in->rowWidth ? MAXPIX \
                  : block_start(k + 1, to - from, blocks) - block_start(k, to - from, blocks); \
                n = to - q < n ? to - q : n; \
                if (NEXT_TILE && LAST_RUN && in->taps == 1 && k > 0 && tile + MAXTILES < tile1 && perChunk == in->channels) \
                    fetch_next_tile(panels + (size_t)(tile + MAXTILES) * rows * 16, tile1 - tile - MAXTILES < MAXTILES ? tile1 - tile - MAXTILES : MAXTILES, \
                                    in, rows, k - 1, blocks - 1); \
                /* In rows: a block across a row's end runs as one where it can (BANDS), else up to the end. */ \
                const int32_t column = in->rowWidth ? q % in->rowWidth : 0; \
                int32_t split = in->rowWidth && column + n > in->rowWidth ? in->rowWidth - column : 0; \
                if (split && !(bands && n == BAND_BLOCK && (split == 2 || split == 4))) { n = split; split = 0; } \
                float *into = !last ? sums + (q - from) * sumsPitch \
                            : buffered ? rowBuffer + (q - from) : out->out + (size_t)tile * 16 * out->plane + q + shift; \
                size_t intoPitch = !last ? sumsPitch : buffered ? ROW_BUFFER : (size_t)out->plane; \
                const float *blockSums = c0 ? sums + (q - from) * sumsPitch : 0; \
                const float *blockX = packed ? packed + (size_t)k * in->channels * PACKED_SLOT \
                                    : in->blockPitch ? in->x + (size_t)(q / MAXPIX) * in->blockPitch + q % MAXPIX \
                                    : in->x + (size_t)(in->rowWidth ? q / in->rowWidth * in->rowPitch + column : q) * in->pixelStride; \
                if (in->pixelStride == 2 && in->taps == 1) { DISPATCH(2, MAXTILES, 1, PF, 0, MAXPIX) } \
                else if (in->pixelStride == 2) { DISPATCH(2, MAXTILES, 0, PF, 0, MAXPIX) } \
                else if (in->taps == 1) { DISPATCH(1, MAXTILES, 1, PF, CONTIGUOUS, MAXPIX) } else { DISPATCH(1, MAXTILES, 0, PF, 0, MAXPIX) } \
            } \
            c0 += perChunk; \
        } while (c0 < in->channels); \
        if (buffered) copy_rows_out(rowBuffer, out, tile, two ? 2 : 1, outChannels, from + shift, to - from); \
    } while (0)

// 3x3 convolutions at stride 1 and padding 1 on maps of SMALL_MAP_WIDTHS (2x2 and 4x4: VGG16's and
// ResNet-18's last layers at 32x32) read their planes in place (isp_conv_input.mapWidth), each block
// whole output rows, and leave out the products over the zero border: unrolled, a 2x2 map's rows
// carry 36 products a channel of which 16 are not zero, a 4x4 map's 144 of which 100 (and the rows
// had to be unrolled first). The same sums in the same order (a product left out was a zero). One
// core, weights from L3, against the unrolled rows (benchmarks/conv_kernel_bench.c layouts 1 and 3,
// AMD Zen 4, two alternations), 256 -> 256 channels: 2x2 AVX2 58.3-59.2 -> 33.8 us, AVX-512
// 45.1-45.2 -> 34.1-36.4; 4x4 AVX2 201.9-202.3 -> 156.2-157.5, AVX-512 166.4-168.6 -> 114.3-115.1.
// VGG16 w0.5, one core (benchmarks/interleave.py): 0.852x the time with AVX-512, 0.822x with AVX2.
// Dense weights are not prefetched (a prototype of these blocks with ConvBlock.h's prefetches, every
// tap's row ahead: 2x2 35.4-35.6 us against 25.0-25.7 without); kept channels that are not one run
// are (pruned VGG16 0.981x the time with them, ResNet-18 0.937x, one core, interleave.py).
// Blocks of MAP_PIXELS positions at most: AVX2 a row of a 4x4 map (8 registers of sums; two rows,
// 16, spilled: 0.64x as fast), AVX-512 two rows (16).
// With AVX-512 also 8x8 maps (VGG16's and ResNet-18's third stage at 32x32, which run direct where
// the vectors are 16 wide: see ConvolutionPlan), a row a block by two tiles (16 sums), as their
// bordered rows ran: 576 products a channel of which 484 are not zero, and no table of tap offsets
// to read. One core, weights from L3 (conv_kernel_bench.c 128 128 8 3000 8, layouts 0 and 3, AMD
// Zen 5, two alternations): 128 -> 128 channels 76.4-77.2 -> 61.6-62.9 us, 70 of them kept
// 47.6-48.0 -> 36.6-36.8. AVX2 keeps its bands (a row of 8 is 16 registers of sums there).
// On 4x4 and 8x8 maps each block also fetches into L2 a share of the next tiles' weight rows (`next`):
// the blocks run all rows of one tile before the next tile, so only its first block read the
// tile's weights from memory, and AVX2's, a quarter of the tile's work, could not hide that.
// One core, weights from memory (conv_kernel_bench.c 256 256 4 2000 16 3, AMD Zen 4, two
// alternations): AVX2 160-185 -> 140-142 us (in cache 137), AVX-512 116-118 -> 117 (113); 2x2 maps,
// one block a tile, ran slower so (26 -> 31 us in cache) and do not. ResNet-18 w0.5 with AVX2
// (benchmarks/interleave.py, 20 blocks of 20): its 4x4 convolutions 0.17-0.21 -> 0.146-0.149 ms,
// the pass 0.976x one core, 0.963x two; VGG16 w0.5 0.955x and 0.993x; AVX-512 1.013x and 1.005x
// (noise). The kept channels of a pruned pass too (the rows of channel weightChannel[i] of the next
// tiles): 256 -> 256 at 4x4, weights from memory, of the inputs 200 kept AVX-512 142-155 -> 105-107
// us, AVX2 195-231 -> 124-127; 128 kept 84 -> 67 and 120 -> 82; 77 kept 38-40 -> 38 and 55-56 ->
// 51; 26 kept level and 18.9 -> 17.9; in cache level (conv_kernel_bench.c 256 256 4 3000 16 3 0 1 0
// KEPT, AMD Zen 4, two alternations). And so on 2x2 maps, where dense passes do not: 256 -> 256,
// 128 kept 28-31 -> 21-22 us, AVX2 33-39 -> 24-25; 512 -> 512, 200 kept 140-188 -> 115-132 and
// 235-277 -> 136-141; 52 kept level. On 8x8 maps (AVX-512, AMD Zen 5, conv_kernel_bench.c as
// above, three alternations): 256 -> 256 262.9-270.5 -> 244.6-254.8 us, 128 -> 128 level (60.0-63.5).
// The same blocks at stride 2, to maps of these widths from maps twice as wide (ResNet-18's first
// convolutions of its third and fourth stages at 32x32: 64 -> 128 channels to 8x8, 128 -> 256 to
// 4x4), which ran on bordered rows and on unrolled rows: 4x4 outputs had 144 products a channel
// unrolled of which 121 are not zero, and their rows unrolled first. The same sums in the same
// order (ResNet-18 w0.5's test loss the same to the last digit, either instruction set). Two cores
// (isp bench --profile, AMD Zen 5, two alternations): 128 -> 256 to 4x4 AVX-512 33.1-34.0 ->
// 19.7-23.0 us, AVX2 58.4-61.9 -> 38.9-42.3; 64 -> 128 to 8x8 (AVX-512) 24.7-25.1 -> 20.9-21.8.
// ResNet-18 w0.5 whole passes (benchmarks/interleave.py, 30 blocks of 20, a noisy stretch): 0.989x
// the time dense and 0.970x at its stored point with AVX-512, 0.972x and 0.945x with AVX2;
// training level (361-367 -> 365-378 images/s).
// With AVX-512 also 7x7 maps (torchvision resnet18 at 224's last stage, which runs direct where the
// vectors are 16 wide), as 8x8 ones: a row a block by two tiles (14 sums), 441 products a channel of
// which 361 are not zero. They ran on unrolled rows in chunks of input channels at 65% of the FMA
// peak; so, two cores (isp bench --profile, two alternations, AMD Zen 5): 512 -> 512 700-724 ->
// 476-500 us each, 256 -> 512 at stride 2 359-361 -> 254-260; the pass 0.875x and 0.864x the time,
// one core 0.855x (benchmarks/interleave.py, 20 blocks of 10).
#define SMALL_MAP_WIDTHS(isa, w) ((w) == 2 || (w) == 4 || ((isa) == ISP_AVX512 && ((w) == 7 || (w) == 8)))
#define CALL_MAP(TILES, W, R, Y0, PF, S) \
    BLOCK_OF_KERNEL(TILES, (W) * (R), S, 0, PF, 0, 0, W, Y0, in, image, panels, rows, outChannels, tile, g * (W), shift, out, \
                    out->out + (size_t)tile * 16 * out->plane + g * (W) + shift, (size_t)out->plane, 0, 0, in->channels, 0, \
                    next ? next + NEXT_LINE(g) * 16 : 0, NEXT_LINE(g + (R)) - NEXT_LINE(g))
// The first of the next tiles' nine weight rows a channel that the block from row g fetches (see
// ConvBlock.h): each block of the call a share in proportion to its rows, so that every row is
// fetched once whatever rows the call runs (a split by rows gives each core half of them). Against a
// share by the row in the map, which a core running half the rows only half fetched: VGG16 and
// ResNet-18 w0.5 dense and at their stored points level, B/A 0.975-1.015 (benchmarks/interleave.py,
// 20 blocks of 20, AMD Zen 5 AVX-512).
#define NEXT_LINE(g) (9 * ((g) - q0 / width) / (q1 / width - q0 / width))
#define MAP_BLOCK(MAXTILES, W, R, Y0, S) \
    do { \
        if (gapped) { if (MAXTILES > 1 && two) CALL_MAP(2, W, R, Y0, 1, S); else CALL_MAP(1, W, R, Y0, 1, S); } \
        else { if (MAXTILES > 1 && two) CALL_MAP(2, W, R, Y0, 0, S); else CALL_MAP(1, W, R, Y0, 0, S); } \
    } while (0)
// Rows [q0 / W, q1 / W) of tiles [tile0, tile1), image after image for each tile (its weights stay
// in L2 while the images pass): as many rows a block as MAP_PIXELS allows from an even row, single
// rows otherwise (a split by rows may start or end at any row). At stride 2 no row but the first
// reaches past the input's edge (row 7 reads input rows 13-15 of 16), so on 7- and 8-wide maps every
// row after the first shares the block of row 1.
// Row y of a W-wide map (7 or 8) in a block of its own: the first and (at stride 1) the last
// reach past the input's edge; every row between runs the block of row 1 from its own rows.
#define ROW_BLOCK(MAXTILES, W, S) \
    do { \
        if (y == 0) MAP_BLOCK(MAXTILES, W, 1, 0, S); \
        else if (y == (W) - 1 && S == 1) MAP_BLOCK(MAXTILES, W, 1, (W) - 1, S); \
        else { image += (y - 1) * S * S * (W); MAP_BLOCK(MAXTILES, W, 1, 1, S); } \
    } while (0)
#define SMALL_MAPS(MAXTILES, MAP_PIXELS, S) \
    do { \
        const int32_t width = in->mapWidth; \
        const int gapped = in->channels > 1 && !contiguous_channels(in); \
        for (int32_t tile = tile0; tile < tile1; tile += MAXTILES) { \
            const int two = MAXTILES > 1 && tile + 1 < tile1; \
            const float *next = (width >= 4 || gapped) && tile + MAXTILES < tile1 ? panels + (size_t)(tile + MAXTILES) * rows * 16 : 0; \
            for (int32_t g = q0 / width; g < q1 / width;) { \
                const int32_t y = g % width; \
                const float *image = in->x + (size_t)(g / width) * in->imageStride; \
                if (MAP_PIXELS >= 8 && width >= 7) { /* a row a block; the rows between share one */ \
                    if (width == 8) ROW_BLOCK(MAXTILES, 8, S); else ROW_BLOCK(MAXTILES, 7, S); \
                    g++; \
                    continue; \
                } \
                const int whole = y % 2 == 0 && y + 1 < width && g + 1 < q1 / width && MAP_PIXELS >= 2 * width; \
                if (width == 2) { \
                    if (whole) MAP_BLOCK(MAXTILES, 2, 2, 0, S); \
                    else if (y == 0) MAP_BLOCK(MAXTILES, 2, 1, 0, S); \
                    else MAP_BLOCK(MAXTILES, 2, 1, 1, S); \
                } else if (whole) { \
                    if (y == 0) MAP_BLOCK(MAXTILES, 4, 2, 0, S); else MAP_BLOCK(MAXTILES, 4, 2, 2, S); \
                } else { \
                    switch (y) { \
                    case 0: MAP_BLOCK(MAXTILES, 4, 1, 0, S); break; \
                    case 1: MAP_BLOCK(MAXTILES, 4, 1, 1, S); break; \
                    case 2: MAP_BLOCK(MAXTILES, 4, 1, 2, S); break; \
                    default: MAP_BLOCK(MAXTILES, 4, 1, 3, S); break; \
                    } \
                } \
                g += whole ? 2 : 1; \
            } \
        } \
    } while (0)

// Small maps in a function of their own, once per instruction set: inside KERNEL they were compiled
// into the kernel that prefetches big weight sets too (which 4x4 maps of 256 channels run), and
// this file took 315 s to compile (clang -O3, one core, AMD Zen 5) against 277 s so. The passes
// level: VGG16 and ResNet-18 w0.5 dense and at their stored points B/A 0.975-1.004 with AVX-512,
// VGG16 0.981 and 1.018 with AVX2 (benchmarks/interleave.py, 20 blocks of 20).
#define SMALL_MAP_KERNEL(name, attr, MAXTILES, MAP_PIXELS) \
    attr static void name(const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, \
                          int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out) { \
        if (in->pixelStride == 2) SMALL_MAPS(MAXTILES, MAP_PIXELS, 2); else SMALL_MAPS(MAXTILES, MAP_PIXELS, 1); \
    }

// Run r of `runs` equal runs of [q0, q1); in bands, of whole blocks.
#define RUN_START(r) (in->rowWidth ? (q0 + (int32_t)((int64_t)bandBlocks * (r) / runs) * bandPixels < q1 \
                                          ? q0 + (int32_t)((int64_t)bandBlocks * (r) / runs) * bandPixels : q1) \
                               : q0 + (int32_t)((int64_t)(q1 - q0) * (r) / runs))

#define KERNEL(name, attr, MAXPIX, MAXTILES, GROUP, VECTORS, POINTWISE_GROUP, POINTWISE_VECTORS, PROJECTION_GROUP, PROJECTION_VECTORS, NARROW_ALIASED, CHUNKED, BANDS, NEXT_TILE, PF, CONTIGUOUS) \
    attr static void name(const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, \
                          int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out) { \
        if (CONTIGUOUS && (in->taps != 1 || in->pixelStride != 1)) __builtin_unreachable(); /* see isp_conv_tiles */ \
        const int bands = BANDS; \
        if (in->rowWidth && (!BANDS || (in->taps > 1 && in->channels * in->taps <= SHORT_REDUCTION \
                                        && (in->pixelStride == 1 || phased_rows(in, 0, in->rowWidth))))) { \
            /* Row by row: each row's grid positions straight through, from its own origin. */ \
            isp_conv_input row = *in; \
            row.rowWidth = 0; \
            for (int32_t r0 = q0; r0 < q1; r0 += in->rowWidth) { \
                row.x = in->x + (size_t)(r0 / in->rowWidth) * (in->rowPitch - in->rowWidth) * in->pixelStride; \
                name(&row, panels, rows, outChannels, tile0, tile1, r0, r0 + in->rowWidth, shift, out); \
            } \
            return; \
        } \
        const int unpacked = in->blockPitch == 0 && in->rowWidth == 0; /* the paths before the blocks read positions in place */ \
        if (unpacked && phased_rows(in, q0, q1)) { \
            q0 += phased_pixel_major(POINTWISE_GROUP, POINTWISE_VECTORS, in, panels, rows, outChannels, tile0, tile1, q0, q1, shift, out); \
            if (q0 == q1) return; \
        } \
        if (unpacked && in->taps > 1 && in->channels * in->taps <= SHORT_REDUCTION && in->pixelStride == 1) { \
            /* whole vectors of 16 positions; a tail of fewer goes through the blocks below */ \
            const int32_t body = (q1 - q0) / 16 * 16; \
            pixel_major(GROUP, VECTORS, 0, 0, 0, 0, in, panels, rows, outChannels, tile0, tile1, q0, q0 + body, shift, out); \
            if (body == q1 - q0) return; \
            q0 += body; \
        } \
        if (unpacked && in->taps == 1 && in->pixelStride == 1 && in->channels <= STAGED_CHANNELS \
            && q1 - q0 >= LONG_RUN && outChannels >= 2 * in->channels) { \
            float stage[STAGED_CHANNELS * LONG_RUN] __attribute__((aligned(64))); \
            const int32_t body = q0 + (q1 - q0) / 16 * 16; \
            for (int32_t r0 = q0; r0 < body; r0 += LONG_RUN) { \
                const int32_t r1 = body - r0 < LONG_RUN ? body : r0 + LONG_RUN; \
                staged_pixel_major(POINTWISE_GROUP, POINTWISE_VECTORS, CONTIGUOUS, LONG_RUN, in, r0, r1, stage, LONG_RUN, panels, rows, outChannels, \
                                   tile0, tile1, shift, out); \
            } \
            if (body == q1) return; \
            q0 = body; \
        } \
        if (unpacked && in->taps == 1 && in->pixelStride == 1 && q1 - q0 >= WIDE_EXPANSION_GRID \
            && ((in->channels <= WIDE_EXPANSION_CHANNELS && outChannels >= 4 * in->channels) \
                || (outChannels <= NARROW_PROJECTION && (NARROW_ALIASED || out->plane % ALIASED_PLANE != 0)))) { \
            const int32_t body = (q1 - q0) / 16 * 16; \
            if (outChannels >= 4 * in->channels || outChannels % PROJECTION_GROUP != 0) \
                pixel_major(POINTWISE_GROUP, POINTWISE_VECTORS, 1, CONTIGUOUS, 0, INPUT_AHEAD, in, panels, rows, outChannels, tile0, tile1, q0, \
                            q0 + body, shift, out); \
            else \
                pixel_major(PROJECTION_GROUP, PROJECTION_VECTORS, 1, CONTIGUOUS, 0, INPUT_AHEAD, in, panels, rows, outChannels, tile0, tile1, q0, \
                            q0 + body, shift, out); \
            if (body == q1 - q0) return; \
            q0 += body; \
        } \
        /* Bands go in runs of at most ROW_BUFFER positions in whole blocks, through the row buffer unless \
           their planes are big enough for the blocks to fetch the lines they store to (STORE_AHEAD_PLANE): \
           through it, mobilenet_v2's first convolution at 224 (32 planes of 112x112) took 0.51-0.55 ms \
           against 0.41-0.46 in rows (AVX2, one core, isp bench --profile). */ \
        const int32_t bandPixels = MAXPIX, bandBlocks = (q1 - q0 + MAXPIX - 1) / MAXPIX, bandRun = ROW_BUFFER / MAXPIX; \
        const int buffered = q1 - q0 >= 16 && (out->plane % ALIASED_PLANE == 0 \
                                               || (in->rowWidth ? out->plane < STORE_AHEAD_PLANE : q1 - q0 <= ROW_BUFFER)); \
        const int32_t runs = in->rowWidth ? (bandBlocks + bandRun - 1) / bandRun \
                           : buffered ? (q1 - q0 + ROW_BUFFER - 1) / ROW_BUFFER : 1; \
        float rowBuffer[MAXTILES * 16 * ROW_BUFFER] __attribute__((aligned(64))); \
        float sums[ROW_BUFFER * 16 * MAXTILES] __attribute__((aligned(64))); /* see RUN_BLOCKS */ \
        const size_t sumsPitch = 16 * MAXTILES; \
        if (unpacked && runs > 1 && (q1 - q0) % (16 * runs) == 0 && in->taps == 1 && in->pixelStride == 1 \
            && in->channels <= STAGED_RUN_CHANNELS) { /* runs of whole vectors */ \
            float stage[STAGED_RUN_CHANNELS * ROW_BUFFER] __attribute__((aligned(64))); \
            for (int32_t r = 0; r < runs; r++) \
                staged_pixel_major(POINTWISE_GROUP, POINTWISE_VECTORS, CONTIGUOUS, 0, in, RUN_START(r), RUN_START(r + 1), stage, ROW_BUFFER, panels, \
                                   rows, outChannels, tile0, tile1, shift, out); \
            return; \
        } \
        float packedBlocks[MAXPIX <= PACKED_SLOT ? PACKED_FLOATS : 1] __attribute__((aligned(64))); \
        int32_t packedOffset[MAXPIX <= PACKED_SLOT ? PACKED_FLOATS / (2 * PACKED_SLOT) : 1]; \
        const float *packed = 0; \
        if (MAXPIX <= PACKED_SLOT && unpacked && in->taps == 1 && in->pixelStride == 1 && q1 - q0 > PACKED_GRID \
            && q1 - q0 <= ROW_BUFFER && tile1 - tile0 >= PACKED_TILES \
            && (int64_t)in->channels * ((q1 - q0 + MAXPIX - 1) / MAXPIX) * PACKED_SLOT <= PACKED_FLOATS) { \
            pack_blocks(in, q0, q1, MAXPIX, packedBlocks, packedOffset); \
            packed = packedBlocks; \
        } \
        for (int32_t tile = tile0; tile < tile1; tile += MAXTILES) { \
            const int two = MAXTILES > 1 && tile + 1 < tile1; \
            for (int32_t r = 0; r < runs; r++) RUN_BLOCKS(MAXPIX, MAXTILES, PF, CHUNKED, NEXT_TILE, CONTIGUOUS, RUN_START(r), RUN_START(r + 1), r == runs - 1); \
        } \
    }

// CALL names BLOCK_OF_KERNEL, the block of the kernel being defined. Pixel-major blocks: 8 channels
// x 2 vectors with AVX-512's 32 registers (VGG16 w0.5's first convolution 9.4-11.1 us against
// 10.9-11.1 with 4 x 2: no clear change), 2 x 2 with AVX2's 16 (a vector is two registers there,
// and 4 x 2's 16 accumulators spilled): one core, in cache, alternating
// (benchmarks/conv_kernel_bench.c, AMD Zen 4, AVX2 forced), 1 -> 32 channels at 32x32 27.4 ->
// 10.8 us, 3 -> 32 55.2 -> 23.9, 3 -> 64 110 -> 49 (AVX-512's 8 x 2: 11.3, 22.0, 54.7; 6 x 1
// 21.2, 51.4, 96.1; 4 x 1 13.1, 25.9, 67.7). Small maps' blocks: MAP_PIXELS (see SMALL_MAP_KERNEL).
#define BLOCK_OF_KERNEL block_avx512
SMALL_MAP_KERNEL(small_maps_avx512, __attribute__((target("avx512f,avx512vl,fma"))), 2, 8)
KERNEL(conv_avx512, __attribute__((target("avx512f,avx512vl,fma"))), 14, 2, 8, 2, 3, 4, 4, 4, 1, AVX512_CHUNKS, AVX512_BANDS, AVX512_NEXT_TILE, 0, 0)
KERNEL(conv_avx512_prefetching, __attribute__((target("avx512f,avx512vl,fma"))), 14, 2, 8, 2, 3, 4, 4, 4, 1, AVX512_CHUNKS, AVX512_BANDS, AVX512_NEXT_TILE, 1, 0)
#undef BLOCK_OF_KERNEL
#define BLOCK_OF_KERNEL block_avx2
SMALL_MAP_KERNEL(small_maps_avx2, __attribute__((target("avx2,fma"))), 1, 4)
KERNEL(conv_avx2, __attribute__((target("avx2,fma"))), 6, 1, 2, 2, 2, 2, 6, 1, 0, AVX2_CHUNKS, AVX2_BANDS, AVX2_NEXT_TILE, 0, 0)
KERNEL(conv_avx2_prefetching, __attribute__((target("avx2,fma"))), 6, 1, 2, 2, 2, 2, 6, 1, 0, AVX2_CHUNKS, AVX2_BANDS, AVX2_NEXT_TILE, 1, 0)
KERNEL(conv_avx2_contiguous, __attribute__((target("avx2,fma"))), 6, 1, 2, 2, 2, 2, 6, 1, 0, AVX2_CHUNKS, AVX2_BANDS, AVX2_NEXT_TILE, 0, 1)
KERNEL(conv_avx2_contiguous_prefetching, __attribute__((target("avx2,fma"))), 6, 1, 2, 2, 2, 2, 6, 1, 0, AVX2_CHUNKS, AVX2_BANDS, AVX2_NEXT_TILE, 1, 1)
#undef BLOCK_OF_KERNEL

// The products of Winograd's transforms (isp_conv_products): every tile, blocks of up to MAXPIX
// positions, the sums stored as they are (no output: see ConvBlock.h). Through the epilogue that
// writes channel planes, these 1x1 convolutions of 64 channels on 28 tiles ran at 60-75 GMAC/s,
// against 116 for the direct 3x3 convolution with its 576 multiply-adds per output (one core, in
// cache, benchmarks/conv_kernel_bench.c, AMD Zen 5 AVX-512). CONTIGUOUS as for 1x1 convolutions
// (see contiguous_channels), where no channel is dropped: AVX2, one core, the transformed weights
// cycled through 4 copies (benchmarks/winograd_bench.c, AMD Zen 4), against the tables: 512 -> 512
// at 7x7 29.8-30.6 -> 37.1-38.1 GMAC/s, 256 -> 256 at 14x14 33.4-36.3 -> 33.3-43.1 (in cache 39.7-41.1
// -> 47.4-47.9), 128 -> 128 at 28x28 53.2-54.0 -> 54.8-56.4, 64 -> 64 at 56x56 51.6-53.5 -> 55.9-56.8;
// AVX-512 (28 multiply-adds a channel) level, 43.4-58.1 either way.
// With channels dropped (a pruned pass lists its kept channels) AVX2's blocks still step through V,
// whose rows are evenly spaced, and read only the weight rows from the table (CONTIGUOUS 2). VGG16
// w0.5 at its stored point, AVX2, step minima of 5-6 alternating rounds, two runs (AMD Zen 4): each
// of its six Winograd layers 1.0-3.7% faster on one core and 1.5-4.2% on two, the pass's steps
// 314.7 -> 309.8 us on two cores (320.6 -> 311.1 in the other run); outputs bit for bit the same.
// On one core and in cache (winograd_bench.c, stop 67) it had measured within noise.
#define PRODUCTS_PREFETCH_FLOATS (1 << 19)
#define PRODUCTS(name, attr, MAXPIX, MAXTILES, PF, CONTIGUOUS) \
    attr static void name(const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t q0, int32_t q1, \
                          float *products, int32_t pitch) { \
        const isp_conv_input *blockIn = in; \
        const int32_t prefetchChannels = in->channels, gap = 0, split = 0; \
        const int bands = 0; \
        const isp_conv_output *blockOut = 0; \
        const float *blockX; \
        const float *blockSums = 0; \
        const size_t sumsPitch = 0; \
        const int32_t shift = 0, tiles = (outChannels + 15) / 16, blocks = (q1 - q0 + MAXPIX - 1) / MAXPIX; \
        const size_t intoPitch = (size_t)pitch; \
        for (int32_t tile = 0; tile < tiles; tile += MAXTILES) { \
            const int two = MAXTILES > 1 && tile + 1 < tiles; \
            for (int32_t k = 0; k < blocks; k++) { \
                const int32_t q = q0 + block_start(k, q1 - q0, blocks), n = q0 + block_start(k + 1, q1 - q0, blocks) - q; \
                float *into = products + (size_t)q * pitch + 16 * tile; \
                blockX = in->x + q; \
                DISPATCH(1, MAXTILES, 1, PF, CONTIGUOUS, MAXPIX) \
            } \
        } \
    }

#define BLOCK_OF_KERNEL block_avx512
PRODUCTS(products_avx512, __attribute__((target("avx512f,avx512vl,fma"))), 14, 2, 0, 0)
PRODUCTS(products_avx512_prefetching, __attribute__((target("avx512f,avx512vl,fma"))), 14, 2, 1, 0)
#undef BLOCK_OF_KERNEL
#define BLOCK_OF_KERNEL block_avx2
PRODUCTS(products_avx2_listed, __attribute__((target("avx2,fma"))), 6, 1, 0, 2)
PRODUCTS(products_avx2_listed_prefetching, __attribute__((target("avx2,fma"))), 6, 1, 1, 2)
PRODUCTS(products_avx2_contiguous, __attribute__((target("avx2,fma"))), 6, 1, 0, 1)
PRODUCTS(products_avx2_contiguous_prefetching, __attribute__((target("avx2,fma"))), 6, 1, 1, 1)
#undef BLOCK_OF_KERNEL

void isp_conv_products(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels, int32_t q0,
                       int32_t q1, float *products, int32_t pitch) {
    // All 16 products' weights (U) over 2 MB come from memory, and the blocks prefetch them: one
    // core, the transformed weights cycled through 4-8 copies (benchmarks/winograd_bench.c, AMD Zen 5
    // AVX-512), two alternations: 256 -> 256 channels at 14x14 798-811 -> 656-705 us, 512 -> 512 at
    // 7x7 1195-1236 -> 986-1095 us; 128 -> 128 at 28x28 (1 MB) 588-599 against 482-602 us.
    const int far = (int64_t)16 * rows * outChannels > PRODUCTS_PREFETCH_FLOATS;
    if (isa == ISP_AVX512) (far ? products_avx512_prefetching : products_avx512)(in, panels, rows, outChannels, q0, q1, products, pitch);
    else if (contiguous_channels(in))
        (far ? products_avx2_contiguous_prefetching : products_avx2_contiguous)(in, panels, rows, outChannels, q0, q1, products, pitch);
    else (far ? products_avx2_listed_prefetching : products_avx2_listed)(in, panels, rows, outChannels, q0, q1, products, pitch);
}

isp_isa isp_cpu_isa(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") ? ISP_AVX512 : ISP_AVX2;
}

int32_t isp_cpu_datapath_floats(isp_isa isa) {
    if (isa == ISP_AVX2) return 8;
    // AMD family 19h with AVX-512 is Zen 4 (Zen 3, the same family, has none). Read from CPUID:
    // __builtin_cpu_is("znver4") answers from the runtime library, and Debian 12's libgcc (GCC 12.2)
    // calls every family-19h CPU znver3.
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx) || ebx != signature_AMD_ebx) return 16;
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    unsigned int family = (eax >> 8) & 0xf;
    if (family == 0xf) family += (eax >> 20) & 0xff;
    return family == 0x19 ? 8 : 16;
}

void isp_conv_tiles(isp_isa isa, const isp_conv_input *in, const float *panels, int32_t rows, int32_t outChannels,
                    int32_t tile0, int32_t tile1, int32_t q0, int32_t q1, int32_t shift, const isp_conv_output *out) {
    // A kernel of its own for big weight sets: the prefetches in the same function, even where
    // they did not run, moved the other blocks' code and cost VGG16 w0.5's layers 4-5%.
    // And one for 1x1 convolutions of consecutive channels (see contiguous_channels), for the same
    // reason: in the kernel above they cost its 3x3 blocks 1-6% (the same code, moved). AVX2 only:
    // measured on AMD Zen 3; AVX-512's blocks (28 multiply-adds a channel, not 12) not measured so.
    if (in->mapWidth) {
        (isa == ISP_AVX512 ? small_maps_avx512 : small_maps_avx2)(in, panels, rows, outChannels, tile0, tile1, q0, q1, shift, out);
        return;
    }
    const int far = rows > PREFETCH_ROWS || (int64_t)rows * outChannels > PREFETCH_WEIGHTS;
    if (isa == ISP_AVX512) (far ? conv_avx512_prefetching : conv_avx512)(in, panels, rows, outChannels, tile0, tile1, q0, q1, shift, out);
    else if (in->taps == 1 && in->pixelStride == 1 && contiguous_channels(in))
        (far ? conv_avx2_contiguous_prefetching : conv_avx2_contiguous)(in, panels, rows, outChannels, tile0, tile1, q0, q1, shift, out);
    else (far ? conv_avx2_prefetching : conv_avx2)(in, panels, rows, outChannels, tile0, tile1, q0, q1, shift, out);
}

int32_t isp_conv_block(isp_isa isa) { return isa == ISP_AVX512 ? 14 : 6; }

int32_t isp_conv_reads_map(isp_isa isa, int32_t width, int32_t stride) {
    return (stride == 1 || stride == 2) && SMALL_MAP_WIDTHS(isa, width);
}

int32_t isp_conv_chunks(isp_isa isa) { return isa == ISP_AVX512 ? AVX512_CHUNKS : AVX2_CHUNKS; }

// Unrolled inputs (maps under 8 wide: torchvision resnet18's 7x7 layers at 224) packed by the
// blocks (isp_conv_input.blockPitch) rather than in rows of all positions: a block of 6 positions
// read 6 floats of each of 4608 rows 196 bytes apart (512 channels x 9 taps at 7x7), an input of
// 0.9 MB that stays in no core's L2, and the blocks ran at half the FMA peak; packed, each block's
// input is one run read in order. A bare 6 x 16 loop over those rows, one core: 36 GMAC/s in rows,
// 41 packed (AMD Zen 3 AVX2). The kernel, in one process against the unpacked one (outputs bit
// for bit the same), one core: 512 -> 512 at 7x7 0.85-0.91x the time (half the channels kept
// 0.80-0.86), 256 -> 512 0.88-0.89, 6x6 0.80-0.81, 4x4 0.97-0.99 (half kept 0.76-0.87), 2x2
// 0.92-0.95, 3x3 0.97-0.99. torchvision resnet18 at 224, its 7x7 convolutions (isp bench
// --profile, one core, three alternations): 5.1-5.4 -> 3.8-5.0 ms each, the pass isp / ONNX
// Runtime 1.11 and 1.13 -> 1.05 and 1.09 (benchmarks/peers.py --threads 1, alternating runs).
// Packed inputs skip the pixel-major paths above, which read positions in place: a reduction of
// up to SHORT_REDUCTION rows on such a map (2 -> 64 channels at 7x7, in no network here) 1.26x.
// Not with AVX-512 (blocks of 14): not measured.
int32_t isp_conv_packed_block(isp_isa isa) { return isa == ISP_AVX512 ? 0 : 6; }

// The batch-1 convolution micro-kernel alone (`isp_conv_tiles`), on one core: one 3x3 convolution
// with padding 1 (or a 1x1 one), best of REPS passes, with its weights (and inputs) either reused every pass, so
// they stay in cache, or cycled through COPIES copies so each pass reads them from memory, as a
// whole network does. Not part of the tests.
//
//   clang -O2 -I Sources/CKernels/include benchmarks/conv_kernel_bench.c Sources/CKernels/ConvTiles.c \
//       -o /tmp/conv_kernel_bench
//   /tmp/conv_kernel_bench IN OUT SIZE [REPS] [COPIES] [LAYOUT] [OUTPUTS] [STRIDE] [CHUNK] [KEPT]
//   (ISP_ISA=avx2 forces the AVX2 kernel; FIXED_INPUT=1 reads one input copy every pass, in cache,
//   as a network's step reads the map the step before wrote, while the weights cycle)
//
// LAYOUT 0: zero-bordered planes in whole rows (how maps 8 and more wide run); 1: unrolled rows
// (im2col of the bordered planes, how other maps under 8 wide run); 2: a 1x1 convolution reading
// its input planes in place (how 1x1 convolutions run); 3: a 3x3 convolution reading its input
// planes in place, the border's products left out (isp_conv_input.mapWidth: how 2x2 and 4x4 maps,
// and 8x8 with AVX-512, run). OUTPUTS 1: the output cycles through COPIES copies too (as in a
// network whose steps each write a buffer of their own). STRIDE 2: a stride-2 3x3 convolution of
// bordered rows, or with LAYOUT 2 a 1x1 one reading its planes in place, row by row (as ResNet's
// shortcuts run; SIZE is the output's side). CHUNK N: the input channels N at a time, each chunk
// added to the output the one before wrote (as `TiledConvolution` runs big unrolled maps for the
// AVX-512 kernel; the AVX2 kernel chunks them itself, see ConvTiles.c; LAYOUT 1, or 2 at stride 1). KEPT N:
// only N of the IN channels, a fixed random subset in order, as a pruned pass lists them (KEPT_RUN,
// below, separates what the gaps in the weight rows and in the input planes cost). Prints
// microseconds per pass and GMAC/s (the multiply-adds of the unrolled rows, border included, of
// the channels read).
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "seconds.h"

static float *filled(size_t n, int period, float step) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) p[i] = (float)(i % period) * step;
    return p;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s IN OUT SIZE [REPS] [COPIES] [LAYOUT] [OUTPUTS] [STRIDE] [CHUNK] [KEPT]\n", argv[0]);
        return 2;
    }
    int in = atoi(argv[1]), outChannels = atoi(argv[2]), size = atoi(argv[3]);
    int reps = argc > 4 ? atoi(argv[4]) : 300, copies = argc > 5 ? atoi(argv[5]) : 1;
    int layout = argc > 6 ? atoi(argv[6]) : 0, unrolled = layout == 1, pointwise = layout == 2, map = layout == 3;
    int k = pointwise ? 1 : 9;
    int outputCopies = argc > 7 && atoi(argv[7]) ? copies : 1;
    int stride = argc > 8 ? atoi(argv[8]) : 1, chunk = argc > 9 ? atoi(argv[9]) : 0;
    int kept = argc > 10 ? atoi(argv[10]) : in;
    const char *forced = getenv("ISP_ISA");
    isp_isa isa = forced && strcmp(forced, "avx2") == 0 ? ISP_AVX2 : isp_cpu_isa();
    if (in < 1 || outChannels < 1 || size < 1 || reps < 1 || copies < 1 || (stride != 1 && stride != 2) || chunk < 0
        || (stride == 2 && layout != 0 && layout != 2) || (chunk && (layout == 0 || stride == 2)) || layout < 0 || layout > 3
        || (map && !isp_conv_reads_map(isa, size, 1)) || kept < 1 || kept > in || (chunk && kept < in)) {
        fprintf(stderr, "%s: IN, OUT, SIZE, REPS and COPIES must be positive, STRIDE 1 or 2 (2 with LAYOUT 0 or 2), "
                "CHUNK >= 0 (not with LAYOUT 0 or STRIDE 2), LAYOUT 0-3 (3: a SIZE the kernel reads in place), 1 <= KEPT <= IN "
                "(not with CHUNK)\n", argv[0]);
        return 2;
    }
    int pitch = pointwise ? stride * size : stride * size + 2, pixels = size * size;
    int plane = unrolled ? 9 * pixels : (pointwise && stride == 1) || map ? pixels : pitch * pitch;
    int tiles = (outChannels + 15) / 16, rows = in * k;
    size_t panelFloats = (size_t)tiles * rows * 16, inputFloats = (size_t)in * plane + 64;
    float *panels = filled(panelFloats * copies, 5, 0.01f), *inputs = filled(inputFloats * copies, 7, 0.1f);
    float *out = filled((size_t)outChannels * pixels * outputCopies, 1, 0), *bias = filled(outChannels, 1, 0);
    int32_t *xOffset = malloc(sizeof(int32_t) * in), *weightChannel = malloc(sizeof(int32_t) * in), taps[9];
    char *keep = calloc(in, 1);
    srand(7);
    for (int n = 0; n < kept;) { int c = kept == in ? n : rand() % in; if (!keep[c]) { keep[c] = 1; n++; } }
    // KEPT_RUN=weights: the kept channels read weight rows 0 to KEPT-1 (one run, as if no channel were
    // dropped) but their own input planes; KEPT_RUN=planes: the other way round.
    const char *run = getenv("KEPT_RUN");
    const int rowsRun = run && strcmp(run, "weights") == 0, planesRun = run && strcmp(run, "planes") == 0;
    for (int c = 0, n = 0; c < in; c++)
        if (keep[c]) { xOffset[n] = (planesRun ? n : c) * plane; weightChannel[n] = rowsRun ? n : c; n++; }
    for (int t = 0; t < k; t++) taps[t] = unrolled ? t * pixels : pointwise ? 0 : (t / 3) * pitch + t % 3;
    isp_conv_input input = {inputs, xOffset, weightChannel, kept, taps, k, stride};
    if (map) input.mapWidth = size;
    isp_conv_output output = {out, pixels, bias, -1e30f, 1e30f, NULL};
    float *zero = calloc(outChannels, sizeof(float));  // the bias of every chunk after the first
    const int fixedInput = getenv("FIXED_INPUT") != NULL;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        input.x = inputs + (size_t)(fixedInput ? 0 : r % copies) * inputFloats;
        output.out = out + (size_t)(r % outputCopies) * outChannels * pixels;
        const float *w = panels + (size_t)(r % copies) * panelFloats;
        double start = seconds();
        if (chunk) {
            for (int first = 0; first < in; first += chunk) {
                isp_conv_input part = input; isp_conv_output po = output;
                part.xOffset += first; part.weightChannel += first; part.channels = in - first < chunk ? in - first : chunk;
                if (first) { po.bias = zero; po.residual = output.out; }
                isp_conv_tiles(isa, &part, w, rows, outChannels, 0, tiles, 0, pixels, 0, &po);
            }
        } else if (unrolled || (pointwise && stride == 1) || map) {
            isp_conv_tiles(isa, &input, w, rows, outChannels, 0, tiles, 0, pixels, 0, &output);
        } else {  // whole rows, as TiledConvolution runs bordered planes (and 1x1 convolutions at stride 2)
            input.rowWidth = size; input.rowPitch = pitch;
            isp_conv_tiles(isa, &input, w, rows, outChannels, 0, tiles, 0, pixels, 0, &output);
        }
        double t = seconds() - start;
        if (t < best) best = t;
    }
    double macs = (double)kept * outChannels * pixels * k;
    printf("%s: %d (%d kept) -> %d channels, %dx%d, %s%s, chunks of %d channels, %d weight cop%s: %.1f us, %.1f GMAC/s\n",
           isa == ISP_AVX512 ? "avx512" : "avx2", in, kept, outChannels, size, size,
           unrolled ? "unrolled" : pointwise ? "1x1 in place" : map ? "read in place" : "bordered rows",
           stride == 2 ? " at stride 2" : "", chunk ? chunk : in, copies, copies == 1 ? "y" : "ies", best * 1e6, macs / best / 1e9);
    return 0;
}

// Winograd's F(2x2, 3x3) convolution (Winograd.c and isp_conv_products) step by step on one core:
// the input transform, the 16 products and the output transform of one image, in bands of BAND
// tile rows (0: the whole map), best of REPS passes each, against the direct 3x3 convolution of
// the tiled kernel on bordered planes. The weights and data stay in cache unless COPIES > 1 (the
// transformed weights cycle through that many copies, as in a network). Not part of the tests.
//
//   clang -O2 -I Sources/CKernels/include benchmarks/winograd_bench.c Sources/CKernels/ConvTiles.c \
//       Sources/CKernels/Winograd.c -o /tmp/winograd_bench
//   /tmp/winograd_bench IN OUT SIZE [BAND] [REPS] [COPIES]    (ISP_ISA=avx2 forces the AVX2 kernels)
//
// V's and M's 16 parts lie SKEW floats more than a multiple of their size apart, as in
// WinogradConvolution (-DSKEW=0 shows what the skew is for).
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "seconds.h"

#ifndef SKEW
#define SKEW 16
#endif

static float *filled(size_t n) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 13) * 0.01f - 0.06f;
    return p;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s IN OUT SIZE [BAND] [REPS] [COPIES]\n", argv[0]);
        return 2;
    }
    const int in = atoi(argv[1]), outChannels = atoi(argv[2]), size = atoi(argv[3]);
    const int reps = argc > 5 ? atoi(argv[5]) : 200, copies = argc > 6 ? atoi(argv[6]) : 1;
    const char *forced = getenv("ISP_ISA");
    const isp_isa isa = forced && !strcmp(forced, "avx2") ? ISP_AVX2 : isp_cpu_isa();
    const int tw = isp_winograd_tiles(size), th = tw;
    const int band = argc > 4 && atoi(argv[4]) > 0 && atoi(argv[4]) < th ? atoi(argv[4]) : th;
    const int pitch = (band * tw + 16 + 15) / 16 * 16, productPitch = (outChannels + 15) / 16 * 16;
    const int panelRows = in, tiles16 = (outChannels + 15) / 16;
    const size_t panelFloats = (size_t)tiles16 * panelRows * 16;
    float *x = filled((size_t)in * size * size), *out = filled((size_t)outChannels * size * size);
    float *u = filled(16 * panelFloats * copies), *bias = filled(outChannels);
    float *v = filled(16 * ((size_t)in * pitch + SKEW)), *m = filled(16 * ((size_t)band * tw * productPitch + SKEW));
    int32_t *offset = malloc(sizeof(int32_t) * in), *channel = malloc(sizeof(int32_t) * in), tap = 0;
    for (int i = 0; i < in; i++) { offset[i] = i * pitch; channel[i] = i; }
    const int64_t vStride = (int64_t)in * pitch + SKEW, mStride = (int64_t)band * tw * productPitch + SKEW;
    isp_conv_output final = {out, size * size, bias, 0, 1e30f, NULL};
    double best[3] = {1e9, 1e9, 1e9};
    for (int r = 0; r < reps; r++) {
        const float *uc = u + (size_t)(r % copies) * 16 * panelFloats;
        double pass[3] = {0, 0, 0};
        for (int row0 = 0; row0 < th; row0 += band) {
            const int row1 = row0 + band < th ? row0 + band : th, tiles = (row1 - row0) * tw;
            const double t0 = seconds();
            isp_winograd_input(isa, x, channel, in, size, size, row0, row1, v, vStride, pitch, 0);
            const double t1 = seconds();
            for (int xi = 0; xi < 16; xi++) {
                isp_conv_input input = {v + xi * vStride, offset, channel, in, &tap, 1, 1};
                isp_conv_products(isa, &input, uc + xi * panelFloats, panelRows, outChannels, 0, tiles, m + xi * mStride, productPitch);
            }
            const double t2 = seconds();
            isp_winograd_output(isa, m, mStride, productPitch, outChannels, size, size, row0, row1, &final);
            const double t3 = seconds();
            pass[0] += t1 - t0; pass[1] += t2 - t1; pass[2] += t3 - t2;
        }
        for (int k = 0; k < 3; k++) best[k] = pass[k] < best[k] ? pass[k] : best[k];
    }
    const double macs = (double)in * outChannels * size * size * 9, products = 16.0 * in * outChannels * tw * th;
    const double total = best[0] + best[1] + best[2];
    printf("%s: %d -> %d at %dx%d, bands of %d tile rows: input %.1f us, products %.1f us (%.1f GMAC/s), output %.1f us; "
           "total %.1f us, %.1f direct-equivalent GMAC/s\n",
           isa == ISP_AVX512 ? "avx512" : "avx2", in, outChannels, size, size, band, best[0] * 1e6, best[1] * 1e6,
           products / best[1] * 1e-9, best[2] * 1e6, total * 1e6, macs / total * 1e-9);
    return 0;
}

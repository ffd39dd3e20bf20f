// Two builds of the depthwise forward kernel (`isp_depthwise`) side by side on one core: the
// working tree's against another revision's, alternating pass by pass so that both meet the same
// phases of a noisy machine, each pass reading its input from one of COPIES copies (9 x 1.6 MB:
// from memory, as in a network; 2 of a small layer: from cache). Checks that both give the same
// outputs bit for bit, and prints each build's best and mean (over the last three quarters of the
// passes) and the ratio of the means. Not part of the tests.
//
//   git show REV:Sources/CKernels/Depthwise.c > /tmp/DepthwiseBase.c
//   I=Sources/CKernels; R="-Disp_depthwise=base_depthwise -Disp_depthwise_scratch=base_depthwise_scratch"
//   clang -O3 -I $I/include -I $I $R -Disp_depthwise_plane_backward=base_plane_backward -c /tmp/DepthwiseBase.c -o /tmp/base.o
//   clang -O3 -I $I/include -I $I benchmarks/depthwise_bench.c $I/Depthwise.c $I/ConvTiles.c /tmp/base.o -o /tmp/depthwise_bench
//   taskset -c 1 /tmp/depthwise_bench CHANNELS SIZE STRIDE [PASSES] [COPIES] [BANDS]   (ISP_ISA=avx2: the AVX2 kernels)
// BANDS > 1: each pass runs the output rows in that many bands one after another, every band over
// all the planes, as each core of a batch-1 split by rows runs its own band.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "seconds.h"

void base_depthwise(isp_isa isa, const isp_depthwise_args *args, int32_t first, int32_t end, int32_t row0, int32_t row1, float *scratch);
int64_t base_depthwise_scratch(const isp_depthwise_args *args);

static float *filled(size_t n, unsigned seed) {
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 9) & 1023) / 512.0f - 1.0f;
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s CHANNELS SIZE STRIDE [PASSES] [COPIES] [BANDS]\n", argv[0]);
        return 2;
    }
    const int channels = atoi(argv[1]), size = atoi(argv[2]), stride = atoi(argv[3]);
    const int passes = argc > 4 ? atoi(argv[4]) : 300, copies = argc > 5 ? atoi(argv[5]) : 9, bands = argc > 6 ? atoi(argv[6]) : 1;
    const int o = (size + stride - 1) / stride;
    if (channels < 1 || size < 1 || stride < 1 || passes < 4 || copies < 1 || copies > 64 || bands < 1 || bands > o) {
        fprintf(stderr, "%s: CHANNELS, SIZE, STRIDE must be positive, PASSES at least 4, COPIES 1-64, BANDS 1 to the output's rows\n",
                argv[0]);
        return 2;
    }
    const isp_isa isa = getenv("ISP_ISA") && !strcmp(getenv("ISP_ISA"), "avx2") ? ISP_AVX2 : isp_cpu_isa();
    const size_t in = (size_t)channels * size * size, out = (size_t)channels * o * o;
    float *x[64], *y[2][64];
    for (int c = 0; c < copies; c++) {
        x[c] = filled(in, 7 + c);
        y[0][c] = filled(out, 1);
        y[1][c] = filled(out, 2);
    }
    isp_depthwise_args a = {.w = filled((size_t)channels * 9, 3), .bias = filled(channels, 5), .perImage = channels, .k = 3,
                            .stride = stride, .padding = 1, .ih = size, .iw = size, .oh = o, .ow = o, .low = 0, .high = 6};
    float *scratch[2] = {aligned_alloc(64, (base_depthwise_scratch(&a) * 4 + 63) / 64 * 64),
                         aligned_alloc(64, (isp_depthwise_scratch(&a) * 4 + 63) / 64 * 64)};
    double best[2] = {1e9, 1e9}, sum[2] = {0, 0};
    for (int r = 0; r < passes; r++)
        for (int b = 0; b < 2; b++) {
            const int c = (2 * r + b) % copies;  // never the input the other build just read
            a.x = x[c];
            a.out = y[b][c];
            const double t0 = seconds();
            for (int band = 0; band < bands; band++)
                (b == 0 ? base_depthwise : isp_depthwise)(isa, &a, 0, channels, o * band / bands, o * (band + 1) / bands, scratch[b]);
            const double t = seconds() - t0;
            best[b] = t < best[b] ? t : best[b];
            if (r >= passes / 4) sum[b] += t;
        }
    a.x = x[0];
    for (int b = 0; b < 2; b++) {
        a.out = y[b][0];
        (b == 0 ? base_depthwise : isp_depthwise)(isa, &a, 0, channels, 0, o, scratch[b]);
    }
    const int same = !memcmp(y[0][0], y[1][0], out * sizeof(float));
    const int n = passes - passes / 4;
    printf("%d planes %dx%d stride %d, %d band(s) (%s): base best %.1f us mean %.1f | working tree best %.1f us mean %.1f | ratio %.3f | outputs %s\n",
           channels, size, size, stride, bands, isa == ISP_AVX2 ? "avx2" : "avx512", best[0] * 1e6, sum[0] / n * 1e6, best[1] * 1e6,
           sum[1] / n * 1e6, sum[1] / sum[0], same ? "identical" : "DIFFER");
    return same ? 0 : 1;
}

// A gate's channel selection alone (isp_select_channels: every channel whose saliency reaches the
// cut), on one core, for gates of 32 to 512 channels of random saliencies about half of which pass:
// best of ROUNDS rounds of 100,000 selections, with each instruction set the CPU has, after
// checking both against a plain loop on every size from 1 to 515. Not part of the tests.
//
//   clang -O2 -I Sources/CKernels/include benchmarks/select_bench.c Sources/CKernels/Reductions.c \
//       -lm -o /tmp/select_bench && taskset -c 0 /tmp/select_bench [ROUNDS]
#include "CKernels.h"
#include "seconds.h"
#include <stdio.h>
#include <stdlib.h>

static unsigned next(unsigned *state) { return *state = *state * 1103515245u + 12345u; }

int main(int argc, char **argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 3;
    static float s[515];
    static int32_t kept[515], expected[515];
    unsigned state = 1;
    const isp_isa isas[2] = {ISP_AVX512, ISP_AVX2};
    const int first = __builtin_cpu_supports("avx512f") ? 0 : 1;
    for (int n = 1; n <= 515; n++) {
        for (int i = 0; i < n; i++) s[i] = (float)(next(&state) >> 8) / 16777216.0f - 0.2f;
        for (int squared = 0; squared <= 1; squared++) {
            int32_t count = 0;
            for (int i = 0; i < n; i++)
                if ((squared ? s[i] * s[i] : s[i]) >= 0.25f && s[i] > 0) expected[count++] = i;
            for (int k = first; k < 2; k++) {
                const int32_t got = isp_select_channels(isas[k], s, n, 0.25f, squared, kept);
                for (int i = 0; i < count; i++)
                    if (got != count || kept[i] != expected[i]) { fprintf(stderr, "select_bench: wrong selection at n %d\n", n); return 1; }
            }
        }
    }
    for (int n = 32; n <= 512; n *= 2) {
        printf("%3d channels:", n);
        for (int k = first; k < 2; k++) {
            double best = 1e9;
            for (int r = 0; r < rounds; r++) {
                const double t0 = seconds();
                int64_t total = 0;
                for (int j = 0; j < 100000; j++) total += isp_select_channels(isas[k], s, n, 0.5f, 0, kept);
                const double t = (seconds() - t0) / 100000;
                if (t < best && total > 0) best = t;
            }
            printf("  %s %.1f ns", isas[k] == ISP_AVX512 ? "AVX-512" : "AVX2", best * 1e9);
        }
        printf("\n");
    }
    return 0;
}

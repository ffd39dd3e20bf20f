// The AVX2 micro-kernel's inner loop alone, as the compiler emits it for a 1x1 block of one tile
// (16 output channels, two 8-float registers) by 6 positions (ConvBlock.h, perf annotate of
// conv_avx2_contiguous): per input channel a prefetch, two weight loads, six broadcasts and twelve
// FMAs into twelve sums, then the pointer steps. Written in assembly so that nothing else runs:
// what the loop can reach on this core, set against what the kernel reaches with its epilogue,
// packing and caches (conv_kernel_bench.c). Prints GFMA-lanes/s (8 multiply-adds a ymm FMA).
// Not part of the tests.
//
//   gcc -O2 -mavx2 -mfma benchmarks/avx2_block_loop.c -o /tmp/avx2_block_loop
//   taskset -c 0 /tmp/avx2_block_loop CHANNELS [PLANE_FLOATS] [REPS]
//
// AMD Zen 4 (2026-12-06): 59.1 for 96, 462 and 2000 channels, plane strides of 8-64 floats: the
// core's peak (2 ymm FMAs a cycle). The kernel itself: 45-47 GMAC/s on 462 -> 96 at 8x8, whose
// blocks also pack their input (9% of its samples), write their outputs, and read a tile's
// 30 KB of weights again for every block.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CHANNELS [PLANE_FLOATS] [REPS]\n", argv[0]);
        return 2;
    }
    const long channels = atol(argv[1]), plane = argc > 2 ? atol(argv[2]) : 8, reps = argc > 3 ? atol(argv[3]) : 200;
    if (channels < 1 || plane < 6 || reps < 1) {
        fprintf(stderr, "%s: CHANNELS >= 1, PLANE_FLOATS >= 6 and REPS >= 1\n", argv[0]);
        return 2;
    }
    float *w = aligned_alloc(64, (size_t)channels * 16 * sizeof(float) + 4096);
    float *x = aligned_alloc(64, (size_t)channels * plane * sizeof(float) + 4096);
    for (long i = 0; i < channels * 16; i++) w[i] = 0.001f * (float)(i % 7);
    for (long i = 0; i < channels * plane; i++) x[i] = 0.01f * (float)(i % 5);
    const long blocks = 100;
    double best = 1e30;
    for (long r = 0; r < reps; r++) {
        const double start = seconds();
        for (long b = 0; b < blocks; b++) {
            const float *wp = w, *xp = x;
            long n = channels;
            __asm__ volatile(
                "vxorps %%ymm0, %%ymm0, %%ymm0\n vxorps %%ymm1, %%ymm1, %%ymm1\n vxorps %%ymm2, %%ymm2, %%ymm2\n"
                "vxorps %%ymm3, %%ymm3, %%ymm3\n vxorps %%ymm4, %%ymm4, %%ymm4\n vxorps %%ymm5, %%ymm5, %%ymm5\n"
                "vxorps %%ymm6, %%ymm6, %%ymm6\n vxorps %%ymm7, %%ymm7, %%ymm7\n vxorps %%ymm8, %%ymm8, %%ymm8\n"
                "vxorps %%ymm9, %%ymm9, %%ymm9\n vxorps %%ymm10, %%ymm10, %%ymm10\n vxorps %%ymm11, %%ymm11, %%ymm11\n"
                "1:\n"
                "prefetcht1 128(%[x])\n"
                "vmovups (%[w]), %%ymm12\n vmovups 32(%[w]), %%ymm13\n"
                "vbroadcastss 0(%[x]), %%ymm14\n vfmadd231ps %%ymm14, %%ymm12, %%ymm0\n vfmadd231ps %%ymm14, %%ymm13, %%ymm1\n"
                "vbroadcastss 4(%[x]), %%ymm15\n vfmadd231ps %%ymm15, %%ymm12, %%ymm2\n vfmadd231ps %%ymm15, %%ymm13, %%ymm3\n"
                "vbroadcastss 8(%[x]), %%ymm14\n vfmadd231ps %%ymm14, %%ymm12, %%ymm4\n vfmadd231ps %%ymm14, %%ymm13, %%ymm5\n"
                "vbroadcastss 12(%[x]), %%ymm15\n vfmadd231ps %%ymm15, %%ymm12, %%ymm6\n vfmadd231ps %%ymm15, %%ymm13, %%ymm7\n"
                "vbroadcastss 16(%[x]), %%ymm14\n vfmadd231ps %%ymm14, %%ymm12, %%ymm8\n vfmadd231ps %%ymm14, %%ymm13, %%ymm9\n"
                "vbroadcastss 20(%[x]), %%ymm15\n vfmadd231ps %%ymm15, %%ymm12, %%ymm10\n vfmadd231ps %%ymm15, %%ymm13, %%ymm11\n"
                "add %[step], %[x]\n add $64, %[w]\n dec %[n]\n jnz 1b\n"
                : [x] "+r"(xp), [w] "+r"(wp), [n] "+r"(n)
                : [step] "r"(plane * (long)sizeof(float))
                : "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                  "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
        }
        const double t = seconds() - start;
        if (t < best) best = t;
    }
    printf("%ld channels, planes %ld floats apart: %.1f GFMA-lanes/s\n", channels, plane,
           (double)channels * 12 * 8 * blocks / best / 1e9);
    free(w);
    free(x);
    return 0;
}

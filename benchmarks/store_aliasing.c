// Why the micro-kernel's epilogue is slow on 32x32 maps (docs/RESULTS.md, "The pruned path's fixed
// costs"): it stores a block's pixels for 16-32 output channels whose planes are 32 * 32 * 4 =
// 4096 bytes apart, so every store of a block lands in the same L1 set; with more channels than
// ways, a line is evicted before the next block completes it, and is fetched again.
// This stores runs of BLOCK floats into 32 planes of 1024 floats, the planes 1024 floats apart
// (the executor's layout) or 1040 (padded), and prints the best of 200 passes.
//   clang -O2 -DBLOCK=11 benchmarks/store_aliasing.c -o /tmp/store_aliasing && /tmp/store_aliasing
// Intel Xeon (Emerald Rapids, AVX-512), 2026-11-30, one core: BLOCK 11 (the kernel's 11 + 11 + 10
// per 32-pixel row): 17.0 us unpadded, 5.4 us padded; BLOCK 16 (line-aligned runs): 6.1 / 2.9 us.
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include "seconds.h"
#ifndef BLOCK
#define BLOCK 11
#endif

__attribute__((target("avx512f"), noinline)) static void store_blocks(float *out, long pitch, int planes, int pixels) {
    __m512 v = _mm512_set1_ps(1.0f);
    const __mmask16 lanes = (__mmask16)((1u << BLOCK) - 1);
    for (int q = 0; q < pixels; q += BLOCK)
        for (int c = 0; c < planes; c++) {
            v = _mm512_add_ps(v, v);
            _mm512_mask_storeu_ps(out + c * pitch + q, lanes, v);
        }
}

int main(void) {
    float *buffer = aligned_alloc(4096, 32 * 1040 * sizeof(float) + 4096);
    for (long pitch = 1024; pitch <= 1040; pitch += 16) {
        double best = 1e9;
        for (int r = 0; r < 200; r++) {
            double t = seconds();
            store_blocks(buffer, pitch, 32, 1024);
            double d = seconds() - t;
            if (d < best) best = d;
        }
        printf("runs of %d floats, planes %ld floats apart: %.2f us\n", BLOCK, pitch, best * 1e6);
    }
    free(buffer);
    return 0;
}

// The multiply-add peak of one core, for profiles that put each step against it: independent
// fused multiply-adds on as many accumulators as the micro-kernel uses (24 on AVX-512, 12 on
// AVX2: enough to cover the FMA latency on both FMA ports), nothing loaded or stored.
#include "CKernels.h"
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));

#define PEAK(name, attr, V, ACC) \
    attr static float name(int64_t rounds) { \
        V acc[ACC], w = (V){0} + 0.999f, b = (V){0} + 0.001f; \
        for (int i = 0; i < ACC; i++) acc[i] = (V){0} + (float)i; \
        for (int64_t r = 0; r < rounds; r++) { \
            _Pragma("clang loop unroll(full)") for (int i = 0; i < ACC; i++) acc[i] = acc[i] * w + b; \
            __asm__ volatile("" : "+v"(w)); /* keeps the compiler from folding rounds together */ \
        } \
        V sum = (V){0}; \
        for (int i = 0; i < ACC; i++) sum += acc[i]; \
        return sum[0]; \
    }

#pragma clang fp contract(fast)
PEAK(peak_avx512, __attribute__((target("avx512f"))), v16, 24)
PEAK(peak_avx2, __attribute__((target("avx2,fma"))), v8, 12)

int64_t isp_fma_peak_run(isp_isa isa, int64_t rounds, float *sink) {
    if (isa == ISP_AVX512) { *sink = peak_avx512(rounds); return rounds * 24 * 16; }
    *sink = peak_avx2(rounds);
    return rounds * 12 * 8;
}

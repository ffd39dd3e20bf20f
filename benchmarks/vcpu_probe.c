// What state the VM's two vCPUs are in, every 200 ms: the multiply-add rate of a thread on cpu 0
// alone, then of threads on cpu 0 and cpu 1 together, and a cache line's round trip between them
// (as pingpong.c). Seen on a 2-vCPU AMD EPYC Zen 5 VM (2026-12-03): round trips of 82-145 ns
// (close) or 365-482 ns (far apart) for seconds to minutes; one vCPU's rate alone at times a
// quarter below the other's. AVX-512 where the CPU has it, else AVX2.
//   gcc -O3 -pthread benchmarks/vcpu_probe.c -o /tmp/vcpu_probe && /tmp/vcpu_probe 20   # seconds
// (-O3: at -O2 gcc keeps the AVX2 chains in memory and measures 10 G/s where the core does 48)
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); pthread_setaffinity_np(pthread_self(), sizeof s, &s); }

/// G multiply-adds per second of eight independent FMA chains over `rounds` rounds, in 16-float
/// vectors where the CPU has AVX-512, else in 8-float AVX2 vectors (an AVX2-only Zen 3 ran the
/// AVX-512 version into an illegal instruction).
__attribute__((target("avx512f"))) static double fma_rate_avx512(long rounds) {
    __m512 a[8];
    for (int i = 0; i < 8; i++) a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512 m = _mm512_set1_ps(0.9999f), b = _mm512_set1_ps(1e-4f);
    double start = now();
    for (long k = 0; k < rounds; k++)
        for (int i = 0; i < 8; i++) a[i] = _mm512_fmadd_ps(a[i], m, b);
    double seconds = now() - start;
    float sink = 0;
    for (int i = 0; i < 8; i++) sink += _mm512_reduce_add_ps(a[i]);
    if (sink == 12345.0f) puts("");  // keeps the chains
    return rounds * 8 * 16 / seconds / 1e9;
}

__attribute__((target("avx2,fma"))) static double fma_rate_avx2(long rounds) {
    __m256 a[8];
    for (int i = 0; i < 8; i++) a[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
    const __m256 m = _mm256_set1_ps(0.9999f), b = _mm256_set1_ps(1e-4f);
    double start = now();
    for (long k = 0; k < rounds; k++)
        for (int i = 0; i < 8; i++) a[i] = _mm256_fmadd_ps(a[i], m, b);
    double seconds = now() - start;
    float lanes[8], sink = 0;
    for (int i = 0; i < 8; i++) { _mm256_storeu_ps(lanes, a[i]); for (int j = 0; j < 8; j++) sink += lanes[j]; }
    if (sink == 12345.0f) puts("");  // keeps the chains
    return rounds * 8 * 8 / seconds / 1e9;
}

static double fma_rate(long rounds) {
    return __builtin_cpu_supports("avx512f") ? fma_rate_avx512(rounds) : fma_rate_avx2(rounds);
}

/// G floats read per second from a buffer of `bytes` read `passes` times: 256 KB stays in a
/// core's L2 (512 KB on Zen 3), 8 MB in the L3 (32 MB); a neighbour sharing those caches or the
/// memory path slows these while leaving the multiply-add rate alone.
__attribute__((target("avx2,fma"))) static double read_rate(const float *buffer, long bytes, int passes) {
    long n = bytes / sizeof(float);
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    double start = now();
    for (int p = 0; p < passes; p++)
        for (long i = 0; i < n; i += 32)
            for (int j = 0; j < 4; j++) s[j] = _mm256_add_ps(s[j], _mm256_load_ps(buffer + i + 8 * j));
    double seconds = now() - start;
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
    if (lanes[0] == 12345.0f) puts("");
    return (double)n * passes / seconds / 1e9;
}

static _Atomic int go, stop;
static _Alignas(64) _Atomic long ball;
static double rate_b;

/// cpu 1: measures its rate when told to, and returns the ball while waiting.
static void *partner(void *unused) {
    (void)unused;
    pin(1);
    for (;;) {
        while (!atomic_load(&go)) {
            if (atomic_load(&stop)) return NULL;
            long v = atomic_load(&ball);
            if (v & 1) atomic_store(&ball, v + 1);
        }
        rate_b = fma_rate(200000);
        atomic_store(&go, 0);
    }
}

int main(int argc, char **argv) {
    double end = now() + (argc > 1 ? atof(argv[1]) : 20);
    pin(0);
    pthread_t thread;
    pthread_create(&thread, NULL, partner, NULL);
    float *buffer = aligned_alloc(64, 8 << 20);
    for (long i = 0; i < (8 << 20) / 4; i++) buffer[i] = 1e-6f * (float)(i & 1023);
    while (now() < end) {
        double alone = fma_rate(200000);
        atomic_store(&go, 1);
        double together = fma_rate(200000);
        while (atomic_load(&go)) {}
        double start = now();
        for (int i = 0; i < 2000; i++) {
            long v = atomic_load(&ball);
            atomic_store(&ball, v + 1);
            while (atomic_load(&ball) == v + 1) {}
        }
        double trip = (now() - start) / 2000 * 1e9;
        read_rate(buffer, 256 << 10, 4);  // brings the L2 share in
        double l2 = read_rate(buffer, 256 << 10, 64), l3 = read_rate(buffer, 8 << 20, 4);
        printf("%.1f s: cpu 0 alone %.0f G/s | together cpu 0 %.0f, cpu 1 %.0f G/s | round trip %.0f ns"
               " | reads: L2 %.1f, L3 %.1f G floats/s\n", now(), alone, together, rate_b, trip, l2, l3);
        fflush(stdout);
        nanosleep(&(struct timespec){0, 200000000}, NULL);
    }
    free(buffer);
    atomic_store(&stop, 1);
    pthread_join(thread, NULL);
    return 0;
}

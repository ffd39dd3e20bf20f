// What a cache line costs when it moves between the VM's two vCPUs: thread A (cpu 0) writes a
// buffer, thread B (cpu 1) reads it, and then one of them writes it again, as consecutive steps of
// a split pass do with the maps they share. Prints nanoseconds per 64-byte line for each case,
// with the round trip of one line between the vCPUs (as pingpong.c) before and after, so that a
// figure can be told close (round trip ~50-70 ns) from far apart (~320-350 ns). Not part of the tests.
//
//   gcc -O3 -mavx2 -mprfchw -pthread benchmarks/line_handoff.c -o /tmp/line_handoff && /tmp/line_handoff [KB] [REPS]
//
// Cases, each timed on the thread that does the last pass:
//   B reads            B reads what A wrote
//   B writes           B overwrites what A wrote (A's lines dirty in A's cache)
//   A writes again     A overwrites its own lines after B read them
//   B writes after     B overwrites the lines it read
//   A streams          A overwrites them after B read them with non-temporal stores
//   A writes, alone    A overwrites lines only A touched (the baseline)
//   A prefetchw        as "A writes again", each line prefetched for writing 16 lines ahead
// Seen on the 2-vCPU AMD EPYC Zen 4 VM (2026-12-05, 64 KB, docs/RESULTS.md "Stop 63"): close, B reads
// 1.0-1.1 ns a line, A writes again 6.8-9.4, A alone 1.1; far apart, B reads 2.5-3.0 and A writes
// again 27.6-28.7: overwriting lines the other vCPU has read is what a split pass pays far apart.
// The reader that overwrites them pays nothing of it (B writes after 0.6-1.1 ns), and prefetching
// them for writing does not help the writer (256 KB, close: A writes again 9.4-9.7, A prefetchw
// 9.4-9.7, prefetched 8, 16 or 32 lines ahead; 2026-12-06, stop 73).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "round_trip.h"

enum { B_READS, B_WRITES, A_WRITES_AGAIN, B_WRITES_AFTER, A_STREAMS, A_ALONE, A_PREFETCHW, CASES };
static const char *names[CASES] = {"B reads", "B writes", "A writes again", "B writes after", "A streams", "A writes, alone", "A prefetchw"};

static float *buffer;
static size_t floats;
static int reps, current;
static _Atomic int turn;  // 0: A's first pass, 1: B's pass, 2: A's last pass, 3: B's last pass
static double elapsed;
static volatile float sink;

static void wait_for(int t) { while (atomic_load(&turn) != t) _mm_pause(); }

static void write_all(float value) {
    const __m256 v = _mm256_set1_ps(value);
    for (size_t i = 0; i < floats; i += 8) _mm256_store_ps(buffer + i, v);
}
static void stream_all(float value) {
    const __m256 v = _mm256_set1_ps(value);
    for (size_t i = 0; i < floats; i += 8) _mm256_stream_ps(buffer + i, v);
    _mm_sfence();
}
static void write_all_prefetching(float value) {
    const __m256 v = _mm256_set1_ps(value);
    for (size_t i = 0; i < floats; i += 16) {
        if (i + 16 * 16 < floats) _m_prefetchw(buffer + i + 16 * 16);
        _mm256_store_ps(buffer + i, v);
        _mm256_store_ps(buffer + i + 8, v);
    }
}
static float read_all(void) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    for (size_t i = 0; i < floats; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(buffer + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(buffer + i + 16));
    }
    float o[8];
    _mm256_storeu_ps(o, _mm256_add_ps(s0, s1));
    return o[0];
}

static void *thread_a(void *unused) {
    (void)unused;
    pin(0);
    for (int r = 0; r < reps; r++) {
        wait_for(0);
        write_all((float)r);
        atomic_store(&turn, current == A_ALONE ? 2 : 1);
        wait_for(2);
        double t = seconds();
        if (current == A_WRITES_AGAIN || current == A_ALONE) write_all((float)r + 1);
        else if (current == A_PREFETCHW) write_all_prefetching((float)r + 1);
        else if (current == A_STREAMS) stream_all((float)r + 1);
        if (current == A_WRITES_AGAIN || current == A_ALONE || current == A_STREAMS || current == A_PREFETCHW) elapsed += seconds() - t;
        atomic_store(&turn, 3);
    }
    return NULL;
}

static void *thread_b(void *unused) {
    (void)unused;
    pin(1);
    for (int r = 0; r < reps; r++) {
        if (current != A_ALONE) {
            wait_for(1);
            double t = seconds();
            if (current == B_WRITES) write_all((float)r + 2); else sink = read_all();
            if (current == B_READS || current == B_WRITES) elapsed += seconds() - t;
            atomic_store(&turn, 2);
        }
        wait_for(3);
        if (current == B_WRITES_AFTER) {
            double t = seconds();
            write_all((float)r + 3);
            elapsed += seconds() - t;
        }
        atomic_store(&turn, 0);
    }
    return NULL;
}

int main(int argc, char **argv) {
    const int kb = argc > 1 ? atoi(argv[1]) : 64;
    reps = argc > 2 ? atoi(argv[2]) : 1000;
    if (kb < 1 || reps < 1) { fprintf(stderr, "usage: %s [KB >= 1] [REPS >= 1]\n", argv[0]); return 2; }
    floats = (size_t)kb * 256;
    buffer = aligned_alloc(64, floats * sizeof(float));
    memset(buffer, 0, floats * sizeof(float));
    const double before = round_trip_ns();
    printf("%d KB, %d passes each; ns per line:", kb, reps);
    for (current = 0; current < CASES; current++) {
        elapsed = 0;
        atomic_store(&turn, 0);
        pthread_t a, b;
        pthread_create(&a, NULL, thread_a, NULL);
        pthread_create(&b, NULL, thread_b, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        printf(" %s %.1f%s", names[current], elapsed / reps * 1e9 / (floats / 16), current + 1 < CASES ? ";" : "");
    }
    printf(" | round trip %.0f / %.0f ns\n", before, round_trip_ns());
    return 0;
}

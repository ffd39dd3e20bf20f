// Pinning a thread to a CPU, and the round trip of one cache line between cpu 0 and cpu 1 (as
// pingpong.c measures it), for the stand-alone C benchmarks that say which placement of the VM's
// two vCPUs they ran in: close (~50-75 ns) or far apart (~320-350 ns). Define _GNU_SOURCE first.
#ifndef ISP_BENCHMARK_ROUND_TRIP_H
#define ISP_BENCHMARK_ROUND_TRIP_H
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include "seconds.h"

static inline void pin(int cpu) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(cpu, &s); pthread_setaffinity_np(pthread_self(), sizeof s, &s); }

enum { ROUND_TRIPS = 100000 };
static _Atomic int round_trip_ball;
static void *round_trip_bounce(void *unused) {
    (void)unused;
    pin(1);
    for (int i = 0; i < ROUND_TRIPS; i++) {
        while (atomic_load(&round_trip_ball) != 2 * i + 1) _mm_pause();
        atomic_store(&round_trip_ball, 2 * i + 2);
    }
    return NULL;
}
// The mean round trip in ns; leaves the calling thread pinned to cpu 0.
static inline double round_trip_ns(void) {
    pthread_t other;
    atomic_store(&round_trip_ball, 0);
    pthread_create(&other, NULL, round_trip_bounce, NULL);
    pin(0);
    const double t = seconds();
    for (int i = 0; i < ROUND_TRIPS; i++) {
        atomic_store(&round_trip_ball, 2 * i + 1);
        while (atomic_load(&round_trip_ball) != 2 * i + 2) _mm_pause();
    }
    const double elapsed = seconds() - t;
    pthread_join(other, NULL);
    return elapsed / ROUND_TRIPS * 1e9;
}
#endif

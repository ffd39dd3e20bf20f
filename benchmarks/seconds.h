// The monotonic clock in seconds, for the stand-alone C benchmarks in this folder.
#ifndef ISP_BENCHMARK_SECONDS_H
#define ISP_BENCHMARK_SECONDS_H
#include <time.h>

static inline double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
#endif

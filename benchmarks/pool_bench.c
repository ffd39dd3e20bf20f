// What one job of the engine's pool (`isp_parallel`, Sources/CKernels/SpinPool.c) costs beyond
// its work: JOBS jobs of two tasks that each spin WORK_NS, the caller's and one worker's, keepWarm
// as batch-1 inference asks; prints the mean time per job minus WORK_NS, and how often the worker
// (not the caller, which takes a late worker's task itself) ran the second task. Five rounds.
//   gcc -O2 -pthread -I Sources/CKernels/include benchmarks/pool_bench.c Sources/CKernels/SpinPool.c -o /tmp/pool_bench
//   /tmp/pool_bench [JOBS] [WORK_NS]
// Seen on a 2-vCPU AMD EPYC Zen 5 VM (2026-12-06, 20,000 jobs of 2 us, the vCPUs far apart: round
// trip 411-433 ns, benchmarks/pingpong.c): 0.59-0.65 us a job, about the two round trips of the
// worker hearing of the job and the caller hearing it is done (see the pool's state in SpinPool.c).
#define _GNU_SOURCE
#include "CKernels.h"
#include "seconds.h"
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static double work_seconds;
static int caller_cpu;
// Written by the second task only, on a line of its own: a counter beside caller_cpu would pass
// that line between the cores every job and add a round trip to what is measured.
static struct { _Alignas(64) int count; char pad[60]; } by_worker;

static void task(void *context, int32_t index) {
    (void)context;
    const double end = seconds() + work_seconds;
    while (seconds() < end) {}
    if (index == 1 && sched_getcpu() != caller_cpu) by_worker.count++;
}

int main(int argc, char **argv) {
    const int jobs = argc > 1 ? atoi(argv[1]) : 20000;
    const double work_ns = argc > 2 ? atof(argv[2]) : 2000;
    if (jobs < 1 || work_ns < 0) {
        fprintf(stderr, "usage: %s [JOBS >= 1] [WORK_NS >= 0]\n", argv[0]);
        return 2;
    }
    work_seconds = work_ns * 1e-9;
    if (isp_parallel_threads() < 2) {
        fprintf(stderr, "%s: needs two usable cores (see taskset)\n", argv[0]);
        return 2;
    }
    for (int round = 0; round < 5; round++) {
        by_worker.count = 0;
        caller_cpu = sched_getcpu();  // the caller's core, once a round (it may move between rounds)
        const double start = seconds();
        for (int j = 0; j < jobs; j++) isp_parallel(2, task, NULL, 1, NULL);
        const double per_job_ns = (seconds() - start) / jobs * 1e9;
        printf("%.0f ns a job beyond its work; the worker ran the second task in %.0f%% of them\n", per_job_ns - work_ns,
               100.0 * by_worker.count / jobs);
    }
    return 0;
}

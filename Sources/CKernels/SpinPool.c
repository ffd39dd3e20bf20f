// A minimal spinning thread pool, the engine's only one (see isp_parallel in CKernels.h).
//
// Tasks are claimed, not assigned: each job publishes one word holding its job number, its task
// count and the next unclaimed task, and the caller and the workers take task indices from it by
// compare-and-swap. Everything a claim needs is in that word, so a worker that wakes up late
// with an old job's view can never claim a task of the next job. If a worker is descheduled (the machine
// is busy with something else), the caller simply runs that worker's share itself instead of
// spinning until the scheduler brings the worker back.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <immintrin.h>

enum { MAX_WORKERS = 63, SPINS_BEFORE_SLEEP = 2000, TASK_BITS = 16 };
static const long JOB_MASK = 0x7fffffffL;      // job numbers wrap in the claims word
// After a job that asked to keep the pool warm (batch-1 inference: the next job comes within
// microseconds) a worker spins this long before it sleeps; after any other job (training's shares
// of a batch, data loading) it sleeps at once, and a caller waiting for the others sleeps after
// SPINS_BEFORE_SLEEP pauses: waking costs tens of microseconds, little next to such tasks, while a
// thread spinning through the serial parts of a training step takes the core from whoever else
// has work there. VGG16 w0.5, against main's Dispatch threads for training, alternately (isp
// bench, 2 cores shared with other jobs, AVX-512, 2026-11-30): training spinning as inference does
// (callers yielding in a loop, workers spinning 2 ms after every task) 176-180 images/s against
// 206-212; sleeping after tasks over 1 ms 193-196 against 207-212, over 100 us 202-204 against
// 206. Deciding by task length cannot serve both: sleeping after tasks over 100 us took VGG16's
// batch-1 latency from 1.8 to 3.7 ms.
static const long SPIN_NANOSECONDS = 2000000;

// Each worker's line starts with the word it spins on, and no two workers share one.
typedef struct {
    _Alignas(64) _Atomic long job;  // last job number published to this worker
    _Atomic int sleeping;
    pthread_mutex_t lock;
    pthread_cond_t wake;
} worker;

static worker workers[MAX_WORKERS];
static int worker_count = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;
// What a job's caller and workers all touch, on one cache line of its own. A worker that hears of a
// job reads the task, claims one and counts it done: on one line that is one transfer from the
// caller's core; spread over two, or beside data another core writes, each is a round trip more.
// When these were separate statics, their lines were the linker's choice: benchmarks/pool_bench.c
// (a job of two 2-us tasks, AMD Zen 5, the vCPUs far apart, 411-433 ns round trips, six
// alternations) got them over two lines, the worker's word on the second, and measured 0.95-1.28 us
// a job beyond its work; so, 0.59-0.65 us. (isp's binary happened to have them on one line.)
static struct {
    _Alignas(64) _Atomic long claims;  // job << 2*TASK_BITS | tasks << TASK_BITS | next unclaimed task
    _Atomic int32_t finished;           // tasks of the current job completed
    _Atomic int warm;                   // the current job's keepWarm
    isp_task task;
    void *context;
    long number;                        // the last job's number
    atomic_flag busy;
    _Atomic int caller_sleeping;
    _Atomic int caller_cpu;             // where the current job's caller ran when it published it
    isp_split_times *times;             // the current job's caller asked for its times (NULL: no)
    _Atomic int64_t worker_busy;        // the busiest worker's task time so far in a timed job
} pool = { .busy = ATOMIC_FLAG_INIT };
// Where the caller sleeps until the last task of its job is finished.
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

/// Claims and runs tasks of `job` until none are left. `busy` (a worker in a timed job): adds the
/// time of each task it runs, and raises `pool.worker_busy` to it before counting the task done,
/// so that the caller, once every task is done, reads the busiest worker's whole time.
static void run_tasks(long job, int64_t *busy) {
    const long mask = (1L << TASK_BITS) - 1;
    for (;;) {
        long c = atomic_load(&pool.claims);
        if ((c >> (2 * TASK_BITS)) != (job & JOB_MASK) || (c & mask) >= ((c >> TASK_BITS) & mask)) return;
        if (!atomic_compare_exchange_weak(&pool.claims, &c, c + 1)) continue;
        const long start = busy ? now_ns() : 0;
        pool.task(pool.context, (int32_t)(c & mask));
        if (busy) {
            *busy += now_ns() - start;
            int64_t most = atomic_load(&pool.worker_busy);
            while (*busy > most && !atomic_compare_exchange_weak(&pool.worker_busy, &most, *busy)) {}
        }
        // The caller sets caller_sleeping before it last reads `finished`: it sees this task
        // counted or this thread sees it asleep.
        if (atomic_fetch_add(&pool.finished, 1) + 1 == ((c >> TASK_BITS) & mask) && atomic_load(&pool.caller_sleeping)) {
            pthread_mutex_lock(&done_lock);
            pthread_cond_signal(&done);
            pthread_mutex_unlock(&done_lock);
        }
    }
}

static cpu_set_t allowed;  // the CPUs this process may use (set by `usable_cores`)

// A spinning worker that finds itself on the CPU its caller published the last job from moves to
// the process's other CPUs. Linux sometimes wakes the sleeping worker on the caller's CPU and
// leaves it there for many passes: every task then runs on the caller (which claims what nobody
// else has), and whenever the scheduler gives the worker its turn it spins out its 2 ms beside the
// caller. MobileNetV2 w0.5 batch 1 in blocks of 20 passes alternating with ONNX Runtime's (AMD
// Zen 5, 2026-12-07; docs/results/speed/engine-2026-12-07-stop79-zen5-avx512/, ab-trace.txt):
// stretches of 360 us passes (one core's time; 225-240 split) broken by passes of 2-4 ms, 10-28
// of those in each process's 750 split passes; with the move, 1-4 (six alternating pairs). Passes
// requested one at a time 20 ms apart, as a server at a low rate sees them (the worker asleep
// before each; benchmarks/sparse_requests.py, four pairs of processes each): 90th percentile
// ResNet-18 w0.5 3.53-3.58 -> 1.55-2.43 ms, VGG16 w0.5 2.74-3.04 -> 0.76-2.05, the stored
// MobileNetV2 2.79-3.20 -> 1.23-1.33; medians 0.58-0.93x. Sleeping there instead was worse: woken
// beside the caller again by every job, passes took 1.1 ms.
static void leave_caller(void) {
    int caller = atomic_load_explicit(&pool.caller_cpu, memory_order_relaxed);
    if (sched_getcpu() != caller) return;
    cpu_set_t others = allowed;
    CPU_CLR(caller, &others);
    if (CPU_COUNT(&others) > 0) sched_setaffinity(0, sizeof others, &others);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    long seen = 0, spin = 0;
    for (;;) {
        long job, since = now_ns();
        unsigned spins = 0;
        while ((job = atomic_load(&w->job)) == seen) {
            if (++spins % 256) { _mm_pause(); continue; }
            if (now_ns() - since < spin) { leave_caller(); _mm_pause(); continue; }
            pthread_mutex_lock(&w->lock);
            atomic_store(&w->sleeping, 1);
            while (atomic_load(&w->job) == seen) pthread_cond_wait(&w->wake, &w->lock);
            atomic_store(&w->sleeping, 0);
            pthread_mutex_unlock(&w->lock);
        }
        seen = job;
        spin = atomic_load(&pool.warm) ? SPIN_NANOSECONDS : 0;
        int64_t busy = 0;
        run_tasks(job, pool.times ? &busy : NULL);
    }
    return NULL;
}

/// Logical CPUs this process may run on (its affinity mask, kept in `allowed`).
static int32_t usable_cores(void) {
    long cores = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (int32_t)cores : 1;
}

static void start(void) {
    int32_t cores = usable_cores();
    worker_count = cores > 1 ? (cores - 1 < MAX_WORKERS ? (int)cores - 1 : MAX_WORKERS) : 0;
    for (int i = 0; i < worker_count; i++) {
        pthread_mutex_init(&workers[i].lock, NULL);
        pthread_cond_init(&workers[i].wake, NULL);
        pthread_t thread;
        if (pthread_create(&thread, NULL, worker_main, &workers[i]) != 0) { worker_count = i; break; }
        pthread_detach(thread);
    }
}

int32_t isp_parallel_threads(void) {
    pthread_once(&once, start);
    return worker_count + 1;
}

void isp_parallel(int32_t tasks, isp_task task, void *context, int32_t keepWarm, isp_split_times *times) {
    pthread_once(&once, start);
    if (tasks <= 1 || tasks >= (1 << TASK_BITS) || atomic_flag_test_and_set(&pool.busy)) {
        for (int32_t i = 0; i < tasks; i++) task(context, i);
        return;
    }
    long job = ++pool.number;
    pool.task = task;
    pool.times = times;
    atomic_store(&pool.worker_busy, 0);
    atomic_store(&pool.warm, keepWarm);
    pool.context = context;
    atomic_store(&pool.finished, 0);
    atomic_store_explicit(&pool.caller_cpu, sched_getcpu(), memory_order_relaxed);
    // Task 0 is the caller's, claimed before the workers hear of the job: a split by shares then
    // runs share 0 on the caller and share 1 on the first worker image after image, so that each
    // core reads the rows it wrote the step before (claimed in a race, the worker took task 0 in
    // about a quarter of ResNet-18's row splits, and each core read its rows from the other's cache).
    atomic_store(&pool.claims, (job & JOB_MASK) << (2 * TASK_BITS) | (long)tasks << TASK_BITS | 1);
    int helpers = tasks - 1 < worker_count ? tasks - 1 : worker_count;
    for (int i = 0; i < helpers; i++) {
        worker *w = &workers[i];
        atomic_store(&w->job, job);
        if (atomic_load(&w->sleeping)) {
            pthread_mutex_lock(&w->lock);
            pthread_cond_signal(&w->wake);
            pthread_mutex_unlock(&w->lock);
        }
    }
    const long start = times ? now_ns() : 0;
    task(context, 0);
    atomic_fetch_add(&pool.finished, 1);
    run_tasks(job, NULL);
    const long ownDone = times ? now_ns() : 0;
    for (int spins = 0; atomic_load(&pool.finished) < tasks; spins++) {
        if (spins < SPINS_BEFORE_SLEEP) { _mm_pause(); continue; }
        pthread_mutex_lock(&done_lock);
        atomic_store(&pool.caller_sleeping, 1);
        while (atomic_load(&pool.finished) < tasks) pthread_cond_wait(&done, &done_lock);
        atomic_store(&pool.caller_sleeping, 0);
        pthread_mutex_unlock(&done_lock);
    }
    if (times) {
        times->jobs += 1;
        times->callerNanoseconds += ownDone - start;
        times->workerNanoseconds += atomic_load(&pool.worker_busy);
        times->waitNanoseconds += now_ns() - ownDone;
    }
    atomic_flag_clear(&pool.busy);
}

// A minimal spinning thread pool for batch-1 inference (see isp_parallel in CKernels.h).
#include "CKernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <immintrin.h>

enum { MAX_WORKERS = 63, SPINS_BEFORE_SLEEP = 200000 };

typedef struct {
    _Atomic long job;        // last job number published to this worker
    _Atomic long done;       // last job number this worker finished
    _Atomic int sleeping;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int index;
} worker;

static worker workers[MAX_WORKERS];
static int worker_count = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_flag busy = ATOMIC_FLAG_INIT;
static isp_task current_task;
static void *current_context;
static long job_number;

static void *worker_main(void *arg) {
    worker *w = arg;
    long seen = 0;
    for (;;) {
        long job;
        int spins = 0;
        while ((job = atomic_load(&w->job)) == seen) {
            if (++spins < SPINS_BEFORE_SLEEP) { _mm_pause(); continue; }
            pthread_mutex_lock(&w->lock);
            atomic_store(&w->sleeping, 1);
            while (atomic_load(&w->job) == seen) pthread_cond_wait(&w->wake, &w->lock);
            atomic_store(&w->sleeping, 0);
            pthread_mutex_unlock(&w->lock);
            spins = 0;
        }
        seen = job;
        current_task(current_context, w->index + 1);
        atomic_store(&w->done, job);
    }
    return NULL;
}

static void start(void) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    worker_count = cores > 1 ? (cores - 1 < MAX_WORKERS ? (int)cores - 1 : MAX_WORKERS) : 0;
    for (int i = 0; i < worker_count; i++) {
        workers[i].index = i;
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

void isp_parallel(int32_t tasks, isp_task task, void *context) {
    pthread_once(&once, start);
    if (tasks > worker_count + 1 || atomic_flag_test_and_set(&busy)) {
        for (int32_t i = 0; i < tasks; i++) task(context, i);
        return;
    }
    current_task = task;
    current_context = context;
    long job = ++job_number;
    for (int i = 0; i < tasks - 1; i++) {
        worker *w = &workers[i];
        atomic_store(&w->job, job);
        if (atomic_load(&w->sleeping)) {
            pthread_mutex_lock(&w->lock);
            pthread_cond_signal(&w->wake);
            pthread_mutex_unlock(&w->lock);
        }
    }
    task(context, 0);
    for (int i = 0; i < tasks - 1; i++) while (atomic_load(&workers[i].done) != job) _mm_pause();
    atomic_flag_clear(&busy);
}

// The batch-1 classifier's product (isp_matrix_vector, on 16-output panels) against reading the
// row-major matrix eight rows at a time (the kernel it replaced), on one thread or two (a spinning
// second thread takes the second half of the outputs). Between calls it reads MB megabytes of other
// data, as a network's other layers push the weights out of cache. Median of 200 calls, each
// variant in turn, ROUNDS times. Not part of the tests.
//
//   clang -O2 -pthread -I Sources/CKernels/include benchmarks/matrix_vector_bench.c \
//       Sources/CKernels/MatrixVector.c Sources/CKernels/ConvTiles.c -o /tmp/matrix_vector_bench
//   /tmp/matrix_vector_bench THREADS ROUNDS MB [OUTPUTS INPUTS]    (1000 x 1280: mobilenet_v2's classifier;
//   ISP_ISA=avx2 forces the AVX2 kernel)
#include "CKernels.h"
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "seconds.h"

#define CALLS 200

static int outputs = 1000, inputs = 1280, threads, rows;  // rows: 1 = the row-major baseline
static float *w, *panels, *x, *y;
static isp_isa isa;
static _Atomic int go, done;

// The baseline: y[o] += w[o] . x, eight rows at a time (8-wide steps, inputs a multiple of 8).
__attribute__((target("avx2,fma"))) static void eight_rows(int32_t row0, int32_t row1) {
    for (int32_t o = row0; o < row1; o += 8) {
        __m256 a[8];
        for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_ps();
        for (int32_t k = 0; k < inputs; k += 8) {
            const __m256 xk = _mm256_loadu_ps(x + k);
            for (int j = 0; j < 8 && o + j < row1; j++) {
                const float *r = w + (size_t)(o + j) * inputs + k;
                if ((k & 15) == 0) _mm_prefetch((const char *)(r + 512), _MM_HINT_T0);
                a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(r), xk, a[j]);
            }
        }
        for (int j = 0; j < 8 && o + j < row1; j++) {
            float s[8];
            _mm256_storeu_ps(s, a[j]);
            for (int l = 0; l < 8; l++) y[o + j] += s[l];
        }
    }
}

// Share t of `threads`: whole tiles of 16 outputs.
static void share(int t) {
    const int tiles = (outputs + 15) / 16, t0 = tiles * t / threads, t1 = tiles * (t + 1) / threads;
    if (rows) eight_rows(16 * t0, 16 * t1 < outputs ? 16 * t1 : outputs);
    else isp_matrix_vector(isa, panels, x, inputs, outputs, t0, t1, y);
}

static void *worker(void *unused) {
    (void)unused;
    for (int seen = 0;; seen++) {
        while (go == seen) _mm_pause();
        share(1);
        done = seen + 1;
    }
    return NULL;
}

static int ascending(const void *a, const void *b) { return (*(const double *)a > *(const double *)b) - (*(const double *)a < *(const double *)b); }

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s THREADS ROUNDS MB [OUTPUTS INPUTS]\n", argv[0]);
        return 1;
    }
    threads = atoi(argv[1]) > 1 ? 2 : 1;
    const int rounds = atoi(argv[2]);
    const size_t junkBytes = (size_t)atoi(argv[3]) << 20;
    if (argc > 5) { outputs = atoi(argv[4]); inputs = atoi(argv[5]) / 8 * 8; }
    const char *forced = getenv("ISP_ISA");
    isa = forced && !strcmp(forced, "avx2") ? ISP_AVX2 : isp_cpu_isa();
    const int tiles = (outputs + 15) / 16;
    w = aligned_alloc(64, (size_t)outputs * inputs * 4);
    panels = aligned_alloc(64, (size_t)tiles * 16 * inputs * 4);
    x = aligned_alloc(64, (size_t)inputs * 4);
    y = aligned_alloc(64, (size_t)tiles * 16 * 4);
    for (size_t i = 0; i < (size_t)outputs * inputs; i++) w[i] = (float)((i * 7919) % 13) * 0.01f - 0.06f;
    for (int k = 0; k < inputs; k++) x[k] = (float)(k % 7) * 0.1f;
    memset(panels, 0, (size_t)tiles * 16 * inputs * 4);
    for (int o = 0; o < outputs; o++)
        for (int k = 0; k < inputs; k++) panels[(size_t)(o / 16) * inputs * 16 + (size_t)k * 16 + o % 16] = w[(size_t)o * inputs + k];
    char *junk = malloc(junkBytes + 64);
    memset(junk, 1, junkBytes + 64);
    pthread_t thread;
    if (threads == 2) pthread_create(&thread, NULL, worker, NULL);
    int calls = 0;
    for (int r = 0; r < rounds; r++) {
        for (rows = 1; rows >= 0; rows--) {
            double t[CALLS], check = 0;
            for (int c = 0; c < CALLS; c++) {
                volatile char sink = 0;
                for (size_t i = 0; i < junkBytes; i += 64) sink += junk[i];
                memset(y, 0, (size_t)tiles * 16 * 4);
                const double start = seconds();
                if (threads == 2) go = ++calls;
                share(0);
                if (threads == 2) while (done != calls) _mm_pause();
                t[c] = seconds() - start;
                check = y[outputs - 1];
            }
            qsort(t, CALLS, sizeof t[0], ascending);
            printf("round %d %-22s %d thread(s), %zu MB between: median %.1f us (y[last] %.3f)\n", r + 1,
                   rows ? "eight rows (baseline)" : "panels", threads, junkBytes >> 20, t[CALLS / 2] * 1e6, check);
        }
    }
    return 0;
}

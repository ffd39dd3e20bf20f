// The depthwise kernel (`isp_depthwise`) on the VM's two vCPUs as a batch-1 pass runs it: each
// pass, thread A (cpu 0) and thread B (cpu 1) first write the input planes of their halves of the
// channels (the 1x1 expansion before it, split by output channels), then convolve, then read
// their halves of the output (the projection after it, split by input channels). Timed on A, the
// convolution three ways, passes alternating between them and the two instruction sets:
//   split       each thread its half of the planes
//   one, read   A alone, every plane, over outputs B read half of in the pass before
//   one, unread A alone, every plane, over outputs nobody else read
// "one, read" against "one, unread" is what the kernel's stores pay for lines the other core read
// (see claim_output in Sources/CKernels/Depthwise.c). Prints the median and 10th percentile, with
// the round trip of a cache line between the vCPUs (close ~50-70 ns, far apart ~320-350 ns).
// Not part of the tests.
//
//   I=Sources/CKernels; clang -O2 -I $I/include -I $I benchmarks/depthwise_handoff.c $I/Depthwise.c $I/ConvTiles.c \
//       -pthread -o /tmp/depthwise_handoff && /tmp/depthwise_handoff CHANNELS SIZE STRIDE [PASSES]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include "CKernels.h"
#include "round_trip.h"

enum { SPLIT, ONE_READ, ONE_UNREAD, WAYS };
static const char *names[WAYS] = {"split", "one, read", "one, unread"};
static int channels, size, stride, out, passes;
static float *x, *y, *w, *bias, *scratch;
static size_t part;
static double *times[2][WAYS];
static _Atomic int arrived, generation;
static volatile float sink;

static void barrier(void) {
    const int g = atomic_load(&generation);
    if (atomic_fetch_add(&arrived, 1) == 1) { atomic_store(&arrived, 0); atomic_store(&generation, g + 1); }
    else while (atomic_load(&generation) == g) _mm_pause();
}

static void *run(void *arg) {
    const int t = (int)(long)arg;
    pin(t);
    const isp_depthwise_args a = {x, y, NULL, w, bias, NULL, channels, 3, stride, 1, size, size, out, out, 0, 6};
    const int tiles = (channels + 15) / 16, written = (tiles + 1) / 2 * 16 < channels ? (tiles + 1) / 2 * 16 : channels;
    for (int p = 0; p < passes * 2 * WAYS; p++) {
        const isp_isa isa = p % 2 ? ISP_AVX2 : ISP_AVX512;
        const int way = p / 2 % WAYS;
        for (int c = t ? written : 0; c < (t ? channels : written); c++)  // the expansion's tiles of 16 channels
            for (int i = 0; i < size * size; i++) x[(size_t)c * size * size + i] = (float)((c + i + p) & 7) * 0.1f;
        barrier();
        const double start = seconds();
        const int first = way == SPLIT ? (t ? channels / 2 : 0) : (t ? channels : 0);
        const int end = way == SPLIT ? (t ? channels : channels / 2) : (t ? channels : channels);
        if (first < end) isp_depthwise(isa, &a, first, end, 0, out, scratch + t * part);
        barrier();
        if (t == 0) times[isa][way][p / (2 * WAYS)] = (seconds() - start) * 1e9;
        if ((p + 1) / 2 % WAYS != ONE_UNREAD || t == 0) {  // the projection's halves, unless the next pass is unread
            float s = 0;
            for (int c = t ? channels / 2 : 0; c < (t ? channels : channels / 2); c++)
                for (int i = 0; i < out * out; i++) s += y[(size_t)c * out * out + i];
            sink = s;
        }
        barrier();
    }
    return NULL;
}

static int ascending(const void *a, const void *b) { const double d = *(const double *)a - *(const double *)b; return (d > 0) - (d < 0); }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s CHANNELS SIZE STRIDE(1|2) [PASSES]\n", argv[0]); return 2; }
    channels = atoi(argv[1]), size = atoi(argv[2]), stride = atoi(argv[3]), passes = argc > 4 ? atoi(argv[4]) : 2000;
    if (channels < 2 || size < 1 || (stride != 1 && stride != 2) || passes < 10) { fprintf(stderr, "bad arguments\n"); return 2; }
    out = (size + stride - 1) / stride;
    x = aligned_alloc(64, ((size_t)channels * size * size * 4 + 63) / 64 * 64 + 64);
    y = aligned_alloc(64, ((size_t)channels * out * out * 4 + 63) / 64 * 64 + 64);
    w = aligned_alloc(64, ((size_t)channels * 9 * 4 + 63) / 64 * 64);
    bias = aligned_alloc(64, ((size_t)channels * 4 + 63) / 64 * 64);
    for (int i = 0; i < channels * 9; i++) w[i] = 0.01f * (float)(i % 13);
    for (int i = 0; i < channels; i++) bias[i] = 0.1f;
    const isp_depthwise_args a = {x, y, NULL, w, bias, NULL, channels, 3, stride, 1, size, size, out, out, 0, 6};
    part = (size_t)isp_depthwise_scratch(&a) + 16;
    scratch = aligned_alloc(64, (2 * part * 4 + 63) / 64 * 64);
    for (int isa = 0; isa < 2; isa++) for (int way = 0; way < WAYS; way++) times[isa][way] = calloc(passes, sizeof(double));
    const double before = round_trip_ns();
    pthread_t b;
    pthread_create(&b, NULL, run, (void *)1L);
    run(NULL);
    pthread_join(b, NULL);
    printf("%d planes %dx%d, stride %d, %d passes each; round trip %.0f / %.0f ns\n", channels, size, size, stride, passes, before,
           round_trip_ns());
    for (int isa = 1; isa >= 0; isa--)
        for (int way = 0; way < WAYS; way++) {
            qsort(times[isa][way], passes, sizeof(double), ascending);
            printf("  %-6s %-11s median %6.2f us, p10 %6.2f\n", isa ? "AVX-512" : "AVX2", names[way], times[isa][way][passes / 2] / 1e3,
                   times[isa][way][passes / 10] / 1e3);
        }
    return 0;
}

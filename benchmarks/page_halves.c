// What a split by rows costs when the two cores' rows share pages: two threads (cpu 0 and cpu 1)
// run steps as a batch-1 pass split by rows does on 32x32 maps of 32 channels (4 KB planes, one
// page each): thread 0 reads rows 0-15 of every plane of the step's input and writes rows 0-15
// of its output, thread 1 rows 16-31, three maps in rotation. No cache line is touched by both
// threads, but each page holds both threads' rows. Against the same work with each thread's rows
// of all planes together (its own pages); each also with the row next to its half read too (a
// 3x3 convolution's halo), which the other thread wrote, and with own pages and ghost rows (each
// thread copies its edge row beside the other's half, where the other reads it). Prints
// microseconds per step for each thread, with the vCPUs' round trip before and after (close
// ~50-140 ns, far apart ~350-450 ns). Not part of the tests.
//
//   gcc -O2 -pthread benchmarks/page_halves.c -o /tmp/page_halves && /tmp/page_halves [STEPS]
//
// Seen on the 2-vCPU AMD EPYC Zen 5 VM (2026-12-08, docs/RESULTS.md "Stop 85"; four runs, two in
// each placement, docs/results/speed/page-halves-2026-12-08-stop85-zen5/):
//                          close (50-93 ns)    far apart (369-413 ns)
//   shared pages           3.3-3.5 us a step   11.6-13.2
//   own pages              2.8                 2.8-3.4
//   shared pages, halo     3.6-3.9             12.9-14.2
//   own pages, halo        3.3-3.7             11.5-12.9
//   own pages, ghost rows  3.1-3.2             7.4-7.7
// Each core's rows in pages of its own run as fast far apart as close; sharing pages costs 1.2x
// close and 4x far, with no line shared. Reading the other core's edge row costs as much far
// apart (its hardware prefetchers run on into the other core's rows); ghost rows cost half as
// much. (An earlier draft, 2026-12-08: threads that only read ran 1.2 us a step in either layout
// and placement; only writing pays: lines of a shared page that the other core's prefetchers
// fetched must be taken back before their owner writes them again.)
// The engine's maps keep their planes contiguous, so a split by rows of a map of 32x32 planes or
// smaller puts both cores' rows in every page, and each reads the other's edge rows. The likely
// part of what ResNet-18's and VGG16's first stages pay far apart, not yet shown in the engine:
// ResNet-18 w0.5's 32x32 Winograd steps, whose second share (rows 16-31, on either core) takes
// 0.044-0.048 ms against the first's 0.031-0.035 far apart, 0.029-0.030 both close (isp bench
// --profile --always-split); fetching its output lines for writing ahead did not change that.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "round_trip.h"

enum { CHANNELS = 32, HEIGHT = 32, WIDTH = 32, HALF = HEIGHT / 2, MAP = CHANNELS * (HEIGHT + 2) * WIDTH };

typedef struct {
    int ownPages, halo, ghost, steps;
} layout;

static float *maps[3];
static layout current;
static _Atomic int arrived, generation;
static double busy[2][16];  // a line of its own per thread

static void barrier(void) {
    const int g = atomic_load(&generation);
    if (atomic_fetch_add(&arrived, 1) == 1) {
        atomic_store(&arrived, 0);
        atomic_fetch_add(&generation, 1);
    } else {
        while (atomic_load(&generation) == g) _mm_pause();
    }
}

// Row y of plane c as thread t sees it: planes contiguous; or each half of every plane grouped with
// the same half of the others (thread 0's rows of all planes, then thread 1's); or so with a ghost
// row beside each half, where the other thread leaves a copy of its edge row for it.
static float *row(float *map, int c, int y, int t) {
    if (!current.ownPages) return map + (size_t)c * HEIGHT * WIDTH + (size_t)y * WIDTH;
    if (!current.ghost) {
        const int half = y >= HALF;
        return map + (size_t)half * CHANNELS * HALF * WIDTH + (size_t)c * HALF * WIDTH + (size_t)(y - HALF * half) * WIDTH;
    }
    // Region t holds HALF + 1 rows a plane: thread 0's rows 0-15 then its ghost of row 16; thread
    // 1's ghost of row 15 then rows 16-31.
    const int index = t ? y - HALF + 1 : y;
    return map + (size_t)t * CHANNELS * (HALF + 1) * WIDTH + (size_t)c * (HALF + 1) * WIDTH + (size_t)index * WIDTH;
}

static void *run(void *arg) {
    const int t = (int)(long)arg;
    pin(t);
    const int first = t ? HALF : 0, last = t ? HEIGHT : HALF;  // the rows this thread writes
    const int read0 = t && current.halo ? first - 1 : first, read1 = !t && current.halo ? last + 1 : last;
    volatile float sink = 0;
    float copy[WIDTH];
    double spent = 0;
    for (int step = 0; step < current.steps; step++) {
        const float *in = maps[step % 3];
        float *out = maps[(step + 1) % 3];
        barrier();
        const double start = seconds();
        for (int c = 0; c < CHANNELS; c++) {
            float sum = 0;
            for (int y = read0; y < read1; y++) {
                const float *r = row((float *)in, c, y, t);
                for (int x = 0; x < WIDTH; x++) copy[x] = r[x];  // as a kernel copies its rows
                sum += copy[y % WIDTH];
            }
            for (int y = first; y < last; y++) {
                float *r = row(out, c, y, t);
                for (int x = 0; x < WIDTH; x++) r[x] = sum * 0x1p-20f + (float)x;
            }
            if (current.ghost) {  // the edge row the other thread reads, into its ghost row
                const int edge = t ? first : last - 1;
                memcpy(row(out, c, edge, 1 - t), row(out, c, edge, t), WIDTH * sizeof(float));
            }
        }
        if (step >= 100) spent += seconds() - start;  // after warm-up
        sink = sink + *row(out, 0, first, t);
    }
    busy[t][0] = spent / (current.steps - 100) * 1e6;
    return NULL;
}

int main(int argc, char **argv) {
    const int steps = argc > 1 ? atoi(argv[1]) : 20000;
    if (steps <= 100) { fprintf(stderr, "page_halves: STEPS must be over 100\n"); return 2; }
    for (int i = 0; i < 3; i++) {
        maps[i] = aligned_alloc(4096, MAP * sizeof(float));
        memset(maps[i], 0, MAP * sizeof(float));
    }
    const double before = round_trip_ns();
    printf("round trip before: %.0f ns\n", before);
    printf("%-22s %10s %10s\n", "layout", "thread 0", "thread 1");
    const layout layouts[5] = {{0, 0, 0, steps}, {1, 0, 0, steps}, {0, 1, 0, steps}, {1, 1, 0, steps}, {1, 1, 1, steps}};
    static const char *names[5] = {"shared pages", "own pages", "shared pages, halo", "own pages, halo", "own pages, ghost rows"};
    for (int i = 0; i < 5; i++) {
        current = layouts[i];
        pthread_t other;
        pthread_create(&other, NULL, run, (void *)1L);
        run((void *)0L);
        pthread_join(other, NULL);
        printf("%-22s %7.2f us %7.2f us\n", names[i], busy[0][0], busy[1][0]);
    }
    printf("round trip after: %.0f ns\n", round_trip_ns());
    return 0;
}

// What a split by rows costs when the two cores' rows share pages: two threads (cpu 0 and cpu 1)
// run steps as a batch-1 pass split by rows does on 32x32 maps of 32 channels (4 KB planes, one
// page each): thread 0 reads rows 0-15 of every plane of the step's input and writes rows 0-15
// of its output, thread 1 rows 16-31, three maps in rotation. No cache line is touched by both
// threads, but each page holds both threads' rows. Against the same work with each thread's rows
// of all planes together (its own pages); each also with the row next to its half read too (a
// 3x3 convolution's halo), which the other thread wrote, and with own pages and ghost rows (each
// thread copies its edge row beside the other's half, where the other reads it). Then shared
// pages with thread 0 going through its rows from the last to the first ("away": its reads and
// writes move away from thread 1's rows, so that a prefetcher following them stays in its own),
// and the step split by channels instead (each thread reads every plane whole and writes half of
// them, whole pages). Prints microseconds per step for each thread, with the vCPUs' round trip
// before and after (close ~50-140 ns, far apart ~350-450 ns). Not part of the tests.
//
//   gcc -O2 -pthread benchmarks/page_halves.c -o /tmp/page_halves && /tmp/page_halves [STEPS]
//
// Seen on the 2-vCPU AMD EPYC Zen 5 VM (2026-12-08; docs/RESULTS.md "Stop 85" for the first five
// layouts, four runs; "Stop 86" for all eight, one run close and two far apart with the
// placement unchanged before and after: docs/results/speed/page-halves-2026-12-08-stop86-zen5/):
//                          close (49-93 ns)    far apart (360-448 ns)
//   shared pages           3.3-3.9 us a step   11.6-15.7
//   own pages              2.8-3.2             2.8-3.6
//   shared pages, halo     3.6-4.1             12.9-15.9
//   own pages, halo        3.3-4.0             11.2-12.9
//   own pages, ghost rows  3.1-3.5             7.1-7.9
//   shared pages, away     3.2-3.4             11.3-13.9
//   shared, halo, away     3.6-3.7             12.5-14.0
//   split by channels      4.0-4.4             12.1-13.1
// Each core's rows in pages of its own run as fast far apart as close; sharing pages costs 1.2x
// close and 4x far, with no line shared. Reading the other core's edge row costs as much far
// apart; ghost rows cost half as much. Going away from the other core's rows changes nothing, so
// it is not a stream prefetcher running on past a share's last row: whatever fetches the rest
// of a page once a core touches it (a prefetcher that learns which lines of a page are used)
// brings the other core's lines too. (An earlier draft, 2026-12-08: threads that only read ran
// 1.2 us a step in either layout and placement; only writing pays: lines of a shared page that
// the other core fetched must be taken back before their owner writes them again.) A split by
// channels, each core writing whole pages of its own, pays as much as shared pages, for reading
// the planes the other wrote. Far apart, every step whose cores hand each other data pays about
// 8-12 us here; only ghost rows, the least data a 3x3 convolution split by rows must hand over,
// halve that.
// The engine's maps keep their planes contiguous, so a split by rows of a map of 32x32 planes or
// smaller puts both cores' rows in every page, and each reads the other's edge rows. The likely
// part of what ResNet-18's and VGG16's first stages pay far apart, not yet shown in the engine:
// ResNet-18 w0.5's 32x32 Winograd steps, whose second share (rows 16-31, on either core) takes
// 0.044-0.048 ms against the first's 0.031-0.035 far apart, 0.029-0.030 both close (isp bench
// --profile --always-split); neither fetching its output lines for writing ahead (stop 85) nor
// the first share reading and writing its rows from the last to the first (stop 86) changed that.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "round_trip.h"

enum { CHANNELS = 32, HEIGHT = 32, WIDTH = 32, HALF = HEIGHT / 2, MAP = CHANNELS * (HEIGHT + 2) * WIDTH };

typedef struct {
    int ownPages, halo, ghost;
    int away;      // thread 0 goes through its rows from the last to the first (away from thread 1's)
    int channels;  // split by channels instead: each thread reads all of every plane, writes half the planes
    int steps;
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

// One step split by channels: thread t reads every row of every plane and writes planes
// t * CHANNELS / 2 to (t + 1) * CHANNELS / 2 - 1, whole.
static float channel_step(int t, const float *in, float *out, float *copy) {
    float sum = 0;
    for (int c = 0; c < CHANNELS; c++)
        for (int y = 0; y < HEIGHT; y++) {
            const float *r = row((float *)in, c, y, t);
            for (int x = 0; x < WIDTH; x++) copy[x] = r[x];
            sum += copy[y % WIDTH];
        }
    for (int c = t * CHANNELS / 2; c < (t + 1) * CHANNELS / 2; c++)
        for (int y = 0; y < HEIGHT; y++) {
            float *r = row(out, c, y, t);
            for (int x = 0; x < WIDTH; x++) r[x] = sum * 0x1p-20f + (float)x;
        }
    return sum;
}

// One step split by rows: thread t reads its rows (and the halo row) of every plane and writes its rows.
static void row_step(int t, const float *in, float *out, float *copy) {
    const int first = t ? HALF : 0, last = t ? HEIGHT : HALF;  // the rows this thread writes
    const int read0 = t && current.halo ? first - 1 : first, read1 = !t && current.halo ? last + 1 : last;
    const int backwards = !t && current.away;
    for (int c = 0; c < CHANNELS; c++) {
        float sum = 0;
        for (int i = read0; i < read1; i++) {
            const int y = backwards ? read0 + read1 - 1 - i : i;
            const float *r = row((float *)in, c, y, t);
            for (int x = 0; x < WIDTH; x++) copy[x] = r[x];  // as a kernel copies its rows
            sum += copy[y % WIDTH];
        }
        for (int i = first; i < last; i++) {
            const int y = backwards ? first + last - 1 - i : i;
            float *r = row(out, c, y, t);
            for (int x = 0; x < WIDTH; x++) r[x] = sum * 0x1p-20f + (float)x;
        }
        if (current.ghost) {  // the edge row the other thread reads, into its ghost row
            const int edge = t ? first : last - 1;
            memcpy(row(out, c, edge, 1 - t), row(out, c, edge, t), WIDTH * sizeof(float));
        }
    }
}

static void *run(void *arg) {
    const int t = (int)(long)arg;
    pin(t);
    volatile float sink = 0;
    float copy[WIDTH];
    double spent = 0;
    for (int step = 0; step < current.steps; step++) {
        const float *in = maps[step % 3];
        float *out = maps[(step + 1) % 3];
        barrier();
        const double start = seconds();
        if (current.channels) sink = sink + channel_step(t, in, out, copy);
        else row_step(t, in, out, copy);
        if (step >= 100) spent += seconds() - start;  // after warm-up
        sink = sink + *row(out, t * CHANNELS / 2, t ? HALF : 0, t);
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
    enum { LAYOUTS = 8 };
    const layout layouts[LAYOUTS] = {
        {.steps = steps}, {.ownPages = 1, .steps = steps}, {.halo = 1, .steps = steps},
        {.ownPages = 1, .halo = 1, .steps = steps}, {.ownPages = 1, .halo = 1, .ghost = 1, .steps = steps},
        {.away = 1, .steps = steps}, {.halo = 1, .away = 1, .steps = steps}, {.channels = 1, .steps = steps}};
    static const char *names[LAYOUTS] = {"shared pages", "own pages", "shared pages, halo", "own pages, halo",
                                         "own pages, ghost rows", "shared pages, away", "shared, halo, away",
                                         "split by channels"};
    for (int i = 0; i < LAYOUTS; i++) {
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

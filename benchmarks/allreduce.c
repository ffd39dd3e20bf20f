// MPI_Allreduce (float sum, in place) of gradient-sized buffers on this machine, as
// `isp train` under mpirun does once per step: median time of 50 calls after 5 warm-up calls,
// the algorithm bandwidth (bytes / time) and the bus bandwidth (2 (N-1)/N bytes / time: what
// each process's link carries in a ring allreduce, comparable across process counts).
// Build and run: benchmarks/allreduce.sh (mpicc -O2; mpirun -np 2 by default).
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    enum { warmup = 5, calls = 50 };
    for (int a = 1; a < argc; a += 2) {
        const char *name = argv[a];
        long count = atol(argv[a + 1]);
        float *buffer = malloc((size_t)count * sizeof(float));
        for (long i = 0; i < count; i++) buffer[i] = (float)(i % 7) * 1e-3f;
        double times[calls];
        for (int k = 0; k < warmup + calls; k++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double start = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buffer, (int)count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double t = MPI_Wtime() - start;
            if (k >= warmup) times[k - warmup] = t;
        }
        qsort(times, calls, sizeof times[0], compare);
        double median = times[calls / 2], bytes = 4.0 * (double)count;
        if (rank == 0)
            printf("%-24s %10ld floats %8.2f MB  median %8.3f ms  algbw %6.2f GB/s  busbw %6.2f GB/s  (%d processes)\n",
                   name, count, bytes / 1e6, 1e3 * median, bytes / median / 1e9,
                   2.0 * (size - 1) / size * bytes / median / 1e9, size);
        free(buffer);
    }
    MPI_Finalize();
    return 0;
}

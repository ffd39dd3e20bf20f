#define _GNU_SOURCE
#include "MPIShim.h"

#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void isp_mpi_init(void) {
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
}

void isp_mpi_finalize(void) { MPI_Finalize(); }

void isp_mpi_abort(int32_t status) { MPI_Abort(MPI_COMM_WORLD, status); }

int32_t isp_mpi_rank(void) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

int32_t isp_mpi_size(void) {
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

/// MPI counts are ints: larger buffers go in pieces of 2^30 elements.
static const int64_t piece = 1 << 30;

void isp_mpi_allreduce_float(float *buffer, int64_t count) {
    for (int64_t at = 0; at < count; at += piece) {
        int n = (int)(count - at < piece ? count - at : piece);
        MPI_Allreduce(MPI_IN_PLACE, buffer + at, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
}

void isp_mpi_allreduce_double(double *buffer, int64_t count) {
    for (int64_t at = 0; at < count; at += piece) {
        int n = (int)(count - at < piece ? count - at : piece);
        MPI_Allreduce(MPI_IN_PLACE, buffer + at, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    }
}

void isp_mpi_broadcast(void *buffer, int64_t bytes, int32_t root) {
    for (int64_t at = 0; at < bytes; at += piece) {
        int n = (int)(bytes - at < piece ? bytes - at : piece);
        MPI_Bcast((char *)buffer + at, n, MPI_BYTE, root, MPI_COMM_WORLD);
    }
}

int32_t isp_mpi_take_local_cores(void) {
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    int local, locals;
    MPI_Comm_rank(node, &local);
    MPI_Comm_size(node, &locals);
    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) {
        CPU_ZERO(&mine);
        CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &mine);
    }
    cpu_set_t *all = malloc((size_t)locals * sizeof(cpu_set_t));
    MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all, sizeof mine, MPI_BYTE, node);
    int sharing = 0, position = 0;
    for (int r = 0; r < locals; r++) {
        if (!CPU_EQUAL(&all[r], &mine)) continue;
        if (r < local) position++;
        sharing++;
    }
    free(all);
    MPI_Comm_free(&node);
    int cores = CPU_COUNT(&mine);
    if (sharing > 1) {
        int from = cores * position / sharing, to = cores * (position + 1) / sharing;
        if (to == from) { from = position % cores; to = from + 1; }
        cpu_set_t share;
        CPU_ZERO(&share);
        for (int cpu = 0, k = 0; cpu < CPU_SETSIZE && k < to; cpu++) {
            if (!CPU_ISSET(cpu, &mine)) continue;
            if (k >= from) CPU_SET(cpu, &share);
            k++;
        }
        if (sched_setaffinity(0, sizeof share, &share) == 0) cores = CPU_COUNT(&share);
    }
    return cores;
}

void isp_mpi_allowed_cores(char *text, int32_t capacity) {
    cpu_set_t set;
    size_t used = 0;
    text[0] = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        int last = cpu;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) last++;
        int n = last > cpu ? snprintf(text + used, (size_t)capacity - used, "%s%d-%d", used ? "," : "", cpu, last)
                           : snprintf(text + used, (size_t)capacity - used, "%s%d", used ? "," : "", cpu);
        if (n < 0 || used + (size_t)n >= (size_t)capacity) return;
        used += (size_t)n;
        cpu = last;
    }
}

#ifndef ISP_MPI_SHIM_H
#define ISP_MPI_SHIM_H

#include <stdint.h>

/// MPI on MPI_COMM_WORLD for Swift, which cannot import Open MPI's MPI_COMM_WORLD, MPI_FLOAT and
/// MPI_SUM (macros over the addresses of globals). Every call aborts the job on an MPI error
/// (MPI's default handler), so none returns a status.

/// MPI_Init_thread with MPI_THREAD_FUNNELED: only the main thread calls MPI.
void isp_mpi_init(void);
void isp_mpi_finalize(void);
/// Ends every process of the job with `status` (MPI_Abort).
void isp_mpi_abort(int32_t status);
int32_t isp_mpi_rank(void);
int32_t isp_mpi_size(void);

/// In-place sums over all processes (MPI_Allreduce with MPI_IN_PLACE and MPI_SUM).
void isp_mpi_allreduce_float(float *buffer, int64_t count);
void isp_mpi_allreduce_double(double *buffer, int64_t count);
/// `bytes` at `buffer` on process `root` copied to every process.
void isp_mpi_broadcast(void *buffer, int64_t bytes, int32_t root);

/// Gives this process its share of the cores of its node and returns how many that is: the
/// processes on the node (MPI_Comm_split_type SHARED) compare their affinity masks; those with
/// the same mask split its cores into contiguous parts (the k-th of m takes the k-th part, or
/// one core shared round-robin when there are fewer cores than processes), and each narrows
/// its own mask to its part. Masks that differ are kept: the launcher bound the processes
/// already (Open MPI binds to a core each when there are at most 2 processes).
int32_t isp_mpi_take_local_cores(void);
/// The cores this process may run on now, as "0-3" or "0,2".
void isp_mpi_allowed_cores(char *text, int32_t capacity);

#endif

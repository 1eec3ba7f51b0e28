/* dist.h - data parallelism across processes: the few collectives that
 * data-parallel training needs, over MPI.
 *
 * Built with -DDM_MPI (the Makefile adds it when pkg-config finds ompi-c)
 * these are real MPI calls; built without, there is exactly one rank and
 * every call is a no-op, but dm_dist_init still notices a launcher
 * (mpirun, srun, mpiexec) that started several ranks and refuses, so that
 * N copies of a single-rank build never train N unrelated models quietly.
 *
 * MPI is initialised only when the process was started by a launcher
 * (OMPI_COMM_WORLD_SIZE or PMI_SIZE in the environment): a plain
 * `dm-train` never touches MPI.
 *
 * Determinism: the sum of dm_dist_allreduce_sum does not depend on the MPI
 * library's choice of algorithm.  It is a reduce-scatter done by hand —
 * MPI_Alltoallv moves chunk c of every rank's block to rank c, which adds
 * the N pieces in rank order 0, 1, ..., N-1 (in double, rounded to float
 * once) — followed by MPI_Allgatherv of the summed chunks.  Both calls only
 * move bytes, so the result is a fixed function of the N inputs: bit-
 * identical on every rank and in every rerun with the same rank count.
 * Traffic per rank is 2 (N-1)/N of the block, as a ring all-reduce.
 */
#ifndef DM_DIST_H
#define DM_DIST_H

#include <stddef.h>

#include "core/error.h"

typedef struct dm_dist {
	int rank, size;  /* this process, and how many */
	int mpi;         /* MPI was initialised here (finalize it) */
	int local_size;  /* ranks on this node (from the launcher), >= 1 */
	double seconds;  /* wall time spent in dm_dist_allreduce_sum */
	long calls;      /* how many times it was called */
	float *scratch;  /* N pieces of one chunk, for the reduce-scatter */
	size_t scratch_n;
} dm_dist;

/* 1 when this build has MPI, else 0. */
int dm_dist_available(void);

/* Join the job: rank and size from MPI when launched by an MPI launcher,
 * else rank 0 of 1.  A build without MPI started as one of several ranks
 * returns DM_ERR_MISSING with a sentence saying so.  argc/argv may be
 * NULL. */
int dm_dist_init(dm_dist *d, int *argc, char ***argv, dm_error *err);
/* Leave the job (MPI_Finalize when init started MPI); frees scratch. */
void dm_dist_finalize(dm_dist *d);

/* buf[0..n) = the sum over ranks of every rank's buf, in fixed rank order
 * (see above); identical on all ranks.  Every rank must call it with the
 * same n.  One rank: nothing to do. */
int dm_dist_allreduce_sum(dm_dist *d, float *buf, size_t n, dm_error *err);

/* The same for a few doubles (loss sums, flags): MPI_Allgather of every
 * rank's v, then the sum in rank order. n <= 16. */
int dm_dist_sum_doubles(dm_dist *d, double *v, int n, dm_error *err);

/* Copy rank 0's bytes to every rank. */
int dm_dist_bcast(dm_dist *d, void *buf, size_t bytes, dm_error *err);

#endif

#include "train/dist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef DM_MPI
#include <mpi.h>
#endif

int dm_dist_available(void)
{
#ifdef DM_MPI
	return 1;
#else
	return 0;
#endif
}

/* The launcher's world size from the environment, 0 when not launched. */
static long env_size(const char **which)
{
	static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
	for (int i = 0; vars[i]; i++) {
		const char *s = getenv(vars[i]);
		if (s && *s) {
			*which = vars[i];
			return strtol(s, NULL, 10);
		}
	}
	return 0;
}

int dm_dist_init(dm_dist *d, int *argc, char ***argv, dm_error *err)
{
	memset(d, 0, sizeof *d);
	d->size = 1, d->local_size = 1;
	const char *var = NULL;
	long n = env_size(&var);
	if (n <= 0)
		return 0;
#ifdef DM_MPI
	int provided, ok = 0;
	MPI_Initialized(&ok);
	if (!ok && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
		return dm_error_set(err, DM_ERR_IO, "MPI_Init failed");
	d->mpi = !ok;
	MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &d->size);
	const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
	long l = ls ? strtol(ls, NULL, 10) : 0;
	d->local_size = l > 0 ? (int)l : 1;
	return 0;
#else
	(void)argc, (void)argv;
	if (n > 1)
		return dm_error_set(err, DM_ERR_MISSING,
		                    "started as one of %ld ranks (%s=%ld) but this dm was built "
		                    "without MPI; install libopenmpi-dev and rebuild (make clean; make)",
		                    n, var, n);
	return 0;
#endif
}

void dm_dist_finalize(dm_dist *d)
{
#ifdef DM_MPI
	if (d->mpi)
		MPI_Finalize();
#endif
	free(d->scratch);
	d->scratch = NULL;
	d->mpi = 0;
}

#ifdef DM_MPI
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mpi_fail(dm_error *err, int rc, const char *what)
{
	char s[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS)
		snprintf(s, sizeof s, "error %d", rc);
	return dm_error_set(err, DM_ERR_IO, "%s failed: %s", what, s);
}
#endif

int dm_dist_allreduce_sum(dm_dist *d, float *buf, size_t n, dm_error *err)
{
	if (d->size <= 1)
		return 0;
#ifdef DM_MPI
	int N = d->size;
	if (n / (size_t)N > INT32_MAX / 2)
		return dm_error_set(err, DM_ERR_LIMIT, "all-reduce of %zu floats is too large", n);
	double t0 = now();
	/* chunk c is [off[c], off[c] + cnt[c]); the first n % N chunks are one
	 * longer */
	int *cnt = malloc(4 * (size_t)N * sizeof(int));
	if (!cnt)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	int *off = cnt + N, *rcnt = off + N, *roff = rcnt + N;
	size_t q = n / (size_t)N, r = n % (size_t)N, o = 0;
	for (int c = 0; c < N; c++) {
		cnt[c] = (int)(q + ((size_t)c < r));
		off[c] = (int)o;
		o += (size_t)cnt[c];
	}
	int mine = cnt[d->rank];
	for (int c = 0; c < N; c++)
		rcnt[c] = mine, roff[c] = c * mine;
	size_t need = (size_t)N * (size_t)(q + 1);
	if (d->scratch_n < need) {
		free(d->scratch);
		d->scratch = malloc(need * sizeof(float));
		d->scratch_n = d->scratch ? need : 0;
		if (!d->scratch) {
			free(cnt);
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory for the all-reduce");
		}
	}
	int rc = MPI_Alltoallv(buf, cnt, off, MPI_FLOAT, d->scratch, rcnt, roff, MPI_FLOAT,
	                       MPI_COMM_WORLD);
	if (rc != MPI_SUCCESS) {
		free(cnt);
		return mpi_fail(err, rc, "MPI_Alltoallv (all-reduce)");
	}
	/* the sum of chunk `rank` in rank order, in double, rounded once */
	float *dst = buf + off[d->rank];
	const float *s = d->scratch;
	for (int i = 0; i < mine; i++) {
		double acc = 0;
		for (int k = 0; k < N; k++)
			acc += (double)s[(size_t)k * (size_t)mine + (size_t)i];
		dst[i] = (float)acc;
	}
	rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, off, MPI_FLOAT,
	                    MPI_COMM_WORLD);
	free(cnt);
	if (rc != MPI_SUCCESS)
		return mpi_fail(err, rc, "MPI_Allgatherv (all-reduce)");
	d->seconds += now() - t0;
	d->calls++;
	return 0;
#else
	(void)buf, (void)n;
	return dm_error_set(err, DM_ERR_MISSING, "built without MPI");
#endif
}

int dm_dist_sum_doubles(dm_dist *d, double *v, int n, dm_error *err)
{
	if (d->size <= 1)
		return 0;
	if (n < 1 || n > 16)
		return dm_error_set(err, DM_ERR_ARG, "dm_dist_sum_doubles: n = %d not in 1..16", n);
#ifdef DM_MPI
	double *all = malloc((size_t)d->size * (size_t)n * sizeof(double));
	if (!all)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	int rc = MPI_Allgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
	if (rc != MPI_SUCCESS) {
		free(all);
		return mpi_fail(err, rc, "MPI_Allgather");
	}
	for (int i = 0; i < n; i++) {
		double acc = 0;
		for (int k = 0; k < d->size; k++)
			acc += all[(size_t)k * (size_t)n + (size_t)i];
		v[i] = acc;
	}
	free(all);
	return 0;
#else
	(void)v;
	return dm_error_set(err, DM_ERR_MISSING, "built without MPI");
#endif
}

int dm_dist_bcast(dm_dist *d, void *buf, size_t bytes, dm_error *err)
{
	if (d->size <= 1)
		return 0;
#ifdef DM_MPI
	/* in pieces: MPI counts are int */
	char *p = buf;
	while (bytes > 0) {
		int k = bytes > (1u << 30) ? 1 << 30 : (int)bytes;
		int rc = MPI_Bcast(p, k, MPI_BYTE, 0, MPI_COMM_WORLD);
		if (rc != MPI_SUCCESS)
			return mpi_fail(err, rc, "MPI_Bcast");
		p += k;
		bytes -= (size_t)k;
	}
	return 0;
#else
	(void)buf, (void)bytes;
	return dm_error_set(err, DM_ERR_MISSING, "built without MPI");
#endif
}

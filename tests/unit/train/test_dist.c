/* test_dist.c - lib/train/dist.h on one rank (the multi-rank sums are checked by
 * tests/tools/mpi.sh under mpirun). */
#include <stdlib.h>
#include <string.h>

#include "train/dist.h"
#include "harness.h"

/* Started without a launcher, every build is rank 0 of 1 and the
 * collectives leave the data alone. */
TEST(dist_single_rank)
{
	if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE"))
		SKIP("running under an MPI launcher");
	dm_dist d;
	dm_error err;
	CHECK(dm_dist_init(&d, NULL, NULL, &err) == 0);
	CHECK(d.rank == 0 && d.size == 1 && !d.mpi);
	float g[5] = {1, -2, 3.5f, 0, 1e-30f}, keep[5];
	memcpy(keep, g, sizeof g);
	CHECK(dm_dist_allreduce_sum(&d, g, 5, &err) == 0);
	CHECK(!memcmp(g, keep, sizeof g));
	double v[2] = {0.25, 3};
	CHECK(dm_dist_sum_doubles(&d, v, 2, &err) == 0);
	CHECK(v[0] == 0.25 && v[1] == 3);
	CHECK(dm_dist_bcast(&d, g, sizeof g, &err) == 0);
	CHECK(!memcmp(g, keep, sizeof g));
	dm_dist_finalize(&d);
}

/* A build without MPI refuses to be one of several ranks; a build with MPI
 * is not tested here (it would start MPI without a launcher). */
TEST(dist_without_mpi_refuses_ranks)
{
	if (dm_dist_available())
		SKIP("built with MPI");
	const char *old = getenv("OMPI_COMM_WORLD_SIZE");
	if (old)
		SKIP("running under an MPI launcher");
	setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
	dm_dist d;
	dm_error err;
	int rc = dm_dist_init(&d, NULL, NULL, &err);
	unsetenv("OMPI_COMM_WORLD_SIZE");
	CHECK(rc == DM_ERR_MISSING);
	CHECK(strstr(err.msg, "built without MPI") != NULL);
	dm_dist_finalize(&d);
}

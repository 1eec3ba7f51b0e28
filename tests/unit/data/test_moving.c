/* test_moving.c - toy:moving-fmnist (lib/data/source_moving.c): shape,
 * reproducibility, and motion as specified: an item keeps its brightness
 * (bilinear placement inside the canvas preserves the sum of its pixels),
 * its centroid moves at most the set speed a frame, and it does move. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "harness.h"

static int moving(dm_dataset *d, int64_t n, int T, int h, int w, int items, uint64_t seed,
                  dm_error *err)
{
	dm_data_opts o;
	dm_data_opts_default(&o);
	o.n = n, o.frames = T, o.h = h, o.w = w, o.items = items, o.seed = seed;
	dm_dataset_init(d);
	return dm_data_open(d, "toy:moving-fmnist", &o, err);
}

TEST(moving_fmnist_shape_and_seeds)
{
	dm_dataset a, b, c;
	dm_error err;
	int rc = moving(&a, 6, 5, 24, 40, 2, 3, &err);
	CHECK_MSG(rc == 0, "%s", err.msg); /* needs dataset-fashion-mnist */
	CHECK(a.rank == 4 && a.dims[0] == 1 && a.dims[1] == 5 && a.dims[2] == 24 &&
	      a.dims[3] == 40 && a.n == 6 && a.unit && a.dtype == DM_U8 && !a.label);
	/* clip i depends on (seed, i) only, not on n */
	CHECK(moving(&b, 3, 5, 24, 40, 2, 3, &err) == 0);
	CHECK(memcmp(a.data, b.data, 3 * 5 * 24 * 40) == 0);
	CHECK(moving(&c, 3, 5, 24, 40, 2, 4, &err) == 0);
	CHECK(memcmp(a.data, c.data, 3 * 5 * 24 * 40) != 0);
	dm_dataset_free(&a), dm_dataset_free(&b), dm_dataset_free(&c);
	/* one item per clip: labelled with the item's class */
	CHECK(moving(&a, 4, 2, 32, 32, 1, 0, &err) == 0);
	CHECK(a.label != NULL);
	for (int i = 0; i < 4; i++)
		CHECK(a.label[i] >= 0 && a.label[i] < 10);
	dm_dataset_free(&a);
	CHECK(moving(&a, 4, 0, 4, 4, 1, 0, &err) == DM_ERR_ARG); /* canvas too small */
	dm_dataset_free(&a);
}

TEST(moving_fmnist_motion)
{
	enum { N = 20, T = 12, S = 48 };
	dm_dataset d;
	dm_error err;
	int rc = moving(&d, N, T, S, S, 1, 11, &err);
	CHECK_MSG(rc == 0, "%s", err.msg); /* needs dataset-fashion-mnist */
	int k = (int)lround(28 * S / 64.0);
	double speed = (S - k) / 12.0;
	int moved = 0;
	for (int i = 0; i < N; i++) {
		const uint8_t *clip = (const uint8_t *)d.data + (size_t)i * T * S * S;
		double sum0 = 0, py = 0, px = 0;
		for (int f = 0; f < T; f++) {
			const uint8_t *fr = clip + (size_t)f * S * S;
			double sum = 0, cy = 0, cx = 0;
			for (int y = 0; y < S; y++)
				for (int x = 0; x < S; x++) {
					sum += fr[y * S + x];
					cy += (double)y * fr[y * S + x];
					cx += (double)x * fr[y * S + x];
				}
			CHECK(sum > 0);
			cy /= sum, cx /= sum;
			if (f == 0) {
				sum0 = sum;
			} else {
				/* rounding to bytes moves the sum by at most 0.5 a pixel
				 * of the item's (k+1)^2 footprint */
				CHECK_MSG(fabs(sum - sum0) <= 0.5 * 2 * (k + 1) * (k + 1),
				          "clip %d frame %d: brightness %g, frame 0 %g", i, f, sum, sum0);
				double step = hypot(cy - py, cx - px);
				CHECK_MSG(step <= speed + 0.25, "clip %d frame %d: centroid moved %g > %g", i,
				          f, step, speed);
				moved += step > 0.1 * speed;
			}
			py = cy, px = cx;
		}
	}
	/* a frame's step is short only near a reflection (or for a near-axis
	 * direction with a flat item): most steps move */
	CHECK_MSG(moved > N * (T - 1) * 3 / 4, "only %d of %d steps moved", moved, N * (T - 1));
	dm_dataset_free(&d);
}

/* data_toy.c - toy 2-D data sets, each point a pure function of (seed,
 * point index): point i takes 8 uniforms from dm_rng (seed, DM_RNG_TOY, i)
 * and makes its own normals from them (Box-Muller), so the sets do not
 * depend on n or on how the RNG draws normals.  All are about unit scale,
 * centred on the origin.  Shapes follow the usual ones of the diffusion
 * and flow literature (scikit-learn's make_moons / make_circles /
 * make_swiss_roll, FFJORD's 8 gaussians and checkerboard). */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "core/rng.h"

#define PI 3.14159265358979323846

/* One standard normal from two uniforms in [0, 1). */
static double normal(float u1, float u2)
{
	double a = 1.0 - (double)u1; /* (0, 1]: log is finite */
	return sqrt(-2.0 * log(a)) * cos(2.0 * PI * (double)u2);
}

typedef void (*toy_fn)(const float *u, float *xy, int32_t *label);

static void swissroll(const float *u, float *xy, int32_t *label)
{
	double t = 1.5 * PI * (1.0 + 2.0 * u[0]);
	xy[0] = (float)(t * cos(t) / 10.0 + 0.025 * normal(u[1], u[2]));
	xy[1] = (float)(t * sin(t) / 10.0 + 0.025 * normal(u[3], u[4]));
	(void)label;
}

static void moons(const float *u, float *xy, int32_t *label)
{
	double a = PI * u[0];
	int lower = u[1] < 0.5f;
	double x = lower ? 1.0 - cos(a) : cos(a);
	double y = lower ? 0.5 - sin(a) : sin(a);
	/* centre on the origin (the pair spans [-1, 2] x [-0.5, 1]) */
	xy[0] = (float)((x - 0.5) / 1.5 + 0.05 * normal(u[2], u[3]));
	xy[1] = (float)((y - 0.25) / 1.5 + 0.05 * normal(u[4], u[5]));
	*label = lower;
}

static void gaussians8(const float *u, float *xy, int32_t *label)
{
	int k = (int)(u[0] * 8.0f);
	k = k > 7 ? 7 : k;
	double a = 2.0 * PI * k / 8.0;
	xy[0] = (float)(cos(a) + 0.1 * normal(u[1], u[2]));
	xy[1] = (float)(sin(a) + 0.1 * normal(u[3], u[4]));
	*label = k;
}

static void checkerboard(const float *u, float *xy, int32_t *label)
{
	/* a 4x4 board on [-1, 1]^2; points on the 8 cells where (i + j) is even */
	int cell = (int)(u[0] * 8.0f);
	cell = cell > 7 ? 7 : cell;
	int row = cell / 2, col = 2 * (cell % 2) + (row % 2);
	xy[0] = (float)(-1.0 + 0.5 * ((double)col + u[1]));
	xy[1] = (float)(-1.0 + 0.5 * ((double)row + u[2]));
	(void)label;
}

static void circles(const float *u, float *xy, int32_t *label)
{
	int inner = u[0] < 0.5f;
	double a = 2.0 * PI * u[1], r = inner ? 0.5 : 1.0;
	xy[0] = (float)(r * cos(a) + 0.03 * normal(u[2], u[3]));
	xy[1] = (float)(r * sin(a) + 0.03 * normal(u[4], u[5]));
	*label = inner;
}

static const struct {
	const char *name;
	toy_fn fn;
	int labels;
} TOYS[] = {
	{"swissroll", swissroll, 0}, {"moons", moons, 1},   {"8gaussians", gaussians8, 1},
	{"checkerboard", checkerboard, 0}, {"circles", circles, 1},
};

int dm_data_toy(dm_dataset *d, const char *name, int64_t n, uint64_t seed, dm_error *err)
{
	int which = -1;
	for (int i = 0; i < (int)(sizeof TOYS / sizeof *TOYS); i++)
		if (strcmp(name, TOYS[i].name) == 0)
			which = i;
	if (which < 0)
		return dm_error_set(err, DM_ERR_ARG,
		                    "toy:%s: unknown toy data set (swissroll, moons, 8gaussians, "
		                    "checkerboard, circles; clips: moving-fmnist; volumes: phantom)",
		                    name);
	if (n < 1 || n > ((int64_t)1 << 32))
		return dm_error_set(err, DM_ERR_ARG, "toy:%s: --n must be 1..2^32", name);
	size_t len = strlen(name) + 5;
	d->source = malloc(len);
	d->data = malloc(sizeof(float) * 2 * (size_t)n);
	if (TOYS[which].labels)
		d->label = malloc(sizeof(int32_t) * (size_t)n);
	if (!d->source || !d->data || (TOYS[which].labels && !d->label))
		return dm_error_set(err, DM_ERR_NOMEM, "toy:%s: out of memory", name);
	snprintf(d->source, len, "toy:%s", name);
	d->rank = 1;
	d->dims[0] = 2;
	d->dtype = DM_F32;
	d->n = d->cap = n;
	float *xy = d->data;
	for (int64_t i = 0; i < n; i++) {
		float u[8];
		int32_t label = 0;
		dm_rng_uniform(seed, DM_RNG_TOY, (uint64_t)i, 0, u, 8);
		TOYS[which].fn(u, xy + 2 * i, &label);
		if (d->label)
			d->label[i] = label;
	}
	return 0;
}

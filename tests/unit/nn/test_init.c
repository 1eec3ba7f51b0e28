/* Tests of lib/nn/init.c: PyTorch-default bounds, determinism, GroupNorm. */
#include <stdlib.h>
#include <string.h>

#include "nn/init.h"
#include "harness.h"

/* n values within +-bound, mean ~ 0, variance ~ bound^2/3 (uniform). */
static int looks_uniform(const float *w, size_t n, double bound)
{
	double s = 0, ss = 0;
	for (size_t i = 0; i < n; i++) {
		if (!(fabs(w[i]) <= bound))
			return 0;
		s += w[i];
		ss += (double)w[i] * w[i];
	}
	double mean = s / (double)n, var = ss / (double)n - mean * mean, want = bound * bound / 3;
	/* sd of the mean: bound/sqrt(3n); of the variance: ~0.9 want/sqrt(n) */
	return fabs(mean) < 5 * bound / sqrt(3.0 * (double)n) &&
	       fabs(var - want) < 5 * 0.9 * want / sqrt((double)n);
}

TEST(init_conv_linear_bounds)
{
	int oc = 32, ic = 16;
	size_t nw = (size_t)oc * ic * 9;
	/* room for the linear 128 -> 64 below too */
	float *w = malloc(8192 * sizeof(float)), *b = malloc(64 * sizeof(float));
	float *w2 = malloc(8192 * sizeof(float)), *b2 = malloc(64 * sizeof(float));
	dm_init_conv2d(w, b, oc, ic, 3, 3, 1, 10);
	double bound = 1.0 / sqrt(16.0 * 9.0);
	CHECK(looks_uniform(w, nw, bound));
	for (int i = 0; i < oc; i++)
		CHECK(fabs(b[i]) <= bound);
	/* same (seed, index): same values; another index or seed: others */
	dm_init_conv2d(w2, b2, oc, ic, 3, 3, 1, 10);
	CHECK(!memcmp(w, w2, nw * sizeof(float)) && !memcmp(b, b2, oc * sizeof(float)));
	dm_init_conv2d(w2, b2, oc, ic, 3, 3, 1, 11);
	CHECK(memcmp(w, w2, nw * sizeof(float)) != 0);
	dm_init_conv2d(w2, b2, oc, ic, 3, 3, 2, 10);
	CHECK(memcmp(w, w2, nw * sizeof(float)) != 0);
	/* the bias continues the weight's stream rather than repeating it */
	CHECK(memcmp(w, b, oc * sizeof(float)) != 0);

	/* linear 128 -> 64 */
	dm_init_linear(w, b, 64, 128, 3, 0);
	CHECK(looks_uniform(w, 64 * 128, 1.0 / sqrt(128.0)));
	for (int i = 0; i < 64; i++)
		CHECK(fabs(b[i]) <= 1.0 / sqrt(128.0));
	dm_init_linear(w2, NULL, 64, 128, 3, 0); /* no bias: same weights */
	CHECK(!memcmp(w, w2, 64 * 128 * sizeof(float)));
	free(w), free(b), free(w2), free(b2);
}

TEST(init_groupnorm)
{
	float w[5], b[5];
	memset(w, 0xff, sizeof w);
	memset(b, 0xff, sizeof b);
	dm_init_groupnorm(w, b, 5);
	for (int i = 0; i < 5; i++)
		CHECK(w[i] == 1.0f && b[i] == 0.0f);
}

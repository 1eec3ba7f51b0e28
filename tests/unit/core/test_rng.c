#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"

/* Known-answer vectors of Random123 (kat_vectors, philox4x32_10). */
TEST(rng_philox_kat)
{
	static const uint32_t ctr[3][4] = {
		{0, 0, 0, 0},
		{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
		{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
	static const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
	static const uint32_t want[3][4] = {
		{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
		{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
		{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
	for (int i = 0; i < 3; i++) {
		uint32_t out[4];
		dm_philox4x32_10(ctr[i], key[i], out);
		for (int j = 0; j < 4; j++)
			CHECK_MSG(out[j] == want[i][j], "vector %d word %d: %08x, want %08x", i, j,
			          out[j], want[i][j]);
	}
}

/* Element k is the same whatever range it is asked for in. */
TEST(rng_ranges_agree)
{
	enum { N = 300 };
	uint32_t all[N];
	float nall[N], uall[N];
	dm_rng_u32(42, 1, 7, 0, all, N);
	dm_rng_normal(42, 1, 7, 0, nall, N);
	dm_rng_uniform(42, 1, 7, 0, uall, N);
	for (int first = 0; first < 13; first++) {
		for (int n = 0; first + n <= N; n += 37) {
			uint32_t w[N];
			float z[N], u[N];
			dm_rng_u32(42, 1, 7, (uint64_t)first, w, (size_t)n);
			dm_rng_normal(42, 1, 7, (uint64_t)first, z, (size_t)n);
			dm_rng_uniform(42, 1, 7, (uint64_t)first, u, (size_t)n);
			CHECK(!memcmp(w, all + first, (size_t)n * sizeof *w));
			CHECK(!memcmp(z, nall + first, (size_t)n * sizeof *z));
			CHECK(!memcmp(u, uall + first, (size_t)n * sizeof *u));
		}
	}
	/* a range longer than the internal chunks */
	float *a = malloc(5000 * sizeof *a), *b = malloc(5000 * sizeof *b);
	dm_rng_normal(3, 3, 1, 0, a, 5000);
	dm_rng_normal(3, 3, 1, 1001, b, 3999);
	CHECK(!memcmp(a + 1001, b, 3999 * sizeof *a));
	free(a);
	free(b);
}

TEST(rng_keys_differ)
{
	uint32_t a[8], b[8];
	dm_rng_u32(1, 1, 0, 0, a, 8);
	dm_rng_u32(2, 1, 0, 0, b, 8);
	CHECK(memcmp(a, b, sizeof a));
	dm_rng_u32(1, 2, 0, 0, b, 8);
	CHECK(memcmp(a, b, sizeof a));
	dm_rng_u32(1, 1, 1, 0, b, 8);
	CHECK(memcmp(a, b, sizeof a));
	dm_rng_u32(1, 1, (uint64_t)1 << 32, 0, b, 8);
	CHECK(memcmp(a, b, sizeof a));
	dm_rng_u32(1, 1, 0, (uint64_t)1 << 34, b, 8);
	CHECK(memcmp(a, b, sizeof a));
}

/* The branch-free Box-Muller matches libm's log/cos/sin on the same words. */
TEST(rng_normal_matches_libm)
{
	enum { N = 4096 };
	uint32_t w[N];
	float z[N];
	dm_rng_u32(9, 3, 5, 0, w, N);
	dm_rng_normal(9, 3, 5, 0, z, N);
	for (int p = 0; p < N / 2; p++) {
		double u1 = ((double)w[2 * p] + 0.5) / 4294967296.0, u2 = w[2 * p + 1] / 4294967296.0;
		double r = sqrt(-2 * log(u1));
		CHECK_NEAR(z[2 * p], r * cos(2 * M_PI * u2), 2e-6);
		CHECK_NEAR(z[2 * p + 1], r * sin(2 * M_PI * u2), 2e-6);
	}
}

static int cmpf(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov distance of sorted x against cdf. */
static double ks(float *x, int n, double (*cdf)(double))
{
	qsort(x, (size_t)n, sizeof *x, cmpf);
	double d = 0;
	for (int i = 0; i < n; i++) {
		double F = cdf(x[i]);
		d = fmax(d, fmax(fabs(F - (double)i / n), fabs((double)(i + 1) / n - F)));
	}
	return d;
}

static double phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double unif(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

TEST(rng_normal_moments_ks)
{
	enum { N = 200000 };
	float *z = malloc(N * sizeof *z);
	dm_rng_normal(1234, 1, 99, 0, z, N);
	double m1 = 0, m2 = 0, m3 = 0, m4 = 0;
	for (int i = 0; i < N; i++) {
		double v = z[i];
		m1 += v;
		m2 += v * v;
		m3 += v * v * v;
		m4 += v * v * v * v;
	}
	m1 /= N, m2 /= N, m3 /= N, m4 /= N;
	/* 5 standard errors: sd of mean 1/sqrt(N), of m2 sqrt(2/N), m3 sqrt(15/N),
	 * m4 sqrt(96/N) */
	CHECK_NEAR(m1, 0.0, 5 * sqrt(1.0 / N));
	CHECK_NEAR(m2, 1.0, 5 * sqrt(2.0 / N));
	CHECK_NEAR(m3, 0.0, 5 * sqrt(15.0 / N));
	CHECK_NEAR(m4, 3.0, 5 * sqrt(96.0 / N));
	double d = ks(z, N, phi);
	/* critical value at alpha = 0.001: 1.95 / sqrt(N) */
	CHECK_MSG(d < 1.95 / sqrt(N), "KS distance %g >= %g", d, 1.95 / sqrt(N));
	free(z);
}

TEST(rng_uniform_ks)
{
	enum { N = 100000 };
	float *u = malloc(N * sizeof *u);
	dm_rng_uniform(77, 2, 3, 0, u, N);
	for (int i = 0; i < N; i++)
		CHECK(u[i] >= 0.0f && u[i] < 1.0f);
	double d = ks(u, N, unif);
	CHECK_MSG(d < 1.95 / sqrt(N), "KS distance %g", d);
	free(u);
}

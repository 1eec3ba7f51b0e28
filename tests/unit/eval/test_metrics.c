/* test_metrics.c - sliced Wasserstein and PSNR against closed forms. */
#include "harness.h"

#include "eval/metrics.h"
#include "core/rng.h"

TEST(metrics_w2_1d_unequal_counts)
{
	/* Quantile functions {0,1} and {0,.5,1} differ by .5 on [1/3, 2/3):
	 * W2^2 = 1/3 * .25 = 1/12. */
	float a[] = {1, 0}, b[] = {0.5f, 1, 0};
	CHECK_NEAR(dm_w2_1d(a, 2, b, 3), sqrt(1.0 / 12), 1e-9);
	float c[] = {3, 1, 2}, e[] = {2, 3, 1};
	CHECK_NEAR(dm_w2_1d(c, 3, e, 3), 0, 1e-12);
}

TEST(metrics_sliced_w2_shift)
{
	/* A copy shifted by v: every direction gives |u.v|, so in 1-D the
	 * distance is |v| and in 2-D it lies between 0 and |v| with RMS close
	 * to |v|/sqrt(2) over many directions. */
	enum { N = 500 };
	float a[N * 2], b[N * 2];
	dm_rng_normal(1, DM_RNG_TOY, 0, 0, a, N * 2);
	for (int i = 0; i < N; i++) {
		b[2 * i] = a[2 * i] + 3;
		b[2 * i + 1] = a[2 * i + 1] + 4;
	}
	dm_error err;
	double w;
	CHECK(dm_sliced_w2(a, N, a, N, 2, 50, 0, &w, &err) == 0);
	CHECK_NEAR(w, 0, 1e-12);
	CHECK(dm_sliced_w2(a, N * 2, a, N * 2, 1, 3, 0, &w, &err) == 0);
	CHECK_NEAR(w, 0, 1e-12);
	float c[N * 2];
	for (int i = 0; i < N * 2; i++)
		c[i] = a[i] - 2.5f;
	CHECK(dm_sliced_w2(a, N * 2, c, N * 2, 1, 3, 0, &w, &err) == 0);
	CHECK_NEAR(w, 2.5, 1e-5);
	CHECK(dm_sliced_w2(a, N, b, N, 2, 2000, 7, &w, &err) == 0);
	CHECK_NEAR(w, 5 / sqrt(2.0), 0.15);
	/* The same seed gives the same directions. */
	double w2;
	CHECK(dm_sliced_w2(a, N, b, N, 2, 2000, 7, &w2, &err) == 0);
	CHECK(w == w2);
}

TEST(metrics_sliced_w2_bad_input)
{
	float a[2] = {0, NAN};
	dm_error err;
	double w;
	CHECK(dm_sliced_w2(a, 0, a, 1, 1, 1, 0, &w, &err) == DM_ERR_ARG);
	CHECK(dm_sliced_w2(a, 2, a, 1, 1, 1, 0, &w, &err) == DM_ERR_ARG);
	CHECK(dm_sliced_w2(a, 1, a, 1, 1, 0, 0, &w, &err) == DM_ERR_ARG);
}

TEST(metrics_psnr_closed_form)
{
	/* Row 0 off by 0.1 everywhere: mse 0.01, PSNR 10 log10(4 / 0.01) =
	 * 26.0206 dB at peak 2.  Row 1 off by 0.5 in one value of 4: mse
	 * 0.0625, 10 log10(4 / 0.0625) = 18.0618 dB.  Row 2 equal: 100 dB. */
	float a[12] = {0, 0.5f, -1, 1, 0, 0, 0, 0, 0.25f, 0.25f, 0.25f, 0.25f};
	float b[12] = {0.1f, 0.6f, -0.9f, 1.1f, 0.5f, 0, 0, 0, 0.25f, 0.25f, 0.25f, 0.25f};
	double m, lo;
	dm_error err;
	CHECK(dm_psnr(a, b, 1, 4, 2, &m, &lo, &err) == 0);
	CHECK_NEAR(m, 10 * log10(4 / 0.01), 1e-4);
	CHECK(dm_psnr(a, b, 3, 4, 2, &m, &lo, &err) == 0);
	CHECK_NEAR(lo, 10 * log10(4 / 0.0625), 1e-6);
	CHECK_NEAR(m, (10 * log10(4 / 0.01) + 10 * log10(4 / 0.0625) + 100) / 3, 1e-4);
	CHECK(dm_psnr(a, b, 2, 4, 1, &m, NULL, &err) == 0);
	CHECK_NEAR(m, (10 * log10(1 / 0.01) + 10 * log10(1 / 0.0625)) / 2, 1e-4);
	CHECK(dm_psnr(a, b, 0, 4, 2, &m, NULL, &err) == DM_ERR_ARG);
	CHECK(dm_psnr(a, b, 1, 4, 0, &m, NULL, &err) == DM_ERR_ARG);
	b[1] = NAN;
	CHECK(dm_psnr(a, b, 1, 4, 2, &m, NULL, &err) == DM_ERR_ARG);
}

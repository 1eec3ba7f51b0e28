#include <math.h>
#include <string.h>

#include "diffusion/ode.h"
#include "harness.h"

/* dy/du = lambda_b y + cos(u): closed form y(u) = C e^{lambda u} +
 * (lambda cos u - sin u)... written below for each row's own lambda. */
static const double LAMBDA[3] = {-1.0, 0.5, -3.0};
static int calls;

static int linear(void *ctx, const float *y, const double *u, const int *rows, int A, float *k,
                  dm_error *err)
{
	(void)ctx, (void)err;
	calls++;
	for (int q = 0; q < A; q++)
		for (int j = 0; j < 2; j++)
			k[q * 2 + j] = (float)(LAMBDA[rows[q] % 3] * (j + 1) * y[q * 2 + j] + cos(u[q]));
	return 0;
}

/* The exact solution of y' = l y + cos u from y(u0) = y0 to u1. */
static double exact(double l, double y0, double u0, double u1)
{
	/* particular solution p(u) = (sin u - l cos u) / (1 + l^2) */
	double p0 = (sin(u0) - l * cos(u0)) / (1 + l * l), p1 = (sin(u1) - l * cos(u1)) / (1 + l * l);
	return (y0 - p0) * exp(l * (u1 - u0)) + p1;
}

TEST(ode_rk45_matches_the_closed_form_both_ways)
{
	dm_error err;
	for (int dir = 0; dir < 2; dir++) {
		double u0 = dir ? 2.0 : -1.0, u1 = dir ? -1.0 : 2.0;
		float y[6] = {1, -0.5f, 0.25f, 2, -1, 0.75f}, y0[6];
		memcpy(y0, y, sizeof y);
		calls = 0;
		CHECK(dm_ode_rk45(linear, NULL, y, 3, 2, u0, u1, 1e-6, 1e-6, &err) == 0);
		CHECK(calls > 6); /* it took adaptive steps */
		for (int b = 0; b < 3; b++)
			for (int j = 0; j < 2; j++) {
				double want = exact(LAMBDA[b] * (j + 1), y0[b * 2 + j], u0, u1);
				CHECK_NEAR(y[b * 2 + j], want, 2e-4 * (1 + fabs(want)));
			}
	}
}

/* A system's path does not depend on its batch: row 1 alone gives the same
 * bits as row 1 among three. */
TEST(ode_rk45_rows_are_independent)
{
	dm_error err;
	float all[6] = {1, -0.5f, 0.25f, 2, -1, 0.75f}, one[6] = {0, 0, 0.25f, 2, 0, 0};
	CHECK(dm_ode_rk45(linear, NULL, all, 3, 2, 0.0, 1.5, 1e-5, 1e-5, &err) == 0);
	CHECK(dm_ode_rk45(linear, NULL, one, 3, 2, 0.0, 1.5, 1e-5, 1e-5, &err) == 0);
	CHECK(memcmp(all + 2, one + 2, 2 * sizeof(float)) == 0);
}

/* An impossible tolerance is an error, not a silent stop. */
TEST(ode_rk45_reports_a_tolerance_it_cannot_meet)
{
	dm_error err;
	float y[2] = {1, 1};
	CHECK(dm_ode_rk45(linear, NULL, y, 1, 2, 0.0, 1.0, 0, 0, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "rk45") != NULL);
}

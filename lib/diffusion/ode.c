/* ode.c - adaptive Dormand-Prince 5(4) (see ode.h). */
#include "diffusion/ode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Dormand & Prince (1980) 5(4) tableau. */
static const double DP_C[7] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
static const double DP_A[7][6] = {
	{0},
	{1.0 / 5},
	{3.0 / 40, 9.0 / 40},
	{44.0 / 45, -56.0 / 15, 32.0 / 9},
	{19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
	{9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
	{35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
};
/* 5th-order weights minus 4th-order weights: the error estimate. */
static const double DP_E[7] = {71.0 / 57600,      0, -71.0 / 16695, 71.0 / 1920,
                               -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

int dm_ode_rk45(dm_ode_fn f, void *ctx, float *y, int B, int64_t D, double u0, double u1,
                double rtol, double atol, dm_error *err)
{
	int rc = 0, done = 0;
	size_t n = (size_t)B * D;
	double dir = u1 < u0 ? -1 : 1;
	float *ks = malloc(7 * n * sizeof(float)), *yn = malloc(n * sizeof(float)),
	      *ya = malloc(n * sizeof(float));
	double *u = malloc((size_t)B * sizeof(double)), *h = malloc((size_t)B * sizeof(double)),
	       *us = malloc((size_t)B * sizeof(double));
	int *rows = malloc((size_t)B * sizeof(int));
	float *k1 = malloc(n * sizeof(float)); /* slope at each system's current point */
	if (!ks || !yn || !ya || !u || !h || !us || !rows || !k1) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory for rk45 over %d x %lld values", B,
		                  (long long)D);
		goto out;
	}
	for (int b = 0; b < B; b++) {
		u[b] = u0, h[b] = (u1 - u0) / 20;
		rows[b] = b, us[b] = u0;
	}
	/* The first slope; afterwards k1 is the last stage of an accepted step
	 * (first same as last) or unchanged after a rejected one. */
	if ((rc = f(ctx, y, us, rows, B, k1, err)) < 0)
		goto out;
	/* Every round: the active systems (compacted into ya) attempt one step
	 * each: 6 evaluations. */
	for (int iter = 0; iter < 100000; iter++) {
		int A = 0;
		for (int b = 0; b < B; b++)
			if (dir * (u1 - u[b]) > 0)
				rows[A++] = b;
		if (A == 0) {
			done = 1;
			break;
		}
		for (int q = 0; q < A; q++) {
			memcpy(ya + (size_t)q * D, y + (size_t)rows[q] * D, (size_t)D * sizeof(float));
			memcpy(ks + (size_t)q * D, k1 + (size_t)rows[q] * D, (size_t)D * sizeof(float));
		}
		for (int st = 1; st < 7; st++) {
			for (int q = 0; q < A; q++) {
				int b = rows[q];
				double hb = h[b];
				us[q] = u[b] + DP_C[st] * hb;
				for (int64_t j = 0; j < D; j++) {
					double acc = ya[(size_t)q * D + j];
					for (int p = 0; p < st; p++)
						acc += hb * DP_A[st][p] * ks[(size_t)p * n + (size_t)q * D + j];
					yn[(size_t)q * D + j] = (float)acc;
				}
			}
			if ((rc = f(ctx, yn, us, rows, A, ks + (size_t)st * n, err)) < 0)
				goto out;
		}
		/* yn now holds the 5th-order solution (stage 7 is at y_new). */
		for (int q = 0; q < A; q++) {
			int b = rows[q];
			double hb = h[b], e2 = 0;
			for (int64_t j = 0; j < D; j++) {
				double e = 0;
				for (int p = 0; p < 7; p++)
					e += DP_E[p] * ks[(size_t)p * n + (size_t)q * D + j];
				e *= hb;
				double sc = atol + rtol * fmax(fabs(ya[(size_t)q * D + j]),
				                               fabs(yn[(size_t)q * D + j]));
				e2 += (e / sc) * (e / sc);
			}
			double en = sqrt(e2 / (double)D);
			double fac = en > 0 ? 0.9 * pow(en, -0.2) : 10;
			fac = fac < 0.2 ? 0.2 : fac > 10 ? 10 : fac;
			if (en <= 1) {
				memcpy(y + (size_t)b * D, yn + (size_t)q * D, (size_t)D * sizeof(float));
				memcpy(k1 + (size_t)b * D, ks + 6 * n + (size_t)q * D,
				       (size_t)D * sizeof(float));
				u[b] += hb;
				double left = u1 - u[b];
				h[b] = hb * fac;
				if (dir * h[b] > dir * left) /* do not overshoot u1 */
					h[b] = left;
				if (dir * (u1 - u[b]) < 1e-12)
					u[b] = u1;
			} else {
				h[b] = hb * fac;
			}
		}
	}
	if (!done)
		rc = dm_error_set(err, DM_ERR_ARG, "rk45: not at the end after 100000 rounds of steps "
		                  "(rtol %g, atol %g too small?)", rtol, atol);
out:
	free(ks), free(yn), free(ya), free(u), free(h), free(us), free(rows), free(k1);
	return rc;
}

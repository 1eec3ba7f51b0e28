/* gradcheck.h - finite-difference check of a dm_net's parameter gradients
 * (shared by test_mlp.c and test_unet.c).
 *
 * Loss L = sum_i r_i out_i for a fixed random r, so dL/dout = r.  Each
 * checked parameter is moved by +-h (central difference, forward in
 * float32, the loss summed in double) and compared with the analytic
 * gradient: |fd - g| <= atol + rtol |g|. */
#ifndef DM_TEST_GRADCHECK_H
#define DM_TEST_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/rng.h"
#include "models/net.h"

/* The initialised parameters of net, jittered so that norm affine
 * parameters and biases are not trivial (malloc'd). */
static float *test_params(const dm_net *net)
{
	size_t P = net->layout.total;
	float *p = malloc(P * sizeof(float)), *jit = malloc(P * sizeof(float));
	dm_net_init_params(net, p, 3);
	dm_rng_normal(11, 99, 0, 0, jit, P);
	for (size_t i = 0; i < P; i++)
		p[i] += 0.05f * jit[i];
	free(jit);
	return p;
}

static double gc_loss(dm_net *net, float *p, const float *x, const float *t, const int32_t *lab,
                      int B, const float *r, float *out, size_t n)
{
	dm_error err;
	dm_net_forward(net, p, x, t, lab, B, out, 1, 5, 0, &err);
	double L = 0;
	for (size_t i = 0; i < n; i++)
		L += (double)r[i] * out[i];
	return L;
}

/* Returns the number of mismatches (0 = pass); checks about per_tensor
 * evenly spaced values of every parameter tensor.  *worst gets the largest |fd - g| / (atol + rtol |g|). */
static int gradcheck(dm_net *net, const float *x, const float *t, const int32_t *lab, int B,
                     size_t per_tensor, double h, double atol, double rtol, double *worst,
                     char *where, size_t wn)
{
	/* the many tiny forwards are faster on one thread (and the results do
	 * not depend on it) */
	int threads = omp_get_max_threads();
	omp_set_num_threads(1);
	size_t P = net->layout.total, n = (size_t)B * dm_net_output_size(&net->cfg);
	float *p = test_params(net), *g = calloc(P, sizeof(float));
	float *out = malloc(n * sizeof(float)), *r = malloc(n * sizeof(float));
	dm_rng_normal(12, 99, 0, 0, r, n);
	dm_error err;
	dm_net_forward(net, p, x, t, lab, B, out, 1, 5, 0, &err);
	dm_net_backward(net, p, g, r);
	int bad = 0;
	*worst = 0;
	where[0] = 0;
	for (int k = 0; k < net->layout.n; k++) {
		const dm_param *q = &net->layout.p[k];
		size_t stride = q->n / per_tensor ? q->n / per_tensor : 1;
		for (size_t j = (q->n - 1) % stride; j < q->n; j += stride) {
			size_t i = q->off + j;
			float save = p[i];
			p[i] = (float)(save + h);
			double lp = gc_loss(net, p, x, t, lab, B, r, out, n);
			p[i] = (float)(save - h);
			double lm = gc_loss(net, p, x, t, lab, B, r, out, n);
			p[i] = save;
			double fd = (lp - lm) / (2 * h);
			double e = fabs(fd - g[i]) / (atol + rtol * fabs(g[i]));
			if (e > *worst) {
				*worst = e;
				snprintf(where, wn, "%s[%zu]: fd %.6g analytic %.6g", q->name, j, fd,
				         (double)g[i]);
			}
			if (e > 1)
				bad++;
		}
	}
	free(p), free(g), free(out), free(r);
	omp_set_num_threads(threads);
	return bad;
}

/* The input gradient of dm_net_vjp against central differences of
 * L = r . f(x) (no dropout) at every stride-th input value, and its
 * independence of the thread count (1 vs 2 threads bit for bit).  Returns
 * the number of mismatches; *worst and where as gradcheck. */
static int inputcheck(dm_net *net, const float *x0, const float *t, const int32_t *lab, int B,
                      size_t stride, double h, double atol, double rtol, double *worst,
                      char *where, size_t wn)
{
	int threads = omp_get_max_threads();
	size_t n = (size_t)B * dm_net_output_size(&net->cfg);
	size_t d = (size_t)B * dm_net_sample_size(&net->cfg);
	float *p = test_params(net), *x = malloc(d * sizeof(float));
	float *out = malloc(n * sizeof(float)), *r = malloc(n * sizeof(float));
	float *dx = malloc(d * sizeof(float)), *dx2 = malloc(d * sizeof(float));
	memcpy(x, x0, d * sizeof(float));
	dm_rng_normal(13, 99, 0, 0, r, n);
	dm_error err;
	int bad = 0;
	omp_set_num_threads(2);
	if (dm_net_vjp(net, p, x, t, lab, B, r, out, dx2, &err) < 0)
		bad++;
	omp_set_num_threads(1);
	if (dm_net_vjp(net, p, x, t, lab, B, r, out, dx, &err) < 0)
		bad++;
	if (memcmp(dx, dx2, d * sizeof(float))) {
		snprintf(where, wn, "dx differs between 1 and 2 threads");
		bad++;
	}
	*worst = 0;
	for (size_t i = 0; i < d; i += stride) {
		float save = x[i];
		double L[2];
		for (int s = 0; s < 2; s++) {
			x[i] = (float)(save + (s ? -h : h));
			dm_net_forward(net, p, x, t, lab, B, out, 0, 0, 0, &err);
			L[s] = 0;
			for (size_t j = 0; j < n; j++)
				L[s] += (double)r[j] * out[j];
		}
		x[i] = save;
		double fd = (L[0] - L[1]) / (2 * h);
		double e = fabs(fd - dx[i]) / (atol + rtol * fabs(dx[i]));
		if (e > *worst) {
			*worst = e;
			snprintf(where, wn, "x[%zu]: fd %.6g analytic %.6g", i, fd, (double)dx[i]);
		}
		if (e > 1)
			bad++;
	}
	free(p), free(x), free(out), free(r), free(dx), free(dx2);
	omp_set_num_threads(threads);
	return bad;
}

#endif

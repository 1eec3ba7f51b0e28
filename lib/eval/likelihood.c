/* likelihood.c - the variational bound and the ODE likelihood (see
 * likelihood.h). */
#include "eval/likelihood.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/ode.h"

/* ---- the variational bound --------------------------------------------- */

/* KL(N(mq, vq) || N(mp, vp)) of one value. */
static double kl_normal(double mq, double vq, double mp, double vp)
{
	return 0.5 * (log(vp / vq) + vq / vp + (mq - mp) * (mq - mp) / vp - 1);
}

/* Phi(b) - Phi(a), a < b, accurate in both tails. */
static double normal_mass(double a, double b)
{
	if (a > 0)
		return 0.5 * (erfc(a / M_SQRT2) - erfc(b / M_SQRT2));
	return 0.5 * (erfc(-b / M_SQRT2) - erfc(-a / M_SQRT2));
}

/* -ln of the mass N(mu, var) puts on x's 8-bit bin, the end bins open. */
static double decoder_nll(double x, double mu, double var)
{
	double sd = sqrt(var), h = DM_BIN_8BIT / 2;
	double lo = x - h <= -1 ? -INFINITY : (x - h - mu) / sd;
	double hi = x + h >= 1 ? INFINITY : (x + h - mu) / sd;
	double p = normal_mass(lo, hi);
	return -log(p > 1e-300 ? p : 1e-300);
}

int dm_vlb_bpd(const dm_schedule *s, const dm_sampler_model *m, const float *x0,
               const int32_t *label, int B, int64_t D, int large, uint64_t seed,
               uint64_t index0, double *bpd, double *terms, dm_error *err)
{
	if (!dm_schedule_is_discrete(s))
		return dm_error_set(err, DM_ERR_ARG, "the variational bound needs a discrete schedule "
		                    "(the ODE likelihood takes any)");
	int T = (int)dm_schedule_t_max(s) + 1, rc = 0;
	if (T < 2)
		return dm_error_set(err, DM_ERR_ARG, "the variational bound needs T >= 2");
	/* the decoder scores 256 bins: anything else is not data it can score */
	for (int64_t q = 0; q < (int64_t)B * D; q++) {
		double k = (x0[q] + 1) / DM_BIN_8BIT;
		if (!(k >= -1e-3 && k <= 255 + 1e-3) || fabs(k - floor(k + 0.5)) > 1e-2)
			return dm_error_set(err, DM_ERR_ARG, "value %g of sample %lld is not one of the 256 "
			                    "8-bit levels k 2/255 - 1 in [-1, 1] that the bound's decoder "
			                    "scores (--ode takes any data)", (double)x0[q],
			                    (long long)(index0 + (uint64_t)(q / D)));
	}
	size_t n = (size_t)B * D;
	float *xt = malloc(n * sizeof(float)), *pred = malloc(n * sizeof(float));
	float *x0h = malloc(n * sizeof(float)), *tv = malloc((size_t)B * sizeof(float));
	double *acc = calloc(3 * (size_t)B, sizeof(double));
	if (!xt || !pred || !x0h || !tv || !acc) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory for the bound of %d samples", B);
		goto out;
	}
	/* L_T */
	double aT = dm_schedule_alpha(s, T - 1), vT = pow(dm_schedule_sigma(s, T - 1), 2);
	for (int b = 0; b < B; b++)
		for (int64_t j = 0; j < D; j++)
			acc[3 * b] += kl_normal(aT * x0[(size_t)b * D + j], vT, 0, 1);
	/* sum of L_t, dm's steps k = T-1 .. 1 (Ho's t = k + 1), then L_0 at k = 0 */
	for (int k = T - 1; k >= 0; k--) {
		double at = dm_schedule_alpha(s, k), st = dm_schedule_sigma(s, k);
		for (int b = 0; b < B; b++) {
			float *xb = xt + (size_t)b * D;
			dm_rng_normal(seed, DM_RNG_NOISE, index0 + (uint64_t)b, (uint64_t)k * (uint64_t)D, xb,
			              (size_t)D);
			for (int64_t j = 0; j < D; j++)
				xb[j] = (float)(at * x0[(size_t)b * D + j] + st * xb[j]);
			tv[b] = (float)k;
		}
		if ((rc = m->predict(m->ctx, xt, tv, label, B, pred, err)) < 0)
			goto out;
		dm_predict_to_eps_x0(m->param, at, st, xt, pred, NULL, x0h, (int64_t)n);
		/* the posterior at step k (k >= 1), or at step 1 for the decoder */
		int kk = k > 0 ? k : 1;
		double a1 = dm_schedule_alpha(s, kk), s1 = dm_schedule_sigma(s, kk);
		double au = dm_schedule_alpha(s, kk - 1), su = dm_schedule_sigma(s, kk - 1);
		double atu = a1 / au, s2tu = s1 * s1 - atu * atu * su * su;
		double cx = atu * su * su / (s1 * s1), c0 = au * s2tu / (s1 * s1);
		double vq = s2tu * su * su / (s1 * s1), vp = large ? s2tu : vq;
		for (int b = 0; b < B; b++)
			for (int64_t j = 0; j < D; j++) {
				size_t q = (size_t)b * D + (size_t)j;
				if (k > 0)
					acc[3 * b + 1] += kl_normal(cx * xt[q] + c0 * x0[q], vq, cx * xt[q] + c0 * x0h[q],
					                            vp);
				else
					acc[3 * b + 2] += decoder_nll(x0[q], x0h[q], vq);
			}
	}
	for (int b = 0; b < B; b++) {
		double per = 1 / ((double)D * M_LN2);
		bpd[b] = (acc[3 * b] + acc[3 * b + 1] + acc[3 * b + 2]) * per;
		if (terms)
			for (int i = 0; i < 3; i++)
				terms[3 * b + i] = acc[3 * b + i] * per;
	}
out:
	free(xt), free(pred), free(x0h), free(tv), free(acc);
	return rc;
}

/* ---- the ODE likelihood ------------------------------------------------- */

typedef struct ode_ctx {
	const dm_schedule *s;
	const dm_sampler_model *m;
	const int32_t *label;
	int64_t D;
	int K;               /* probes */
	const float *probes; /* B x K x D */
	float *x, *pred, *dx, *z, *tv; /* A x D (tv: A) */
	int32_t *lab;
} ode_ctx;

/* The augmented slope: rows of D + K values, y then the K divergence
 * integrals. */
static int ode_f(void *ctxp, const float *Y, const double *u, const int *rows, int A, float *k,
                 dm_error *err)
{
	ode_ctx *c = ctxp;
	int64_t D = c->D, W = D + c->K;
	for (int q = 0; q < A; q++) {
		double t = dm_schedule_t_from_sigma_ve(c->s, exp(u[q])), a = dm_schedule_alpha(c->s, t);
		c->tv[q] = (float)t;
		for (int64_t j = 0; j < D; j++)
			c->x[(size_t)q * D + j] = (float)(a * Y[(size_t)q * W + j]);
		if (c->label)
			c->lab[q] = c->label[rows[q]];
	}
	for (int p = 0; p < c->K; p++) {
		for (int q = 0; q < A; q++)
			memcpy(c->z + (size_t)q * D, c->probes + ((size_t)rows[q] * c->K + p) * D,
			       (size_t)D * sizeof(float));
		int rc = c->m->vjp(c->m->ctx, c->x, c->tv, c->label ? c->lab : NULL, A, c->z, c->pred,
		                   c->dx, err);
		if (rc < 0)
			return rc;
		for (int q = 0; q < A; q++) {
			double t = c->tv[q], a = dm_schedule_alpha(c->s, t), sg = dm_schedule_sigma(c->s, t);
			double sb = exp(u[q]);
			/* eps^ = c1 x + c2 pred for every parametrisation */
			float one = 1, zero = 0, c1, c2;
			dm_predict_to_eps_x0(c->m->param, a, sg, &one, &zero, &c1, NULL, 1);
			dm_predict_to_eps_x0(c->m->param, a, sg, &zero, &one, &c2, NULL, 1);
			const float *z = c->z + (size_t)q * D, *g = c->dx + (size_t)q * D;
			double zz = 0, gz = 0;
			for (int64_t j = 0; j < D; j++)
				zz += (double)z[j] * z[j], gz += (double)g[j] * z[j];
			k[(size_t)q * W + D + p] = (float)(sb * a * (c1 * zz + c2 * gz));
			if (p == 0) {
				float *ep = k + (size_t)q * W;
				dm_predict_to_eps_x0(c->m->param, a, sg, c->x + (size_t)q * D,
				                     c->pred + (size_t)q * D, ep, NULL, D);
				for (int64_t j = 0; j < D; j++)
					ep[j] = (float)(sb * ep[j]);
			}
		}
	}
	return 0;
}

int dm_ode_bpd(const dm_schedule *s, const dm_sampler_model *m, const float *x,
               const int32_t *label, int B, int64_t D, const dm_ode_bpd_opts *o,
               uint64_t index0, double *bpd, double *stderr_, double *nll, dm_error *err)
{
	if (!m->vjp)
		return dm_error_set(err, DM_ERR_ARG, "the ODE likelihood needs the model's input "
		                    "gradient, which this model does not have");
	if (o->probes < 1 || o->probes > 1024)
		return dm_error_set(err, DM_ERR_ARG, "--probes must be 1..1024");
	int K = o->probes, rc = 0;
	int64_t W = D + K;
	size_t n = (size_t)B * D;
	ode_ctx c = {s, m, label, D, K, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	float *Y = calloc((size_t)B * W, sizeof(float)), *pr = malloc(n * K * sizeof(float));
	c.x = malloc(n * sizeof(float)), c.pred = malloc(n * sizeof(float));
	c.dx = malloc(n * sizeof(float)), c.z = malloc(n * sizeof(float));
	c.tv = malloc((size_t)B * sizeof(float)), c.lab = malloc((size_t)B * sizeof(int32_t));
	if (!Y || !pr || !c.x || !c.pred || !c.dx || !c.z || !c.tv || !c.lab) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory for the ODE likelihood");
		goto out;
	}
	c.probes = pr;
	double t0 = dm_schedule_t_min(s), t1 = dm_schedule_t_max(s);
	double a0 = dm_schedule_alpha(s, t0), a1 = dm_schedule_alpha(s, t1);
	double u0 = log(dm_schedule_sigma_ve(s, t0)), u1 = log(dm_schedule_sigma_ve(s, t1));
	for (int b = 0; b < B; b++) {
		uint64_t idx = index0 + (uint64_t)b;
		float *yb = Y + (size_t)b * W;
		if (o->dequantize)
			dm_rng_uniform(o->seed, DM_RNG_SAMPLER, idx, 0, yb, (size_t)D);
		for (int64_t j = 0; j < D; j++) {
			double v = x[(size_t)b * D + j];
			if (o->dequantize)
				v += (yb[j] - 0.5) * DM_BIN_8BIT;
			yb[j] = (float)(v / a0);
		}
		float *zb = pr + (size_t)b * K * D;
		if (o->gaussian) {
			dm_rng_normal(o->seed, DM_RNG_SAMPLER, idx, (uint64_t)D, zb, (size_t)K * D);
		} else {
			dm_rng_uniform(o->seed, DM_RNG_SAMPLER, idx, (uint64_t)D, zb, (size_t)K * D);
			for (size_t j = 0; j < (size_t)K * D; j++)
				zb[j] = zb[j] < 0.5f ? -1.0f : 1.0f;
		}
	}
	if ((rc = dm_ode_rk45(ode_f, &c, Y, B, W, u0, u1, o->rtol, o->atol, err)) < 0)
		goto out;
	double ps = dm_schedule_prior_std(s) / a1;
	for (int b = 0; b < B; b++) {
		const float *yb = Y + (size_t)b * W;
		double sq = 0, mean = 0, var = 0;
		for (int64_t j = 0; j < D; j++)
			sq += (double)yb[j] * yb[j];
		double prior = -0.5 * sq / (ps * ps) - (double)D * (log(ps) + 0.5 * log(2 * M_PI));
		for (int p = 0; p < K; p++)
			mean += yb[D + p];
		mean /= K;
		for (int p = 0; p < K; p++)
			var += (yb[D + p] - mean) * (yb[D + p] - mean);
		double lp = prior + mean - (double)D * log(a0);
		double per = 1 / ((double)D * M_LN2);
		bpd[b] = (-lp - (double)D * log(DM_BIN_8BIT)) * per;
		if (stderr_)
			stderr_[b] = K > 1 ? sqrt(var / (K - 1) / K) * per : 0;
		if (nll)
			nll[b] = -lp;
	}
out:
	free(Y), free(pr), free(c.x), free(c.pred), free(c.dx), free(c.z), free(c.tv), free(c.lab);
	return rc;
}

int dm_bpd_mean(const dm_schedule *s, const dm_sampler_model *m, const float *x, int64_t N,
                int64_t D, int ode, const dm_ode_bpd_opts *o, int large, uint64_t seed,
                dm_bpd_summary *out, dm_error *err)
{
	double sum = 0, sq = 0, v[64], t[3 * 64];
	memset(out, 0, sizeof *out);
	for (int64_t i = 0; i < N; i += 64) {
		int B = N - i < 64 ? (int)(N - i) : 64, rc;
		const float *xb = x + i * D;
		rc = ode ? dm_ode_bpd(s, m, xb, NULL, B, D, o, (uint64_t)i, v, NULL, NULL, err)
		         : dm_vlb_bpd(s, m, xb, NULL, B, D, large, seed, (uint64_t)i, v, t, err);
		if (rc < 0)
			return rc;
		for (int b = 0; b < B; b++) {
			sum += v[b], sq += v[b] * v[b];
			for (int k = 0; k < 3 && !ode; k++)
				out->terms[k] += t[3 * b + k] / (double)N;
		}
	}
	double n = (double)N, mean = n > 0 ? sum / n : 0;
	double var = n > 1 ? (sq - n * mean * mean) / (n - 1) : 0;
	out->bpd = mean, out->se = sqrt(var > 0 ? var / n : 0), out->n = N;
	return 0;
}

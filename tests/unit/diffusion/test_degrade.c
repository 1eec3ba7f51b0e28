#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/degrade.h"
#include "diffusion/guide.h"
#include "diffusion/restore.h"
#include "diffusion/sampler.h"
#include "models/gaussmodel.h"
#include "harness.h"

TEST(degrade_parse)
{
	dm_degrade d;
	dm_error err;
	CHECK(dm_degrade_parse("lowlight:0.3:2.2", &d, &err) == 0 && d.kind == DM_DEGRADE_LOWLIGHT);
	CHECK(d.np == 2 && d.theta[0] == 0.3 && d.theta[1] == 2.2);
	CHECK(dm_degrade_parse("blur:1.5", &d, &err) == 0 && d.kind == DM_DEGRADE_BLUR);
	CHECK(d.np == 1 && d.theta[0] == 1.5);
	CHECK(dm_degrade_parse("sr:2", &d, &err) == 1 && d.kind == DM_DEGRADE_NONE);
	CHECK(dm_degrade_parse("lowlight:0:2", &d, &err) == DM_ERR_ARG && strstr(err.msg, "GAIN"));
	CHECK(dm_degrade_parse("lowlight:0.5", &d, &err) == DM_ERR_ARG);
	CHECK(dm_degrade_parse("lowlight:0.5:2:", &d, &err) == DM_ERR_ARG);
	CHECK(dm_degrade_parse("lowlight:0.5:20", &d, &err) == DM_ERR_ARG);
	CHECK(dm_degrade_parse("blur:-1", &d, &err) == DM_ERR_ARG && strstr(err.msg, "blur:-1"));
	CHECK(dm_degrade_parse("blur:nan", &d, &err) == DM_ERR_ARG);
	dm_restore_spec r;
	CHECK(dm_restore_parse("blur:2", &r, &err) == 0 && r.kind == DM_RESTORE_DEGRADE);
	CHECK(dm_restore_parse("blur:x", &r, &err) == DM_ERR_ARG);
	CHECK(dm_restore_parse("fog", &r, &err) == DM_ERR_ARG && strstr(err.msg, "lowlight"));
}

/* Values in the data range [-1, 1], kept 0.05 away from the ends. */
static void inside(float *x, size_t n, uint64_t seed)
{
	dm_rng_uniform(seed, 77, 0, 0, x, n);
	for (size_t i = 0; i < n; i++)
		x[i] = -0.9f + 1.8f * x[i];
}

/* v . (A(x + h e_i) - A(x - h e_i)) / 2h against the VJP's dx_i at every
 * i, in float32 with h = 1e-3: |fd - dx| <= 2e-3 (1 + |dx|). */
static double vjp_worst(const dm_degrade *d, const double *th, const float *x, const float *v)
{
	int64_t D = (int64_t)d->C * d->H * d->W;
	float *xp = malloc(D * sizeof(float)), *y1 = malloc(D * sizeof(float));
	float *y2 = malloc(D * sizeof(float)), *dx = malloc(D * sizeof(float));
	float *sc = malloc(D * sizeof(float));
	dm_degrade_vjp(d, th, x, v, dx, sc);
	double worst = 0, h = 1e-3;
	memcpy(xp, x, D * sizeof(float));
	for (int64_t i = 0; i < D; i++) {
		xp[i] = (float)(x[i] + h);
		dm_degrade_apply(d, th, xp, y1, sc);
		xp[i] = (float)(x[i] - h);
		dm_degrade_apply(d, th, xp, y2, sc);
		xp[i] = x[i];
		double fd = 0;
		for (int64_t j = 0; j < D; j++)
			fd += (double)v[j] * ((double)y1[j] - y2[j]);
		fd /= 2 * h;
		double e = fabs(fd - dx[i]) / (1 + fabs(dx[i]));
		worst = e > worst ? e : worst;
	}
	free(xp), free(y1), free(y2), free(dx), free(sc);
	return worst;
}

TEST(degrade_vjp_fd)
{
	/* odd shapes; a blur wider than the image (radius 9 > 5 rows) */
	const char *specs[] = {"lowlight:0.4:2.2", "lowlight:0.8:0.6", "lowlight:1.6:1.5",
	                       "blur:0.7", "blur:1.3", "blur:3"};
	int64_t D = 2 * 5 * 7;
	float x[70], v[70];
	inside(x, 70, 1);
	dm_rng_normal(2, 77, 0, 0, v, 70);
	for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
		dm_degrade d;
		dm_error err;
		CHECK(dm_degrade_parse(specs[k], &d, &err) == 0);
		dm_degrade_layout(&d, 2, 5, 7, -1, 1);
		double w = vjp_worst(&d, d.theta, x, v);
		CHECK_MSG(w <= 2e-3, "%s: VJP off finite differences by %g", specs[k], w);
	}
	(void)D;
}

/* The blur is linear: <A x, v> = <x, A^T v> to rounding, and a constant
 * image is left alone (the kernel sums to 1, edges extended). */
TEST(degrade_blur_adjoint)
{
	dm_degrade d;
	dm_error err;
	CHECK(dm_degrade_parse("blur:2.5", &d, &err) == 0);
	dm_degrade_layout(&d, 3, 9, 6, -1, 1);
	enum { N = 3 * 9 * 6 };
	float x[N], v[N], ax[N], atv[N], sc[N];
	dm_rng_normal(5, 77, 0, 0, x, N);
	dm_rng_normal(6, 77, 0, 0, v, N);
	dm_degrade_apply(&d, d.theta, x, ax, sc);
	dm_degrade_vjp(&d, d.theta, x, v, atv, sc);
	double l = 0, r = 0;
	for (int i = 0; i < N; i++)
		l += (double)ax[i] * v[i], r += (double)x[i] * atv[i];
	CHECK_NEAR(l, r, 1e-5 * (fabs(l) + 1));
	for (int i = 0; i < N; i++)
		x[i] = 0.25f;
	dm_degrade_apply(&d, d.theta, x, ax, sc);
	for (int i = 0; i < N; i++)
		CHECK_NEAR(ax[i], 0.25, 1e-6);
}

/* lowlight's closed form at a few points, saturation and the clamp: the
 * gradient is 0 where the output is pinned to the range's ends. */
TEST(degrade_lowlight_values)
{
	dm_degrade d;
	dm_error err;
	CHECK(dm_degrade_parse("lowlight:2:2", &d, &err) == 0);
	dm_degrade_layout(&d, 1, 1, 4, -1, 1);
	float x[4] = {-1.5f, 0.0f, 0.5f, 1.2f}, y[4], v[4] = {1, 1, 1, 1}, dx[4], sc[4];
	dm_degrade_apply(&d, d.theta, x, y, sc);
	dm_degrade_vjp(&d, d.theta, x, v, dx, sc);
	/* u = 0, 0.5, 0.75, 1: 2 u^2 = 0, 0.5, 1.125 (saturates), 2 */
	CHECK(y[0] == -1 && dx[0] == 0);
	CHECK_NEAR(y[1], -1 + 2 * 0.5, 1e-6);
	CHECK_NEAR(dx[1], 2 * 2 * 0.5, 1e-6); /* g gamma u^(gamma-1) */
	CHECK(y[2] == 1 && dx[2] == 0 && y[3] == 1 && dx[3] == 0);
}

/* dA/dlog theta against central differences in log theta. */
TEST(degrade_param_jacobian_fd)
{
	dm_degrade d;
	dm_error err;
	CHECK(dm_degrade_parse("lowlight:0.5:1.8", &d, &err) == 0);
	dm_degrade_layout(&d, 1, 3, 5, -1, 1);
	enum { N = 15 };
	float x[N], j0[N], j1[N], yp[N], ym[N], sc[N];
	float *J[2] = {j0, j1};
	inside(x, N, 9);
	CHECK(dm_degrade_param_jacobian(&d, d.theta, x, J, &err) == 0);
	double h = 1e-3;
	for (int p = 0; p < 2; p++) {
		double tp[2] = {d.theta[0], d.theta[1]}, tm[2] = {d.theta[0], d.theta[1]};
		tp[p] *= exp(h), tm[p] *= exp(-h);
		dm_degrade_apply(&d, tp, x, yp, sc);
		dm_degrade_apply(&d, tm, x, ym, sc);
		for (int i = 0; i < N; i++)
			CHECK_NEAR(((double)yp[i] - ym[i]) / (2 * h), J[p][i], 2e-3);
	}
	CHECK(dm_degrade_parse("blur:1", &d, &err) == 0);
	CHECK(dm_degrade_param_jacobian(&d, d.theta, x, J, &err) == DM_ERR_ARG);
}

static int make_sched(dm_schedule *s, const char *kind)
{
	dm_error err;
	if (dm_schedule_defaults(s, dm_schedule_kind_parse(kind), &err) < 0)
		return -1;
	return dm_schedule_init(s, &err);
}

/* The DPS gradient of ||y - A(x0^(x_t))|| through the exact Gaussian
 * denoiser's VJP against central differences of the residual norm the
 * guide reports, for each parametrisation and both degradations. */
TEST(dps_gradient_fd)
{
	dm_schedule s;
	CHECK(make_sched(&s, "linear") == 0);
	enum { B = 2, C = 1, H = 4, W = 5, D = C * H * W };
	const char *specs[] = {"lowlight:0.5:1.7", "blur:1.2"};
	for (int sp = 0; sp < 2; sp++)
		for (int param = DM_PREDICT_EPS; param <= DM_PREDICT_V; param++) {
			dm_degrade d;
			dm_error err;
			CHECK(dm_degrade_parse(specs[sp], &d, &err) == 0);
			dm_degrade_layout(&d, C, H, W, -1, 1);
			dm_gaussmodel gm = {0.1, 0.3, param, 0, 0, &s, D};
			dm_sampler_model m = {dm_gaussmodel_predict, &gm, param, dm_gaussmodel_vjp};
			dm_sampler_opts o;
			dm_sampler_opts_default(&o, DM_SAMPLER_DDPM);
			float y[B * D], x[B * D], eps[B * D], x0[B * D], grad[B * D];
			inside(y, B * D, 3);
			for (int i = 0; i < B * D; i++)
				y[i] = -0.8f + 0.5f * (y[i] + 1); /* a dark measurement */
			dm_rng_normal(4, 77, 0, 0, x, B * D);
			for (int i = 0; i < B * D; i++)
				x[i] = 0.3f * x[i];
			o.restore = DM_RESTORE_DEGRADE, o.degrade = &d, o.dps = 1, o.y = y;
			dm_guide g;
			CHECK(dm_guide_init(&g, &s, &m, &o, NULL, B, D, &err) == 0);
			double t[B] = {300, 300};
			CHECK(dm_guide_denoise(&g, x, t, NULL, B, eps, x0, &err) == 0);
			memcpy(grad, g.grad, sizeof grad);
			double h = 1e-3, worst = 0;
			for (int i = 0; i < B * D; i++) {
				float save = x[i];
				x[i] = (float)(save + h);
				dm_guide_denoise(&g, x, t, NULL, B, eps, x0, &err);
				double rp = g.resid[i / D];
				x[i] = (float)(save - h);
				dm_guide_denoise(&g, x, t, NULL, B, eps, x0, &err);
				double rm = g.resid[i / D];
				x[i] = save;
				double e = fabs((rp - rm) / (2 * h) - grad[i]) / (1e-3 + fabs(grad[i]));
				worst = e > worst ? e : worst;
			}
			dm_guide_free(&g);
			CHECK_MSG(worst < 2e-2, "%s, %s: DPS gradient off by %g (relative)", specs[sp],
			          dm_predict_name(param), worst);
		}
}

/* DPS and GDP on the exact Gaussian denoiser of N(0, 0.3^2) data.  The
 * truth x* is drawn from that prior and measured without noise through
 * lowlight 0.5:2, which is invertible on [-1, 1] (only the 0.09% of values
 * beyond +-1 are clamped), so the posterior p(x | y) is the point x*:
 * posterior sampling must come close to x*, while an unguided sample is an
 * independent draw, at RMS distance sqrt(2) 0.3 = 0.42 from it (+- 1% for
 * 4 x 784 values).  Asked: DPS within a quarter of that, GDP's gain
 * within 10% of 0.5 from guesses 2x too high and 2x too low.  Measured:
 * DPS (zeta 3, 100 DDPM steps from prior noise) 0.067, GDP 0.069 with the
 * gain at 0.498 from both. */
enum { GB = 4, GD = 784 };

static double dps_run(const dm_schedule *s, const float *y, const float *truth, double zeta,
                      int gdp, double gain0, double *gain)
{
	dm_degrade d;
	dm_error err;
	if (dm_degrade_parse("lowlight:0.5:2", &d, &err) < 0)
		return -1;
	dm_degrade_layout(&d, 1, 28, 28, -1, 1);
	d.theta[0] = gain0;
	dm_gaussmodel gm = {0, 0.3, DM_PREDICT_EPS, 0, 0, s, GD};
	dm_sampler_model m = {dm_gaussmodel_predict, &gm, DM_PREDICT_EPS, dm_gaussmodel_vjp};
	dm_sampler_opts o;
	dm_sampler_opts_default(&o, DM_SAMPLER_DDPM);
	o.steps = 100, o.seed = 2, o.C = 1, o.H = 28, o.W = 28;
	double theta[GB * DM_DEGRADE_MAXP];
	for (int b = 0; b < GB; b++)
		theta[b * DM_DEGRADE_MAXP] = gain0, theta[b * DM_DEGRADE_MAXP + 1] = 2;
	if (zeta > 0) {
		o.restore = DM_RESTORE_DEGRADE, o.degrade = &d, o.dps = zeta, o.y = y;
		o.gdp = gdp, o.theta = gdp ? theta : NULL;
	}
	float *x = malloc(GB * GD * sizeof(float));
	dm_rng_normal(8, DM_RNG_PRIOR, 0, 0, x, GB * GD);
	if (dm_sample(s, &m, &o, x, NULL, GB, GD, 0, NULL, &err) < 0) {
		free(x);
		return -1;
	}
	double se = 0, gs = 0;
	for (int i = 0; i < GB * GD; i++)
		se += ((double)x[i] - truth[i]) * ((double)x[i] - truth[i]);
	for (int b = 0; b < GB; b++)
		gs += theta[b * DM_DEGRADE_MAXP];
	if (gain)
		*gain = gs / GB;
	free(x);
	return sqrt(se / (GB * GD));
}

TEST(dps_gaussian_posterior)
{
	dm_schedule s;
	CHECK(make_sched(&s, "linear") == 0);
	float *truth = malloc(GB * GD * sizeof(float)), *y = malloc(GB * GD * sizeof(float));
	float sc[GD];
	dm_rng_normal(5, 77, 0, 0, truth, GB * GD);
	dm_degrade d;
	dm_error err;
	CHECK(dm_degrade_parse("lowlight:0.5:2", &d, &err) == 0);
	dm_degrade_layout(&d, 1, 28, 28, -1, 1);
	for (int i = 0; i < GB * GD; i++)
		truth[i] *= 0.3f;
	for (int b = 0; b < GB; b++)
		dm_degrade_apply(&d, d.theta, truth + b * GD, y + b * GD, sc);
	double free_run = dps_run(&s, y, truth, 0, 0, 0.5, NULL);
	double dps = dps_run(&s, y, truth, 3, 0, 0.5, NULL);
	double g_hi, g_lo;
	double gdp_hi = dps_run(&s, y, truth, 3, 1, 1.0, &g_hi);
	double gdp_lo = dps_run(&s, y, truth, 3, 1, 0.25, &g_lo);
	free(truth), free(y);
	CHECK_MSG(free_run > 0.38 && free_run < 0.47, "unguided RMS distance %g, want 0.42", free_run);
	CHECK_MSG(dps >= 0 && dps < 0.105, "DPS RMS distance to the truth %g (unguided %g)", dps,
	          free_run);
	CHECK_MSG(fabs(g_hi - 0.5) < 0.05 && fabs(g_lo - 0.5) < 0.05,
	          "GDP gain from 1: %g, from 0.25: %g; true 0.5", g_hi, g_lo);
	CHECK_MSG(gdp_hi >= 0 && gdp_hi < 0.105 && gdp_lo >= 0 && gdp_lo < 0.105,
	          "GDP RMS distance %g, %g", gdp_hi, gdp_lo);
}

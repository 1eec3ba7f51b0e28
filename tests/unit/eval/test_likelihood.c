#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "eval/likelihood.h"
#include "models/gaussmodel.h"
#include "harness.h"
#include "schedule_fixture.h"

/* The model's exact -ln p(x) for the exact denoiser of N(m, d^2) data:
 * its probability-flow map is affine per value, y_T = m + (y0 - m) r with
 * y = x/alpha and r = sqrt((d^2 + sbar_T^2)/(d^2 + sbar_0^2)), so the
 * density is the prior's N(0, (prior_std/alpha_T)^2) at y_T times r, over
 * alpha_0 per value (the prior's mean 0 against the data's m is the part
 * of the model that is not the data). */
static double model_nll(const dm_schedule *s, const float *x, int64_t n, double m, double d)
{
	double t0 = dm_schedule_t_min(s), t1 = dm_schedule_t_max(s);
	double a0 = dm_schedule_alpha(s, t0), a1 = dm_schedule_alpha(s, t1);
	double sb0 = dm_schedule_sigma_ve(s, t0), sb1 = dm_schedule_sigma_ve(s, t1);
	double r = sqrt((d * d + sb1 * sb1) / (d * d + sb0 * sb0)), ps = dm_schedule_prior_std(s) / a1;
	double l = 0;
	for (int64_t j = 0; j < n; j++) {
		double yT = m + (x[j] / a0 - m) * r;
		l += -0.5 * yT * yT / (ps * ps) - 0.5 * log(2 * M_PI * ps * ps) + log(r) - log(a0);
	}
	return -l;
}

/* The ODE likelihood of the exact denoiser of N(m, d^2) data equals the
 * model's closed form above (to the integrator's tolerance): Rademacher
 * probes are exact for its diagonal Jacobian (standard error 0); Gaussian
 * probes scatter around it with the standard error they report.  Every
 * parametrisation; linear, cosine (discrete) and VE (continuous). */
TEST(likelihood_ode_matches_the_gaussian_closed_form)
{
	int kinds[] = {DM_SCHED_LINEAR, DM_SCHED_COSINE, DM_SCHED_VE};
	int params[] = {DM_PREDICT_EPS, DM_PREDICT_X0, DM_PREDICT_V};
	for (int ki = 0; ki < 3; ki++)
		for (int pi = 0; pi < 3; pi++) {
			dm_schedule s;
			CHECK(test_schedule(&s, kinds[ki], params[pi], 0) == 0);
			dm_gaussmodel g = {0.3, 0.5, params[pi], 0, 0, &s, 6};
			dm_sampler_model m = {dm_gaussmodel_predict, &g, params[pi], dm_gaussmodel_vjp};
			int B = 4;
			int64_t D = 6;
			float x[24];
			dm_rng_normal(5, 1, 0, 0, x, 24);
			for (int i = 0; i < 24; i++)
				x[i] = (float)(0.3 + 0.5 * x[i]);
			dm_ode_bpd_opts o = {3, 0, 0, 1e-6, 1e-6, 9};
			double bpd[4], se[4], nll[4];
			dm_error err;
			CHECK(dm_ode_bpd(&s, &m, x, NULL, B, D, &o, 0, bpd, se, nll, &err) == 0);
			for (int b = 0; b < B; b++) {
				double want = model_nll(&s, x + b * D, D, 0.3, 0.5);
				/* float32 states: about 1e-4 nats per value at the ends of
				 * the cosine schedule (sbar from 0.006 to 20000) */
				CHECK_MSG(fabs(nll[b] - want) < 5e-4 * D,
				          "schedule %d param %d: nll %.6f, closed form %.6f", kinds[ki],
				          params[pi], nll[b], want);
				CHECK(se[b] < 1e-4);
				double wbpd = (want - D * log(DM_BIN_8BIT)) / (D * M_LN2);
				CHECK_MSG(fabs(bpd[b] - wbpd) < 1e-3, "schedule %d param %d: bpd %.6f closed form "
				          "%.6f (nll %.6f vs %.6f)", kinds[ki], params[pi], bpd[b], wbpd, nll[b],
				          want);
			}
			o.gaussian = 1, o.probes = 16;
			CHECK(dm_ode_bpd(&s, &m, x, NULL, B, D, &o, 0, bpd, se, nll, &err) == 0);
			for (int b = 0; b < B; b++) {
				double want = model_nll(&s, x + b * D, D, 0.3, 0.5);
				double wbpd = (want - D * log(DM_BIN_8BIT)) / (D * M_LN2);
				CHECK(se[b] > 0);
				CHECK_MSG(fabs(bpd[b] - wbpd) < 4 * se[b] + 1e-3, "gaussian probes: %.5f vs "
				          "%.5f (se %.5f)", bpd[b], wbpd, se[b]);
			}
			dm_schedule_free(&s);
		}
}

/* The expected bound, in nats, of one 8-bit value x0 under the exact
 * denoiser of N(m, d^2), written out apart from dm_vlb_bpd: with
 * x_t = a x0 + s eps, x0 - x0^(x_t) = (1 - k a)(x0 - m) - k s eps
 * (k = a d^2 / (a^2 d^2 + s^2)), so each KL's mean term has the expectation
 * c0^2 ((1 - k a)^2 (x0 - m)^2 + k^2 s^2); the decoder's by quadrature
 * over eps. */
static double expected_vlb(const dm_schedule *s, double x0, double m, double d, int large,
                           double *parts)
{
	int T = (int)dm_schedule_t_max(s) + 1;
	double aT = dm_schedule_alpha(s, T - 1), vT = pow(dm_schedule_sigma(s, T - 1), 2);
	parts[0] = 0.5 * (vT + aT * aT * x0 * x0 - 1 - log(vT));
	parts[1] = 0;
	for (int t = 1; t < T; t++) {
		double a = dm_schedule_alpha(s, t), sg = dm_schedule_sigma(s, t);
		double au = dm_schedule_alpha(s, t - 1), su = dm_schedule_sigma(s, t - 1);
		double s2 = sg * sg - (a / au) * (a / au) * su * su, c0 = au * s2 / (sg * sg);
		double vq = s2 * su * su / (sg * sg), vp = large ? s2 : vq;
		double k = a * d * d / (a * a * d * d + sg * sg);
		double e2 = pow((1 - k * a) * (x0 - m), 2) + k * k * sg * sg;
		parts[1] += 0.5 * (log(vp / vq) + vq / vp - 1 + c0 * c0 * e2 / vp);
	}
	/* decoder: N(mu(eps), v1) on x0's bin, mu = m + k (a x0 + s eps - a m) */
	double a = dm_schedule_alpha(s, 0), sg = dm_schedule_sigma(s, 0);
	double a1 = dm_schedule_alpha(s, 1), s1 = dm_schedule_sigma(s, 1);
	double s2 = s1 * s1 - (a1 / a) * (a1 / a) * sg * sg, v1 = s2 * sg * sg / (s1 * s1);
	double k = a * d * d / (a * a * d * d + sg * sg), h = DM_BIN_8BIT / 2, sum = 0, wsum = 0;
	for (int i = -4000; i <= 4000; i++) {
		double e = i * 0.002, w = exp(-0.5 * e * e), mu = m + k * (a * x0 + sg * e - a * m);
		double lo = x0 - h <= -1 ? -INFINITY : (x0 - h - mu) / sqrt(v1);
		double hi = x0 + h >= 1 ? INFINITY : (x0 + h - mu) / sqrt(v1);
		double p = 0.5 * (erfc(-hi / M_SQRT2) - erfc(-lo / M_SQRT2));
		sum += w * -log(p > 1e-300 ? p : 1e-300), wsum += w;
	}
	parts[2] = sum / wsum;
	return parts[0] + parts[1] + parts[2];
}

/* The variational bound of quantised N(m, d^2) data under its exact
 * denoiser: its sampled mean agrees with the expectation written out above
 * (within 3 standard errors, each part), and that is at least the exact
 * -ln P of the 8-bit bins.  (With fixed variances the bound is loose: the
 * first steps, where the true reverse variance exceeds beta~, cost most,
 * as Nichol & Dhariwal 2021 found.) */
TEST(likelihood_vlb_bounds_the_gaussian_closed_form)
{
	dm_schedule s;
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	int B = 64;
	int64_t D = 8;
	dm_gaussmodel g = {0.1, 0.4, DM_PREDICT_EPS, 0, 0, &s, D};
	dm_sampler_model m = {dm_gaussmodel_predict, &g, DM_PREDICT_EPS, dm_gaussmodel_vjp};
	float *x = malloc((size_t)B * D * sizeof(float));
	dm_rng_normal(6, 1, 0, 0, x, (size_t)B * D);
	double exact = 0;
	for (int i = 0; i < B * D; i++) {
		double v = 0.1 + 0.4 * x[i];
		double k = floor((v + 1) / DM_BIN_8BIT + 0.5);
		k = k < 0 ? 0 : k > 255 ? 255 : k;
		x[i] = (float)(k * DM_BIN_8BIT - 1);
		double lo = (x[i] - DM_BIN_8BIT / 2 - 0.1) / 0.4, hi = (x[i] + DM_BIN_8BIT / 2 - 0.1) / 0.4;
		exact -= log(0.5 * (erfc(-hi / M_SQRT2) - erfc(-lo / M_SQRT2)));
	}
	exact /= (double)B * D * M_LN2;
	double *bpd = malloc(B * sizeof(double)), *terms = malloc(3 * B * sizeof(double));
	dm_error err;
	for (int large = 0; large < 2; large++) {
		CHECK(dm_vlb_bpd(&s, &m, x, NULL, B, D, large, 3, 0, bpd, terms, &err) == 0);
		double mean[4] = {0}, var[4] = {0}, want[4] = {0}, parts[3];
		for (int b = 0; b < B; b++) {
			mean[0] += bpd[b] / B;
			for (int i = 0; i < 3; i++)
				mean[1 + i] += terms[3 * b + i] / B;
		}
		for (int b = 0; b < B; b++) {
			var[0] += pow(bpd[b] - mean[0], 2) / (B - 1);
			for (int i = 0; i < 3; i++)
				var[1 + i] += pow(terms[3 * b + i] - mean[1 + i], 2) / (B - 1);
		}
		for (int q = 0; q < B * D; q++) {
			want[0] += expected_vlb(&s, x[q], 0.1, 0.4, large, parts);
			for (int i = 0; i < 3; i++)
				want[1 + i] += parts[i];
		}
		for (int i = 0; i < 4; i++) {
			want[i] /= (double)B * D * M_LN2;
			double se = sqrt(var[i] / B);
			CHECK_MSG(fabs(mean[i] - want[i]) <= 3 * se + 1e-6, "%s part %d: sampled %.5f, "
			          "expected %.5f (se %.5f)", large ? "large" : "small", i, mean[i], want[i],
			          se);
		}
		printf("      vlb (%s variance) %.4f bits/dim, expected %.4f, exact NLL %.4f\n",
		       large ? "large" : "small", mean[0], want[0], exact);
		CHECK_MSG(want[0] > exact, "expected bound %.5f below the exact %.5f", want[0], exact);
	}
	free(x), free(bpd), free(terms);
	dm_schedule_free(&s);
}

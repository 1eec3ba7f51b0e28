#include <stdlib.h>
#include <string.h>

#include "diffusion/schedule.h"
#include "harness.h"
#include "schedule_fixture.h"

/* alpha_bar against the running product of (1 - beta) from the closed-form
 * betas, accumulated independently in long double. */
TEST(schedule_discrete_running_product)
{
	for (int kind = DM_SCHED_LINEAR; kind <= DM_SCHED_SIGMOID; kind++) {
		dm_schedule s;
		CHECK(test_schedule(&s, kind, DM_PREDICT_EPS, 0) == 0);
		long double p = 1;
		for (int t = 0; t < 1000; t++) {
			double x = t / 999.0, b;
			if (kind == DM_SCHED_LINEAR)
				b = 1e-4 + x * (0.02 - 1e-4);
			else if (kind == DM_SCHED_SCALED_LINEAR)
				b = pow(sqrt(0.00085) + x * (sqrt(0.012) - sqrt(0.00085)), 2);
			else if (kind == DM_SCHED_SIGMOID)
				b = 1e-4 + (0.02 - 1e-4) / (1 + exp(-(-6 + 12 * x)));
			else {
				double f0 = cos(0.008 / 1.008 * M_PI / 2);
				double f1 = cos((t / 1000.0 + 0.008) / 1.008 * M_PI / 2);
				double f2 = cos(((t + 1) / 1000.0 + 0.008) / 1.008 * M_PI / 2);
				b = fmin(1 - (f2 * f2 / (f0 * f0)) / (f1 * f1 / (f0 * f0)), 0.999);
			}
			p *= 1 - (long double)b;
			CHECK_NEAR(s.beta[t], b, 1e-15);
			CHECK_MSG(fabs(dm_schedule_alpha_bar(&s, t) - (double)p) <= 1e-13 * (double)p + 1e-300,
			          "kind %d t %d: %.17g vs %.17g", kind, t, dm_schedule_alpha_bar(&s, t),
			          (double)p);
			CHECK_NEAR(dm_schedule_sigma(&s, t), sqrt(1 - (double)p), 1e-12);
		}
		CHECK(dm_schedule_alpha_bar(&s, -1) == 1.0);
		CHECK(dm_schedule_sigma(&s, -1) == 0.0);
		dm_schedule_free(&s);
	}
	/* known figures: linear abar_999 = 4.0358e-5 (Ho et al. schedule) */
	dm_schedule s;
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	CHECK_NEAR(dm_schedule_alpha_bar(&s, 999), 4.0358e-5, 1e-8);
	dm_schedule_free(&s);
	/* cosine: abar_t = f(t+1)/f(0) before the clipping bites */
	CHECK(test_schedule(&s, DM_SCHED_COSINE, DM_PREDICT_EPS, 0) == 0);
	double f0 = cos(0.008 / 1.008 * M_PI / 2);
	for (int t = 0; t < 900; t += 50) {
		double f = cos(((t + 1) / 1000.0 + 0.008) / 1.008 * M_PI / 2);
		CHECK_NEAR(dm_schedule_alpha_bar(&s, t), f * f / (f0 * f0), 1e-12);
	}
	CHECK(s.beta[999] == 0.999);
	dm_schedule_free(&s);
}

TEST(schedule_continuous_closed_forms)
{
	dm_schedule s;
	CHECK(test_schedule(&s, DM_SCHED_VP, DM_PREDICT_EPS, 0) == 0);
	for (double t = 0; t <= 1.0; t += 0.125) {
		double ab = exp(-(0.1 * t + 0.5 * 19.9 * t * t)), beta = 0.1 + 19.9 * t, f, g;
		CHECK_NEAR(dm_schedule_alpha_bar(&s, t), ab, 1e-14);
		CHECK_NEAR(dm_schedule_sigma(&s, t), sqrt(1 - ab), 1e-14);
		dm_schedule_sde(&s, t, &f, &g);
		CHECK_NEAR(f, -beta / 2, 1e-10);
		CHECK_NEAR(g, sqrt(beta), 1e-10);
		CHECK_NEAR(dm_schedule_beta(&s, t), beta, 1e-12);
	}
	CHECK(dm_schedule_prior_std(&s) == 1.0);
	CHECK(test_schedule(&s, DM_SCHED_SUBVP, DM_PREDICT_EPS, 0) == 0);
	for (double t = 0.125; t <= 1.0; t += 0.125) {
		double ab = exp(-(0.1 * t + 0.5 * 19.9 * t * t)), beta = 0.1 + 19.9 * t, f, g;
		CHECK_NEAR(dm_schedule_sigma(&s, t), 1 - ab, 1e-14);
		dm_schedule_sde(&s, t, &f, &g);
		CHECK_NEAR(f, -beta / 2, 1e-10);
		CHECK_NEAR(g, sqrt(beta * (1 - ab * ab)), 1e-10);
	}
	CHECK(test_schedule(&s, DM_SCHED_VE, DM_PREDICT_EPS, 0) == 0);
	for (double t = 0; t <= 1.0; t += 0.125) {
		double sg = 0.01 * pow(5000.0, t), f, g;
		CHECK_NEAR(dm_schedule_sigma(&s, t), sg, 1e-12 * sg);
		CHECK(dm_schedule_alpha(&s, t) == 1.0);
		dm_schedule_sde(&s, t, &f, &g);
		CHECK(f == 0.0);
		CHECK_NEAR(g, sg * sqrt(2 * log(5000.0)), 1e-10 * sg);
	}
	CHECK(dm_schedule_prior_std(&s) == 50.0);
	CHECK(test_schedule(&s, DM_SCHED_EDM, DM_PREDICT_EPS, 0) == 0);
	CHECK_NEAR(dm_schedule_sigma(&s, 0), 0.002, 1e-15);
	CHECK_NEAR(dm_schedule_sigma(&s, 1), 80.0, 1e-11);
	CHECK_NEAR(dm_schedule_sigma(&s, 0.5),
	           pow(0.5 * (pow(0.002, 1 / 7.0) + pow(80.0, 1 / 7.0)), 7.0), 1e-12);
	CHECK(dm_schedule_prior_std(&s) == 80.0);
}

/* f and g against finite differences of the marginals, every kind:
 * f = d ln alpha/dt, g^2 = d sigma^2/dt - 2 f sigma^2. */
TEST(schedule_sde_finite_differences)
{
	for (int kind = DM_SCHED_LINEAR; kind <= DM_SCHED_EDM; kind++) {
		for (int z = 0; z <= (kind < DM_SCHED_VE); z++) {
			dm_schedule s;
			CHECK(test_schedule(&s, kind, DM_PREDICT_EPS, z) == 0);
			double tm = dm_schedule_t_max(&s);
			double h = dm_schedule_is_discrete(&s) ? 1e-4 : 1e-7;
			for (double x = 0.13; x < 0.9; x += 0.17) {
				double t = x * tm;
				double f, g;
				dm_schedule_sde(&s, t, &f, &g);
				double fa = (log(dm_schedule_alpha(&s, t + h)) - log(dm_schedule_alpha(&s, t - h))) / (2 * h);
				double s2p = pow(dm_schedule_sigma(&s, t + h), 2), s2m = pow(dm_schedule_sigma(&s, t - h), 2);
				double sg = dm_schedule_sigma(&s, t);
				double g2 = (s2p - s2m) / (2 * h) - 2 * fa * sg * sg;
				CHECK_MSG(fabs(f - fa) <= 1e-5 * (1 + fabs(f)), "kind %d z %d t %g: f %g vs %g", kind, z, t, f, fa);
				CHECK_MSG(fabs(g * g - g2) <= 1e-5 * (1 + g * g), "kind %d z %d t %g: g2 %g vs %g", kind, z, t, g * g, g2);
			}
			dm_schedule_free(&s);
		}
	}
}

TEST(schedule_inverses_roundtrip)
{
	for (int kind = DM_SCHED_LINEAR; kind <= DM_SCHED_EDM; kind++) {
		dm_schedule s;
		CHECK(test_schedule(&s, kind, DM_PREDICT_EPS, 0) == 0);
		double tm = dm_schedule_t_max(&s);
		for (double x = 0.01; x < 1.0; x += 0.0731) {
			double t = x * tm;
			double l = dm_schedule_logsnr(&s, t);
			CHECK_NEAR(l, log(dm_schedule_snr(&s, t)), 1e-9 * (1 + fabs(l)));
			CHECK_NEAR(dm_schedule_t_from_logsnr(&s, l), t, 1e-9 * (1 + tm));
			double sv = dm_schedule_sigma_ve(&s, t);
			CHECK_NEAR(sv, exp(-l / 2), 1e-9 * sv);
			CHECK_NEAR(dm_schedule_t_from_sigma_ve(&s, sv), t, 1e-9 * (1 + tm));
		}
		/* clamping at the ends */
		CHECK(dm_schedule_t_from_logsnr(&s, -1e9) == tm);
		dm_schedule_free(&s);
	}
}

TEST(schedule_zero_terminal_snr)
{
	dm_schedule s, r;
	CHECK(test_schedule(&r, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 1) == 0);
	CHECK(dm_schedule_alpha_bar(&s, 999) == 0.0);
	CHECK(dm_schedule_snr(&s, 999) == 0.0);
	CHECK(isinf(dm_schedule_logsnr(&s, 999)));
	CHECK_NEAR(dm_schedule_alpha_bar(&s, 0), dm_schedule_alpha_bar(&r, 0), 1e-15);
	/* sqrt(abar) is affine in the original sqrt(abar) */
	double a0 = sqrt(r.alpha_bar[0]), aT = sqrt(r.alpha_bar[999]);
	for (int t = 0; t < 1000; t += 111)
		CHECK_NEAR(sqrt(s.alpha_bar[t]), (sqrt(r.alpha_bar[t]) - aT) * a0 / (a0 - aT), 1e-13);
	CHECK(s.beta[999] == 1.0);
	dm_schedule_free(&s);
	dm_schedule_free(&r);
	CHECK(test_schedule(&s, DM_SCHED_VP, DM_PREDICT_EPS, 1) == 0);
	CHECK(dm_schedule_alpha(&s, 1.0) == 0.0);
	CHECK(dm_schedule_alpha(&s, 0.0) == 1.0);
	dm_error err;
	dm_schedule_defaults(&s, DM_SCHED_VE, &err);
	s.zero_snr = 1;
	CHECK(dm_schedule_init(&s, &err) == DM_ERR_ARG);
}

TEST(schedule_kv_roundtrip)
{
	for (int kind = DM_SCHED_LINEAR; kind <= DM_SCHED_EDM; kind++) {
		dm_schedule s, r;
		dm_error err;
		dm_schedule_defaults(&s, kind, &err);
		s.T = 317;
		s.predict = DM_PREDICT_V;
		s.beta_end = 0.0234567891234;
		s.sigma_max = 33.3;
		s.zero_snr = kind < DM_SCHED_VE;
		CHECK(dm_schedule_init(&s, &err) == 0);
		dm_kv kv;
		dm_kv_init(&kv);
		dm_kv_set(&kv, "tool", "test");
		CHECK(dm_schedule_to_kv(&s, &kv, &err) == 0);
		CHECK_MSG(dm_schedule_from_kv(&kv, &r, &err) == 0, "%s", err.msg);
		CHECK(r.kind == kind && r.predict == DM_PREDICT_V && r.zero_snr == s.zero_snr);
		for (double x = 0; x <= 1; x += 0.1) {
			double t = x * dm_schedule_t_max(&s);
			CHECK(dm_schedule_sigma(&s, t) == dm_schedule_sigma(&r, t));
			CHECK(dm_schedule_alpha(&s, t) == dm_schedule_alpha(&r, t));
		}
		dm_kv_free(&kv);
		dm_schedule_free(&s);
		dm_schedule_free(&r);
	}
	dm_kv kv;
	dm_kv_init(&kv);
	dm_schedule r;
	dm_error err;
	CHECK(dm_schedule_from_kv(&kv, &r, &err) == DM_ERR_FORMAT);
	CHECK(strstr(err.msg, "schedule="));
	dm_kv_set(&kv, "schedule", "linear");
	dm_kv_set(&kv, "T", "12x");
	CHECK(dm_schedule_from_kv(&kv, &r, &err) == DM_ERR_FORMAT);
	CHECK(strstr(err.msg, "T=12x"));
	dm_kv_set(&kv, "T", "0");
	CHECK(dm_schedule_from_kv(&kv, &r, &err) == DM_ERR_FORMAT);
	dm_kv_set(&kv, "T", "10");
	CHECK(dm_schedule_from_kv(&kv, &r, &err) == 0);
	CHECK(r.T == 10);
	dm_schedule_free(&r);
	dm_kv_free(&kv);
}

TEST(schedule_respace)
{
	dm_schedule s;
	dm_error err;
	double ts[1000];
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	CHECK(dm_schedule_respace(&s, 50, DM_SPACE_LINSPACE, ts, &err) == 0);
	CHECK(ts[0] == 999 && ts[49] == 0);
	for (int k = 1; k < 50; k++)
		CHECK(ts[k] < ts[k - 1] && ts[k] == floor(ts[k]));
	CHECK(dm_schedule_respace(&s, 10, DM_SPACE_TRAILING, ts, &err) == 0);
	CHECK(ts[0] == 999 && ts[1] == 899 && ts[9] == 99);
	CHECK(dm_schedule_respace(&s, 10, DM_SPACE_LEADING, ts, &err) == 0);
	CHECK(ts[0] == 900 && ts[9] == 0);
	CHECK(dm_schedule_respace(&s, 1000, DM_SPACE_LINSPACE, ts, &err) == 0);
	for (int k = 0; k < 1000; k++)
		CHECK(ts[k] == 999 - k);
	CHECK(dm_schedule_respace(&s, 1001, DM_SPACE_LINSPACE, ts, &err) == DM_ERR_ARG);
	CHECK(dm_schedule_respace(&s, 20, DM_SPACE_LOGSNR, ts, &err) == 0);
	double l0 = dm_schedule_logsnr(&s, ts[0]), l1 = dm_schedule_logsnr(&s, ts[1]);
	for (int k = 2; k < 20; k++)
		CHECK_NEAR(dm_schedule_logsnr(&s, ts[k]) - dm_schedule_logsnr(&s, ts[k - 1]), l1 - l0, 1e-6);
	dm_schedule_free(&s);
	/* EDM: the Karras ramp gives Karras eq. 5's sigmas */
	CHECK(test_schedule(&s, DM_SCHED_EDM, DM_PREDICT_EPS, 0) == 0);
	CHECK(dm_schedule_respace(&s, 18, DM_SPACE_KARRAS, ts, &err) == 0);
	for (int i = 0; i < 18; i++) {
		double want = pow(pow(80, 1 / 7.0) + i / 17.0 * (pow(0.002, 1 / 7.0) - pow(80, 1 / 7.0)), 7);
		CHECK_NEAR(dm_schedule_sigma_ve(&s, ts[i]), want, 1e-8 * want);
	}
	/* zero terminal SNR: logsnr spacing still finite after the first */
	dm_schedule z;
	CHECK(test_schedule(&z, DM_SCHED_COSINE, DM_PREDICT_EPS, 1) == 0);
	CHECK(dm_schedule_respace(&z, 10, DM_SPACE_LOGSNR, ts, &err) == 0);
	CHECK(ts[0] == 999 && ts[1] == 998 && ts[9] == 0);
	for (int k = 1; k < 10; k++)
		CHECK(ts[k] < ts[k - 1]);
	dm_schedule_free(&z);
}

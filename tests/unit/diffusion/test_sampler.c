/* Tests of lib/diffusion/sampler.c with the analytic Gaussian model: every sampler
 * must turn the prior into N(MEAN, STD^2), the deterministic ones must agree
 * with each other, DDIM/ODE must invert, and results must not depend on
 * batch split or thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "models/gaussmodel.h"
#include "core/rng.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "harness.h"
#include "schedule_fixture.h"

#define GM 0.5   /* data mean */
#define GS 0.3   /* data std */
#define NB 2000  /* samples */
#define ND 2     /* values per sample */

/* Prior samples: N(0, prior_std^2) (data-independent start). */
static float *prior(const dm_schedule *s, int B, int64_t D, uint64_t seed)
{
	float *x = malloc((size_t)B * D * sizeof(float));
	double sd = dm_schedule_prior_std(s);
	/* The exact marginal at t_max is N(a m, a^2 d^2 + s^2); use it so that
	 * the test measures the sampler, not the prior mismatch. */
	double t = dm_schedule_t_max(s), a = dm_schedule_alpha(s, t), sg = dm_schedule_sigma(s, t);
	double m = a * GM, v = sqrt(a * a * GS * GS + sg * sg);
	(void)sd;
	for (int b = 0; b < B; b++) {
		dm_rng_normal(seed, DM_RNG_PRIOR, (uint64_t)b, 0, x + (size_t)b * D, (size_t)D);
		for (int64_t j = 0; j < D; j++)
			x[(size_t)b * D + j] = (float)(m + v * x[(size_t)b * D + j]);
	}
	return x;
}

static int sample(const dm_schedule *s, int predict, dm_sampler_opts *o, float *x, int B,
                  uint64_t index0, double *nfe)
{
	dm_gaussmodel g;
	dm_error err;
	memset(&g, 0, sizeof g);
	g.mean = GM;
	g.std = GS;
	g.predict = predict;
	g.sched = s;
	g.D = ND;
	dm_sampler_model m = {dm_gaussmodel_predict, &g, predict, NULL};
	int rc = dm_sample(s, &m, o, x, NULL, B, ND, index0, nfe, &err);
	if (rc < 0)
		fprintf(stderr, "dm_sample: %s\n", err.msg);
	return rc;
}

static void moments(const float *x, size_t n, double *mean, double *sd)
{
	double a = 0, b = 0;
	for (size_t i = 0; i < n; i++)
		a += x[i];
	a /= (double)n;
	for (size_t i = 0; i < n; i++)
		b += (x[i] - a) * (x[i] - a);
	*mean = a;
	*sd = sqrt(b / (double)(n - 1));
}

static const struct {
	const char *sched;
	int kind;
	int predict;
	int steps;
	int variant; /* ddpm: large variance; pc: reverse-diffusion predictor;
	                heun: churn 5 */
} cases[] = {
	{"edm", DM_SAMPLER_HEUN, DM_PREDICT_EPS, 0, 1},
	{"linear", DM_SAMPLER_HEUN, DM_PREDICT_EPS, 0, 1},
	{"linear", DM_SAMPLER_DDPM, DM_PREDICT_EPS, 0, 1},
	{"linear", DM_SAMPLER_PC, DM_PREDICT_EPS, 0, 1},
	{"ve", DM_SAMPLER_PC, DM_PREDICT_EPS, 0, 1},
	{"linear", DM_SAMPLER_DDPM, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_DDIM, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_EM, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_PC, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_ODE, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_RK45, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_DPMPP2M, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_EULER, DM_PREDICT_EPS, 0, 0},
	{"linear", DM_SAMPLER_HEUN, DM_PREDICT_EPS, 0, 0},
	{"cosine", DM_SAMPLER_DDPM, DM_PREDICT_V, 0, 0},
	{"cosine", DM_SAMPLER_DDIM, DM_PREDICT_X0, 0, 0},
	{"cosine", DM_SAMPLER_DDIM, DM_PREDICT_EPS, 0, 0}, /* starts at lambda_min */
	{"cosine", DM_SAMPLER_DPMPP2M, DM_PREDICT_V, 0, 0},
	{"vp", DM_SAMPLER_DDPM, DM_PREDICT_EPS, 0, 0},
	{"vp", DM_SAMPLER_EM, DM_PREDICT_EPS, 0, 0},
	{"vp", DM_SAMPLER_PC, DM_PREDICT_EPS, 0, 0},
	{"vp", DM_SAMPLER_ODE, DM_PREDICT_V, 0, 0},
	{"vp", DM_SAMPLER_RK45, DM_PREDICT_EPS, 0, 0},
	{"vp", DM_SAMPLER_DPMPP2M, DM_PREDICT_X0, 0, 0},
	{"subvp", DM_SAMPLER_EM, DM_PREDICT_EPS, 0, 0},
	{"subvp", DM_SAMPLER_ODE, DM_PREDICT_EPS, 0, 0},
	{"subvp", DM_SAMPLER_DDIM, DM_PREDICT_EPS, 0, 0},
	{"ve", DM_SAMPLER_EM, DM_PREDICT_EPS, 0, 0},
	{"ve", DM_SAMPLER_PC, DM_PREDICT_EPS, 0, 0},
	{"ve", DM_SAMPLER_DDPM, DM_PREDICT_EPS, 0, 0},
	{"ve", DM_SAMPLER_HEUN, DM_PREDICT_X0, 0, 0},
	{"edm", DM_SAMPLER_HEUN, DM_PREDICT_X0, 0, 0},
	{"edm", DM_SAMPLER_EULER, DM_PREDICT_EPS, 0, 0},
	{"edm", DM_SAMPLER_DPMPP2M, DM_PREDICT_V, 0, 0},
	{"edm", DM_SAMPLER_RK45, DM_PREDICT_EPS, 0, 0},
};

/* Every sampler at its recommended steps: |mean - 0.5| < 0.015 and
 * |std - 0.3| < 0.015, or < 0.03 for the first-order deterministic
 * samplers (ddim, euler) at 50 steps, whose bias is real: the closed-form
 * DDIM-50 map on the linear schedule gives std 0.2745 (see
 * sampler_ddim_closed_form).  Sampling error of 4000 values: 0.005 for the
 * mean, 0.0034 for the std. */
TEST(sampler_gaussian_moments)
{
	int n = (int)(sizeof cases / sizeof cases[0]);
	for (int c = 0; c < n; c++) {
		dm_schedule s;
		CHECK(test_schedule(&s, dm_schedule_kind_parse(cases[c].sched), DM_PREDICT_EPS, 0) == 0);
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, cases[c].kind);
		o.steps = cases[c].steps;
		o.seed = 11;
		o.variance = cases[c].variant ? DM_VARIANCE_LARGE : DM_VARIANCE_SMALL;
		o.predictor = cases[c].variant ? DM_PREDICTOR_REVERSE_DIFFUSION : DM_PREDICTOR_EM;
		o.churn = cases[c].variant && cases[c].kind == DM_SAMPLER_HEUN ? 5 : 0;
		float *x = prior(&s, NB, ND, 3);
		double nfe = 0, mean, sd;
		int rc = sample(&s, cases[c].predict, &o, x, NB, 0, &nfe);
		moments(x, (size_t)NB * ND, &mean, &sd);
		if (getenv("DM_TEST_VERBOSE"))
			fprintf(stderr, "%-7s %-15s %-3s %d nfe %7.1f mean %.4f std %.4f clock %.2f\n",
			        cases[c].sched, dm_sampler_name(cases[c].kind),
			        dm_predict_name(cases[c].predict), cases[c].variant, nfe,
			        mean, sd, (double)clock() / CLOCKS_PER_SEC);
		free(x);
		dm_schedule_free(&s);
		CHECK(rc == 0);
		int first = cases[c].kind == DM_SAMPLER_DDIM || cases[c].kind == DM_SAMPLER_EULER;
		CHECK_MSG(fabs(mean - GM) < 0.015 && fabs(sd - GS) < (first ? 0.03 : 0.015),
		          "%s %s: mean %.4f std %.4f (want %.2f, %.2f)", cases[c].sched,
		          dm_sampler_name(cases[c].kind), mean, sd, GM, GS);
	}
}

/* DDIM with eta = 1 is ancestral DDPM with the small variance (beta tilde):
 * the same update, step for step, with the same noise draws (Song et al.
 * 2021, eq. 16), so the samples agree to float rounding.  lambda_min off:
 * it moves DDIM's start on the cosine schedule, not DDPM's. */
TEST(sampler_ddim_eta1_is_ddpm)
{
	const char *scheds[] = {"linear", "cosine"};
	for (int c = 0; c < 2; c++) {
		dm_schedule s;
		CHECK(test_schedule(&s, dm_schedule_kind_parse(scheds[c]), DM_PREDICT_EPS, 0) == 0);
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, DM_SAMPLER_DDIM);
		o.steps = 50;
		o.seed = 5;
		o.eta = 1;
		o.lambda_min = -INFINITY;
		float *x = prior(&s, 256, ND, 3), *y = prior(&s, 256, ND, 3);
		CHECK(sample(&s, DM_PREDICT_EPS, &o, x, 256, 0, NULL) == 0);
		dm_sampler_opts_default(&o, DM_SAMPLER_DDPM);
		o.steps = 50;
		o.seed = 5;
		CHECK(sample(&s, DM_PREDICT_EPS, &o, y, 256, 0, NULL) == 0);
		double worst = 0;
		for (int i = 0; i < 256 * ND; i++)
			worst = fmax(worst, fabs((double)x[i] - y[i]));
		CHECK_MSG(worst < 1e-4, "%s: ddim eta 1 and ddpm differ by %g", scheds[c], worst);
		free(x);
		free(y);
		dm_schedule_free(&s);
	}
}

/* lambda_min: on the cosine schedule (lambda -9.9 at the top) DDIM, DPM++
 * and the ODE start where lambda = -5.1; on the linear one (-5.06) at the
 * top, as before. */
TEST(sampler_lambda_min_grid_top)
{
	dm_schedule lin, cos_;
	CHECK(test_schedule(&lin, dm_schedule_kind_parse("linear"), DM_PREDICT_EPS, 0) == 0);
	CHECK(test_schedule(&cos_, dm_schedule_kind_parse("cosine"), DM_PREDICT_EPS, 0) == 0);
	dm_sampler_opts o;
	dm_error err;
	double t[50];
	int kinds[] = {DM_SAMPLER_DDIM, DM_SAMPLER_DPMPP2M, DM_SAMPLER_ODE};
	for (int k = 0; k < 3; k++) {
		dm_sampler_opts_default(&o, kinds[k]);
		CHECK(dm_sampler_grid(&lin, &o, 50, t, &err) == 0);
		CHECK_NEAR(t[0], dm_schedule_t_max(&lin), 1e-9);
		CHECK(dm_sampler_grid(&cos_, &o, 50, t, &err) == 0);
		CHECK(t[0] < dm_schedule_t_max(&cos_));
		CHECK(dm_schedule_logsnr(&cos_, t[0]) >= 2 * -5.1);
		CHECK(dm_schedule_logsnr(&cos_, t[0] + 1) < 2 * -5.1);
		o.lambda_min = -INFINITY;
		CHECK(dm_sampler_grid(&cos_, &o, 50, t, &err) == 0);
		CHECK_NEAR(t[0], dm_schedule_t_max(&cos_), 1e-9);
	}
	dm_sampler_opts_default(&o, DM_SAMPLER_DDPM); /* not for the ancestral samplers */
	CHECK(dm_sampler_grid(&cos_, &o, 50, t, &err) == 0);
	CHECK_NEAR(t[0], dm_schedule_t_max(&cos_), 1e-9);
	/* leading and trailing keep their top (they used to fall back to
	 * linspace from the lambda_min start), and refuse a start part-way */
	double want[50];
	dm_sampler_opts_default(&o, DM_SAMPLER_DDIM);
	o.spacing = DM_SPACE_TRAILING;
	CHECK(dm_sampler_grid(&cos_, &o, 50, t, &err) == 0);
	CHECK(dm_schedule_respace(&cos_, 50, DM_SPACE_TRAILING, want, &err) == 0);
	CHECK(memcmp(t, want, sizeof t) == 0 && t[0] == 999);
	o.spacing = DM_SPACE_LEADING;
	CHECK(dm_sampler_grid(&cos_, &o, 50, t, &err) == 0);
	CHECK(dm_schedule_respace(&cos_, 50, DM_SPACE_LEADING, want, &err) == 0);
	CHECK(memcmp(t, want, sizeof t) == 0);
	o.from_t = 500;
	CHECK(dm_sampler_grid(&cos_, &o, 50, t, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "leading") != NULL);
	dm_schedule_free(&lin);
	dm_schedule_free(&cos_);
}

/* ---- deterministic samplers against closed forms ------------------------ */

/* For Gaussian data every sampler here is an affine map per value, so DDIM
 * can be followed exactly: x_u = (a_u - s_u a_t/s_t) x0^ + s_u/s_t x_t with
 * x0^ = m + k (x_t - a_t m), k = a_t d^2 / (a_t^2 d^2 + s_t^2).  The sampler
 * must reproduce this per sample to float rounding. */
TEST(sampler_ddim_closed_form)
{
	dm_schedule s;
	CHECK(test_schedule(&s, dm_schedule_kind_parse("linear"), DM_PREDICT_EPS, 0) == 0);
	dm_sampler_opts o;
	dm_sampler_opts_default(&o, DM_SAMPLER_DDIM);
	o.steps = 50;
	int B = 200;
	float *x = prior(&s, B, ND, 5);
	double *ref = malloc((size_t)B * ND * sizeof(double)), ts[50];
	dm_error err;
	CHECK(dm_schedule_respace(&s, 50, DM_SPACE_LINSPACE, ts, &err) == 0);
	for (int i = 0; i < B * ND; i++) {
		double v = x[i];
		for (int k = 0; k < 50; k++) {
			double a = dm_schedule_alpha(&s, ts[k]), sg = dm_schedule_sigma(&s, ts[k]);
			double au = k + 1 < 50 ? dm_schedule_alpha(&s, ts[k + 1]) : 1;
			double su = k + 1 < 50 ? dm_schedule_sigma(&s, ts[k + 1]) : 0;
			double kk = a * GS * GS / (a * a * GS * GS + sg * sg);
			double x0 = GM + kk * (v - a * GM);
			v = (au - su * a / sg) * x0 + su / sg * v;
		}
		ref[i] = v;
	}
	CHECK(sample(&s, DM_PREDICT_EPS, &o, x, B, 0, NULL) == 0);
	double worst = 0;
	for (int i = 0; i < B * ND; i++)
		worst = fmax(worst, fabs(x[i] - ref[i]));
	free(x);
	free(ref);
	dm_schedule_free(&s);
	CHECK_MSG(worst < 1e-4, "ddim differs from its closed form by %g", worst);
}

/* The exact probability-flow map of Gaussian data: x_T at t_max goes to
 * m + d (x_T - a m) / sqrt(a^2 d^2 + s^2).  Deterministic samplers at their
 * recommended steps must land close to it, per sample (RMS over samples):
 * second-order ones within 0.01 (3% of the data std), first-order (ddim,
 * euler at 50 steps) within 0.03.  So they also agree with each other. */
TEST(sampler_flow_agreement)
{
	static const struct {
		const char *sched;
		int kind;
		double tol;
	} c[] = {
		{"linear", DM_SAMPLER_ODE, 0.01},     {"linear", DM_SAMPLER_RK45, 0.01},
		{"linear", DM_SAMPLER_DPMPP2M, 0.01}, {"linear", DM_SAMPLER_HEUN, 0.01},
		{"linear", DM_SAMPLER_EULER, 0.03},   {"linear", DM_SAMPLER_DDIM, 0.03},
		{"vp", DM_SAMPLER_ODE, 0.01},         {"vp", DM_SAMPLER_DPMPP2M, 0.01},
		{"ve", DM_SAMPLER_HEUN, 0.01},        {"edm", DM_SAMPLER_HEUN, 0.01},
		{"edm", DM_SAMPLER_DPMPP2M, 0.01},    {"subvp", DM_SAMPLER_ODE, 0.01},
	};
	int B = 300;
	for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
		dm_schedule s;
		CHECK(test_schedule(&s, dm_schedule_kind_parse(c[k].sched), DM_PREDICT_EPS, 0) == 0);
		float *x = prior(&s, B, ND, 9);
		double t = dm_schedule_t_max(&s), a = dm_schedule_alpha(&s, t),
		       sg = dm_schedule_sigma(&s, t), e2 = 0;
		double *ref = malloc((size_t)B * ND * sizeof(double));
		for (int i = 0; i < B * ND; i++)
			ref[i] = GM + GS * (x[i] - a * GM) / sqrt(a * a * GS * GS + sg * sg);
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, c[k].kind);
		int rc = sample(&s, DM_PREDICT_EPS, &o, x, B, 0, NULL);
		for (int i = 0; i < B * ND; i++)
			e2 += (x[i] - ref[i]) * (x[i] - ref[i]);
		double rms = sqrt(e2 / (B * ND));
		if (getenv("DM_TEST_VERBOSE"))
			fprintf(stderr, "flow %-7s %-8s rms %.5f\n", c[k].sched, dm_sampler_name(c[k].kind),
			        rms);
		free(x);
		free(ref);
		dm_schedule_free(&s);
		CHECK(rc == 0);
		CHECK_MSG(rms < c[k].tol, "%s %s: rms %.5f from the exact flow (tolerance %g)",
		          c[k].sched, dm_sampler_name(c[k].kind), rms, c[k].tol);
	}
}

/* eps, x0 and v parametrisations of the same model give the same samples. */
TEST(sampler_parametrisations_agree)
{
	dm_schedule s;
	CHECK(test_schedule(&s, dm_schedule_kind_parse("cosine"), DM_PREDICT_EPS, 0) == 0);
	int B = 100;
	float *xs[3];
	const int params[3] = {DM_PREDICT_EPS, DM_PREDICT_X0, DM_PREDICT_V};
	for (int p = 0; p < 3; p++) {
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, DM_SAMPLER_DDPM);
		o.steps = 100;
		o.seed = 4;
		xs[p] = prior(&s, B, ND, 2);
		CHECK(sample(&s, params[p], &o, xs[p], B, 0, NULL) == 0);
	}
	double worst = 0;
	for (int i = 0; i < B * ND; i++)
		worst = fmax(worst, fmax(fabs(xs[0][i] - xs[1][i]), fabs(xs[0][i] - xs[2][i])));
	for (int p = 0; p < 3; p++)
		free(xs[p]);
	dm_schedule_free(&s);
	CHECK_MSG(worst < 2e-3, "eps/x0/v samples differ by %g", worst);
}

/* Encode (data -> noise, the ODE upwards) then decode: back to the start.
 * ddim inverts only to first order (RMS error 0.051 at 50 steps, 0.0057 at
 * 500, for data of std 0.3); ode/heun to second order (0.0005 at 50 steps,
 * EDM heun-30 0.0009). */
TEST(sampler_encode_decode)
{
	static const struct {
		const char *sched;
		int kind, steps;
		double tol;
	} c[] = {
		{"linear", DM_SAMPLER_DDIM, 50, 0.06}, {"linear", DM_SAMPLER_DDIM, 500, 0.01},
		{"linear", DM_SAMPLER_ODE, 50, 0.002}, {"vp", DM_SAMPLER_ODE, 50, 0.002},
		{"edm", DM_SAMPLER_HEUN, 30, 0.002},
	};
	int B = 300;
	for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
		dm_schedule s;
		CHECK(test_schedule(&s, dm_schedule_kind_parse(c[k].sched), DM_PREDICT_EPS, 0) == 0);
		float *x = malloc((size_t)B * ND * sizeof(float)), *x1 = malloc((size_t)B * ND * sizeof(float));
		dm_rng_normal(17, DM_RNG_PRIOR, 0, 0, x, (size_t)B * ND);
		for (int i = 0; i < B * ND; i++)
			x1[i] = x[i] = (float)(GM + GS * x[i]);
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, c[k].kind);
		o.steps = c[k].steps;
		o.encode = 1;
		int rc1 = sample(&s, DM_PREDICT_EPS, &o, x1, B, 0, NULL);
		o.encode = 0;
		int rc2 = sample(&s, DM_PREDICT_EPS, &o, x1, B, 0, NULL);
		double e2 = 0;
		for (int i = 0; i < B * ND; i++)
			e2 += (x[i] - x1[i]) * (x[i] - x1[i]);
		double rms = sqrt(e2 / (B * ND));
		if (getenv("DM_TEST_VERBOSE"))
			fprintf(stderr, "encode-decode %-7s %-5s %3d steps rms %.5f\n", c[k].sched,
			        dm_sampler_name(c[k].kind), c[k].steps, rms);
		free(x);
		free(x1);
		dm_schedule_free(&s);
		CHECK(rc1 == 0 && rc2 == 0);
		CHECK_MSG(rms < c[k].tol, "%s %s-%d: encode->decode rms error %.5f (tolerance %g)",
		          c[k].sched, dm_sampler_name(c[k].kind), c[k].steps, rms, c[k].tol);
	}
}

/* ---- reproducibility ---------------------------------------------------- */

/* One batch or several (with their global indices), the same bits. */
TEST(sampler_batch_split)
{
	const int kinds[] = {DM_SAMPLER_DDPM, DM_SAMPLER_PC, DM_SAMPLER_DDIM, DM_SAMPLER_RK45};
	dm_schedule s;
	CHECK(test_schedule(&s, dm_schedule_kind_parse("vp"), DM_PREDICT_EPS, 0) == 0);
	int B = 50;
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, kinds[k]);
		o.steps = 20;
		o.eta = 0.5;
		o.seed = 77;
		float *a = prior(&s, B, ND, 1), *b = prior(&s, B, ND, 1);
		CHECK(sample(&s, DM_PREDICT_EPS, &o, a, B, 1000, NULL) == 0);
		CHECK(sample(&s, DM_PREDICT_EPS, &o, b, 13, 1000, NULL) == 0);
		CHECK(sample(&s, DM_PREDICT_EPS, &o, b + 13 * ND, B - 13, 1013, NULL) == 0);
		int same = !memcmp(a, b, (size_t)B * ND * sizeof(float));
		free(a);
		free(b);
		CHECK_MSG(same, "%s: a split batch gives other samples", dm_sampler_name(kinds[k]));
	}
	dm_schedule_free(&s);
}

/* One thread or two, the same bits (D large enough for parallel loops). */
TEST(sampler_threads)
{
#ifdef _OPENMP
	dm_schedule s;
	CHECK(test_schedule(&s, dm_schedule_kind_parse("linear"), DM_PREDICT_EPS, 0) == 0);
	int B = 12;
	int64_t D = 4096;
	float *r[2];
	int saved = omp_get_max_threads();
	for (int th = 0; th < 2; th++) {
		omp_set_num_threads(th + 1);
		r[th] = malloc((size_t)B * D * sizeof(float));
		dm_rng_normal(3, DM_RNG_PRIOR, 0, 0, r[th], (size_t)B * D);
		dm_gaussmodel g = {GM, GS, DM_PREDICT_EPS, 0, 0, &s, D};
		dm_sampler_model m = {dm_gaussmodel_predict, &g, DM_PREDICT_EPS, NULL};
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, DM_SAMPLER_PC);
		o.steps = 10;
		o.seed = 5;
		dm_error err;
		CHECK(dm_sample(&s, &m, &o, r[th], NULL, B, D, 0, NULL, &err) == 0);
	}
	omp_set_num_threads(saved);
	int same = !memcmp(r[0], r[1], (size_t)B * D * sizeof(float));
	free(r[0]);
	free(r[1]);
	dm_schedule_free(&s);
	CHECK_MSG(same, "1 and 2 threads give different samples");
#else
	SKIP("built without OpenMP");
#endif
}

/* ---- guidance and restoration ------------------------------------------- */

/* With per-class means m_c = m + c shift and equal variances, guided eps
 * eps_u + W (eps_c - eps_u) is the exact eps of N(m + W c shift, d^2). */
TEST(sampler_guidance)
{
	dm_schedule s;
	CHECK(test_schedule(&s, dm_schedule_kind_parse("linear"), DM_PREDICT_EPS, 0) == 0);
	dm_gaussmodel g = {GM, GS, DM_PREDICT_EPS, 2, 0.2, &s, ND};
	dm_sampler_model m = {dm_gaussmodel_predict, &g, DM_PREDICT_EPS, NULL};
	dm_sampler_opts o;
	dm_sampler_opts_default(&o, DM_SAMPLER_DPMPP2M);
	o.guidance = 3;
	o.classes = 2;
	float *x = prior(&s, NB, ND, 8);
	int32_t *lab = malloc(NB * sizeof(int32_t));
	for (int b = 0; b < NB; b++)
		lab[b] = 1;
	dm_error err;
	double nfe, mean, sd;
	CHECK(dm_sample(&s, &m, &o, x, lab, NB, ND, 0, &nfe, &err) == 0);
	moments(x, (size_t)NB * ND, &mean, &sd);
	free(x);
	free(lab);
	dm_schedule_free(&s);
	CHECK_NEAR(nfe, 40, 1e-9); /* two evaluations per step */
	CHECK_NEAR(mean, GM + 3 * 0.2, 0.02);
	CHECK_NEAR(sd, GS, 0.015);
}

/* Restoration on 2 x 4 x 4 "images": what the measurement sees is kept
 * (exactly for masks, A x = A y for sr and gray), the rest is sampled from
 * the model: N(0.5, 0.3^2) per value. */
TEST(sampler_restore)
{
	enum { C = 3, H = 4, W = 4, D = C * H * W, B = 400 };
	dm_schedule s;
	CHECK(test_schedule(&s, dm_schedule_kind_parse("linear"), DM_PREDICT_EPS, 0) == 0);
	dm_gaussmodel g = {GM, GS, DM_PREDICT_EPS, 0, 0, &s, D};
	dm_sampler_model m = {dm_gaussmodel_predict, &g, DM_PREDICT_EPS, NULL};
	float *y = malloc((size_t)B * D * sizeof(float)), *x = malloc((size_t)B * D * sizeof(float));
	float mask[D];
	for (int j = 0; j < D; j++)
		mask[j] = (j % W) < W / 2; /* keep the left half */
	dm_rng_normal(21, DM_RNG_PRIOR, 0, 0, y, (size_t)B * D);
	for (int i = 0; i < B * D; i++)
		y[i] = (float)(-0.2 + 0.1 * y[i]); /* measurements far from the prior mean */
	for (int mode = 0; mode < 4; mode++) {
		dm_sampler_opts o;
		dm_sampler_opts_default(&o, mode == 1 ? DM_SAMPLER_DDPM : DM_SAMPLER_DDIM);
		o.steps = mode == 1 ? 250 : 50;
		o.y = y;
		o.C = C;
		o.H = H;
		o.W = W;
		if (mode == 0) {
			o.restore = DM_RESTORE_MASK;
			o.restore_mask = mask;
		} else if (mode == 1) {
			o.mask = mask; /* RePaint */
			o.resample = 2;
		} else if (mode == 2) {
			o.restore = DM_RESTORE_SR;
			o.sr_factor = 2;
		} else {
			o.restore = DM_RESTORE_GRAY;
		}
		memcpy(x, y, (size_t)B * D * sizeof(float));
		dm_error err;
		CHECK(dm_sampler_diffuse(&s, dm_schedule_t_max(&s), x, B, D, 1, 0, &err) == 0);
		CHECK(dm_sample(&s, &m, &o, x, NULL, B, D, 0, NULL, &err) == 0);
		double worst = 0, free_sum = 0, free_sq = 0;
		long nfree = 0;
		for (int b = 0; b < B; b++) {
			const float *xb = x + b * D, *yb = y + b * D;
			if (mode <= 1) {
				for (int j = 0; j < D; j++) {
					if (mask[j])
						worst = fmax(worst, fabs(xb[j] - yb[j]));
					else {
						free_sum += xb[j];
						free_sq += xb[j] * xb[j];
						nfree++;
					}
				}
			} else if (mode == 2) {
				for (int c = 0; c < C; c++)
					for (int p = 0; p < H; p += 2)
						for (int q = 0; q < W; q += 2) {
							double d = 0;
							for (int u = 0; u < 2; u++)
								for (int v = 0; v < 2; v++) {
									int j = (c * H + p + u) * W + q + v;
									d += xb[j] - yb[j];
								}
							worst = fmax(worst, fabs(d / 4));
						}
			} else {
				for (int p = 0; p < H * W; p++) {
					double d = 0;
					for (int c = 0; c < 3; c++)
						d += xb[c * H * W + p] - yb[c * H * W + p];
					worst = fmax(worst, fabs(d / 3));
				}
			}
		}
		CHECK_MSG(worst < 1e-5, "restore mode %d: measurement off by %g", mode, worst);
		if (nfree) {
			double mean = free_sum / nfree, sd = sqrt(free_sq / nfree - mean * mean);
			/* independent values: the unknown half is N(0.5, 0.3^2) */
			CHECK_MSG(fabs(mean - GM) < 0.02 && fabs(sd - GS) < 0.03,
			          "restore mode %d: free values mean %.4f std %.4f", mode, mean, sd);
		}
	}
	free(x);
	free(y);
	dm_schedule_free(&s);
}

/* ---- refusals ----------------------------------------------------------- */

TEST(sampler_refusals)
{
	dm_schedule s;
	dm_error err;
	dm_sampler_opts o;
	CHECK(test_schedule(&s, dm_schedule_kind_parse("linear"), DM_PREDICT_EPS, 0) == 0);
	dm_sampler_opts_default(&o, DM_SAMPLER_DDPM);
	o.encode = 1;
	CHECK(dm_sampler_check(&s, DM_PREDICT_EPS, &o, &err) == DM_ERR_ARG);
	dm_sampler_opts_default(&o, DM_SAMPLER_RK45);
	o.every = 5;
	CHECK(dm_sampler_check(&s, DM_PREDICT_EPS, &o, &err) == DM_ERR_ARG);
	dm_schedule_free(&s);
	CHECK(dm_schedule_defaults(&s, DM_SCHED_LINEAR, &err) == 0);
	s.zero_snr = 1;
	CHECK(dm_schedule_init(&s, &err) == 0);
	dm_sampler_opts_default(&o, DM_SAMPLER_DDIM);
	CHECK(dm_sampler_check(&s, DM_PREDICT_EPS, &o, &err) == DM_ERR_ARG);
	CHECK(dm_sampler_check(&s, DM_PREDICT_V, &o, &err) == 0);
	dm_sampler_opts_default(&o, DM_SAMPLER_ODE);
	CHECK(dm_sampler_check(&s, DM_PREDICT_V, &o, &err) == DM_ERR_ARG);
	dm_schedule_free(&s);
}

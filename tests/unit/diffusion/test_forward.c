#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/forward.h"
#include "harness.h"
#include "schedule_fixture.h"

TEST(forward_weights)
{
	dm_schedule s;
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	for (int t = 0; t < 1000; t += 37) {
		double snr = dm_schedule_snr(&s, t), sg = dm_schedule_sigma(&s, t);
		s.predict = DM_PREDICT_EPS;
		CHECK_NEAR(dm_forward_weight(&s, DM_WEIGHT_MIN_SNR, 5, t), fmin(snr, 5) / snr, 1e-12);
		CHECK(dm_forward_weight(&s, DM_WEIGHT_NONE, 5, t) == 1.0);
		CHECK_NEAR(dm_forward_weight(&s, DM_WEIGHT_SNR, 5, t), 1.0, 1e-12);
		s.predict = DM_PREDICT_X0;
		CHECK_NEAR(dm_forward_weight(&s, DM_WEIGHT_MIN_SNR, 5, t), fmin(snr, 5), 1e-9);
		s.predict = DM_PREDICT_V;
		CHECK_NEAR(dm_forward_weight(&s, DM_WEIGHT_MIN_SNR, 5, t), fmin(snr, 5) / (snr + 1), 1e-9);
		/* the v-loss conversion: |x0 err|^2 = sigma^2 |v err|^2 when a^2+s^2 = 1 */
		CHECK_NEAR(dm_forward_weight(&s, DM_WEIGHT_SNR, 0, t), snr * sg * sg, 1e-9 * (1 + snr));
	}
	dm_schedule_free(&s);
}

TEST(forward_names)
{
	for (int k = DM_TSAMPLE_UNIFORM; k <= DM_TSAMPLE_LOGNORMAL; k++)
		CHECK(dm_tsampling_parse(dm_tsampling_name(k)) == k);
	for (int k = DM_WEIGHT_NONE; k <= DM_WEIGHT_EDM; k++)
		CHECK(dm_weighting_parse(dm_weighting_name(k)) == k);
	CHECK(dm_tsampling_parse("bogus") == 0 && dm_weighting_parse(NULL) == 0);
	CHECK(dm_weighting_name(0) == NULL && dm_tsampling_name(4) == NULL);
}

/* x_t and the v target give back x0 and eps: x0 = a x_t - s v, eps = s x_t + a v
 * (a^2 + s^2 = 1 for VP-type schedules). */
TEST(forward_mix_and_targets)
{
	dm_schedule s;
	CHECK(test_schedule(&s, DM_SCHED_COSINE, DM_PREDICT_V, 0) == 0);
	enum { N = 64 };
	float x0[N], eps[N], xt[N], v[N];
	dm_rng_normal(1, DM_RNG_TOY, 0, 0, x0, N);
	dm_rng_normal(2, DM_RNG_TOY, 0, 0, eps, N);
	double t = 400, a = dm_schedule_alpha(&s, t), sg = dm_schedule_sigma(&s, t);
	dm_forward_mix(&s, t, x0, eps, xt, N);
	dm_forward_target(&s, t, x0, eps, v, N);
	for (int k = 0; k < N; k++) {
		CHECK_NEAR(a * xt[k] - sg * v[k], x0[k], 1e-5);
		CHECK_NEAR(sg * xt[k] + a * v[k], eps[k], 1e-5);
	}
	s.predict = DM_PREDICT_EPS;
	dm_forward_target(&s, t, x0, eps, v, N);
	CHECK(!memcmp(v, eps, sizeof v));
	s.predict = DM_PREDICT_X0;
	dm_forward_target(&s, t, x0, eps, v, N);
	CHECK(!memcmp(v, x0, sizeof v));
	dm_schedule_free(&s);
}

TEST(forward_draw_t)
{
	dm_schedule s;
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	dm_forward_train_opts o = {DM_TSAMPLE_UNIFORM, -1.2, 1.2, DM_WEIGHT_NONE, 0};
	double sum = 0;
	int n = 20000;
	for (int i = 0; i < n; i++) {
		double t = dm_forward_draw_t(&s, &o, 3, (uint64_t)i);
		CHECK(t >= 0 && t <= 999 && t == floor(t));
		sum += t;
	}
	CHECK_NEAR(sum / n, 499.5, 8); /* std of the mean: 289/sqrt(n) = 2 */
	o.tsampling = DM_TSAMPLE_LOGSNR;
	for (int i = 0; i < 200; i++) {
		double t = dm_forward_draw_t(&s, &o, 3, (uint64_t)i);
		CHECK(t >= 0 && t <= 999 && t == floor(t));
	}
	dm_schedule_free(&s);
	/* lognormal on EDM: ln sigma has mean ln_mean (away from the clamped ends) */
	CHECK(test_schedule(&s, DM_SCHED_EDM, DM_PREDICT_EPS, 0) == 0);
	o.tsampling = DM_TSAMPLE_LOGNORMAL;
	o.ln_mean = 0;
	o.ln_std = 0.5;
	sum = 0;
	for (int i = 0; i < n; i++) {
		double t = dm_forward_draw_t(&s, &o, 5, (uint64_t)i);
		CHECK(t >= 0 && t <= 1);
		sum += log(dm_schedule_sigma_ve(&s, t));
	}
	CHECK_NEAR(sum / n, 0.0, 0.02);
	dm_schedule_free(&s);
}

/* A sample's example depends on its index only: one frame of 6 equals two
 * frames of 3 with the second's base at 3; and x_t = a x0 + s target (eps). */
TEST(forward_train_split)
{
	dm_schedule s;
	dm_error err;
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	enum { N = 6, D = 5 };
	float x0[N * D], x[N * D], y[N * D], tg[N * D], tg2[N * D], t[N], t2[N], w[N], w2[N];
	dm_rng_normal(9, DM_RNG_TOY, 0, 0, x0, N * D);
	memcpy(x, x0, sizeof x);
	memcpy(y, x0, sizeof y);
	dm_forward_train_opts o = {DM_TSAMPLE_UNIFORM, 0, 1, DM_WEIGHT_MIN_SNR, 5};
	dm_forward_index all = {0, 1, 2}, lo = {0, 1, 2}, hi = {3, 1, 2};
	CHECK(dm_forward_train(&s, &o, 7, &all, x, tg, t, w, N, D, &err) == 0);
	CHECK(dm_forward_train(&s, &o, 7, &lo, y, tg2, t2, w2, 3, D, &err) == 0);
	CHECK(dm_forward_train(&s, &o, 7, &hi, y + 3 * D, tg2 + 3 * D, t2 + 3, w2 + 3, 3, D, &err) == 0);
	CHECK(!memcmp(x, y, sizeof x) && !memcmp(tg, tg2, sizeof tg) && !memcmp(t, t2, sizeof t));
	CHECK(!memcmp(w, w2, sizeof w));
	for (int i = 0; i < N; i++) {
		double a = dm_schedule_alpha(&s, t[i]), sg = dm_schedule_sigma(&s, t[i]);
		CHECK_NEAR(w[i], dm_forward_weight(&s, DM_WEIGHT_MIN_SNR, 5, t[i]), 1e-6 * w[i]);
		for (int k = 0; k < D; k++)
			CHECK_NEAR(x[i * D + k], a * x0[i * D + k] + sg * tg[i * D + k], 1e-5);
	}
	/* dm_forward_noise at one t uses the same eps as training (purpose NOISE) */
	float xn[N * D];
	CHECK(dm_forward_noise(&s, t[0], 7, &all, x0, xn, 1, D, &err) == 0);
	CHECK(!memcmp(xn, x, D * sizeof(float)));
	dm_schedule_free(&s);
}

TEST(forward_prior_and_diffuse)
{
	dm_schedule s;
	dm_error err;
	CHECK(test_schedule(&s, DM_SCHED_VE, DM_PREDICT_EPS, 0) == 0);
	enum { N = 40, D = 500 };
	float *x = calloc(N * D, sizeof(float));
	CHECK(x != NULL);
	dm_forward_prior(&s, 1, 0, x, N, D);
	double ss = 0;
	for (int i = 0; i < N * D; i++)
		ss += (double)x[i] * x[i];
	CHECK_NEAR(sqrt(ss / (N * D)), dm_schedule_prior_std(&s), 0.02 * dm_schedule_prior_std(&s));
	/* from clean zeros to t: std sigma(t), different draws for different offsets */
	memset(x, 0, N * D * sizeof(float));
	double t = 0.5, sg = dm_schedule_sigma(&s, t);
	CHECK(dm_forward_diffuse(&s, t, 1, DM_RNG_SAMPLER, 0, 0, x, N, D, &err) == 0);
	ss = 0;
	for (int i = 0; i < N * D; i++)
		ss += (double)x[i] * x[i];
	CHECK_NEAR(sqrt(ss / (N * D)), sg, 0.02 * sg);
	float first = x[0];
	memset(x, 0, N * D * sizeof(float));
	CHECK(dm_forward_diffuse(&s, t, 1, DM_RNG_SAMPLER, D, 0, x, N, D, &err) == 0);
	CHECK(x[0] != first);
	free(x);
	dm_schedule_free(&s);
}

/* --weighting and --t-sampling specs: names, parameters, and refusals. */
TEST(forward_specs_parse_and_refuse)
{
	dm_forward_train_opts o;
	dm_error err;
	dm_forward_train_opts_default(&o);
	CHECK(o.weighting == DM_WEIGHT_NONE && o.tsampling == DM_TSAMPLE_UNIFORM);
	CHECK(dm_forward_weighting_spec(&o, "min-snr", &err) == 0 && o.gamma == 5);
	CHECK(dm_forward_weighting_spec(&o, "min-snr:3", &err) == 0 && o.gamma == 3);
	CHECK(o.weighting == DM_WEIGHT_MIN_SNR);
	CHECK(dm_forward_weighting_spec(&o, "edm:0.25", &err) == 0 && o.gamma == 0.25);
	CHECK(dm_forward_weighting_spec(&o, "snr:2", &err) == DM_ERR_ARG);
	CHECK(dm_forward_weighting_spec(&o, "min-snr:-1", &err) == DM_ERR_ARG);
	CHECK(dm_forward_weighting_spec(&o, "min-snr:1e999", &err) == DM_ERR_ARG);
	CHECK(dm_forward_weighting_spec(&o, "banana", &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "banana") != NULL);
	CHECK(dm_forward_tsampling_spec(&o, "lognormal", &err) == 0);
	CHECK(o.ln_mean == -1.2 && o.ln_std == 1.2);
	CHECK(dm_forward_tsampling_spec(&o, "lognormal:-0.5:2", &err) == 0);
	CHECK(o.ln_mean == -0.5 && o.ln_std == 2 && o.tsampling == DM_TSAMPLE_LOGNORMAL);
	CHECK(dm_forward_tsampling_spec(&o, "lognormal:1", &err) == DM_ERR_ARG);
	CHECK(dm_forward_tsampling_spec(&o, "lognormal:1:0", &err) == DM_ERR_ARG);
	CHECK(dm_forward_tsampling_spec(&o, "lognormal:x:1", &err) == DM_ERR_ARG);
	CHECK(dm_forward_tsampling_spec(&o, "logsnr:1", &err) == DM_ERR_ARG);
}

/* A training frame gets t, target and w of the right shapes; a noise frame
 * its t tensor and tags; x of another dtype is made f32. */
TEST(forward_frames_have_their_tensors)
{
	dm_schedule s;
	dm_error err;
	CHECK(test_schedule(&s, DM_SCHED_LINEAR, DM_PREDICT_EPS, 0) == 0);
	dm_forward_train_opts o;
	dm_forward_train_opts_default(&o);
	dm_frame f, out;
	dm_frame_init(&f);
	dm_frame_init(&out);
	int64_t dims[3] = {3, 2, 2};
	dm_tensor *x = dm_frame_add(&f, "x", DM_U8, 3, dims, &err);
	CHECK(x != NULL);
	memset(x->data, 7, 12);
	dm_forward_index ix = {0, 1, 0};
	CHECK(dm_forward_noise_frame(&s, 250, 1, &ix, &f, "in", &out, 0, &err) == 0);
	CHECK(dm_frame_get(&out, "t") && dm_frame_get(&out, "t")->dims[0] == 3);
	CHECK(((float *)dm_frame_get(&out, "t")->data)[2] == 250.0f);
	CHECK(dm_kv_get(&out.tags, "t") && !strcmp(dm_kv_get(&out.tags, "t"), "250"));
	CHECK(dm_kv_get(&out.tags, "sigma") != NULL);
	CHECK(dm_forward_train_frame(&s, &o, 1, &ix, &f, "in", 0, &err) == 0);
	CHECK(dm_frame_get(&f, "x")->dtype == DM_F32);
	CHECK(dm_frame_get(&f, "target")->rank == 3 && dm_frame_get(&f, "target")->dims[2] == 2);
	CHECK(dm_frame_get(&f, "w")->dims[0] == 3 && dm_frame_get(&f, "t")->dims[0] == 3);
	dm_frame_clear(&f);
	CHECK(dm_forward_train_frame(&s, &o, 1, &ix, &f, "in", 0, &err) == DM_ERR_FORMAT);
	CHECK(strstr(err.msg, "in: frame has no tensor x") != NULL);
	CHECK(dm_forward_prior_frame(&s, 1, 5, 3, dims, 2, &f, 0, &err) == 0);
	CHECK(dm_frame_get(&f, "x")->dims[0] == 2 && !strcmp(dm_kv_get(&f.tags, "index"), "5"));
	CHECK(dm_forward_check_t(&s, 999, &err) == 0 && dm_forward_check_t(&s, 1000, &err) < 0);
	CHECK(dm_forward_check_t(&s, 2.5, &err) < 0);
	dm_frame_free(&f);
	dm_frame_free(&out);
	dm_schedule_free(&s);
}

/* models/denoiser: -m gaussian:MEAN:STD[:P] opened with the stream's or a
 * given schedule, seen by the sampler as the gaussmodel's own callback;
 * errors that name the stream or the checkpoint. */
#include <string.h>

#include "models/denoiser.h"
#include "harness.h"

static int linear(dm_schedule *s, dm_error *err)
{
	int rc = dm_schedule_defaults(s, DM_SCHED_LINEAR, err);
	return rc ? rc : dm_schedule_init(s, err);
}

TEST(denoiser_gaussian_from_stream_meta)
{
	dm_error err;
	dm_schedule s;
	CHECK(linear(&s, &err) == 0);
	dm_kv meta;
	dm_kv_init(&meta);
	CHECK(dm_schedule_to_kv(&s, &meta, &err) == 0);
	dm_denoiser d;
	CHECK(dm_denoiser_open(&d, "gaussian:0.5:2:x0", 0, 0, NULL, &meta, "in.dms", &err) == 0);
	CHECK(d.net == NULL && d.classes == 0 && d.rank == 0);
	CHECK(d.s.kind == DM_SCHED_LINEAR && d.s.T == s.T && d.s.predict == DM_PREDICT_X0);
	CHECK(d.g.mean == 0.5 && d.g.std == 2 && d.g.sched == &d.s);
	/* the sampler's callback is the gaussmodel's: the same numbers */
	dm_sampler_model sm = dm_denoiser_model(&d);
	CHECK(sm.param == DM_PREDICT_X0 && sm.ctx == &d.g);
	d.g.D = 3;
	float x[3] = {0.1f, -1, 2}, t[1] = {300}, a[3], b[3];
	CHECK(sm.predict(sm.ctx, x, t, NULL, 1, a, &err) == 0);
	CHECK(dm_gaussmodel_predict(&d.g, x, t, NULL, 1, b, &err) == 0);
	CHECK(memcmp(a, b, sizeof a) == 0);
	/* no range: the clip options are left alone */
	double lo, hi;
	CHECK(dm_denoiser_range(&d, &lo, &hi) == 0);
	dm_sampler_opts o;
	dm_sampler_opts_default(&o, 0);
	dm_sampler_opts o0 = o;
	dm_denoiser_clip_default(&d, &o, 0);
	CHECK(o.clip == o0.clip && o.clip_lo == o0.clip_lo && o.clip_hi == o0.clip_hi);
	dm_denoiser_free(&d);
	dm_kv_free(&meta);
	dm_schedule_free(&s);
}

TEST(denoiser_gaussian_given_schedule_is_moved)
{
	dm_error err;
	dm_schedule s;
	CHECK(linear(&s, &err) == 0);
	int T = s.T;
	dm_kv empty;
	dm_kv_init(&empty);
	dm_denoiser d;
	CHECK(dm_denoiser_open(&d, "gaussian:0:1", 0, 0, &s, &empty, "in.dms", &err) == 0);
	CHECK(d.s.T == T && d.s.predict == DM_PREDICT_EPS);
	dm_schedule zero;
	memset(&zero, 0, sizeof zero);
	CHECK(memcmp(&s, &zero, sizeof s) == 0); /* the caller's copy is emptied */
	dm_schedule_free(&s);                    /* and safe to free */
	CHECK(dm_denoiser_model(&d).param == DM_PREDICT_EPS);
	dm_denoiser_free(&d);
	dm_kv_free(&empty);
}

TEST(denoiser_errors_name_their_source)
{
	dm_error err;
	dm_kv empty;
	dm_kv_init(&empty);
	dm_denoiser d;
	CHECK(dm_denoiser_open(&d, "gaussian:0:1", 0, 0, NULL, &empty, "in.dms", &err) == DM_ERR_FORMAT);
	CHECK(strncmp(err.msg, "in.dms: ", 8) == 0);
	CHECK(strstr(err.msg, "(or give --schedule for a gaussian: model)") != NULL);
	dm_denoiser_free(&d);
	CHECK(dm_denoiser_open(&d, "gaussian:x", 0, 0, NULL, &empty, "in.dms", &err) < 0);
	dm_denoiser_free(&d);
	CHECK(dm_denoiser_open(&d, "/nonexistent/m.dmt", 0, 0, NULL, &empty, "in.dms", &err) < 0);
	CHECK(strstr(err.msg, "/nonexistent/m.dmt") != NULL);
	dm_denoiser_free(&d);
	dm_kv_free(&empty);
}

TEST(denoiser_gaussian_takes_any_size_and_label)
{
	dm_error err;
	dm_schedule s;
	CHECK(linear(&s, &err) == 0);
	dm_denoiser d;
	CHECK(dm_denoiser_open(&d, "gaussian:0:1", 0, 0, &s, NULL, "in.dms", &err) == 0);
	CHECK(dm_denoiser_values(&d) == 0);
	CHECK(dm_denoiser_check_label(&d, 5, "gaussian:0:1", &err) == 0);
	CHECK(dm_denoiser_check_label(&d, -1, "gaussian:0:1", &err) == 0);
	dm_denoiser_free(&d);
}

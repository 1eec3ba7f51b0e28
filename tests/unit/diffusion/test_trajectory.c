/* diffusion/trajectory: the frames of --every and the final frame, read
 * back from the stream they were written to. */
#include <stdio.h>
#include <string.h>

#include "diffusion/sampler.h"
#include "diffusion/trajectory.h"
#include "harness.h"

TEST(trajectory_emit_frames)
{
	dm_error err;
	FILE *f = tmpfile();
	dm_writer *w;
	CHECK(dm_writer_open(&w, f, "t", NULL, &err) == 0);
	int64_t dims[2] = {2, 3};
	dm_tensor shape = {.rank = 2};
	shape.dims[0] = 2, shape.dims[1] = 3;
	float x[6] = {1, 2, 3, 4, 5, 6}, x0[6] = {-1, -2, -3, -4, -5, -6};
	dm_trajectory e = {w, &shape, 40, 0};
	CHECK(dm_trajectory_emit(&e, 3, 0.25, x, x0, 2, 3, &err) == 0);
	e.x0_only = 1;
	CHECK(dm_trajectory_emit(&e, 4, 123.5, x, x0, 2, 3, &err) == 0);
	CHECK(dm_writer_close(w, &err) == 0);
	rewind(f);
	dm_reader *r;
	CHECK(dm_reader_open(&r, f, "t", &err) == 0);
	dm_frame fr;
	dm_frame_init(&fr);
	CHECK(dm_reader_next(r, &fr, &err) == 1);
	const dm_tensor *tx = dm_frame_get(&fr, "x"), *tx0 = dm_frame_get(&fr, "x0");
	CHECK(tx && tx0 && tx->rank == 2 && tx->dims[0] == dims[0] && tx->dims[1] == dims[1]);
	CHECK(memcmp(tx->data, x, sizeof x) == 0 && memcmp(tx0->data, x0, sizeof x0) == 0);
	CHECK(!strcmp(dm_kv_get(&fr.tags, "index"), "40") && !strcmp(dm_kv_get(&fr.tags, "t"), "0.25"));
	CHECK(!strcmp(dm_kv_get(&fr.tags, "step"), "3"));
	CHECK(dm_reader_next(r, &fr, &err) == 1);
	tx = dm_frame_get(&fr, "x");
	CHECK(tx && !dm_frame_get(&fr, "x0") && memcmp(tx->data, x0, sizeof x0) == 0);
	CHECK(!strcmp(dm_kv_get(&fr.tags, "t"), "123.5") && !strcmp(dm_kv_get(&fr.tags, "step"), "4"));
	CHECK(dm_reader_next(r, &fr, &err) == 0);
	dm_frame_free(&fr);
	dm_reader_close(r);
	fclose(f);
}

TEST(trajectory_final_frame)
{
	dm_error err;
	dm_frame f;
	dm_frame_init(&f);
	int64_t d1[2] = {2, 2}, d2[1] = {2};
	CHECK(dm_frame_add(&f, "x", DM_F32, 2, d1, &err) != NULL);  /* the measurement */
	CHECK(dm_frame_add(&f, "y", DM_F32, 2, d1, &err) != NULL);
	CHECK(dm_frame_add(&f, "t", DM_F32, 1, d2, &err) != NULL);
	CHECK(dm_frame_add(&f, "label", DM_I32, 1, d2, &err) != NULL);
	dm_kv_set(&f.tags, "t", "500");
	dm_kv_set(&f.tags, "sigma", "0.7");
	dm_kv_set(&f.tags, "keep", "me");
	dm_tensor shape = {.rank = 2};
	shape.dims[0] = 2, shape.dims[1] = 4; /* samples larger than the input */
	float xs[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	CHECK(dm_trajectory_final(&f, &shape, xs, 7, -1, 12.5, &err) == 0);
	const dm_tensor *x = dm_frame_get(&f, "x");
	CHECK(x && x->dtype == DM_F32 && x->dims[1] == 4 && memcmp(x->data, xs, sizeof xs) == 0);
	CHECK(!dm_frame_get(&f, "y") && !dm_frame_get(&f, "t") && dm_frame_get(&f, "label"));
	CHECK(!strcmp(dm_kv_get(&f.tags, "index"), "7") && !strcmp(dm_kv_get(&f.tags, "t"), "-1"));
	CHECK(!strcmp(dm_kv_get(&f.tags, "final"), "1") && !strcmp(dm_kv_get(&f.tags, "nfe"), "12.5"));
	CHECK(!dm_kv_get(&f.tags, "sigma") && !strcmp(dm_kv_get(&f.tags, "keep"), "me"));
	dm_frame_free(&f);
}

TEST(sampler_variance_predictor_names)
{
	CHECK(dm_variance_parse("small") == DM_VARIANCE_SMALL && dm_variance_parse("beta-tilde") == DM_VARIANCE_SMALL);
	CHECK(dm_variance_parse("large") == DM_VARIANCE_LARGE && dm_variance_parse("beta") == DM_VARIANCE_LARGE);
	CHECK(dm_variance_parse("Large") == -1 && dm_variance_parse("") == -1);
	CHECK(!strcmp(dm_variance_name(DM_VARIANCE_LARGE), "large") && !strcmp(dm_variance_name(2), "?"));
	CHECK(dm_predictor_parse("em") == DM_PREDICTOR_EM && dm_predictor_parse("euler-maruyama") == DM_PREDICTOR_EM);
	CHECK(dm_predictor_parse("reverse-diffusion") == DM_PREDICTOR_REVERSE_DIFFUSION);
	CHECK(dm_predictor_parse("rd") == -1 && !strcmp(dm_predictor_name(-1), "?"));
	CHECK(!strcmp(dm_predictor_name(DM_PREDICTOR_REVERSE_DIFFUSION), "reverse-diffusion"));
	/* every name parses back to its value */
	for (int v = 0; v < 2; v++)
		CHECK(dm_variance_parse(dm_variance_name(v)) == v && dm_predictor_parse(dm_predictor_name(v)) == v);
}

TEST(trajectory_meta)
{
	dm_error err;
	dm_schedule s;
	CHECK(dm_schedule_defaults(&s, DM_SCHED_LINEAR, &err) == 0 && dm_schedule_init(&s, &err) == 0);
	dm_kv in, meta, want;
	dm_kv_init(&in);
	dm_kv_init(&meta);
	dm_kv_init(&want);
	dm_kv_set(&in, "source", "toy:moons");
	dm_kv_set(&in, "tool", "dm-noise");
	CHECK(dm_trajectory_meta(&meta, &in, "ddim", 42, "m.dmt", &s, 1, &err) == 0);
	CHECK(!strcmp(dm_kv_get(&meta, "source"), "toy:moons") && !strcmp(dm_kv_get(&meta, "tool"), "dm-denoise"));
	CHECK(!strcmp(dm_kv_get(&meta, "sampler"), "ddim") && !strcmp(dm_kv_get(&meta, "seed"), "42"));
	CHECK(!strcmp(dm_kv_get(&meta, "denoiser"), "m.dmt") && !strcmp(dm_kv_get(&meta, "encoded"), "1"));
	CHECK(dm_schedule_to_kv(&s, &want, &err) == 0);
	CHECK(!strcmp(dm_kv_get(&meta, "schedule"), dm_kv_get(&want, "schedule")));
	dm_kv_free(&meta);
	dm_kv_init(&meta);
	CHECK(dm_trajectory_meta(&meta, &in, "ddpm", 0, "m.dmt", &s, 0, &err) == 0);
	CHECK(!dm_kv_get(&meta, "encoded"));
	dm_kv_free(&meta);
	dm_kv_init(&meta);
	CHECK(dm_trajectory_meta(&meta, &in, "ddpm", 0, "a\nb", &s, 0, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "newline") != NULL);
	dm_kv_free(&meta);
	dm_kv_free(&want);
	dm_kv_free(&in);
	dm_schedule_free(&s);
}

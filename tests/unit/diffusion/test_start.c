#include <stdlib.h>
#include <string.h>

#include "core/kv.h"
#include "core/tensor.h"
#include "diffusion/restore.h"
#include "diffusion/sampler.h"
#include "diffusion/start.h"
#include "harness.h"

/* --label for all; else the frame's labels (the last one repeated when the
 * tensor is short), only for a model with classes; an empty tensor is an
 * error, not a read past its end. */
TEST(start_labels)
{
	dm_frame f;
	dm_error err;
	int32_t *l;
	dm_frame_init(&f);
	int64_t n = 2;
	dm_tensor *lt = dm_frame_add(&f, "label", DM_I32, 1, &n, &err);
	((int32_t *)lt->data)[0] = 4, ((int32_t *)lt->data)[1] = 7;
	CHECK(dm_start_labels(lt, 3, 10, 3, &l, &err) == 0 && l && l[0] == 3 && l[2] == 3);
	free(l);
	CHECK(dm_start_labels(lt, -1, 10, 3, &l, &err) == 0 && l && l[0] == 4 && l[1] == 7 && l[2] == 4);
	free(l);
	CHECK(dm_start_labels(lt, -1, 0, 3, &l, &err) == 0 && l == NULL);
	CHECK(dm_start_labels(NULL, -1, 10, 3, &l, &err) == 0 && l == NULL);
	n = 0;
	lt = dm_frame_add(&f, "label", DM_I32, 1, &n, &err);
	CHECK(dm_start_labels(lt, -1, 10, 3, &l, &err) == DM_ERR_ARG && l == NULL);
	dm_frame_free(&f);
}

/* The tag t starts the sampler only when it is a number of a noisy state. */
TEST(start_t)
{
	dm_schedule s;
	dm_error err;
	dm_kv kv;
	CHECK(dm_schedule_defaults(&s, DM_SCHED_VP, &err) == 0 && dm_schedule_init(&s, &err) == 0);
	dm_kv_init(&kv);
	CHECK(dm_start_t(&kv, &s) == -1);
	dm_kv_set(&kv, "t", "0.5");
	CHECK(dm_start_t(&kv, &s) == 0.5);
	dm_kv_set(&kv, "t", "1e-6"); /* below t_eps: clean */
	CHECK(dm_start_t(&kv, &s) == -1);
	dm_kv_set(&kv, "t", "0.5x");
	CHECK(dm_start_t(&kv, &s) == -1);
	dm_kv_free(&kv);
	dm_schedule_free(&s);
}

/* Without y the known image is x and x is diffused as dm_sampler_diffuse
 * does it; with y, y is the known image and x is left alone. */
TEST(start_known)
{
	dm_schedule s;
	dm_error err;
	CHECK(dm_schedule_defaults(&s, DM_SCHED_LINEAR, &err) == 0 && dm_schedule_init(&s, &err) == 0);
	float x[6] = {1, 2, 3, 4, 5, 6}, x2[6], *y;
	memcpy(x2, x, sizeof x);
	CHECK(dm_start_known(&s, 500, NULL, x, 2, 3, 9, 4, &y, &err) == 0);
	CHECK(dm_sampler_diffuse(&s, 500, x2, 2, 3, 9, 4, &err) == 0);
	for (int i = 0; i < 6; i++)
		CHECK(y[i] == (float)(i + 1) && x[i] == x2[i]);
	free(y);
	dm_frame f;
	dm_frame_init(&f);
	int64_t d[2] = {2, 3};
	dm_tensor *yt = dm_frame_add(&f, "y", DM_F32, 2, d, &err);
	((float *)yt->data)[5] = 8;
	CHECK(dm_start_known(&s, 500, yt, x, 2, 3, 9, 4, &y, &err) == 0 && y[5] == 8 && x[0] == x2[0]);
	free(y);
	CHECK(dm_start_known(&s, 500, yt, x, 3, 3, 9, 4, &y, &err) == DM_ERR_ARG && !y);
	dm_frame_free(&f);
	dm_schedule_free(&s);
}

/* sr:2 of a 1 x 2 x 2 measurement gives 1 x 4 x 4 samples; a measurement
 * that does not fit is left to the caller. */
TEST(start_restore_measurement)
{
	dm_restore_spec r;
	dm_error err;
	CHECK(dm_restore_parse("sr:2", &r, &err) == 0);
	dm_frame f;
	dm_frame_init(&f);
	int64_t d[4] = {1, 1, 2, 2}, shape[3] = {1, 4, 4}, dims[4] = {1, 1, 2, 2};
	dm_tensor *x = dm_frame_add(&f, "x", DM_F32, 4, d, &err);
	for (int i = 0; i < 4; i++)
		((float *)x->data)[i] = (float)i;
	float *full;
	CHECK(dm_restore_measurement(&r, shape, 3, x, &full, dims, &err) == 1);
	CHECK(dims[1] == 1 && dims[2] == 4 && dims[3] == 4);
	CHECK(full[0] == 0 && full[1] == 0 && full[2] == 1 && full[15] == 3);
	free(full);
	int64_t other[3] = {1, 6, 6};
	CHECK(dm_restore_measurement(&r, other, 3, x, &full, dims, &err) == 0 && !full);
	dm_frame_free(&f);
}

/* --given first:K: the parse, the mask of a clip, stills as clips. */
TEST(start_given)
{
	dm_error err;
	int k = 0;
	CHECK(dm_start_given_parse("first:3", &k, &err) == 0 && k == 3);
	CHECK(dm_start_given_parse("first:0", &k, &err) == DM_ERR_ARG);
	CHECK(dm_start_given_parse("first:2x", &k, &err) == DM_ERR_ARG);
	CHECK(dm_start_given_parse("last:2", &k, &err) == DM_ERR_ARG);
	float *m = NULL;
	CHECK(dm_start_given_mask(4, 2, 4, 3, &m, &err) == DM_ERR_ARG); /* nothing left */
	CHECK(dm_start_given_mask(2, 2, 5, 3, &m, &err) == 0);
	for (int c = 0; c < 2; c++)
		for (int t = 0; t < 5; t++)
			for (int q = 0; q < 3; q++)
				CHECK(m[(c * 5 + t) * 3 + q] == (t < 2 ? 1.0f : 0.0f));
	free(m);
	/* two RGB stills of 2 pixels into clips of 3 frames */
	float x[2 * 3 * 2], *clips = NULL;
	for (int i = 0; i < 12; i++)
		x[i] = (float)i;
	CHECK(dm_start_stills(x, 2, 3, 3, 2, &clips, &err) == 0);
	for (int b = 0; b < 2; b++)
		for (int c = 0; c < 3; c++)
			for (int t = 0; t < 3; t++)
				for (int q = 0; q < 2; q++)
					CHECK(clips[((b * 3 + c) * 3 + t) * 2 + q] == x[(b * 3 + c) * 2 + q]);
	free(clips);
}

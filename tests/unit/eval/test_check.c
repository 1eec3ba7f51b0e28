#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "eval/check.h"
#include "io/stream.h"
#include "train/trainer.h"
#include "harness.h"

/* A fresh tiny mlp checkpoint at path, one weight and one EMA weight set
 * to NaN/Inf when poison. */
static int tiny_checkpoint(const char *path, int poison, dm_error *err)
{
	dm_net_config c;
	dm_net_config_named(&c, "mlp", err);
	c.mlp.dim = 2, c.mlp.hidden = 16, c.mlp.layers = 2, c.mlp.temb = 8;
	dm_train_opts o;
	dm_train_opts_default(&o);
	dm_kv meta;
	dm_kv_init(&meta);
	dm_kv_set(&meta, "schedule", "linear");
	dm_kv_set(&meta, "predict", "eps");
	dm_trainer tr;
	int rc = dm_trainer_init(&tr, &c, &o, &meta, err);
	if (rc == 0 && poison)
		tr.w[3] = NAN, tr.ema[5] = INFINITY, tr.ema[6] = NAN;
	if (rc == 0)
		rc = dm_trainer_save(&tr, path, err);
	dm_trainer_free(&tr);
	dm_kv_free(&meta);
	return rc;
}

/* 64 clean 2-D samples in one frame. */
static int tiny_data(const char *path, dm_error *err)
{
	FILE *f = fopen(path, "wb");
	dm_writer *w;
	int rc = dm_writer_open(&w, f, path, NULL, err);
	dm_frame fr;
	dm_frame_init(&fr);
	int64_t dims[2] = {64, 2};
	dm_tensor *t = rc == 0 ? dm_frame_add(&fr, "x", DM_F32, 2, dims, err) : NULL;
	if (t) {
		dm_rng_normal(3, 99, 0, 0, t->data, 128);
		rc = dm_writer_write(w, &fr, err);
		if (rc == 0)
			rc = dm_writer_close(w, err);
	} else if (rc == 0) {
		rc = DM_ERR_NOMEM;
	}
	dm_frame_free(&fr);
	fclose(f);
	return rc;
}

/* NaN and Inf weights are counted, raw and EMA apart, and named in a
 * warning and the verdict; a clean checkpoint has none. */
TEST(check_nonfinite_weights)
{
	char ck[] = "/tmp/dm-test-check-XXXXXX", data[] = "/tmp/dm-test-checkd-XXXXXX";
	int f1 = mkstemp(ck), f2 = mkstemp(data);
	CHECK(f1 >= 0 && f2 >= 0);
	close(f1), close(f2);
	dm_error err;
	CHECK_MSG(tiny_data(data, &err) == 0, "%s", err.msg);
	dm_check_opts o;
	dm_check_opts_default(&o);
	static dm_check c;
	CHECK_MSG(tiny_checkpoint(ck, 0, &err) == 0, "%s", err.msg);
	CHECK_MSG(dm_check_run(&c, ck, data, &o, &err) == 0, "%s", err.msg);
	CHECK(c.nonfinite_raw == 0 && c.nonfinite_ema == 0);
	CHECK(c.n == 64 && c.d == 2 && c.bands == 10);
	CHECK(strncmp(c.verdict, "broken", 6) != 0);
	for (int i = 0; i < c.nwarn; i++)
		CHECK(strstr(c.warn[i], "NaN") == NULL);
	CHECK_MSG(tiny_checkpoint(ck, 1, &err) == 0, "%s", err.msg);
	CHECK_MSG(dm_check_run(&c, ck, data, &o, &err) == 0, "%s", err.msg);
	CHECK(c.nonfinite_raw == 1 && c.nonfinite_ema == 2);
	CHECK(strncmp(c.verdict, "broken", 6) == 0);
	int found = 0;
	for (int i = 0; i < c.nwarn; i++)
		found |= strstr(c.warn[i], "2 of the EMA weights and 1 of the raw weights are NaN or infinite") != NULL;
	CHECK(found);
	/* bands outside the limit */
	o.bands = 0;
	CHECK(dm_check_run(&c, ck, data, &o, &err) == DM_ERR_ARG);
	unlink(ck), unlink(data);
}

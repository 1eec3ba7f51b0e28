#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"
#include "core/rng.h"
#include "io/stream.h"
#include "train/parity.h"
#include "train/trainer.h"
#include "harness.h"

static void tiny_unet(dm_net_config *c)
{
	dm_error err;
	dm_net_config_named(c, "unet", &err);
	c->unet.in_ch = 1, c->unet.H = 8, c->unet.W = 8, c->unet.ch = 8, c->unet.nmult = 2, c->unet.ch_mult[0] = 1;
	c->unet.ch_mult[1] = 2, c->unet.res_blocks = 1, c->unet.nattn = 1, c->unet.attn_res[0] = 4, c->unet.groups = 2;
}

static void tiny_mlp(dm_net_config *c)
{
	dm_error err;
	dm_net_config_named(c, "mlp", &err);
	c->mlp.dim = 2, c->mlp.hidden = 32, c->mlp.layers = 2, c->mlp.temb = 8;
}

/* Train on one fixed batch: the loss must fall well below its start. */
static void overfit(const dm_net_config *c, int steps, double factor)
{
	dm_trainer tr;
	dm_train_opts o;
	dm_error err;
	dm_train_opts_default(&o);
	o.lr = 3e-3f;
	CHECK(dm_trainer_init(&tr, c, &o, NULL, &err) == 0);
	int B = 8;
	size_t S = dm_net_sample_size(c);
	float *x = malloc(B * S * 4), *tg = malloc(B * S * 4), t[8];
	dm_rng_normal(1, 97, 0, 0, x, B * S);
	dm_rng_normal(2, 97, 0, 0, tg, B * S);
	for (int b = 0; b < B; b++)
		t[b] = (float)(b * 100);
	double first = 0, last = 0;
	for (int s = 0; s < steps; s++) {
		double l;
		CHECK(dm_trainer_micro(&tr, x, t, tg, NULL, NULL, B, &l, &err) == 0);
		dm_trainer_apply(&tr, NULL);
		if (s == 0)
			first = l;
		last = l;
	}
	free(x), free(tg);
	dm_trainer_free(&tr);
	CHECK_MSG(last < factor * first, "loss %g -> %g", first, last);
}

TEST(train_mlp_overfits_a_fixed_batch)
{
	dm_net_config c;
	tiny_mlp(&c);
	overfit(&c, 300, 0.2);
}

TEST(train_unet_overfits_a_fixed_batch)
{
	dm_net_config c;
	tiny_unet(&c);
	overfit(&c, 60, 0.5);
}

TEST(train_lr_warmup_and_cosine)
{
	dm_train_opts o;
	dm_train_opts_default(&o);
	o.lr = 1, o.warmup = 10, o.lr_decay = DM_LR_COSINE, o.decay_steps = 110;
	CHECK_NEAR(dm_trainer_lr(&o, 0), 0.1, 1e-7);
	CHECK_NEAR(dm_trainer_lr(&o, 9), 1.0, 1e-7);
	CHECK_NEAR(dm_trainer_lr(&o, 60), 0.5, 1e-6);
	CHECK_NEAR(dm_trainer_lr(&o, 110), 0.0, 1e-7);
	CHECK_NEAR(dm_trainer_lr(&o, 500), 0.0, 1e-7);
}

TEST(train_checkpoint_roundtrip_and_model_load)
{
	dm_net_config c;
	dm_trainer tr, back;
	dm_train_opts o;
	dm_error err;
	tiny_unet(&c);
	c.classes = 3;
	dm_train_opts_default(&o);
	dm_kv meta;
	dm_kv_init(&meta);
	dm_kv_set(&meta, "schedule", "linear");
	dm_kv_set(&meta, "model", "should-not-override");
	CHECK(dm_trainer_init(&tr, &c, &o, &meta, &err) == 0);
	float x[128], tt[2] = {1, 2};
	int32_t lab[2] = {0, 2};
	dm_rng_normal(1, 97, 0, 0, x, 128);
	double l;
	CHECK(dm_trainer_micro(&tr, x, tt, x, NULL, lab, 2, &l, &err) == 0);
	dm_trainer_apply(&tr, NULL);
	char path[] = "/tmp/dm-test-train-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK(dm_trainer_save(&tr, path, &err) == 0);
	CHECK_MSG(dm_trainer_load(&back, path, &err) == 0, "%s", err.msg);
	CHECK(back.P == tr.P && back.step == 1 && back.samples == 2);
	
	CHECK(!memcmp(back.w, tr.w, tr.P * 4) && !memcmp(back.m, tr.m, tr.P * 4) &&
	      !memcmp(back.v, tr.v, tr.P * 4) && !memcmp(back.ema, tr.ema, tr.P * 4));
	CHECK(!strcmp(dm_kv_get(&back.meta, "schedule"), "linear"));
	/* the inference side sees the same network */
	dm_model *m;
	CHECK_MSG(dm_model_load(path, 1, &m, &err) == 0, "%s", err.msg);
	int64_t dims[4];
	CHECK(dm_model_sample_shape(m, dims) == 3 && dims[0] == 1 && dims[1] == 8);
	CHECK(dm_model_classes(m) == 3);
	CHECK(!strcmp(dm_kv_get(dm_model_meta(m), "model"), "unet"));
	float o1[128], o2[128];
	CHECK(dm_model_predict(m, x, tt, lab, 2, o1, &err) == 0);
	CHECK(dm_net_forward(&tr.net, tr.ema, x, tt, lab, 2, o2, 0, 0, 0, &err) == 0);
	CHECK(!memcmp(o1, o2, sizeof o1));
	dm_model_free(m);
	dm_trainer_free(&back);

	/* truncated and corrupted copies are refused with a message */
	FILE *f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	unsigned char *buf = malloc((size_t)n);
	CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	f = fopen(path, "wb");
	fwrite(buf, 1, (size_t)n / 2, f);
	fclose(f);
	CHECK(dm_trainer_load(&back, path, &err) < 0);
	CHECK(err.msg[0] != 0);
	buf[n / 8] ^= 0x40;
	f = fopen(path, "wb");
	fwrite(buf, 1, (size_t)n, f);
	fclose(f);
	CHECK(dm_model_load(path, 0, &m, &err) < 0);
	CHECK_MSG(strstr(err.msg, "CRC") || strstr(err.msg, "crc"), "%s", err.msg);
	free(buf);
	unlink(path);
	dm_trainer_free(&tr);
	dm_kv_free(&meta);
}

TEST(train_nonfinite_loss_is_reported_with_the_step)
{
	dm_net_config c;
	dm_trainer tr;
	dm_train_opts o;
	dm_error err;
	tiny_mlp(&c);
	dm_train_opts_default(&o);
	CHECK(dm_trainer_init(&tr, &c, &o, NULL, &err) == 0);
	float x[4] = {0, 1, 2, 3}, tg[4] = {0, NAN, 0, 0}, t[2] = {1, 2};
	double l;
	CHECK(dm_trainer_micro(&tr, x, t, tg, NULL, NULL, 2, &l, &err) < 0);
	CHECK_MSG(strstr(err.msg, "step 1"), "%s", err.msg);
	dm_trainer_free(&tr);
}

/* The parity dump holds the batch, the output, the loss and one param: and
 * grad: tensor per layout entry, read back as written. */
TEST(train_parity_dump)
{
	dm_net_config c;
	dm_trainer tr;
	dm_train_opts o;
	dm_error err;
	tiny_mlp(&c);
	dm_train_opts_default(&o);
	CHECK(dm_trainer_init(&tr, &c, &o, NULL, &err) == 0);
	float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, tg[8] = {0}, t[4] = {0, 10, 20, 30}, w[4] = {1, 1, 1, 1};
	double l;
	CHECK(dm_trainer_micro(&tr, x, t, tg, w, NULL, 4, &l, &err) == 0);
	char path[] = "/tmp/dm-test-parity-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK(dm_parity_dump(&tr, path, x, t, tg, w, 4, 2, l, &err) == 0);
	dm_reader *r;
	dm_frame f;
	dm_frame_init(&f);
	CHECK(dm_reader_open_path(&r, path, &err) == 0);
	CHECK(dm_reader_next(r, &f, &err) == 1);
	CHECK(f.n == 6 + 2 * tr.net.layout.n);
	dm_tensor *lt = dm_frame_get(&f, "loss"), *xt = dm_frame_get(&f, "x");
	CHECK(lt && lt->dtype == DM_F64 && *(double *)lt->data == l);
	CHECK(xt && xt->dims[0] == 4 && xt->dims[1] == 2 && ((float *)xt->data)[7] == 8);
	char name[160];
	snprintf(name, sizeof name, "grad:%s", tr.net.layout.p[0].name);
	dm_tensor *g = dm_frame_get(&f, name);
	CHECK(g && ((float *)g->data)[0] == tr.g[tr.net.layout.p[0].off]);
	dm_reader_close(r);
	dm_frame_free(&f);
	unlink(path);
	dm_trainer_free(&tr);
}

/* The options given override the base (per-model defaults or a
 * checkpoint's); the others keep it; check finishes the cosine horizon. */
TEST(train_opts_merge_keeps_what_was_not_given)
{
	dm_train_opts base, given, o;
	dm_error err;
	dm_train_opts_for_net(&base, DM_NET_UNET);
	dm_train_opts_default(&given);
	given.lr = 5e-4f, given.batch = 7, given.ema = 0.5f, given.warmup = 3;
	o = base;
	dm_train_opts_merge(&o, &given, DM_TO_LR | DM_TO_BATCH);
	CHECK(o.lr == 5e-4f && o.batch == 7);
	CHECK(o.ema == base.ema && o.warmup == base.warmup && o.clip == base.clip);
	o = base;
	dm_train_opts_merge(&o, &given, 0);
	CHECK(memcmp(&o, &base, sizeof o) == 0);

	dm_train_opts_for_net(&o, DM_NET_CLASSIFIER); /* cosine by default */
	CHECK(dm_train_opts_check(&o, 0, 0, &err) == 0 && o.lr_decay == DM_LR_NONE);
	dm_train_opts_for_net(&o, DM_NET_CLASSIFIER);
	CHECK(dm_train_opts_check(&o, 40, 0, &err) == 0 && o.decay_steps == 40);
	dm_train_opts_for_net(&o, DM_NET_CLASSIFIER);
	CHECK(dm_train_opts_check(&o, 0, DM_TO_DECAY, &err) == DM_ERR_ARG);
	o = base, o.ema = 1;
	CHECK(dm_train_opts_check(&o, 0, 0, &err) == DM_ERR_ARG && strstr(err.msg, "--ema"));
	o = base, o.lr = 0;
	CHECK(dm_train_opts_check(&o, 0, 0, &err) == DM_ERR_ARG && strstr(err.msg, "--lr"));
	dm_train_opts_reference(&o);
	CHECK(o.clip == 0 && o.lr == 2e-4f && o.batch == 128);
}

/* Classifier guidance's gradient (dm_model_class_grad) of a saved
 * classifier: d log softmax(logits)[label] / dx against central
 * differences of the log-probability from the model's own forward. */
TEST(model_class_grad_matches_finite_differences)
{
	dm_net_config c;
	dm_error err;
	CHECK(dm_net_config_named(&c, "classifier", &err) == 0);
	c.cls.in_ch = 1, c.cls.H = 6, c.cls.W = 5, c.cls.ch = 4, c.cls.nmult = 2;
	c.cls.ch_mult[0] = 1, c.cls.ch_mult[1] = 2, c.cls.res_blocks = 0, c.cls.groups = 2;
	c.cls.feat = 6, c.cls.outputs = 3;
	dm_trainer tr;
	dm_train_opts o;
	dm_train_opts_default(&o);
	CHECK_MSG(dm_trainer_init(&tr, &c, &o, NULL, &err) == 0, "%s", err.msg);
	char path[] = "/tmp/dm-test-cls-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK(dm_trainer_save(&tr, path, &err) == 0);
	dm_trainer_free(&tr);
	dm_model *m;
	CHECK_MSG(dm_model_load(path, 1, &m, &err) == 0, "%s", err.msg);
	unlink(path);
	CHECK(dm_model_classifier_classes(m) == 3);
	enum { B = 2, D = 30 };
	float x[B * D], g[B * D], z[B * 3], t[B] = {5, 9};
	int32_t lab[B] = {2, 0};
	dm_rng_normal(4, 97, 0, 0, x, B * D);
	CHECK(dm_model_class_grad(m, x, t, lab, B, g, &err) == 0);
	double h = 1e-2, worst = 0;
	for (int i = 0; i < B * D; i++) {
		double lp[2];
		float save = x[i];
		for (int k = 0; k < 2; k++) {
			x[i] = (float)(save + (k ? -h : h));
			CHECK(dm_model_predict(m, x, t, NULL, B, z, &err) == 0);
			const float *zb = z + (i / D) * 3;
			double mx = fmax(zb[0], fmax(zb[1], zb[2])), s = 0;
			for (int j = 0; j < 3; j++)
				s += exp(zb[j] - mx);
			lp[k] = zb[lab[i / D]] - mx - log(s);
		}
		x[i] = save;
		double e = fabs((lp[0] - lp[1]) / (2 * h) - g[i]) / (1e-3 + fabs(g[i]));
		worst = e > worst ? e : worst;
	}
	int32_t bad[B] = {3, 0};
	CHECK(dm_model_class_grad(m, x, t, bad, B, g, &err) == DM_ERR_ARG);
	dm_model_free(m);
	CHECK_MSG(worst < 2e-2, "class gradient off finite differences by %g (relative)", worst);
}

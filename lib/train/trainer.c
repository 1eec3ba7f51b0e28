#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/outfile.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "models/checkpoint.h"
#include "models/classifier.h"
#include "nn/layers.h"
#include "nn/optim.h"

/* ---- trainer --------------------------------------------------------- */

void dm_train_opts_default(dm_train_opts *o)
{
	memset(o, 0, sizeof *o);
	o->lr = 2e-4f, o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f;
	o->weight_decay = 0, o->clip = 1.0f, o->ema = 0.999f, o->label_dropout = 0.1f;
	o->warmup = 0, o->lr_decay = DM_LR_NONE, o->decay_steps = 0;
	o->grad_accum = 1, o->batch = 128, o->seed = 0;
}

void dm_train_opts_for_net(dm_train_opts *o, int kind)
{
	dm_train_opts_default(o);
	switch (kind) {
	case DM_NET_MLP:
		o->lr = 2e-3f, o->batch = 256;
		break;
	case DM_NET_UNET:
		o->lr = 1e-3f, o->batch = 64, o->warmup = 200;
		break;
	case DM_NET_UNET3D: /* a clip costs about T images */
		o->lr = 1e-3f, o->batch = 16, o->warmup = 200;
		break;
	case DM_NET_CLASSIFIER:
		o->lr = 2e-3f, o->warmup = 50, o->lr_decay = DM_LR_COSINE, o->ema = 0.995f;
		break;
	}
}

void dm_train_opts_reference(dm_train_opts *o)
{
	dm_train_opts_default(o);
	o->clip = 0;
}

void dm_train_opts_merge(dm_train_opts *d, const dm_train_opts *s, unsigned given)
{
	if (given & DM_TO_LR) d->lr = s->lr;
	if (given & DM_TO_BETAS) d->beta1 = s->beta1, d->beta2 = s->beta2;
	if (given & DM_TO_WD) d->weight_decay = s->weight_decay;
	if (given & DM_TO_WARMUP) d->warmup = s->warmup;
	if (given & DM_TO_DECAY) d->lr_decay = s->lr_decay;
	if (given & DM_TO_DECAYSTEPS) d->decay_steps = s->decay_steps;
	if (given & DM_TO_CLIP) d->clip = s->clip;
	if (given & DM_TO_EMA) d->ema = s->ema;
	if (given & DM_TO_LABELDROP) d->label_dropout = s->label_dropout;
	if (given & DM_TO_ACCUM) d->grad_accum = s->grad_accum;
	if (given & DM_TO_BATCH) d->batch = s->batch;
}

int dm_train_opts_check(dm_train_opts *o, long steps, unsigned given, dm_error *err)
{
	if (!(o->lr > 0) || !isfinite(o->lr))
		return dm_error_set(err, DM_ERR_ARG, "--lr must be a number > 0");
	if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
		return dm_error_set(err, DM_ERR_ARG, "--betas must both be in [0, 1)");
	if (!(o->ema >= 0 && o->ema < 1))
		return dm_error_set(err, DM_ERR_ARG, "--ema must be in [0, 1)");
	if (!(o->clip >= 0) || !(o->weight_decay >= 0) || !isfinite(o->clip) ||
	    !isfinite(o->weight_decay))
		return dm_error_set(err, DM_ERR_ARG, "--clip-grad and --weight-decay must be >= 0");
	if (!(o->label_dropout >= 0 && o->label_dropout <= 1))
		return dm_error_set(err, DM_ERR_ARG, "--label-dropout must be in [0, 1]");
	if (o->lr_decay == DM_LR_COSINE && o->decay_steps == 0)
		o->decay_steps = steps;
	if (o->lr_decay == DM_LR_COSINE && o->decay_steps == 0 && !(given & DM_TO_DECAY))
		o->lr_decay = DM_LR_NONE; /* a default decay needs a horizon */
	if (o->lr_decay == DM_LR_COSINE && o->decay_steps == 0)
		return dm_error_set(err, DM_ERR_ARG, "--lr-decay cosine needs --steps or --decay-steps");
	return 0;
}

static int trainer_alloc(dm_trainer *tr, const dm_net_config *cfg, dm_error *err)
{
	int rc = dm_net_init(&tr->net, cfg, err);
	if (rc < 0)
		return rc;
	tr->P = tr->net.layout.total;
	tr->block = calloc(5 * tr->P, sizeof(float));
	if (!tr->block)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for %zu parameters", tr->P);
	tr->w = tr->block, tr->g = tr->w + tr->P, tr->m = tr->g + tr->P, tr->v = tr->m + tr->P;
	tr->ema = tr->v + tr->P;
	tr->rank = 0, tr->nranks = 1;
	return 0;
}

int dm_trainer_init(dm_trainer *tr, const dm_net_config *cfg, const dm_train_opts *o,
                    const dm_kv *meta, dm_error *err)
{
	memset(tr, 0, sizeof *tr);
	dm_kv_init(&tr->meta);
	tr->o = *o;
	int rc = trainer_alloc(tr, cfg, err);
	if (rc < 0)
		return rc;
	if (meta && dm_kv_copy(&tr->meta, meta) < 0)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	dm_net_init_params(&tr->net, tr->w, o->seed);
	memcpy(tr->ema, tr->w, tr->P * sizeof(float));
	return 0;
}

void dm_trainer_free(dm_trainer *tr)
{
	dm_net_free(&tr->net);
	free(tr->block);
	free(tr->out);
	free(tr->dout);
	free(tr->lab);
	dm_kv_free(&tr->meta);
	memset(tr, 0, sizeof *tr);
}

float dm_trainer_lr(const dm_train_opts *o, long step)
{
	double lr = o->lr;
	if (o->warmup > 0 && step < o->warmup)
		return (float)(lr * (double)(step + 1) / (double)o->warmup);
	if (o->lr_decay == DM_LR_COSINE && o->decay_steps > o->warmup) {
		double p = (double)(step - o->warmup) / (double)(o->decay_steps - o->warmup);
		if (p > 1)
			p = 1;
		lr = 0.5 * lr * (1 + cos(M_PI * p));
	}
	return (float)lr;
}

int dm_trainer_micro(dm_trainer *tr, const float *x, const float *t, const float *target,
                     const float *w, const int32_t *label, int B, double *loss, dm_error *err)
{
	/* S: the regression target's values per sample (the output's, for
	 * mlp and unet); a classifier's output is its logits */
	size_t S = dm_net_output_size(&tr->net.cfg), n = (size_t)B * S;
	int cls = tr->net.cfg.kind == DM_NET_CLASSIFIER, K = tr->net.cfg.cls.outputs;
	if (cls) {
		if (!label)
			return dm_error_set(err, DM_ERR_ARG, "a classifier needs labels");
		for (int b = 0; b < B; b++)
			if (label[b] < 0 || label[b] >= K)
				return dm_error_set(err, DM_ERR_ARG, "label %d of a sample at step %ld is not "
				                    "a class of this %d-way classifier", (int)label[b],
				                    tr->step + 1, K);
	}
	if (tr->B != B) {
		free(tr->out), free(tr->dout), free(tr->lab);
		tr->out = malloc(n * sizeof(float));
		tr->dout = malloc(n * sizeof(float));
		tr->lab = malloc((size_t)B * sizeof(int32_t));
		tr->B = tr->out && tr->dout && tr->lab ? B : 0;
		if (!tr->B)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory for batch %d", B);
	}
	if (cls) /* kept for dm_parity_dump */
		memcpy(tr->lab, label, (size_t)B * sizeof(int32_t));
	const int32_t *lab = NULL;
	int C = tr->net.cfg.classes;
	if (C > 0) {
		for (int b = 0; b < B; b++) {
			int32_t l = label ? label[b] : C;
			float u = 1;
			if (tr->o.label_dropout > 0)
				dm_rng_uniform(tr->o.seed, DM_RNG_LABELDROP,
				               tr->samples + (uint64_t)tr->rank + (uint64_t)tr->nranks * (uint64_t)b,
				               0, &u, 1);
			tr->lab[b] = (l < 0 || l > C || u < tr->o.label_dropout) ? C : l;
		}
		lab = tr->lab;
	}
	uint64_t drop_index = ((uint64_t)tr->step * (uint64_t)tr->o.grad_accum + (uint64_t)tr->accum) *
	                          (uint64_t)tr->nranks + (uint64_t)tr->rank;
	int rc = dm_net_forward(&tr->net, tr->w, x, t, lab, B, tr->out, 1, tr->o.seed, drop_index,
	                        err);
	if (rc < 0)
		return rc;
	double L = cls ? dm_xent_forward(tr->out, label, w, B, K, NULL)
	               : dm_mse_forward(NULL, tr->out, target, w, B, S);
	*loss = L;
	if (!isfinite(L))
		return dm_error_set(err, DM_ERR_ARG,
		                    "loss is %g at step %ld; stopping (the last checkpoint is kept)", L,
		                    tr->step + 1);
	if (tr->accum == 0)
		memset(tr->g, 0, tr->P * sizeof(float));
	memset(tr->dout, 0, n * sizeof(float));
	/* 1 / (accum N) here and 1 / B inside: each rank's share of the mean
	 * over the global batch */
	float dl = (float)(1.0 / ((double)tr->o.grad_accum * (double)tr->nranks));
	if (cls)
		dm_xent_backward(tr->dout, tr->out, label, w, B, K, dl);
	else
		dm_mse_backward(tr->dout, tr->out, target, w, B, S, dl);
	dm_net_backward(&tr->net, tr->w, tr->g, tr->dout);
	tr->accum++;
	tr->loss_acc += L;
	tr->samples += (uint64_t)B * (uint64_t)tr->nranks;
	return 0;
}

float dm_trainer_apply(dm_trainer *tr, double *gnorm)
{
	const dm_train_opts *o = &tr->o;
	double gn = dm_grad_clip(tr->g, tr->P, o->clip);
	if (gnorm)
		*gnorm = gn;
	float lr = dm_trainer_lr(o, tr->step);
	tr->step++;
	dm_adamw_step(tr->w, tr->g, tr->m, tr->v, tr->P, lr, o->beta1, o->beta2, o->eps,
	              o->weight_decay, tr->step);
	/* EMA warm-up: decay min(D, (1+s)/(10+s)) after step s, so that the
	 * initial weights fade in short runs instead of keeping D^s of them */
	float decay = (float)(1.0 + (double)tr->step) / (float)(10.0 + (double)tr->step);
	dm_ema_update(tr->ema, tr->w, tr->P, decay < o->ema ? decay : o->ema);
	tr->accum = 0;
	tr->loss_acc = 0;
	return lr;
}

/* ---- checkpoints (the frames are models/checkpoint.h's) ---------------- */

static const char *const own_keys[] = {
	"tool", "format", "checkpoint_version", "dm_version", "model", "dim", "hidden", "layers",
	"temb", "in_ch", "H", "W", "ch", "ch_mult", "res_blocks", "attn", "groups", "dropout",
	"shape", "feat", "outputs", "classes", "t_scale", "params", "step", "samples", "lr", "betas", "eps",
	"weight_decay", "warmup", "lr_decay", "decay_steps", "clip_grad", "ema", "label_dropout",
	"grad_accum", "batch", "seed",
	"shard", /* dm-load's R/N of one rank's input: not part of a rank-independent checkpoint */
	"weights", /* which weights an export holds (dm_checkpoint_export) */
	NULL};

static int is_own_key(const char *k)
{
	for (int i = 0; own_keys[i]; i++)
		if (!strcmp(k, own_keys[i]))
			return 1;
	return 0;
}

static int header_kv(const dm_trainer *tr, dm_kv *kv, dm_error *err)
{
	const dm_train_opts *o = &tr->o;
	int rc = 0;
	rc |= dm_kv_set(kv, "tool", "dm-train");
	rc |= dm_kv_set(kv, "format", "dm-checkpoint");
	rc |= dm_kv_set(kv, "checkpoint_version", "1");
	rc |= dm_kv_set(kv, "dm_version", dm_version());
	if (rc)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if ((rc = dm_net_config_to_kv(&tr->net.cfg, kv, err)) < 0)
		return rc;
	rc |= dm_kv_setf(kv, "params", "%zu", tr->P);
	rc |= dm_kv_setf(kv, "step", "%ld", tr->step);
	rc |= dm_kv_setf(kv, "samples", "%llu", (unsigned long long)tr->samples);
	rc |= dm_kv_setf(kv, "lr", "%.9g", (double)o->lr);
	rc |= dm_kv_setf(kv, "betas", "%.9g,%.9g", (double)o->beta1, (double)o->beta2);
	rc |= dm_kv_setf(kv, "eps", "%.9g", (double)o->eps);
	rc |= dm_kv_setf(kv, "weight_decay", "%.9g", (double)o->weight_decay);
	rc |= dm_kv_setf(kv, "warmup", "%ld", o->warmup);
	rc |= dm_kv_set(kv, "lr_decay", o->lr_decay == DM_LR_COSINE ? "cosine" : "none");
	rc |= dm_kv_setf(kv, "decay_steps", "%ld", o->decay_steps);
	rc |= dm_kv_setf(kv, "clip_grad", "%.9g", (double)o->clip);
	rc |= dm_kv_setf(kv, "ema", "%.9g", (double)o->ema);
	rc |= dm_kv_setf(kv, "label_dropout", "%.9g", (double)o->label_dropout);
	rc |= dm_kv_setf(kv, "grad_accum", "%d", o->grad_accum);
	rc |= dm_kv_setf(kv, "batch", "%lld", (long long)o->batch * (tr->nranks > 0 ? tr->nranks : 1));
	rc |= dm_kv_setf(kv, "seed", "%llu", (unsigned long long)o->seed);
	for (int i = 0; i < tr->meta.n; i++)
		if (!is_own_key(tr->meta.key[i]))
			rc |= dm_kv_set(kv, tr->meta.key[i], tr->meta.val[i]);
	if (rc)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	return 0;
}

int dm_trainer_save(const dm_trainer *tr, const char *path, dm_error *err)
{
	dm_kv kv;
	dm_kv_init(&kv);
	int rc = header_kv(tr, &kv, err);
	dm_outfile of;
	memset(&of, 0, sizeof of);
	dm_writer *w = NULL;
	if (rc == 0)
		rc = dm_outfile_open(&of, path, err);
	if (rc == 0 && (rc = dm_writer_open(&w, of.f, path, &kv, err)) < 0)
		w = NULL;
	const dm_layout *L = &tr->net.layout;
	if (rc == 0)
		rc = dm_checkpoint_write_block(w, L, "weights", tr->w, err);
	if (rc == 0)
		rc = dm_checkpoint_write_block(w, L, "ema", tr->ema, err);
	if (rc == 0)
		rc = dm_checkpoint_write_block(w, L, "adam_m", tr->m, err);
	if (rc == 0)
		rc = dm_checkpoint_write_block(w, L, "adam_v", tr->v, err);
	if (rc == 0) {
		dm_frame f;
		dm_frame_init(&f);
		int64_t one = 1;
		int64_t vals[3] = {tr->step, (int64_t)tr->samples, (int64_t)tr->o.seed};
		const char *names[3] = {"step", "samples", "seed"};
		rc = dm_kv_set(&f.tags, "kind", "state") ? DM_ERR_NOMEM : 0;
		for (int i = 0; i < 3 && rc == 0; i++) {
			dm_tensor *t = dm_frame_add(&f, names[i], DM_I64, 1, &one, err);
			if (!t)
				rc = DM_ERR_NOMEM;
			else
				memcpy(t->data, &vals[i], 8);
		}
		if (rc == 0)
			rc = dm_writer_write(w, &f, err);
		dm_frame_free(&f);
	}
	if (w) {
		int rc2 = rc == 0 ? dm_writer_close(w, err) : (dm_writer_abort(w), 0);
		if (rc == 0)
			rc = rc2;
	}
	if (rc == 0)
		rc = dm_outfile_commit(&of, err);
	else
		dm_outfile_abort(&of);
	dm_kv_free(&kv);
	return rc;
}

static void opts_from_kv(dm_train_opts *o, const dm_kv *kv)
{
	dm_train_opts_default(o);
	o->lr = (float)dm_kv_get_double(kv, "lr", o->lr);
	const char *b = dm_kv_get(kv, "betas");
	if (b)
		sscanf(b, "%f,%f", &o->beta1, &o->beta2);
	o->eps = (float)dm_kv_get_double(kv, "eps", o->eps);
	o->weight_decay = (float)dm_kv_get_double(kv, "weight_decay", o->weight_decay);
	o->warmup = (long)dm_kv_get_double(kv, "warmup", 0);
	const char *d = dm_kv_get(kv, "lr_decay");
	o->lr_decay = d && !strcmp(d, "cosine") ? DM_LR_COSINE : DM_LR_NONE;
	o->decay_steps = (long)dm_kv_get_double(kv, "decay_steps", 0);
	o->clip = (float)dm_kv_get_double(kv, "clip_grad", o->clip);
	o->ema = (float)dm_kv_get_double(kv, "ema", o->ema);
	o->label_dropout = (float)dm_kv_get_double(kv, "label_dropout", o->label_dropout);
	o->grad_accum = (int)dm_kv_get_double(kv, "grad_accum", 1);
	if (o->grad_accum < 1)
		o->grad_accum = 1;
	o->batch = (int)dm_kv_get_double(kv, "batch", o->batch);
	const char *s = dm_kv_get(kv, "seed");
	o->seed = s ? strtoull(s, NULL, 10) : 0;
}

int dm_trainer_load(dm_trainer *tr, const char *path, dm_error *err)
{
	dm_reader *r;
	dm_net_config cfg;
	memset(tr, 0, sizeof *tr);
	dm_kv_init(&tr->meta);
	int rc = dm_checkpoint_open(path, &r, &cfg, err);
	if (rc < 0)
		return rc;
	const dm_kv *meta = dm_reader_meta(r);
	opts_from_kv(&tr->o, meta);
	for (int i = 0; i < meta->n && rc == 0; i++)
		if (!is_own_key(meta->key[i]) && dm_kv_set(&tr->meta, meta->key[i], meta->val[i]))
			rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = trainer_alloc(tr, &cfg, err);
	float *blk[4] = {tr->w, tr->ema, tr->m, tr->v};
	int64_t state[3] = {0, 0, 0};
	if (rc == 0)
		rc = dm_checkpoint_read_frames(r, &tr->net.layout, blk, state, path, err);
	int64_t step = state[0], samples = state[1], seed = state[2];
	dm_reader_close(r);
	if (rc < 0) {
		dm_trainer_free(tr);
		return rc;
	}
	tr->step = (long)step;
	tr->samples = (uint64_t)samples;
	tr->o.seed = (uint64_t)seed;
	return 0;
}

int dm_trainer_from_weights(dm_trainer *tr, const char *path, dm_error *err)
{
	dm_kv meta;
	dm_frame f;
	dm_kv_init(&meta);
	dm_frame_init(&f);
	memset(tr, 0, sizeof *tr);
	dm_kv_init(&tr->meta);
	dm_net_config cfg;
	dm_train_opts o;
	int rc = dm_safetensors_read(path, &meta, &f, err);
	if (rc == 0 && !dm_kv_get(&meta, "model"))
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: no model= in its __metadata__: dm needs the "
		                  "model's configuration keys there (dm-stream(5), Checkpoints)", path);
	if (rc == 0)
		rc = dm_checkpoint_check_schedule(&meta, path, err);
	if (rc == 0)
		rc = dm_net_config_from_kv(&cfg, &meta, path, err);
	if (rc == 0) {
		dm_kv_free(&tr->meta);
		dm_train_opts_for_net(&o, cfg.kind);
		rc = dm_trainer_init(tr, &cfg, &o, &meta, err);
	}
	/* the weights pass the checkpoint's verdict: exactly the layout's
	 * tensors, f32, finite */
	if (rc == 0 && (rc = dm_checkpoint_take(&f, &tr->net.layout, "weights", tr->w, path, err)) == 0)
		memcpy(tr->ema, tr->w, tr->P * sizeof(float));
	if (rc < 0)
		dm_trainer_free(tr);
	dm_frame_free(&f);
	dm_kv_free(&meta);
	return rc;
}

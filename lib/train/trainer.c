#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "models/mlp.h"
#include "nn/optim.h"
#include "core/outfile.h"
#include "core/rng.h"
#include "models/unet.h"

/* ---- layout ---------------------------------------------------------- */

size_t dm_layout_add(dm_layout *L, const char *name, int rank, int64_t d0, int64_t d1, int64_t d2,
                     int64_t d3)
{
	if (L->n == L->cap) {
		int cap = L->cap ? 2 * L->cap : 64;
		dm_param *p = realloc(L->p, (size_t)cap * sizeof *p);
		if (!p) {
			L->oom = 1;
			return 0;
		}
		L->p = p;
		L->cap = cap;
	}
	dm_param *q = &L->p[L->n++];
	memset(q, 0, sizeof *q);
	snprintf(q->name, sizeof q->name, "%s", name);
	q->rank = rank;
	int64_t d[4] = {d0, d1, d2, d3};
	q->n = 1;
	for (int i = 0; i < rank; i++) {
		q->dims[i] = d[i];
		q->n *= (size_t)d[i];
	}
	q->off = L->total;
	L->total += q->n;
	return q->off;
}

void dm_layout_free(dm_layout *L)
{
	free(L->p);
	memset(L, 0, sizeof *L);
}

int dm_layout_find(const dm_layout *L, const char *name)
{
	for (int i = 0; i < L->n; i++)
		if (!strcmp(L->p[i].name, name))
			return i;
	return -1;
}

/* ---- config ---------------------------------------------------------- */

static void unet_s(dm_net_config *c)
{
	c->kind = DM_NET_UNET;
	c->in_ch = 1, c->H = 28, c->W = 28, c->ch = 32;
	c->nmult = 3, c->ch_mult[0] = 1, c->ch_mult[1] = 2, c->ch_mult[2] = 2;
	c->res_blocks = 2, c->nattn = 1, c->attn_res[0] = 7, c->groups = 8, c->dropout = 0;
}

int dm_net_config_named(dm_net_config *c, const char *name, dm_error *err)
{
	memset(c, 0, sizeof *c);
	c->t_scale = 1;
	if (!strcmp(name, "mlp-2d") || !strcmp(name, "mlp")) {
		c->kind = DM_NET_MLP;
		c->dim = 2, c->hidden = 256, c->layers = 3, c->temb = 64;
	} else if (!strcmp(name, "unet-s") || !strcmp(name, "unet")) {
		unet_s(c);
	} else if (!strcmp(name, "unet-m")) {
		unet_s(c);
		c->in_ch = 3, c->H = 32, c->W = 32, c->ch = 64;
		c->nmult = 4, c->ch_mult[3] = 2;
		c->attn_res[0] = 16, c->groups = 32, c->dropout = 0.1f;
	} else {
		return dm_error_set(err, DM_ERR_ARG,
		                    "unknown model '%s' (mlp-2d, unet-s, unet-m, mlp, unet)", name);
	}
	return 0;
}

size_t dm_net_sample_size(const dm_net_config *c)
{
	return c->kind == DM_NET_MLP ? (size_t)c->dim : (size_t)c->in_ch * c->H * c->W;
}

int dm_net_config_check(const dm_net_config *c, dm_error *err)
{
	if (c->classes < 0 || c->classes > 1000000)
		return dm_error_set(err, DM_ERR_ARG, "classes %d out of range", c->classes);
	if (!(c->t_scale > 0))
		return dm_error_set(err, DM_ERR_ARG, "t_scale must be positive");
	if (c->kind == DM_NET_MLP) {
		if (c->dim < 1 || c->dim > 1 << 20 || c->hidden < 1 || c->hidden > 1 << 16 ||
		    c->layers < 1 || c->layers > 62 || c->temb < 2 || c->temb > 1 << 16)
			return dm_error_set(err, DM_ERR_ARG,
			                    "mlp sizes out of range (dim %d hidden %d layers %d temb %d)",
			                    c->dim, c->hidden, c->layers, c->temb);
		return 0;
	}
	if (c->kind != DM_NET_UNET)
		return dm_error_set(err, DM_ERR_ARG, "unknown model kind");
	if (c->in_ch < 1 || c->in_ch > 64 || c->H < 1 || c->W < 1 || c->H > 4096 || c->W > 4096)
		return dm_error_set(err, DM_ERR_ARG, "unet: input shape %dx%dx%d out of range",
		                    c->in_ch, c->H, c->W);
	if (c->ch < 2 || c->ch > 4096 || c->ch % 2)
		return dm_error_set(err, DM_ERR_ARG, "unet: ch must be even and 2..4096, not %d", c->ch);
	if (c->nmult < 1 || c->nmult > DM_NET_MAX_LEVELS || c->res_blocks < 1 || c->res_blocks > 16)
		return dm_error_set(err, DM_ERR_ARG, "unet: ch_mult needs 1..%d levels, res_blocks 1..16",
		                    DM_NET_MAX_LEVELS);
	if (c->groups < 1 || c->ch % c->groups)
		return dm_error_set(err, DM_ERR_ARG, "unet: groups %d does not divide ch %d", c->groups,
		                    c->ch);
	for (int i = 0; i < c->nmult; i++) {
		if (c->ch_mult[i] < 1 || c->ch_mult[i] > 64)
			return dm_error_set(err, DM_ERR_ARG, "unet: ch_mult %d out of range", c->ch_mult[i]);
		if ((c->ch * c->ch_mult[i]) % c->groups)
			return dm_error_set(err, DM_ERR_ARG, "unet: groups %d does not divide width %d",
			                    c->groups, c->ch * c->ch_mult[i]);
	}
	int h = c->H, w = c->W;
	for (int i = 0; i + 1 < c->nmult; i++) {
		if (h % 2 || w % 2)
			return dm_error_set(err, DM_ERR_ARG,
			                    "unet: input %dx%d cannot be halved %d times (ch_mult has %d "
			                    "levels)",
			                    c->H, c->W, c->nmult - 1, c->nmult);
		h /= 2, w /= 2;
	}
	if (c->dropout < 0 || c->dropout >= 1)
		return dm_error_set(err, DM_ERR_ARG, "unet: dropout must be in [0, 1)");
	return 0;
}

static void list_str(char *buf, size_t n, const int *v, int k)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; i < k && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, i ? ",%d" : "%d", v[i]);
}

int dm_net_config_to_kv(const dm_net_config *c, dm_kv *kv, dm_error *err)
{
	char a[256], b[256];
	int rc = 0;
	rc |= dm_kv_set(kv, "model", c->kind == DM_NET_MLP ? "mlp" : "unet");
	if (c->kind == DM_NET_MLP) {
		rc |= dm_kv_setf(kv, "dim", "%d", c->dim);
		rc |= dm_kv_setf(kv, "hidden", "%d", c->hidden);
		rc |= dm_kv_setf(kv, "layers", "%d", c->layers);
		rc |= dm_kv_setf(kv, "temb", "%d", c->temb);
		rc |= dm_kv_setf(kv, "shape", "%d", c->dim);
	} else {
		list_str(a, sizeof a, c->ch_mult, c->nmult);
		list_str(b, sizeof b, c->attn_res, c->nattn);
		rc |= dm_kv_setf(kv, "in_ch", "%d", c->in_ch);
		rc |= dm_kv_setf(kv, "H", "%d", c->H);
		rc |= dm_kv_setf(kv, "W", "%d", c->W);
		rc |= dm_kv_setf(kv, "ch", "%d", c->ch);
		rc |= dm_kv_set(kv, "ch_mult", a);
		rc |= dm_kv_setf(kv, "res_blocks", "%d", c->res_blocks);
		rc |= dm_kv_set(kv, "attn", c->nattn ? b : "none");
		rc |= dm_kv_setf(kv, "groups", "%d", c->groups);
		rc |= dm_kv_setf(kv, "dropout", "%.9g", (double)c->dropout);
		rc |= dm_kv_setf(kv, "shape", "%dx%dx%d", c->in_ch, c->H, c->W);
	}
	rc |= dm_kv_setf(kv, "classes", "%d", c->classes);
	rc |= dm_kv_setf(kv, "t_scale", "%.9g", (double)c->t_scale);
	if (rc)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory writing the model config");
	return 0;
}

/* Parse "1,2,2" into v (at most max); returns the count or -1. */
int dm_net_parse_list(const char *s, int *v, int max)
{
	int k = 0;
	if (!strcmp(s, "none") || !*s)
		return 0;
	while (*s) {
		char *end;
		long x = strtol(s, &end, 10);
		if (end == s || x < 1 || x > 100000 || k == max)
			return -1;
		v[k++] = (int)x;
		s = end;
		if (*s == ',')
			s++;
		else if (*s)
			return -1;
	}
	return k;
}

static int kv_int(const dm_kv *kv, const char *key, const char *name, int *out, dm_error *err)
{
	const char *s = dm_kv_get(kv, key);
	char *end;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || end == s || *end || v < 0 || v > (1L << 30))
		return dm_error_set(err, DM_ERR_FORMAT, "%s: checkpoint header has %s %s%s%s", name,
		                    s ? "a bad" : "no", key, s ? "=" : "", s ? s : "");
	*out = (int)v;
	return 0;
}

int dm_net_config_from_kv(dm_net_config *c, const dm_kv *kv, const char *name, dm_error *err)
{
	memset(c, 0, sizeof *c);
	const char *model = dm_kv_get(kv, "model");
	int rc;
	if (!model)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: no model= in the header; not a dm-train "
		                    "checkpoint", name);
	if (!strcmp(model, "mlp")) {
		c->kind = DM_NET_MLP;
		if ((rc = kv_int(kv, "dim", name, &c->dim, err)) ||
		    (rc = kv_int(kv, "hidden", name, &c->hidden, err)) ||
		    (rc = kv_int(kv, "layers", name, &c->layers, err)) ||
		    (rc = kv_int(kv, "temb", name, &c->temb, err)))
			return rc;
	} else if (!strcmp(model, "unet")) {
		c->kind = DM_NET_UNET;
		if ((rc = kv_int(kv, "in_ch", name, &c->in_ch, err)) ||
		    (rc = kv_int(kv, "H", name, &c->H, err)) || (rc = kv_int(kv, "W", name, &c->W, err)) ||
		    (rc = kv_int(kv, "ch", name, &c->ch, err)) ||
		    (rc = kv_int(kv, "res_blocks", name, &c->res_blocks, err)) ||
		    (rc = kv_int(kv, "groups", name, &c->groups, err)))
			return rc;
		const char *m = dm_kv_get(kv, "ch_mult"), *a = dm_kv_get(kv, "attn");
		c->nmult = m ? dm_net_parse_list(m, c->ch_mult, DM_NET_MAX_LEVELS) : -1;
		c->nattn = a ? dm_net_parse_list(a, c->attn_res, DM_NET_MAX_LEVELS) : -1;
		if (c->nmult < 1 || c->nattn < 0)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: bad ch_mult= or attn= in the header",
			                    name);
		c->dropout = (float)dm_kv_get_double(kv, "dropout", 0);
	} else {
		return dm_error_set(err, DM_ERR_FORMAT, "%s: unknown model=%s", name, model);
	}
	if ((rc = kv_int(kv, "classes", name, &c->classes, err)))
		return rc;
	c->t_scale = (float)dm_kv_get_double(kv, "t_scale", 1);
	dm_error e2;
	if (dm_net_config_check(c, &e2) < 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: %s", name, e2.msg);
	return 0;
}

/* ---- net ------------------------------------------------------------- */

int dm_net_init(dm_net *net, const dm_net_config *cfg, dm_error *err)
{
	memset(net, 0, sizeof *net);
	int rc = dm_net_config_check(cfg, err);
	if (rc < 0)
		return rc;
	net->cfg = *cfg;
	if (cfg->kind == DM_NET_MLP) {
		net->mlp = calloc(1, sizeof *net->mlp);
		if (!net->mlp)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		rc = dm_mlp_init(net->mlp, cfg, &net->layout, err);
	} else {
		rc = dm_unet_init(&net->unet, cfg, &net->layout, err);
	}
	if (rc < 0)
		dm_net_free(net);
	return rc;
}

void dm_net_free(dm_net *net)
{
	if (net->mlp) {
		dm_mlp_free(net->mlp);
		free(net->mlp);
	}
	if (net->unet)
		dm_unet_free(net->unet);
	dm_layout_free(&net->layout);
	memset(net, 0, sizeof *net);
}

void dm_net_init_params(const dm_net *net, float *params, uint64_t seed)
{
	if (net->mlp)
		dm_mlp_init_params(net->mlp, params, seed);
	else
		dm_unet_init_params(net->unet, params, seed);
}

int dm_net_forward(dm_net *net, const float *params, const float *x, const float *t,
                   const int32_t *label, int B, float *out, int train, uint64_t seed,
                   uint64_t drop_index, dm_error *err)
{
	int rc;
	if (net->mlp) {
		if ((rc = dm_mlp_plan(net->mlp, B, err)) < 0)
			return rc;
		dm_mlp_forward(net->mlp, params, x, t, label, B, out);
	} else {
		if ((rc = dm_unet_plan(net->unet, B, train, err)) < 0)
			return rc;
		dm_unet_forward(net->unet, params, x, t, label, B, out, train, seed, drop_index);
	}
	return 0;
}

void dm_net_backward(dm_net *net, const float *params, float *grads, const float *dout)
{
	if (net->mlp)
		dm_mlp_backward(net->mlp, params, grads, dout);
	else
		dm_unet_backward(net->unet, params, grads, dout);
}

/* ---- trainer --------------------------------------------------------- */

void dm_train_opts_default(dm_train_opts *o)
{
	memset(o, 0, sizeof *o);
	o->lr = 2e-4f, o->beta1 = 0.9f, o->beta2 = 0.999f, o->eps = 1e-8f;
	o->weight_decay = 0, o->clip = 1.0f, o->ema = 0.999f, o->label_dropout = 0.1f;
	o->warmup = 0, o->lr_decay = DM_LR_NONE, o->decay_steps = 0;
	o->grad_accum = 1, o->batch = 128, o->seed = 0;
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
	size_t S = dm_net_sample_size(&tr->net.cfg), n = (size_t)B * S;
	if (tr->B != B) {
		free(tr->out), free(tr->dout), free(tr->lab);
		tr->out = malloc(n * sizeof(float));
		tr->dout = malloc(n * sizeof(float));
		tr->lab = malloc((size_t)B * sizeof(int32_t));
		tr->B = tr->out && tr->dout && tr->lab ? B : 0;
		if (!tr->B)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory for batch %d", B);
	}
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
	double L = dm_mse_forward(NULL, tr->out, target, w, B, S);
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
	dm_mse_backward(tr->dout, tr->out, target, w, B, S,
	                (float)(1.0 / ((double)tr->o.grad_accum * (double)tr->nranks)));
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

/* ---- checkpoints ----------------------------------------------------- */

static const char *const own_keys[] = {
	"tool", "format", "checkpoint_version", "dm_version", "model", "dim", "hidden", "layers",
	"temb", "in_ch", "H", "W", "ch", "ch_mult", "res_blocks", "attn", "groups", "dropout",
	"shape", "classes", "t_scale", "params", "step", "samples", "lr", "betas", "eps",
	"weight_decay", "warmup", "lr_decay", "decay_steps", "clip_grad", "ema", "label_dropout",
	"grad_accum", "batch", "seed",
	"shard", /* dm-load's R/N of one rank's input: not part of a rank-independent checkpoint */
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

static int write_block(dm_writer *w, const dm_layout *L, const char *kind, const float *blk,
                       dm_error *err)
{
	dm_frame f;
	dm_frame_init(&f);
	int rc = dm_kv_set(&f.tags, "kind", kind) ? DM_ERR_NOMEM : 0;
	for (int i = 0; i < L->n && rc == 0; i++) {
		const dm_param *p = &L->p[i];
		dm_tensor *t = dm_frame_add(&f, p->name, DM_F32, p->rank, p->dims, err);
		if (!t)
			rc = err->code ? err->code : DM_ERR_NOMEM;
		else
			memcpy(t->data, blk + p->off, p->n * sizeof(float));
	}
	if (rc == 0)
		rc = dm_writer_write(w, &f, err);
	dm_frame_free(&f);
	return rc;
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
		rc = write_block(w, L, "weights", tr->w, err);
	if (rc == 0)
		rc = write_block(w, L, "ema", tr->ema, err);
	if (rc == 0)
		rc = write_block(w, L, "adam_m", tr->m, err);
	if (rc == 0)
		rc = write_block(w, L, "adam_v", tr->v, err);
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

/* Read the next frame, which must be tagged kind=want, into blk, checking
 * every tensor against the layout. */
static int read_block(dm_reader *r, const dm_layout *L, const char *want, float *blk,
                      dm_frame *f, const char *path, dm_error *err)
{
	int rc = dm_reader_next(r, f, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: checkpoint ends before its %s frame",
		                    path, want);
	const char *kind = dm_kv_get(&f->tags, "kind");
	if (!kind || strcmp(kind, want))
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu is kind=%s, expected kind=%s",
		                    path, (unsigned long long)dm_reader_frames(r), kind ? kind : "(none)",
		                    want);
	if (!blk)
		return 0;
	if (f->n != L->n)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "%s: %s frame has %d tensors, the model config needs %d", path, want,
		                    f->n, L->n);
	for (int i = 0; i < L->n; i++) {
		const dm_param *p = &L->p[i];
		const dm_tensor *t = dm_frame_get(f, p->name);
		if (!t)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: %s frame lacks tensor %s", path, want,
			                    p->name);
		int ok = t->dtype == DM_F32 && t->rank == p->rank;
		for (int k = 0; ok && k < p->rank; k++)
			ok = t->dims[k] == p->dims[k];
		if (!ok) {
			char got[128];
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: tensor %s in the %s frame is %s %s, the config needs f32 "
			                    "of %zu values in shape %lldx%lld...",
			                    path, p->name, want, dm_dtype_name(t->dtype) ?: "?",
			                    dm_tensor_shape_str(t, got, sizeof got), p->n,
			                    (long long)p->dims[0], (long long)(p->rank > 1 ? p->dims[1] : 1));
		}
		memcpy(blk + p->off, t->data, p->n * sizeof(float));
	}
	return 0;
}

static int open_checkpoint(const char *path, dm_reader **r, dm_net_config *cfg, dm_error *err)
{
	int rc = dm_reader_open_path(r, path, err);
	if (rc < 0)
		return rc;
	const dm_kv *meta = dm_reader_meta(*r);
	const char *fmt = dm_kv_get(meta, "format");
	if (!fmt || strcmp(fmt, "dm-checkpoint")) {
		dm_reader_close(*r);
		*r = NULL;
		return dm_error_set(err, DM_ERR_FORMAT, "%s: not a dm-train checkpoint (no "
		                    "format=dm-checkpoint in its header)", path);
	}
	if ((rc = dm_net_config_from_kv(cfg, meta, path, err)) < 0) {
		dm_reader_close(*r);
		*r = NULL;
	}
	return rc;
}

int dm_checkpoint_load_net(const char *path, int use_ema, dm_net *net, float **params,
                           dm_kv *meta, dm_error *err)
{
	dm_reader *r;
	dm_net_config cfg;
	dm_frame f;
	dm_kv_init(meta);
	memset(net, 0, sizeof *net);
	*params = NULL;
	int rc = open_checkpoint(path, &r, &cfg, err);
	if (rc < 0)
		return rc;
	dm_frame_init(&f);
	if ((rc = dm_kv_copy(meta, dm_reader_meta(r))) < 0)
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = dm_net_init(net, &cfg, err);
	float *p = NULL;
	if (rc == 0 && !(p = malloc(net->layout.total * sizeof(float))))
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	if (rc == 0)
		rc = read_block(r, &net->layout, "weights", use_ema ? NULL : p, &f, path, err);
	if (rc == 0 && use_ema)
		rc = read_block(r, &net->layout, "ema", p, &f, path, err);
	dm_frame_free(&f);
	dm_reader_close(r);
	if (rc < 0) {
		free(p);
		dm_net_free(net);
		dm_kv_free(meta);
		return rc;
	}
	*params = p;
	return 0;
}

static int state_i64(const dm_frame *f, const char *name, int64_t *v, const char *path,
                     dm_error *err)
{
	const dm_tensor *t = dm_frame_get(f, name);
	if (!t || t->dtype != DM_I64 || dm_tensor_numel(t) != 1)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: state frame lacks an i64 %s", path, name);
	memcpy(v, t->data, 8);
	return 0;
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
	dm_frame f;
	memset(tr, 0, sizeof *tr);
	dm_kv_init(&tr->meta);
	int rc = open_checkpoint(path, &r, &cfg, err);
	if (rc < 0)
		return rc;
	dm_frame_init(&f);
	const dm_kv *meta = dm_reader_meta(r);
	opts_from_kv(&tr->o, meta);
	for (int i = 0; i < meta->n && rc == 0; i++)
		if (!is_own_key(meta->key[i]) && dm_kv_set(&tr->meta, meta->key[i], meta->val[i]))
			rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = trainer_alloc(tr, &cfg, err);
	const dm_layout *L = &tr->net.layout;
	if (rc == 0)
		rc = read_block(r, L, "weights", tr->w, &f, path, err);
	if (rc == 0)
		rc = read_block(r, L, "ema", tr->ema, &f, path, err);
	if (rc == 0)
		rc = read_block(r, L, "adam_m", tr->m, &f, path, err);
	if (rc == 0)
		rc = read_block(r, L, "adam_v", tr->v, &f, path, err);
	if (rc == 0)
		rc = read_block(r, L, "state", NULL, &f, path, err);
	int64_t step = 0, samples = 0, seed = 0;
	if (rc == 0 && !(rc = state_i64(&f, "step", &step, path, err)) &&
	    !(rc = state_i64(&f, "samples", &samples, path, err)))
		rc = state_i64(&f, "seed", &seed, path, err);
	if (rc == 0) {
		int k = dm_reader_next(r, &f, err);
		if (k < 0)
			rc = k;
		else if (k > 0)
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: unexpected frame after the state frame",
			                  path);
	}
	if (rc == 0 && (step < 0 || samples < 0))
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: negative step or sample count", path);
	dm_frame_free(&f);
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

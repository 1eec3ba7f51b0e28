/* unet.c - the U-Net of MODELS.md as a list of layer calls.
 *
 * dm_unet_init walks the topology once and records (a) the parameters in
 * the layout, (b) the activations ("values", sized per sample), and (c) the
 * forward pass as a flat list of ops over them.  Forward runs the list top
 * to bottom; backward runs it bottom to top, each op calling its layer's
 * backward (layers.h, conv.h), gradients accumulating per value as in
 * llm.c.  Activations and their gradients are planned once per batch size
 * in one block each.
 */
#include "models/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "nn/conv3d.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/tattn.h"
#include "core/rng.h"
#include "models/net.h"

enum {
	OP_CONV = 1, OP_GN, OP_GN_SILU, OP_SILU, OP_LINEAR, OP_CHBIAS, OP_DROPOUT, OP_ADD,
	OP_ATTN, OP_UP, OP_CONCAT, OP_TATTN, OP_SWAP, OP_CONV3,
};

/* Ops over the clip's time embedding or the whole clip (batch B); every
 * other op runs per frame (batch B*T; T = 1 for images). */
static int per_clip(int type)
{
	return type == OP_LINEAR || type == OP_SILU || type == OP_SWAP;
}

typedef struct op {
	int type;
	int in, in2, in3, out, aux1, aux2; /* value ids (-1 none) */
	size_t w, b;                        /* parameter offsets */
	int C, C2, H, W, k, stride, pad, G; /* sizes; H, W of the input */
	int ordinal;                        /* dropout mask index */
} op;

typedef struct val {
	size_t per;   /* floats per sample */
	int nograd;   /* no gradient (the input x, the sinusoid, saved statistics) */
	size_t off;   /* per-sample offset in the activations; times B in the plan */
	size_t goff;  /* per-sample offset of its gradient in the gradient pool */
	int prod;     /* index of the op that writes it (-1: set by forward itself) */
	int last;     /* index of the last op that reads it */
} val;

enum { INIT_CONV = 1, INIT_LINEAR, INIT_GN, INIT_EMBED, INIT_ZERO, INIT_CONV3 };
typedef struct init_rec {
	int kind;
	size_t w, b;
	int a, c, k; /* out, in, kernel (conv/linear); C (gn); rows, cols (embed) */
} init_rec;

struct dm_unet {
	dm_unet_config cfg;
	dm_layout *L;
	op *ops;
	int nops, capops;
	val *vals;
	int nvals, capvals;
	init_rec *inits;
	int ninits, capinits;
	size_t per_total;  /* activation floats per sample */
	size_t grad_total; /* gradient-pool floats per sample */
	size_t ws, scratch;
	int T;             /* frames of a clip (unet3d); 1 for images */
	int video;         /* input B x C x T x H x W, temporal attention blocks */
	size_t bscratch;   /* temporal attention's backward scratch, floats per sample */
	int kt;            /* temporal extent of the 3x3 convolutions (1, or 3: 3x3x3) */
	size_t c3scratch;  /* the 3x3x3 convolutions' scratch (conv3d.h), floats */
	int x_val, sin_val, temb_val, stemb_val, out_val;
	size_t label_emb;
	int ndrop;
	/* plan */
	int B;
	float *act, *grad, *wsbuf, *scr, *bscr, *c3buf, *ts;
	int32_t *lab;
	int train;        /* 1: dropout and what backward needs; 2: the latter only */
	int want_dx;      /* backward also writes the input gradient (dm_unet_input_grad) */
	uint64_t seed, drop_index;
	int oom;
	int prec; /* of the convolutions (dm_unet_set_precision) */
};

#define GROW(arr, n, cap)                                                        \
	do {                                                                     \
		if ((n) == (cap)) {                                              \
			int nc_ = (cap) ? 2 * (cap) : 64;                        \
			void *p_ = realloc((arr), (size_t)nc_ * sizeof *(arr));  \
			if (!p_) {                                               \
				u->oom = 1;                                      \
				return -1;                                       \
			}                                                        \
			(arr) = p_;                                              \
			(cap) = nc_;                                             \
		}                                                                \
	} while (0)

static int new_val(dm_unet *u, size_t per)
{
	GROW(u->vals, u->nvals, u->capvals);
	val *v = &u->vals[u->nvals];
	v->per = per, v->nograd = 0, v->off = u->per_total;
	u->per_total += per;
	return u->nvals++;
}

/* A value of per floats in each frame of a sample. */
static int fval(dm_unet *u, size_t per)
{
	return new_val(u, per * (size_t)u->T);
}

static op *new_op(dm_unet *u, int type)
{
	if (u->nops == u->capops) {
		int nc = u->capops ? 2 * u->capops : 128;
		op *p = realloc(u->ops, (size_t)nc * sizeof *p);
		if (!p) {
			u->oom = 1;
			return NULL;
		}
		u->ops = p, u->capops = nc;
	}
	op *o = &u->ops[u->nops++];
	memset(o, 0, sizeof *o);
	o->type = type;
	o->in = o->in2 = o->in3 = o->out = o->aux1 = o->aux2 = -1;
	return o;
}

static void add_init(dm_unet *u, int kind, size_t w, size_t b, int a, int c, int k)
{
	if (u->ninits == u->capinits) {
		int nc = u->capinits ? 2 * u->capinits : 128;
		init_rec *p = realloc(u->inits, (size_t)nc * sizeof *p);
		if (!p) {
			u->oom = 1;
			return;
		}
		u->inits = p, u->capinits = nc;
	}
	u->inits[u->ninits++] = (init_rec){kind, w, b, a, c, k};
}

static void pname(char *buf, const char *prefix, const char *leaf, const char *wb)
{
	snprintf(buf, 96, "%s.%s.%s", prefix, leaf, wb);
}

/* ---- building blocks (forward ops + parameters) ----------------------- */

static int conv(dm_unet *u, const char *prefix, const char *leaf, int in, int Cin, int Cout, int H,
                int W, int k, int stride)
{
	char n1[96], n2[96];
	pname(n1, prefix, leaf, "weight");
	pname(n2, prefix, leaf, "bias");
	int kt = k == 3 ? u->kt : 1; /* 3x3 convolutions are 3x3x3 with kt 3 */
	int64_t d[5] = {Cout, Cin, kt, k, k};
	if (kt == 1)
		d[2] = k, d[3] = k;
	size_t w = dm_layout_add_dims(u->L, n1, kt > 1 ? 5 : 4, d);
	size_t b = dm_layout_add(u->L, n2, 1, Cout, 0, 0, 0);
	add_init(u, kt > 1 ? INIT_CONV3 : INIT_CONV, w, b, Cout, Cin, k);
	int pad = k / 2;
	int Ho = dm_conv2d_out_size(H, k, stride, pad), Wo = dm_conv2d_out_size(W, k, stride, pad);
	size_t ws = dm_conv2d_workspace(Cin, H, W, Cout, k, k, stride, pad);
	if (ws > u->ws)
		u->ws = ws;
	size_t c3 = kt > 1 ? dm_conv3d_scratch(u->T, Cin, Cout, Ho, Wo, k, k) : 0;
	if (c3 > u->c3scratch)
		u->c3scratch = c3;
	int out = fval(u, (size_t)Cout * (size_t)Ho * (size_t)Wo);
	op *o = new_op(u, kt > 1 ? OP_CONV3 : OP_CONV);
	if (!o || out < 0)
		return -1;
	o->in = in, o->out = out, o->w = w, o->b = b;
	o->C = Cin, o->C2 = Cout, o->H = H, o->W = W, o->k = k, o->stride = stride, o->pad = pad;
	return out;
}

static int gnorm(dm_unet *u, const char *prefix, const char *leaf, int in, int C, int HW,
                 int silu)
{
	char n1[96], n2[96];
	pname(n1, prefix, leaf, "weight");
	pname(n2, prefix, leaf, "bias");
	size_t w = dm_layout_add(u->L, n1, 1, C, 0, 0, 0);
	size_t b = dm_layout_add(u->L, n2, 1, C, 0, 0, 0);
	add_init(u, INIT_GN, w, b, C, 0, 0);
	int G = u->cfg.groups;
	int out = fval(u, (size_t)C * (size_t)HW);
	int mean = fval(u, (size_t)G), rstd = fval(u, (size_t)G);
	op *o = new_op(u, silu ? OP_GN_SILU : OP_GN);
	if (!o || out < 0 || mean < 0 || rstd < 0)
		return -1;
	u->vals[mean].nograd = u->vals[rstd].nograd = 1;
	o->in = in, o->out = out, o->aux1 = mean, o->aux2 = rstd, o->w = w, o->b = b;
	o->C = C, o->H = HW, o->W = 1, o->G = G;
	return out;
}

static int linear(dm_unet *u, const char *prefix, const char *leaf, int in, int fin, int fout)
{
	char n1[96], n2[96];
	pname(n1, prefix, leaf, "weight");
	pname(n2, prefix, leaf, "bias");
	size_t w = dm_layout_add(u->L, n1, 2, fout, fin, 0, 0);
	size_t b = dm_layout_add(u->L, n2, 1, fout, 0, 0, 0);
	add_init(u, INIT_LINEAR, w, b, fout, fin, 0);
	int out = new_val(u, (size_t)fout);
	op *o = new_op(u, OP_LINEAR);
	if (!o || out < 0)
		return -1;
	o->in = in, o->out = out, o->w = w, o->b = b, o->C = fin, o->C2 = fout;
	return out;
}

static int simple(dm_unet *u, int type, int in, int in2, size_t per, int C, int C2, int H, int W)
{
	int out = per_clip(type) ? new_val(u, per) : fval(u, per);
	op *o = new_op(u, type);
	if (!o || out < 0)
		return -1;
	o->in = in, o->in2 = in2, o->out = out, o->C = C, o->C2 = C2, o->H = H, o->W = W;
	return out;
}

static int resblock(dm_unet *u, const char *prefix, int x, int Cin, int Cout, int H, int W)
{
	int HW = H * W;
	int h = gnorm(u, prefix, "norm1", x, Cin, HW, 1);
	h = conv(u, prefix, "conv1", h, Cin, Cout, H, W, 3, 1);
	int e = linear(u, prefix, "temb", u->stemb_val, 4 * u->cfg.ch, Cout);
	op *o = new_op(u, OP_CHBIAS);
	if (!o || h < 0 || e < 0)
		return -1;
	o->in = e, o->out = h, o->C = Cout, o->H = HW;
	h = gnorm(u, prefix, "norm2", h, Cout, HW, 1);
	if (u->cfg.dropout > 0) {
		int d = simple(u, OP_DROPOUT, h, -1, (size_t)Cout * HW, Cout, 0, HW, 1);
		if (d < 0)
			return -1;
		u->ops[u->nops - 1].ordinal = u->ndrop++;
		h = d;
	}
	h = conv(u, prefix, "conv2", h, Cout, Cout, H, W, 3, 1);
	int skip = x;
	if (Cin != Cout)
		skip = conv(u, prefix, "skip", x, Cin, Cout, H, W, 1, 1);
	if (h < 0 || skip < 0)
		return -1;
	return simple(u, OP_ADD, skip, h, (size_t)Cout * HW, Cout, 0, HW, 1);
}

static int attnblock(dm_unet *u, const char *prefix, int x, int C, int H, int W)
{
	int N = H * W;
	int h = gnorm(u, prefix, "norm", x, C, N, 0);
	int q = conv(u, prefix, "q", h, C, C, H, W, 1, 1);
	int k = conv(u, prefix, "k", h, C, C, H, W, 1, 1);
	int v = conv(u, prefix, "v", h, C, C, H, W, 1, 1);
	int a = simple(u, OP_ATTN, q, k, (size_t)C * N, C, 0, N, 1);
	int att = fval(u, (size_t)N * (size_t)N);
	if (a < 0 || att < 0 || v < 0)
		return -1;
	u->vals[att].nograd = 1;
	u->ops[u->nops - 1].in3 = v;
	u->ops[u->nops - 1].aux1 = att;
	if ((size_t)N * N > u->scratch)
		u->scratch = (size_t)N * N;
	int p = conv(u, prefix, "proj", a, C, C, H, W, 1, 1);
	if (p < 0)
		return -1;
	return simple(u, OP_ADD, x, p, (size_t)C * N, C, 0, N, 1);
}

/* Temporal attention (Ho et al. 2022, §3): the attention block's layers,
 * per frame, around attention over the T frames at every position, with a
 * learned bias per frame offset (<prefix>.rel, 2T-1 values, zero at
 * init). */
static int tattnblock(dm_unet *u, const char *prefix, int x, int C, int H, int W)
{
	int N = H * W, T = u->T;
	int h = gnorm(u, prefix, "norm", x, C, N, 0);
	int q = conv(u, prefix, "q", h, C, C, H, W, 1, 1);
	int k = conv(u, prefix, "k", h, C, C, H, W, 1, 1);
	int v = conv(u, prefix, "v", h, C, C, H, W, 1, 1);
	char n1[96];
	snprintf(n1, sizeof n1, "%s.rel", prefix);
	size_t rel = dm_layout_add(u->L, n1, 1, 2 * T - 1, 0, 0, 0);
	add_init(u, INIT_ZERO, rel, 0, 2 * T - 1, 0, 0);
	int a = simple(u, OP_TATTN, q, k, (size_t)C * N, C, 0, N, 1);
	int att = fval(u, (size_t)T * (size_t)N);
	if (a < 0 || att < 0 || v < 0)
		return -1;
	u->vals[att].nograd = 1;
	op *o = &u->ops[u->nops - 1];
	o->in3 = v, o->aux1 = att, o->w = rel;
	if ((size_t)T * T * N > u->bscratch)
		u->bscratch = (size_t)T * T * N;
	int p = conv(u, prefix, "proj", a, C, C, H, W, 1, 1);
	if (p < 0)
		return -1;
	return simple(u, OP_ADD, x, p, (size_t)C * N, C, 0, N, 1);
}

/* A block's attention: spatial at the resolutions asked for, then
 * temporal in a video net. */
static int attend(dm_unet *u, const char *fmt, int i, int j, int h, int C, int H, int W,
                  int spatial)
{
	char pre[96];
	if (spatial && h >= 0) {
		snprintf(pre, sizeof pre, fmt, i, "attn", j);
		h = attnblock(u, pre, h, C, H, W);
	}
	if (u->video && h >= 0) {
		snprintf(pre, sizeof pre, fmt, i, "tattn", j);
		h = tattnblock(u, pre, h, C, H, W);
	}
	return h;
}

static int has_attn(const dm_unet_config *c, int res)
{
	for (int i = 0; i < c->nattn; i++)
		if (c->attn_res[i] == res)
			return 1;
	return 0;
}

static int build(dm_unet *u)
{
	const dm_unet_config *c = &u->cfg;
	int ch = c->ch, E = 4 * ch;
	char pre[96];
	u->x_val = fval(u, (size_t)c->in_ch * c->H * c->W);
	u->sin_val = new_val(u, (size_t)ch);
	if (u->x_val < 0 || u->sin_val < 0)
		return -1;
	/* x has a gradient buffer, written only when asked for (want_dx) */
	u->vals[u->sin_val].nograd = 1;
	/* (mean, rstd and attention values are marked nograd where made) */
	/* time embedding: Linear -> SiLU -> Linear, then + label embedding */
	int e = linear(u, "time", "lin1", u->sin_val, ch, E);
	e = simple(u, OP_SILU, e, -1, (size_t)E, E, 0, 1, 1);
	e = linear(u, "time", "lin2", e, E, E);
	u->temb_val = e;
	if (c->classes > 0) {
		u->label_emb = dm_layout_add(u->L, "label_emb.weight", 2, c->classes + 1, E, 0, 0);
		add_init(u, INIT_EMBED, u->label_emb, 0, c->classes + 1, E, 0);
	}
	u->stemb_val = simple(u, OP_SILU, e, -1, (size_t)E, E, 0, 1, 1);
	if (e < 0 || u->stemb_val < 0)
		return -1;

	int H = c->H, W = c->W;
	int x = u->x_val; /* frame-major: B x T x C x H x W */
	if (u->video)
		x = simple(u, OP_SWAP, x, -1, (size_t)c->in_ch * u->T * H * W, c->in_ch, u->T, H * W, 1);
	int h = conv(u, "conv_in", "", x, c->in_ch, ch, H, W, 3, 1);
	int skips[256], skipc[256], ns = 0;
	skips[ns] = h, skipc[ns++] = ch;
	int cur = ch;
	for (int i = 0; i < c->nmult; i++) {
		int out = ch * c->ch_mult[i];
		for (int j = 0; j < c->res_blocks; j++) {
			snprintf(pre, sizeof pre, "down.%d.res.%d", i, j);
			h = resblock(u, pre, h, cur, out, H, W);
			cur = out;
			h = attend(u, "down.%d.%s.%d", i, j, h, cur, H, W, has_attn(c, H));
			skips[ns] = h, skipc[ns++] = cur;
		}
		if (i + 1 < c->nmult) {
			snprintf(pre, sizeof pre, "down.%d", i);
			h = conv(u, pre, "down", h, cur, cur, H, W, 3, 2);
			H /= 2, W /= 2;
			skips[ns] = h, skipc[ns++] = cur;
		}
	}
	h = resblock(u, "mid.res1", h, cur, cur, H, W);
	h = attnblock(u, "mid.attn", h, cur, H, W);
	if (u->video && h >= 0)
		h = tattnblock(u, "mid.tattn", h, cur, H, W);
	h = resblock(u, "mid.res2", h, cur, cur, H, W);
	for (int i = c->nmult - 1; i >= 0; i--) {
		int out = ch * c->ch_mult[i];
		for (int j = 0; j < c->res_blocks + 1; j++) {
			ns--;
			int cat = simple(u, OP_CONCAT, h, skips[ns], (size_t)(cur + skipc[ns]) * H * W,
			                 cur, skipc[ns], H * W, 1);
			snprintf(pre, sizeof pre, "up.%d.res.%d", i, j);
			h = resblock(u, pre, cat, cur + skipc[ns], out, H, W);
			cur = out;
			h = attend(u, "up.%d.%s.%d", i, j, h, cur, H, W, has_attn(c, H));
		}
		if (i > 0) {
			h = simple(u, OP_UP, h, -1, (size_t)cur * 4 * H * W, cur, 0, H, W);
			H *= 2, W *= 2;
			snprintf(pre, sizeof pre, "up.%d", i);
			h = conv(u, pre, "up", h, cur, cur, H, W, 3, 1);
		}
	}
	h = gnorm(u, "norm_out", "", h, cur, H * W, 1);
	h = conv(u, "conv_out", "", h, cur, c->in_ch, H, W, 3, 1);
	if (u->video && h >= 0) /* back to B x C x T x H x W */
		h = simple(u, OP_SWAP, h, -1, (size_t)c->in_ch * u->T * H * W, u->T, c->in_ch, H * W, 1);
	u->out_val = h;
	return h < 0 || u->oom || u->L->oom ? -1 : 0;
}

/* Place the gradients in a pool by liveness: the gradient of a value is
 * live in the backward pass from its last reader's op (where accumulation
 * starts) down to the op that produced it, so values whose intervals do
 * not overlap share memory (first fit by offset).  This keeps the backward
 * pass's memory to a fraction of one activation set. */
static int plan_grads(dm_unet *u)
{
	int nv = u->nvals;
	for (int v = 0; v < nv; v++)
		u->vals[v].prod = -1, u->vals[v].last = -1;
	for (int i = 0; i < u->nops; i++) {
		const op *o = &u->ops[i];
		int ins[3] = {o->in, o->in2, o->in3};
		for (int k = 0; k < 3; k++)
			if (ins[k] >= 0)
				u->vals[ins[k]].last = i;
		if (o->out >= 0 && u->vals[o->out].prod < 0)
			u->vals[o->out].prod = i;
		else if (o->out >= 0)
			u->vals[o->out].last = i; /* in place (channel bias) */
	}
	u->vals[u->out_val].last = u->nops;
	/* live blocks, kept sorted by offset */
	int *live = malloc((size_t)nv * sizeof(int)), nl = 0;
	if (!live)
		return -1;
	u->grad_total = 0;
	for (int i = u->nops; i >= 0; i--) {
		for (int v = 0; v < nv; v++) {
			val *x = &u->vals[v];
			if (x->nograd || x->last != i)
				continue;
			size_t at = 0;
			int pos = 0;
			for (; pos < nl; pos++) {
				const val *y = &u->vals[live[pos]];
				if (y->goff >= at + x->per)
					break;
				if (y->goff + y->per > at)
					at = y->goff + y->per;
			}
			memmove(live + pos + 1, live + pos, (size_t)(nl - pos) * sizeof(int));
			live[pos] = v, nl++;
			x->goff = at;
			if (at + x->per > u->grad_total)
				u->grad_total = at + x->per;
		}
		for (int k = 0; k < nl;) /* values produced by op i die after it */
			if (u->vals[live[k]].prod == i) {
				memmove(live + k, live + k + 1, (size_t)(nl - k - 1) * sizeof(int));
				nl--;
			} else {
				k++;
			}
	}
	free(live);
	return 0;
}

void dm_unet_set_precision(dm_unet *u, int prec)
{
	u->prec = prec;
}

void dm_unet_config_default(dm_unet_config *c, int medium)
{
	memset(c, 0, sizeof *c);
	c->in_ch = 1, c->H = 28, c->W = 28, c->ch = 32;
	c->nmult = 3, c->ch_mult[0] = 1, c->ch_mult[1] = 2, c->ch_mult[2] = 2;
	c->res_blocks = 2, c->nattn = 1, c->attn_res[0] = 7, c->groups = 8, c->dropout = 0;
	c->t_scale = 1;
	if (medium) {
		c->in_ch = 3, c->H = 32, c->W = 32, c->ch = 64;
		c->nmult = 4, c->ch_mult[3] = 2;
		c->attn_res[0] = 16, c->groups = 32, c->dropout = 0.1f;
	}
}

int dm_unet_config_check(const dm_unet_config *c, dm_error *err)
{
	if (c->in_ch < 1 || c->in_ch > 64 || c->H < 1 || c->W < 1 || c->H > 4096 || c->W > 4096)
		return dm_error_set(err, DM_ERR_ARG, "unet: input shape %dx%dx%d out of range",
		                    c->in_ch, c->H, c->W);
	if (c->ch < 2 || c->ch > 4096 || c->ch % 2)
		return dm_error_set(err, DM_ERR_ARG, "unet: ch must be even and 2..4096, not %d", c->ch);
	if (c->nmult < 1 || c->nmult > DM_UNET_MAX_LEVELS || c->res_blocks < 1 || c->res_blocks > 16)
		return dm_error_set(err, DM_ERR_ARG, "unet: ch_mult needs 1..%d levels, res_blocks 1..16",
		                    DM_UNET_MAX_LEVELS);
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

int dm_unet_config_to_kv(const dm_unet_config *c, dm_kv *kv, dm_error *err)
{
	char a[256], b[256];
	dm_net_list_str(a, sizeof a, c->ch_mult, c->nmult);
	dm_net_list_str(b, sizeof b, c->attn_res, c->nattn);
	int rc = dm_net_image_to_kv(kv, c->in_ch, c->H, c->W, c->ch, a, c->res_blocks, c->groups);
	rc |= dm_kv_set(kv, "attn", c->nattn ? b : "none");
	rc |= dm_kv_setf(kv, "dropout", "%.9g", (double)c->dropout);
	rc |= dm_kv_setf(kv, "shape", "%dx%dx%d", c->in_ch, c->H, c->W);
	return rc ? dm_error_set(err, DM_ERR_NOMEM, "out of memory writing the model config") : 0;
}

int dm_unet_config_from_kv(dm_unet_config *c, const dm_kv *kv, const char *name, dm_error *err)
{
	int rc = dm_net_image_from_kv(kv, name, &c->in_ch, &c->H, &c->W, &c->ch, c->ch_mult,
	                              &c->nmult, &c->res_blocks, &c->groups, err);
	if (rc < 0)
		return rc;
	const char *a = dm_kv_get(kv, "attn");
	c->nattn = a ? dm_net_parse_list(a, c->attn_res, DM_UNET_MAX_LEVELS) : -1;
	if (c->nattn < 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: bad attn= in the header", name);
	c->dropout = (float)dm_kv_get_double(kv, "dropout", 0);
	return 0;
}

int dm_unet_init(dm_unet **out, const dm_unet_config *cfg, dm_layout *L, dm_error *err)
{
	return dm_unet_init_video(out, cfg, 0, 1, L, err);
}

int dm_unet_init_video(dm_unet **out, const dm_unet_config *cfg, int T, int kt, dm_layout *L,
                       dm_error *err)
{
	*out = NULL;
	dm_unet *u = calloc(1, sizeof *u);
	if (!u)
		return dm_error_set(err, DM_ERR_NOMEM, "unet: out of memory");
	u->cfg = *cfg;
	u->L = L;
	u->video = T > 0;
	u->T = T > 0 ? T : 1;
	u->kt = T > 0 && kt > 1 ? kt : 1;
	if (build(u) < 0 || plan_grads(u) < 0) {
		dm_unet_free(u);
		return dm_error_set(err, DM_ERR_NOMEM, "unet: out of memory building the network");
	}
	/* the names of conv_in etc. came out as "conv_in..weight": fix them */
	for (int i = 0; i < L->n; i++) {
		char *s = strstr(L->p[i].name, "..");
		if (s)
			memmove(s, s + 1, strlen(s + 1) + 1);
	}
	*out = u;
	return 0;
}

void dm_unet_init_params(const dm_unet *u, float *p, uint64_t seed)
{
	for (int i = 0; i < u->ninits; i++) {
		const init_rec *r = &u->inits[i];
		switch (r->kind) {
		case INIT_CONV:
			dm_init_conv2d(p + r->w, p + r->b, r->a, r->c, r->k, r->k, seed, (uint64_t)i);
			break;
		case INIT_LINEAR:
			dm_init_linear(p + r->w, p + r->b, r->a, r->c, seed, (uint64_t)i);
			break;
		case INIT_GN:
			dm_init_groupnorm(p + r->w, p + r->b, r->a);
			break;
		case INIT_CONV3: /* Conv3d's: fan-in Cin kt k k, as a conv2d of kt k x k */
			dm_init_conv2d(p + r->w, p + r->b, r->a, r->c, u->kt * r->k, r->k, seed, (uint64_t)i);
			break;
		case INIT_ZERO:
			memset(p + r->w, 0, (size_t)r->a * sizeof *p);
			break;
		case INIT_EMBED: /* nn.Embedding: N(0, 1) */
			dm_rng_normal(seed, DM_RNG_INIT, (uint64_t)i, 0, p + r->w, (size_t)r->a * (size_t)r->c);
			break;
		}
	}
}

int dm_unet_plan(dm_unet *u, int B, int train, dm_error *err)
{
	if (u->B == B && (!train || u->grad))
		return 0;
	free(u->act), free(u->grad), free(u->wsbuf), free(u->scr), free(u->bscr), free(u->ts);
	free(u->lab), free(u->c3buf);
	u->grad = NULL, u->bscr = NULL, u->c3buf = NULL;
	u->B = 0;
	size_t n = u->per_total * (size_t)B;
	u->act = malloc(n * sizeof(float));
	u->grad = train ? malloc((u->grad_total + 1) * (size_t)B * sizeof(float)) : NULL;
	u->wsbuf = malloc((u->ws + 1) * sizeof(float));
	u->scr = malloc((u->scratch + 1) * sizeof(float));
	if (u->c3scratch)
		u->c3buf = malloc(u->c3scratch * sizeof(float));
	if (train && u->bscratch)
		u->bscr = malloc(u->bscratch * (size_t)B * sizeof(float));
	u->ts = malloc((size_t)B * sizeof(float));
	u->lab = malloc((size_t)B * sizeof(int32_t));
	if (!u->act || (train && !u->grad) || (train && u->bscratch && !u->bscr) ||
	    (u->c3scratch && !u->c3buf) || !u->wsbuf || !u->scr || !u->ts || !u->lab)
		return dm_error_set(err, DM_ERR_NOMEM,
		                    "unet: out of memory planning activations for batch %d (%zu MB)", B,
		                    2 * n * 4 >> 20);
	u->B = B;
	return 0;
}


#ifdef DM_UNET_PROFILE
/* A per-op profile for tuning (built only with -DDM_UNET_PROFILE): time per
 * op kind and shape, printed by dm_unet_prof_dump (declared by the caller). */
#include <time.h>
/* process CPU time: robust to a machine shared with other jobs */
static double prof_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
typedef struct prof_ent { char key[64]; double t; long n; } prof_ent;
static prof_ent prof_tab[256];
static int prof_n;
static void prof_add(const char *key, double t)
{
	int i = 0;
	for (; i < prof_n; i++)
		if (!strcmp(prof_tab[i].key, key))
			break;
	if (i == prof_n) {
		if (prof_n == 256)
			return;
		snprintf(prof_tab[prof_n++].key, 64, "%s", key);
	}
	prof_tab[i].t += t, prof_tab[i].n++;
}
static void prof_key(char *k, const op *o, const char *dir)
{
	static const char *names[] = { "", "conv", "gn", "gn_silu", "silu", "linear", "chbias",
		                       "dropout", "add", "attn", "up", "concat", "tattn", "swap", "conv3" };
	if (o->type == OP_CONV)
		snprintf(k, 64, "conv%s %dx%d %d->%d k%d s%d", dir, o->H, o->W, o->C, o->C2, o->k,
		         o->stride);
	else if (o->type == OP_ATTN)
		snprintf(k, 64, "%s%s N%d C%d", names[o->type], dir, o->H, o->C);
	else
		snprintf(k, 64, "%s%s", names[o->type], dir);
}
void dm_unet_prof_dump(FILE *f);
void dm_unet_prof_dump(FILE *f)
{
	double tot = 0;
	for (int i = 0; i < prof_n; i++)
		tot += prof_tab[i].t;
	for (int i = 0; i < prof_n; i++)
		fprintf(f, "%8.1f ms %5.1f%% %4ld  %s\n", 1e3 * prof_tab[i].t, 100 * prof_tab[i].t / tot,
		        prof_tab[i].n, prof_tab[i].key);
	fprintf(f, "%8.1f ms total\n", 1e3 * tot);
	memset(prof_tab, 0, sizeof prof_tab);
	prof_n = 0;
}
#define PROF_BEGIN double prof_t0_ = prof_clock()
#define PROF_RESTART prof_t0_ = prof_clock()
#define PROF_END(o, dir)                                                     \
	do {                                                                 \
		char k_[64];                                                 \
		prof_key(k_, (o), (dir));                                    \
		prof_add(k_, prof_clock() - prof_t0_);                    \
	} while (0)
#else
#define PROF_BEGIN (void)0
#define PROF_RESTART (void)0
#define PROF_END(o, dir) (void)0
#endif

#define A(id) (u->act + u->vals[id].off * (size_t)B)
#define G_(id)                                                                           \
	((u->vals[id].nograd || ((id) == u->x_val && !u->want_dx))                         \
	     ? NULL                                                                          \
	     : u->grad + u->vals[id].goff * (size_t)B)

static void run_op(dm_unet *u, const op *o, const float *p)
{
	int B = u->B;
	int BF = per_clip(o->type) ? B : B * u->T; /* the batch of the op's layer */
	switch (o->type) {
	case OP_CONV:
		dm_conv2d_forward_prec(u->prec, A(o->out), A(o->in), p + o->w, p + o->b, BF, o->C, o->H,
		                       o->W, o->C2, o->k, o->k, o->stride, o->pad, u->wsbuf);
		break;
	case OP_GN:
		dm_groupnorm_forward(A(o->out), A(o->aux1), A(o->aux2), A(o->in), p + o->w, p + o->b, BF,
		                     o->C, o->H, o->G, 1e-5f);
		break;
	case OP_GN_SILU:
		dm_groupnorm_silu_forward(A(o->out), A(o->aux1), A(o->aux2), A(o->in), p + o->w,
		                          p + o->b, BF, o->C, o->H, o->G, 1e-5f);
		break;
	case OP_SILU:
		dm_silu_forward(A(o->out), A(o->in), (size_t)BF * (size_t)o->C);
		break;
	case OP_LINEAR:
		dm_linear_forward(A(o->out), A(o->in), p + o->w, p + o->b, BF, o->C, o->C2);
		break;
	case OP_CHBIAS:
		/* the clip's embedding to each of its frames */
		dm_channel_bias_frames_forward(A(o->out), A(o->in), B, u->T, o->C, o->H);
		break;
	case OP_DROPOUT:
		dm_dropout_forward(A(o->out), A(o->in), (size_t)BF * (size_t)o->C * (size_t)o->H,
		                   u->train == 1 ? u->cfg.dropout : 0, u->seed,
		                   u->drop_index * 256 + (uint64_t)o->ordinal);
		break;
	case OP_ADD: {
		size_t n = (size_t)BF * (size_t)o->C * (size_t)o->H;
		float *y = A(o->out);
		const float *a = A(o->in), *b = A(o->in2);
		for (size_t i = 0; i < n; i++)
			y[i] = a[i] + b[i];
		break;
	}
	case OP_ATTN:
		dm_attention_forward(A(o->out), A(o->aux1), A(o->in), A(o->in2), A(o->in3), BF, o->C,
		                     o->H);
		break;
	case OP_UP:
		dm_upsample2x_forward(A(o->out), A(o->in), BF, o->C, o->H, o->W);
		break;
	case OP_CONCAT:
		dm_concat_forward(A(o->out), A(o->in), A(o->in2), BF, o->C, o->C2, o->H);
		break;
	case OP_CONV3:
		dm_conv3d_forward(u->prec, A(o->out), A(o->in), p + o->w, p + o->b, B, u->T, o->C, o->H,
		                  o->W, o->C2, u->kt, o->k, o->k, o->stride, o->pad, u->wsbuf, u->c3buf);
		break;
	case OP_TATTN:
		dm_tattn_forward(A(o->out), A(o->aux1), A(o->in), A(o->in2), A(o->in3), p + o->w, B,
		                 u->T, o->C, o->H);
		break;
	case OP_SWAP:
		dm_swap_axes_forward(A(o->out), A(o->in), B, o->C, o->C2, o->H);
		break;
	}
}

/* Whether op o is the first in the backward pass to write the gradient of
 * its input value v, and writes it whole: then it overwrites instead of
 * adding to a zeroed buffer (a convolution's input gradient, a sum's). */
static int overwrites(const dm_unet *u, const op *o, int i, int v)
{
	if (u->vals[v].last != i || u->vals[v].nograd)
		return 0;
	if (o->type == OP_CONV || o->type == OP_CONV3)
		return o->in == v;
	if (o->type == OP_ADD)
		return o->in != o->in2 && (o->in == v || o->in2 == v);
	return 0;
}

static void back_op(dm_unet *u, const op *o, int i, const float *p, float *g)
{
	int B = u->B;
	int BF = per_clip(o->type) ? B : B * u->T; /* the batch of the op's layer */
	float *dout = G_(o->out);
	switch (o->type) {
	case OP_CONV: {
		PROF_BEGIN;
		dm_conv2d_backward_weight_prec(u->prec, g + o->w, g + o->b, dout, A(o->in), BF, o->C,
		                               o->H, o->W, o->C2, o->k, o->k, o->stride, o->pad,
		                               u->wsbuf);
		PROF_END(o, "-bw");
		if (G_(o->in)) {
			PROF_RESTART;
			dm_conv2d_backward_input_prec(u->prec, G_(o->in), dout, p + o->w, BF, o->C, o->H,
			                              o->W, o->C2, o->k, o->k, o->stride, o->pad,
			                              !overwrites(u, o, i, o->in), u->wsbuf);
			PROF_END(o, "-bi");
		}
		break;
	}
	case OP_GN:
		dm_groupnorm_backward(G_(o->in), g + o->w, g + o->b, dout, A(o->in), A(o->aux1),
		                      A(o->aux2), p + o->w, BF, o->C, o->H, o->G);
		break;
	case OP_GN_SILU:
		dm_groupnorm_silu_backward(G_(o->in), g + o->w, g + o->b, dout, A(o->in), A(o->aux1),
		                           A(o->aux2), p + o->w, p + o->b, BF, o->C, o->H, o->G);
		break;
	case OP_SILU:
		dm_silu_backward(G_(o->in), dout, A(o->in), (size_t)BF * (size_t)o->C);
		break;
	case OP_LINEAR:
		dm_linear_backward(G_(o->in), g + o->w, g + o->b, dout, A(o->in), p + o->w, BF, o->C,
		                   o->C2);
		break;
	case OP_CHBIAS:
		dm_channel_bias_frames_backward(G_(o->in), dout, B, u->T, o->C, o->H);
		break;
	case OP_DROPOUT:
		dm_dropout_backward(G_(o->in), dout, (size_t)BF * (size_t)o->C * (size_t)o->H,
		                    u->train == 1 ? u->cfg.dropout : 0, u->seed,
		                    u->drop_index * 256 + (uint64_t)o->ordinal);
		break;
	case OP_ADD: {
		size_t n = (size_t)BF * (size_t)o->C * (size_t)o->H;
		float *da = G_(o->in), *db = G_(o->in2);
		if (overwrites(u, o, i, o->in))
			memcpy(da, dout, n * sizeof *da);
		else
			for (size_t j = 0; j < n; j++)
				da[j] += dout[j];
		if (overwrites(u, o, i, o->in2))
			memcpy(db, dout, n * sizeof *db);
		else
			for (size_t j = 0; j < n; j++)
				db[j] += dout[j];
		break;
	}
	case OP_ATTN:
		dm_attention_backward(G_(o->in), G_(o->in2), G_(o->in3), u->scr, dout, A(o->in),
		                      A(o->in2), A(o->in3), A(o->aux1), BF, o->C, o->H);
		break;
	case OP_UP:
		dm_upsample2x_backward(G_(o->in), dout, BF, o->C, o->H, o->W);
		break;
	case OP_CONCAT:
		dm_concat_backward(G_(o->in), G_(o->in2), dout, BF, o->C, o->C2, o->H);
		break;
	case OP_CONV3:
		dm_conv3d_backward_weight(u->prec, g + o->w, g + o->b, dout, A(o->in), B, u->T, o->C,
		                          o->H, o->W, o->C2, u->kt, o->k, o->k, o->stride, o->pad,
		                          u->wsbuf, u->c3buf);
		if (G_(o->in))
			dm_conv3d_backward_input(u->prec, G_(o->in), dout, p + o->w, B, u->T, o->C, o->H,
			                         o->W, o->C2, u->kt, o->k, o->k, o->stride, o->pad,
			                         !overwrites(u, o, i, o->in), u->wsbuf, u->c3buf);
		break;
	case OP_TATTN:
		dm_tattn_backward(G_(o->in), G_(o->in2), G_(o->in3), g + o->w, u->bscr, dout, A(o->in),
		                  A(o->in2), A(o->in3), A(o->aux1), B, u->T, o->C, o->H);
		break;
	case OP_SWAP:
		if (G_(o->in))
			dm_swap_axes_backward(G_(o->in), dout, B, o->C, o->C2, o->H);
		break;
	}
}

void dm_unet_forward(dm_unet *u, const float *p, const float *x, const float *t,
                     const int32_t *label, int B, float *out, int train, uint64_t seed,
                     uint64_t drop_index)
{
	const dm_unet_config *c = &u->cfg;
	u->train = train, u->seed = seed, u->drop_index = drop_index;
	memcpy(A(u->x_val), x, (size_t)B * u->vals[u->x_val].per * sizeof(float));
	for (int b = 0; b < B; b++)
		u->ts[b] = t[b] * c->t_scale;
	dm_timestep_embedding(A(u->sin_val), u->ts, B, c->ch);
	for (int i = 0; i < u->nops; i++) {
		const op *o = &u->ops[i];
		PROF_BEGIN;
		run_op(u, o, p);
		PROF_END(o, "");
		if (o->out == u->temb_val && c->classes > 0) {
			/* temb += label_emb[label] before any block reads it */
			int E = 4 * c->ch;
			float *e = A(u->temb_val);
			for (int b = 0; b < B; b++) {
				int32_t l = label ? label[b] : c->classes;
				if (l < 0 || l > c->classes)
					l = c->classes;
				u->lab[b] = l;
				const float *row = p + u->label_emb + (size_t)l * (size_t)E;
				for (int j = 0; j < E; j++)
					e[(size_t)b * E + j] += row[j];
			}
		}
	}
	memcpy(out, A(u->out_val), (size_t)B * u->vals[u->out_val].per * sizeof(float));
}

void dm_unet_backward(dm_unet *u, const float *p, float *g, const float *dout)
{
	const dm_unet_config *c = &u->cfg;
	int B = u->B;
	memcpy(u->grad + u->vals[u->out_val].goff * (size_t)B, dout, (size_t)B * u->vals[u->out_val].per * sizeof(float));
	for (int i = u->nops - 1; i >= 0; i--) {
		const op *o = &u->ops[i];
		if (o->out == u->temb_val && c->classes > 0) {
			int E = 4 * c->ch;
			const float *d = G_(u->temb_val);
			for (int b = 0; b < B; b++) {
				float *row = g + u->label_emb + (size_t)u->lab[b] * (size_t)E;
				for (int j = 0; j < E; j++)
					row[j] += d[(size_t)b * E + j];
			}
		}
		/* gradients that start accumulating here begin at zero */
		PROF_BEGIN;
		for (int v = 0; v < u->nvals; v++)
			if (u->vals[v].last == i && !u->vals[v].nograd && v != u->out_val &&
			    !overwrites(u, o, i, v))
				memset(u->grad + u->vals[v].goff * (size_t)B, 0,
				       (size_t)B * u->vals[v].per * sizeof(float));
		PROF_END(&(op){ .type = OP_ADD }, "-memset");
		if (o->type == OP_CONV) {
			back_op(u, o, i, p, g);
		} else {
			PROF_RESTART;
			back_op(u, o, i, p, g);
			PROF_END(o, "-b");
		}
	}
}

void dm_unet_free(dm_unet *u)
{
	if (!u)
		return;
	free(u->ops), free(u->vals), free(u->inits);
	free(u->act), free(u->grad), free(u->wsbuf), free(u->scr), free(u->bscr), free(u->ts);
	free(u->lab), free(u->c3buf);
	free(u);
}

void dm_unet_want_input_grad(dm_unet *u, int on) { u->want_dx = on; }

const float *dm_unet_input_grad(const dm_unet *u)
{
	return u->want_dx && u->grad ? u->grad + u->vals[u->x_val].goff * (size_t)u->B : NULL;
}

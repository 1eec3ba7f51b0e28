/* net.c - one network behind one config: dispatch to mlp or unet. */
#include "models/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/classifier.h"
#include "models/mlp.h"
#include "models/unet.h"

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
	} else if (!strcmp(name, "classifier-fmnist") || !strcmp(name, "classifier")) {
		c->kind = DM_NET_CLASSIFIER;
		c->in_ch = 1, c->H = 28, c->W = 28, c->ch = 32;
		c->nmult = 3, c->ch_mult[0] = 1, c->ch_mult[1] = 2, c->ch_mult[2] = 4;
		c->res_blocks = 0, c->groups = 8, c->feat = 128, c->outputs = 10;
	} else {
		return dm_error_set(err, DM_ERR_ARG,
		                    "unknown model '%s' (mlp-2d, unet-s, unet-m, classifier-fmnist, "
		                    "mlp, unet, classifier)", name);
	}
	return 0;
}

void dm_net_sizes_none(dm_net_sizes *s)
{
	memset(s, 0, sizeof *s);
	s->hidden = s->layers = s->temb = s->ch = s->res_blocks = s->groups = s->classes = -1;
	s->dropout = -1;
}

int dm_net_config_fit(dm_net_config *c, const dm_net_sizes *s, const int64_t *dims, int rank,
                      dm_error *err)
{
	int mlp_sizes = s->hidden > 0 || s->layers > 0 || s->temb > 0;
	int unet_sizes = s->ch > 0 || s->ch_mult || s->res_blocks > 0 || s->attn ||
	                 s->groups > 0 || s->dropout >= 0;
	if (c->kind == DM_NET_MLP) {
		if (unet_sizes)
			return dm_error_set(err, DM_ERR_ARG, "--ch, --ch-mult, --res-blocks, --attn, "
			                    "--groups and --dropout are unet options, not mlp");
		size_t n = 1;
		for (int i = 0; i < rank; i++)
			n *= (size_t)dims[i];
		if (n < 1 || n > (1u << 30))
			return dm_error_set(err, DM_ERR_ARG, "mlp: samples of %zu values", n);
		c->dim = (int)n;
		if (s->hidden > 0) c->hidden = s->hidden;
		if (s->layers > 0) c->layers = s->layers;
		if (s->temb > 0) c->temb = s->temb;
	} else {
		const char *k = c->kind == DM_NET_UNET ? "unet" : "classifier";
		if (mlp_sizes)
			return dm_error_set(err, DM_ERR_ARG, "--hidden, --layers and --temb are mlp "
			                    "options, not %s", k);
		if (rank != 3)
			return dm_error_set(err, DM_ERR_ARG, "a %s needs images N x C x H x W, got "
			                    "samples of rank %d", k, rank);
		for (int i = 0; i < 3; i++)
			if (dims[i] < 1 || dims[i] > 1 << 20)
				return dm_error_set(err, DM_ERR_ARG, "%s: image dimension %lld out of range",
				                    k, (long long)dims[i]);
		c->in_ch = (int)dims[0], c->H = (int)dims[1], c->W = (int)dims[2];
		if (s->ch > 0) c->ch = s->ch;
		if (s->res_blocks > 0) c->res_blocks = s->res_blocks;
		if (s->groups > 0) c->groups = s->groups;
		if (s->dropout >= 0) c->dropout = s->dropout;
		if (s->ch_mult && (c->nmult = dm_net_parse_list(s->ch_mult, c->ch_mult,
		                                                DM_NET_MAX_LEVELS)) < 1)
			return dm_error_set(err, DM_ERR_ARG, "--ch-mult: '%s' is not a list like 1,2,2",
			                    s->ch_mult);
		if (s->attn && (c->nattn = dm_net_parse_list(s->attn, c->attn_res,
		                                             DM_NET_MAX_LEVELS)) < 0)
			return dm_error_set(err, DM_ERR_ARG, "--attn: '%s' is not a list like 16,8 or "
			                    "none", s->attn);
	}
	if (s->classes > 0 && c->kind == DM_NET_CLASSIFIER)
		c->outputs = s->classes; /* the classes it tells apart */
	else if (s->classes > 0)
		c->classes = s->classes;
	return 0;
}

size_t dm_net_sample_size(const dm_net_config *c)
{
	return c->kind == DM_NET_MLP ? (size_t)c->dim : (size_t)c->in_ch * c->H * c->W;
}

size_t dm_net_output_size(const dm_net_config *c)
{
	return c->kind == DM_NET_CLASSIFIER ? (size_t)c->outputs : dm_net_sample_size(c);
}

static int classifier_check(const dm_net_config *c, dm_error *err)
{
	if (c->in_ch < 1 || c->in_ch > 64 || c->H < 1 || c->W < 1 || c->H > 4096 || c->W > 4096)
		return dm_error_set(err, DM_ERR_ARG, "classifier: input shape %dx%dx%d out of range",
		                    c->in_ch, c->H, c->W);
	if (c->ch < 1 || c->ch > 4096 || c->nmult < 1 || c->nmult > DM_NET_MAX_LEVELS ||
	    c->res_blocks < 0 || c->res_blocks > 16 || c->groups < 1)
		return dm_error_set(err, DM_ERR_ARG, "classifier: ch 1..4096, ch_mult 1..%d levels, "
		                    "res_blocks 0..16, groups >= 1", DM_NET_MAX_LEVELS);
	for (int i = 0; i < c->nmult; i++)
		if (c->ch_mult[i] < 1 || c->ch_mult[i] > 64 || (c->ch * c->ch_mult[i]) % c->groups)
			return dm_error_set(err, DM_ERR_ARG, "classifier: groups %d does not divide width "
			                    "%d (or ch_mult %d out of range)", c->groups,
			                    c->ch * c->ch_mult[i], c->ch_mult[i]);
	if (c->feat < 1 || c->feat > 65536 || c->outputs < 2 || c->outputs > 100000)
		return dm_error_set(err, DM_ERR_ARG, "classifier: feat 1..65536 and outputs 2..100000 "
		                    "(got %d and %d)", c->feat, c->outputs);
	if (c->classes != 0)
		return dm_error_set(err, DM_ERR_ARG, "classifier: is not class-conditional (classes 0)");
	return 0;
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
	if (c->kind == DM_NET_CLASSIFIER)
		return classifier_check(c, err);
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
	rc |= dm_kv_set(kv, "model", c->kind == DM_NET_MLP ? "mlp" :
	                             c->kind == DM_NET_CLASSIFIER ? "classifier" : "unet");
	if (c->kind == DM_NET_MLP) {
		rc |= dm_kv_setf(kv, "dim", "%d", c->dim);
		rc |= dm_kv_setf(kv, "hidden", "%d", c->hidden);
		rc |= dm_kv_setf(kv, "layers", "%d", c->layers);
		rc |= dm_kv_setf(kv, "temb", "%d", c->temb);
		rc |= dm_kv_setf(kv, "shape", "%d", c->dim);
	} else {
		/* unet and classifier: the image sizes, then each its own */
		list_str(a, sizeof a, c->ch_mult, c->nmult);
		rc |= dm_kv_setf(kv, "in_ch", "%d", c->in_ch);
		rc |= dm_kv_setf(kv, "H", "%d", c->H);
		rc |= dm_kv_setf(kv, "W", "%d", c->W);
		rc |= dm_kv_setf(kv, "ch", "%d", c->ch);
		rc |= dm_kv_set(kv, "ch_mult", a);
		rc |= dm_kv_setf(kv, "res_blocks", "%d", c->res_blocks);
		rc |= dm_kv_setf(kv, "groups", "%d", c->groups);
		if (c->kind == DM_NET_CLASSIFIER) {
			rc |= dm_kv_setf(kv, "feat", "%d", c->feat);
			rc |= dm_kv_setf(kv, "outputs", "%d", c->outputs);
		} else {
			list_str(b, sizeof b, c->attn_res, c->nattn);
			rc |= dm_kv_set(kv, "attn", c->nattn ? b : "none");
			rc |= dm_kv_setf(kv, "dropout", "%.9g", (double)c->dropout);
		}
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
	} else if (!strcmp(model, "classifier")) {
		c->kind = DM_NET_CLASSIFIER;
		if ((rc = kv_int(kv, "in_ch", name, &c->in_ch, err)) ||
		    (rc = kv_int(kv, "H", name, &c->H, err)) || (rc = kv_int(kv, "W", name, &c->W, err)) ||
		    (rc = kv_int(kv, "ch", name, &c->ch, err)) ||
		    (rc = kv_int(kv, "res_blocks", name, &c->res_blocks, err)) ||
		    (rc = kv_int(kv, "groups", name, &c->groups, err)) ||
		    (rc = kv_int(kv, "feat", name, &c->feat, err)) ||
		    (rc = kv_int(kv, "outputs", name, &c->outputs, err)))
			return rc;
		const char *m = dm_kv_get(kv, "ch_mult");
		c->nmult = m ? dm_net_parse_list(m, c->ch_mult, DM_NET_MAX_LEVELS) : -1;
		if (c->nmult < 1)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: bad ch_mult= in the header", name);
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
	} else if (cfg->kind == DM_NET_CLASSIFIER) {
		net->cls = calloc(1, sizeof *net->cls);
		if (!net->cls)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		rc = dm_classifier_init(net->cls, cfg, &net->layout, err);
	} else {
		rc = dm_unet_init(&net->unet, cfg, &net->layout, err);
	}
	if (rc < 0)
		dm_net_free(net);
	return rc;
}

void dm_net_set_precision(dm_net *net, int prec)
{
	if (net->unet)
		dm_unet_set_precision(net->unet, prec);
}

void dm_net_free(dm_net *net)
{
	if (net->mlp) {
		dm_mlp_free(net->mlp);
		free(net->mlp);
	}
	if (net->unet)
		dm_unet_free(net->unet);
	if (net->cls) {
		dm_classifier_free(net->cls);
		free(net->cls);
	}
	dm_layout_free(&net->layout);
	memset(net, 0, sizeof *net);
}

void dm_net_init_params(const dm_net *net, float *params, uint64_t seed)
{
	if (net->mlp)
		dm_mlp_init_params(net->mlp, params, seed);
	else if (net->cls)
		dm_classifier_init_params(net->cls, params, seed);
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
	} else if (net->cls) {
		if ((rc = dm_classifier_plan(net->cls, B, err)) < 0)
			return rc;
		dm_classifier_forward(net->cls, params, x, B, out);
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
	else if (net->cls)
		dm_classifier_backward(net->cls, params, grads, dout);
	else
		dm_unet_backward(net->unet, params, grads, dout);
}

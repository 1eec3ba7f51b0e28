/* net.c - one network behind one config: dispatch to mlp or unet. */
#include "models/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/classifier.h"
#include "models/mlp.h"
#include "models/unet.h"
#include "models/unet3d.h"

/* ---- config ---------------------------------------------------------- */

int dm_net_config_named(dm_net_config *c, const char *name, dm_error *err)
{
	memset(c, 0, sizeof *c);
	c->t_scale = 1;
	dm_mlp_config_default(&c->mlp);
	dm_unet_config_default(&c->unet, 0);
	dm_classifier_config_default(&c->cls);
	dm_unet3d_config_default(&c->unet3d);
	if (!strcmp(name, "mlp-2d") || !strcmp(name, "mlp")) {
		c->kind = DM_NET_MLP;
	} else if (!strcmp(name, "unet-s") || !strcmp(name, "unet")) {
		c->kind = DM_NET_UNET;
	} else if (!strcmp(name, "unet-m")) {
		c->kind = DM_NET_UNET;
		dm_unet_config_default(&c->unet, 1);
	} else if (!strcmp(name, "unet3d-s") || !strcmp(name, "unet3d")) {
		c->kind = DM_NET_UNET3D;
	} else if (!strcmp(name, "classifier-fmnist") || !strcmp(name, "classifier")) {
		c->kind = DM_NET_CLASSIFIER;
	} else {
		return dm_error_set(err, DM_ERR_ARG,
		                    "unknown model '%s' (mlp-2d, unet-s, unet-m, unet3d-s, "
		                    "classifier-fmnist, mlp, unet, unet3d, classifier)", name);
	}
	return 0;
}

void dm_net_sizes_none(dm_net_sizes *s)
{
	memset(s, 0, sizeof *s);
	s->hidden = s->layers = s->temb = s->ch = s->res_blocks = s->groups = s->classes = -1;
	s->dropout = -1, s->kt = -1;
}

/* The image sizes unet and classifier share, from the sample shape and the
 * sizes given. */
static int fit_image(const char *k, const dm_net_sizes *s, const int64_t *dims, int rank,
                     int *in_ch, int *H, int *W, int *ch, int *ch_mult, int *nmult,
                     int *res_blocks, int *groups, dm_error *err)
{
	if (rank != 3)
		return dm_error_set(err, DM_ERR_ARG, "a %s needs images N x C x H x W, got samples of "
		                    "rank %d%s", k, rank,
		                    rank == 4 ? " (clips: --model unet3d)" : "");
	for (int i = 0; i < 3; i++)
		if (dims[i] < 1 || dims[i] > 1 << 20)
			return dm_error_set(err, DM_ERR_ARG, "%s: image dimension %lld out of range", k,
			                    (long long)dims[i]);
	*in_ch = (int)dims[0], *H = (int)dims[1], *W = (int)dims[2];
	if (s->ch > 0) *ch = s->ch;
	if (s->res_blocks > 0) *res_blocks = s->res_blocks;
	if (s->groups > 0) *groups = s->groups;
	if (s->ch_mult && (*nmult = dm_net_parse_list(s->ch_mult, ch_mult, DM_NET_MAX_LEVELS)) < 1)
		return dm_error_set(err, DM_ERR_ARG, "--ch-mult: '%s' is not a list like 1,2,2",
		                    s->ch_mult);
	return 0;
}

int dm_net_config_fit(dm_net_config *c, const dm_net_sizes *s, const int64_t *dims, int rank,
                      dm_error *err)
{
	int mlp_sizes = s->hidden > 0 || s->layers > 0 || s->temb > 0;
	int unet_sizes = s->ch > 0 || s->ch_mult || s->res_blocks > 0 || s->attn ||
	                 s->groups > 0 || s->dropout >= 0 || s->kt > 0;
	int rc = 0;
	if (c->kind == DM_NET_MLP) {
		dm_mlp_config *m = &c->mlp;
		if (unet_sizes)
			return dm_error_set(err, DM_ERR_ARG, "--ch, --ch-mult, --res-blocks, --attn, "
			                    "--groups and --dropout are unet options, not mlp");
		size_t n = 1;
		for (int i = 0; i < rank; i++)
			n *= (size_t)dims[i];
		if (n < 1 || n > (1u << 30))
			return dm_error_set(err, DM_ERR_ARG, "mlp: samples of %zu values", n);
		m->dim = (int)n;
		if (s->hidden > 0) m->hidden = s->hidden;
		if (s->layers > 0) m->layers = s->layers;
		if (s->temb > 0) m->temb = s->temb;
	} else if (c->kind == DM_NET_CLASSIFIER && (s->hidden > 0 || s->layers > 0)) {
		return dm_error_set(err, DM_ERR_ARG, "--hidden and --layers are mlp options, not "
		                    "classifier (--temb N conditions it on t)");
	} else if (c->kind != DM_NET_CLASSIFIER && mlp_sizes) {
		return dm_error_set(err, DM_ERR_ARG, "--hidden, --layers and --temb are mlp options, "
		                    "not %s", c->kind == DM_NET_UNET ? "unet" : "unet3d");
	} else if (c->kind == DM_NET_UNET || c->kind == DM_NET_UNET3D) {
		int video = c->kind == DM_NET_UNET3D;
		dm_unet_config *u = video ? &c->unet3d.s : &c->unet;
		if (video && rank != 4)
			return dm_error_set(err, DM_ERR_ARG, "a unet3d needs clips N x C x T x H x W, got "
			                    "samples of rank %d", rank);
		int64_t fd[3] = {dims[0], video ? dims[2] : 0, video ? dims[3] : 0};
		if (video && (dims[1] < 1 || dims[1] > 1024))
			return dm_error_set(err, DM_ERR_ARG, "unet3d: %lld frames, not 1..1024",
			                    (long long)dims[1]);
		if (video)
			c->unet3d.T = (int)dims[1];
		if (video && s->kt > 0)
			c->unet3d.kt = s->kt;
		else if (s->kt > 0)
			return dm_error_set(err, DM_ERR_ARG, "--conv3d is a unet3d option, not unet");
		rc = fit_image(video ? "unet3d" : "unet", s, video ? fd : dims, video ? 3 : rank, &u->in_ch, &u->H, &u->W,
		               &u->ch, u->ch_mult, &u->nmult, &u->res_blocks, &u->groups, err);
		if (rc == 0 && s->dropout >= 0)
			u->dropout = s->dropout;
		if (rc == 0 && s->attn &&
		    (u->nattn = dm_net_parse_list(s->attn, u->attn_res, DM_NET_MAX_LEVELS)) < 0)
			rc = dm_error_set(err, DM_ERR_ARG, "--attn: '%s' is not a list like 16,8 or none",
			                  s->attn);
	} else {
		dm_classifier_config *k = &c->cls;
		rc = fit_image("classifier", s, dims, rank, &k->in_ch, &k->H, &k->W, &k->ch,
		               k->ch_mult, &k->nmult, &k->res_blocks, &k->groups, err);
		if (rc == 0 && s->temb > 0)
			k->temb = s->temb;
	}
	if (rc < 0)
		return rc;
	if (s->classes > 0 && c->kind == DM_NET_CLASSIFIER)
		c->cls.outputs = s->classes; /* the classes it tells apart */
	else if (s->classes > 0)
		c->classes = s->classes;
	return 0;
}

int dm_net_sample_shape(const dm_net_config *c, int64_t *dims)
{
	if (c->kind == DM_NET_MLP) {
		dims[0] = c->mlp.dim;
		return 1;
	}
	const dm_classifier_config *k = &c->cls;
	const dm_unet_config *u = &c->unet;
	if (c->kind == DM_NET_UNET3D) {
		u = &c->unet3d.s;
		dims[0] = u->in_ch, dims[1] = c->unet3d.T, dims[2] = u->H, dims[3] = u->W;
		return 4;
	}
	int cls = c->kind == DM_NET_CLASSIFIER;
	dims[0] = cls ? k->in_ch : u->in_ch, dims[1] = cls ? k->H : u->H, dims[2] = cls ? k->W : u->W;
	return 3;
}

size_t dm_net_sample_size(const dm_net_config *c)
{
	if (c->kind == DM_NET_MLP)
		return (size_t)c->mlp.dim;
	if (c->kind == DM_NET_CLASSIFIER)
		return (size_t)c->cls.in_ch * c->cls.H * c->cls.W;
	if (c->kind == DM_NET_UNET3D)
		return (size_t)c->unet3d.s.in_ch * c->unet3d.T * c->unet3d.s.H * c->unet3d.s.W;
	return (size_t)c->unet.in_ch * c->unet.H * c->unet.W;
}

size_t dm_net_output_size(const dm_net_config *c)
{
	return c->kind == DM_NET_CLASSIFIER ? (size_t)c->cls.outputs : dm_net_sample_size(c);
}

int dm_net_config_check(const dm_net_config *c, dm_error *err)
{
	if (c->classes < 0 || c->classes > 1000000)
		return dm_error_set(err, DM_ERR_ARG, "classes %d out of range", c->classes);
	if (!(c->t_scale > 0))
		return dm_error_set(err, DM_ERR_ARG, "t_scale must be positive");
	switch (c->kind) {
	case DM_NET_MLP:
		return dm_mlp_config_check(&c->mlp, err);
	case DM_NET_UNET:
		return dm_unet_config_check(&c->unet, err);
	case DM_NET_UNET3D:
		return dm_unet3d_config_check(&c->unet3d, err);
	case DM_NET_CLASSIFIER:
		if (c->classes != 0)
			return dm_error_set(err, DM_ERR_ARG, "classifier: is not class-conditional "
			                    "(classes 0)");
		return dm_classifier_config_check(&c->cls, err);
	}
	return dm_error_set(err, DM_ERR_ARG, "unknown model kind");
}

void dm_net_list_str(char *buf, size_t n, const int *v, int k)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; i < k && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, i ? ",%d" : "%d", v[i]);
}

int dm_net_image_to_kv(dm_kv *kv, int in_ch, int H, int W, int ch, const char *ch_mult,
                       int res_blocks, int groups)
{
	int rc = 0;
	rc |= dm_kv_setf(kv, "in_ch", "%d", in_ch);
	rc |= dm_kv_setf(kv, "H", "%d", H);
	rc |= dm_kv_setf(kv, "W", "%d", W);
	rc |= dm_kv_setf(kv, "ch", "%d", ch);
	rc |= dm_kv_set(kv, "ch_mult", ch_mult);
	rc |= dm_kv_setf(kv, "res_blocks", "%d", res_blocks);
	rc |= dm_kv_setf(kv, "groups", "%d", groups);
	return rc;
}

int dm_net_config_to_kv(const dm_net_config *c, dm_kv *kv, dm_error *err)
{
	int rc = dm_kv_set(kv, "model", c->kind == DM_NET_MLP ? "mlp" :
	                                c->kind == DM_NET_CLASSIFIER ? "classifier" :
	                                c->kind == DM_NET_UNET3D ? "unet3d" : "unet");
	rc |= dm_kv_setf(kv, "classes", "%d", c->classes);
	rc |= dm_kv_setf(kv, "t_scale", "%.9g", (double)c->t_scale);
	if (rc)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory writing the model config");
	if (c->kind == DM_NET_MLP)
		return dm_mlp_config_to_kv(&c->mlp, kv, err);
	if (c->kind == DM_NET_CLASSIFIER)
		return dm_classifier_config_to_kv(&c->cls, kv, err);
	if (c->kind == DM_NET_UNET3D)
		return dm_unet3d_config_to_kv(&c->unet3d, kv, err);
	return dm_unet_config_to_kv(&c->unet, kv, err);
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

int dm_net_kv_int(const dm_kv *kv, const char *key, const char *name, int *out, dm_error *err)
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

int dm_net_image_from_kv(const dm_kv *kv, const char *name, int *in_ch, int *H, int *W, int *ch,
                         int *ch_mult, int *nmult, int *res_blocks, int *groups, dm_error *err)
{
	int rc;
	if ((rc = dm_net_kv_int(kv, "in_ch", name, in_ch, err)) ||
	    (rc = dm_net_kv_int(kv, "H", name, H, err)) || (rc = dm_net_kv_int(kv, "W", name, W, err)) ||
	    (rc = dm_net_kv_int(kv, "ch", name, ch, err)) ||
	    (rc = dm_net_kv_int(kv, "res_blocks", name, res_blocks, err)) ||
	    (rc = dm_net_kv_int(kv, "groups", name, groups, err)))
		return rc;
	const char *m = dm_kv_get(kv, "ch_mult");
	*nmult = m ? dm_net_parse_list(m, ch_mult, DM_NET_MAX_LEVELS) : -1;
	if (*nmult < 1)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: bad ch_mult= in the header", name);
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
		rc = dm_mlp_config_from_kv(&c->mlp, kv, name, err);
	} else if (!strcmp(model, "unet")) {
		c->kind = DM_NET_UNET;
		rc = dm_unet_config_from_kv(&c->unet, kv, name, err);
	} else if (!strcmp(model, "unet3d")) {
		c->kind = DM_NET_UNET3D;
		rc = dm_unet3d_config_from_kv(&c->unet3d, kv, name, err);
	} else if (!strcmp(model, "classifier")) {
		c->kind = DM_NET_CLASSIFIER;
		rc = dm_classifier_config_from_kv(&c->cls, kv, name, err);
	} else {
		return dm_error_set(err, DM_ERR_FORMAT, "%s: unknown model=%s", name, model);
	}
	if (rc < 0 || (rc = dm_net_kv_int(kv, "classes", name, &c->classes, err)))
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
		dm_mlp_config m = cfg->mlp;
		m.classes = cfg->classes, m.t_scale = cfg->t_scale;
		rc = dm_mlp_init(net->mlp, &m, &net->layout, err);
	} else if (cfg->kind == DM_NET_CLASSIFIER) {
		net->cls = calloc(1, sizeof *net->cls);
		if (!net->cls)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		dm_classifier_config k = cfg->cls;
		k.t_scale = cfg->t_scale;
		rc = dm_classifier_init(net->cls, &k, &net->layout, err);
	} else if (cfg->kind == DM_NET_UNET3D) {
		dm_unet3d_config v = cfg->unet3d;
		v.s.classes = cfg->classes, v.s.t_scale = cfg->t_scale;
		rc = dm_unet3d_init(&net->unet, &v, &net->layout, err);
	} else {
		dm_unet_config u = cfg->unet;
		u.classes = cfg->classes, u.t_scale = cfg->t_scale;
		rc = dm_unet_init(&net->unet, &u, &net->layout, err);
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
	free(net->vjp_g);
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
		dm_classifier_forward(net->cls, params, x, t, B, out);
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

int dm_net_vjp(dm_net *net, const float *params, const float *x, const float *t,
               const int32_t *label, int B, const float *v, float *out, float *dx,
               dm_error *err)
{
	size_t P = net->layout.total;
	if (!net->vjp_g && !(net->vjp_g = malloc((P ? P : 1) * sizeof(float))))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for %zu parameter gradients", P);
	memset(net->vjp_g, 0, P * sizeof(float));
	int rc = dm_net_forward(net, params, x, t, label, B, out, 2, 0, 0, err);
	if (rc < 0)
		return rc;
	if (net->mlp) {
		net->mlp->dx = dx;
		dm_mlp_backward(net->mlp, params, net->vjp_g, v);
		net->mlp->dx = NULL;
	} else if (net->cls) {
		net->cls->dx = dx;
		dm_classifier_backward(net->cls, params, net->vjp_g, v);
		net->cls->dx = NULL;
	} else {
		dm_unet_want_input_grad(net->unet, 1);
		dm_unet_backward(net->unet, params, net->vjp_g, v);
		memcpy(dx, dm_unet_input_grad(net->unet), (size_t)B * dm_net_sample_size(&net->cfg) *
		       sizeof(float));
		dm_unet_want_input_grad(net->unet, 0);
	}
	return 0;
}

/* model.c - the inference contract of model.h over net.h and the
 * checkpoint reader. */
#include "models/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/checkpoint.h"

struct dm_model {
	dm_net net;
	float *params;
	dm_kv meta;
};

int dm_model_load(const char *path, int use_ema, dm_model **out, dm_error *err)
{
	*out = NULL;
	dm_model *m = calloc(1, sizeof *m);
	if (!m)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	int rc = dm_checkpoint_load_net(path, use_ema, &m->net, &m->params, &m->meta, err);
	if (rc < 0) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void dm_model_free(dm_model *m)
{
	if (!m)
		return;
	dm_net_free(&m->net);
	free(m->params);
	dm_kv_free(&m->meta);
	free(m);
}

const dm_kv *dm_model_meta(const dm_model *m) { return &m->meta; }

int dm_model_sample_shape(const dm_model *m, int64_t *dims)
{
	return dm_net_sample_shape(&m->net.cfg, dims);
}

int dm_model_classes(const dm_model *m) { return m->net.cfg.classes; }

int dm_model_predict(dm_model *m, const float *x, const float *t, const int32_t *label, int B,
                     float *out, dm_error *err)
{
	if (B < 1)
		return dm_error_set(err, DM_ERR_ARG, "model: batch size must be positive, not %d", B);
	return dm_net_forward(&m->net, m->params, x, t, label, B, out, 0, 0, 0, err);
}

void dm_model_set_precision(dm_model *m, int prec)
{
	dm_net_set_precision(&m->net, prec);
}

int dm_model_vjp(dm_model *m, const float *x, const float *t, const int32_t *label, int B,
                 const float *v, float *out, float *dx, dm_error *err)
{
	return dm_net_vjp(&m->net, m->params, x, t, label, B, v, out, dx, err);
}

int dm_model_classifier_classes(const dm_model *m)
{
	return m->net.cfg.kind == DM_NET_CLASSIFIER ? m->net.cfg.cls.outputs : 0;
}

int dm_model_class_grad(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                        float *grad, dm_error *err)
{
	dm_model *m = ctx;
	int K = dm_model_classifier_classes(m);
	if (K < 1)
		return dm_error_set(err, DM_ERR_ARG, "classifier guidance needs a classifier checkpoint");
	for (int b = 0; b < B; b++)
		if (label[b] < 0 || label[b] >= K)
			return dm_error_set(err, DM_ERR_ARG, "class %d: the classifier tells apart "
			                    "classes 0..%d", (int)label[b], K - 1);
	size_t n = (size_t)B * (size_t)K;
	float *z = malloc(n * sizeof *z), *v = malloc(n * sizeof *v);
	int rc = z && v ? dm_net_forward(&m->net, m->params, x, t, NULL, B, z, 0, 0, 0, err)
	                : dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	for (int b = 0; rc == 0 && b < B; b++) {
		const float *zb = z + (size_t)b * K;
		double mx = zb[0], sum = 0;
		for (int k = 1; k < K; k++)
			mx = zb[k] > mx ? zb[k] : mx;
		for (int k = 0; k < K; k++)
			sum += exp(zb[k] - mx);
		for (int k = 0; k < K; k++)
			v[(size_t)b * K + k] = (float)((k == label[b]) - exp(zb[k] - mx) / sum);
	}
	if (rc == 0)
		rc = dm_net_vjp(&m->net, m->params, x, t, NULL, B, v, z, grad, err);
	free(z), free(v);
	return rc;
}

#include "models/denoiser.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int net_predict(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                       float *out, dm_error *err)
{
	return dm_model_predict(ctx, x, t, label, B, out, err);
}

static int net_vjp(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                   const float *v, float *out, float *dx, dm_error *err)
{
	return dm_model_vjp(ctx, x, t, label, B, v, out, dx, err);
}

static int open_gaussian(dm_denoiser *d, const char *spec, dm_schedule *sched, const dm_kv *meta,
                         const char *src, dm_error *err)
{
	int rc = dm_gaussmodel_parse(spec, &d->g, err);
	if (rc)
		return rc;
	if (sched) {
		d->s = *sched;
		memset(sched, 0, sizeof *sched);
	} else if ((rc = dm_schedule_from_kv(meta, &d->s, err)) < 0) {
		dm_error inner = *err;
		return dm_error_set(err, rc, "%s: %s (or give --schedule for a gaussian: model)", src, inner.msg);
	}
	d->s.predict = d->g.predict;
	d->g.sched = &d->s;
	return 0;
}

int dm_denoiser_open(dm_denoiser *d, const char *spec, int raw, int precision, dm_schedule *sched,
                     const dm_kv *meta, const char *src, dm_error *err)
{
	memset(d, 0, sizeof *d);
	if (!strncmp(spec, "gaussian:", 9))
		return open_gaussian(d, spec, sched, meta, src, err);
	if (sched)
		dm_schedule_free(sched);
	int rc = dm_model_load(spec, !raw, &d->net, err);
	if (rc)
		return rc;
	dm_model_set_precision(d->net, precision);
	if ((rc = dm_schedule_from_kv(dm_model_meta(d->net), &d->s, err)) < 0) {
		dm_error inner = *err;
		return dm_error_set(err, rc, "%s: %s", spec, inner.msg);
	}
	d->classes = dm_model_classes(d->net);
	d->rank = dm_model_sample_shape(d->net, d->shape);
	return 0;
}

void dm_denoiser_free(dm_denoiser *d)
{
	if (d->net)
		dm_model_free(d->net);
	d->net = NULL;
	dm_schedule_free(&d->s);
}

int64_t dm_denoiser_values(const dm_denoiser *d)
{
	if (!d->net)
		return 0;
	int64_t n = 1;
	for (int k = 0; k < d->rank; k++)
		n *= d->shape[k];
	return n;
}

int dm_denoiser_check_label(const dm_denoiser *d, int label, const char *spec, dm_error *err)
{
	if (label < 0 || !d->net)
		return 0;
	if (d->classes == 0)
		return dm_error_set(err, DM_ERR_ARG, "%s: --label given, but the model is unconditional", spec);
	if (label >= d->classes)
		return dm_error_set(err, DM_ERR_ARG, "--label %d: the model has classes 0..%d", label,
		                    d->classes - 1);
	return 0;
}

int dm_denoiser_classifier(dm_sampler_opts *so, const char *path, int K, double scale,
                           dm_model **cls, dm_error *err)
{
	*cls = NULL;
	if (!isfinite(scale))
		return dm_error_set(err, DM_ERR_ARG, "--classifier-scale must be a finite number");
	int rc = dm_model_load(path, 1, cls, err);
	if (rc < 0)
		return rc;
	int n = dm_model_classifier_classes(*cls);
	if (n < 1)
		return dm_error_set(err, DM_ERR_ARG, "%s: not a classifier (model=%s)", path,
		                    dm_kv_get(dm_model_meta(*cls), "model") ? dm_kv_get(dm_model_meta(*cls), "model") : "?");
	if (K < 0 || K >= n)
		return dm_error_set(err, DM_ERR_ARG, "--class %d: %s tells apart classes 0..%d", K, path,
		                    n - 1);
	so->cls_scale = scale, so->cls_class = K;
	so->cls_grad = dm_model_class_grad, so->cls_ctx = *cls;
	return 0;
}

dm_sampler_model dm_denoiser_model(dm_denoiser *d)
{
	dm_sampler_model sm;
	sm.param = d->s.predict ? d->s.predict : DM_PREDICT_EPS;
	if (d->net) {
		sm.predict = net_predict;
		sm.vjp = net_vjp;
		sm.ctx = d->net;
	} else {
		sm.predict = dm_gaussmodel_predict;
		sm.vjp = dm_gaussmodel_vjp;
		sm.ctx = &d->g;
	}
	return sm;
}

int dm_denoiser_range(const dm_denoiser *d, double *lo, double *hi)
{
	if (!d->net)
		return 0;
	const char *range = dm_kv_get(dm_model_meta(d->net), "range");
	double a, b;
	char end;
	if (!range || sscanf(range, "%lf:%lf%c", &a, &b, &end) != 2 || !(a < b))
		return 0;
	*lo = a;
	*hi = b;
	return 1;
}

/* Data of a known range (dm-load's images, or --range; after --scale):
 * clip x0^ to it by default, as DDPM/DDIM implementations do for images;
 * an early or imperfect model's x0^ at high noise (alpha near 0) is
 * otherwise far outside the data range and the samples saturate.  With no
 * range in the header (toy sets, raw floats) nothing is clipped; --clip
 * then clips to [-1, 1]. */
void dm_denoiser_clip_default(const dm_denoiser *d, dm_sampler_opts *o, int clip_given)
{
	double lo, hi;
	if (!dm_denoiser_range(d, &lo, &hi))
		return;
	o->clip_lo = lo, o->clip_hi = hi;
	if (!clip_given)
		o->clip = 1;
}

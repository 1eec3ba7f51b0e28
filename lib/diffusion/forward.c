/* forward.c - the forward process q(x_t | x_0); see forward.h. */
#include "diffusion/forward.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

/* ---- names ---------------------------------------------------------------- */

static const char *const tsampling_names[] = {NULL, "uniform", "logsnr", "lognormal"};
static const char *const weighting_names[] = {NULL, "none", "snr", "min-snr", "trunc-snr", "edm"};

static int name_parse(const char *const *names, int n, const char *name)
{
	for (int k = 1; k < n; k++)
		if (name && !strcmp(name, names[k]))
			return k;
	return 0;
}

int dm_tsampling_parse(const char *name)
{
	return name_parse(tsampling_names, 4, name);
}

const char *dm_tsampling_name(int k)
{
	return k >= 1 && k <= 3 ? tsampling_names[k] : NULL;
}

int dm_weighting_parse(const char *name)
{
	return name_parse(weighting_names, 6, name);
}

const char *dm_weighting_name(int k)
{
	return k >= 1 && k <= 5 ? weighting_names[k] : NULL;
}

double dm_weighting_default_gamma(int weighting)
{
	return weighting == DM_WEIGHT_MIN_SNR ? 5.0 : weighting == DM_WEIGHT_EDM ? 0.5 : 0;
}

/* ---- weights and t ------------------------------------------------------- */

double dm_forward_weight(const dm_schedule *s, int wt, double gamma, double t)
{
	if (wt == DM_WEIGHT_NONE)
		return 1.0;
	double a = dm_schedule_alpha(s, t), sg = dm_schedule_sigma(s, t);
	double snr = sg > 0 ? a * a / (sg * sg) : INFINITY;
	/* w = lambda * factor, factor = |dx0/dtarget|^2 (see forward.h) */
	double factor;
	switch (s->predict) {
	case DM_PREDICT_EPS:
		factor = a > 0 ? sg * sg / (a * a) : INFINITY;
		break;
	case DM_PREDICT_V: {
		double n = a * a + sg * sg;
		factor = sg * sg / (n * n);
		break;
	}
	default:
		factor = 1.0;
		break;
	}
	double w;
	switch (wt) {
	case DM_WEIGHT_SNR:
		w = s->predict == DM_PREDICT_EPS ? 1.0 : snr * factor;
		break;
	case DM_WEIGHT_MIN_SNR:
		w = s->predict == DM_PREDICT_EPS ? (snr < gamma ? 1.0 : gamma / snr)
		                                 : fmin(snr, gamma) * factor;
		break;
	case DM_WEIGHT_TRUNC_SNR:
		w = s->predict == DM_PREDICT_EPS ? fmax(snr, 1.0) / snr : fmax(snr, 1.0) * factor;
		break;
	case DM_WEIGHT_EDM: {
		double sd = gamma > 0 ? gamma : 0.5;
		double sv = a > 0 ? sg / a : INFINITY;
		/* lambda * factor with lambda = (sv^2 + sd^2)/(sv sd)^2 */
		if (s->predict == DM_PREDICT_EPS)
			w = (sv * sv + sd * sd) / (sd * sd); /* factor = sv^2 */
		else
			w = (sv * sv + sd * sd) / (sv * sv * sd * sd) * factor;
		break;
	}
	default:
		w = 1.0;
		break;
	}
	if (!(w <= 1e8))
		w = 1e8; /* also NaN (0 * inf at the ends) */
	return w;
}

uint64_t dm_forward_rng_index(uint64_t index, uint64_t epoch)
{
	return (epoch << 44) + index;
}

double dm_forward_draw_t(const dm_schedule *s, const dm_forward_train_opts *o, uint64_t seed,
                         uint64_t ri)
{
	int disc = dm_schedule_is_discrete(s);
	uint32_t w;
	dm_rng_u32(seed, DM_RNG_TIME, ri, 0, &w, 1);
	if (o->tsampling == DM_TSAMPLE_UNIFORM) {
		if (disc)
			return (double)(((uint64_t)w * (uint64_t)s->T) >> 32);
		return s->t_eps + ((double)w + 0.5) * (1.0 / 4294967296.0) * (1.0 - s->t_eps);
	}
	double t;
	if (o->tsampling == DM_TSAMPLE_LOGSNR) {
		double u = ((double)w + 0.5) * (1.0 / 4294967296.0);
		double hi = dm_schedule_logsnr(s, dm_schedule_t_min(s));
		double lo = dm_schedule_logsnr(s, dm_schedule_t_max(s));
		if (!isfinite(lo))
			lo = -20.0; /* zero terminal SNR: the ends meet at t_max */
		t = dm_schedule_t_from_logsnr(s, lo + u * (hi - lo));
	} else {
		float z;
		dm_rng_normal(seed, DM_RNG_TIME, ri, 0, &z, 1);
		t = dm_schedule_t_from_sigma_ve(s, exp(o->ln_mean + o->ln_std * z));
	}
	double tmin = dm_schedule_t_min(s);
	if (t < tmin)
		t = tmin;
	return disc ? round(t) : t;
}

/* ---- the process ---------------------------------------------------------- */

void dm_forward_mix(const dm_schedule *s, double t, const float *x0, const float *eps,
                    float *xt, int64_t n)
{
	float a = (float)dm_schedule_alpha(s, t), sg = (float)dm_schedule_sigma(s, t);
	for (int64_t k = 0; k < n; k++)
		xt[k] = a * x0[k] + sg * eps[k];
}

void dm_forward_target(const dm_schedule *s, double t, const float *x0, const float *eps,
                       float *target, int64_t n)
{
	float a = (float)dm_schedule_alpha(s, t), sg = (float)dm_schedule_sigma(s, t);
	for (int64_t k = 0; k < n; k++)
		target[k] = s->predict == DM_PREDICT_EPS ? eps[k]
		          : s->predict == DM_PREDICT_X0 ? x0[k] : a * eps[k] - sg * x0[k];
}

/* One d-float scratch row per thread of the parallel regions below, all
 * allocated before any work so that a failure changes nothing. */
static float *scratch(int nt, int64_t d, dm_error *err)
{
	float *buf = malloc((size_t)nt * (size_t)d * sizeof *buf);
	if (!buf)
		dm_error_set(err, DM_ERR_NOMEM, "out of memory (noise of %d x %lld values)", nt,
		             (long long)d);
	return buf;
}

int dm_forward_noise(const dm_schedule *s, double t, uint64_t seed, const dm_forward_index *ix,
                     const float *x0, float *xt, int64_t n, int64_t d, dm_error *err)
{
	int nt = omp_get_max_threads();
	float *buf = scratch(nt, d, err);
	if (!buf)
		return DM_ERR_NOMEM;
#pragma omp parallel for schedule(static) num_threads(nt)
	for (int64_t i = 0; i < n; i++) {
		float *eps = buf + (size_t)omp_get_thread_num() * (size_t)d;
		uint64_t ri = dm_forward_rng_index(ix->base + (uint64_t)i * ix->stride, ix->epoch);
		dm_rng_normal(seed, DM_RNG_NOISE, ri, 0, eps, (size_t)d);
		dm_forward_mix(s, t, x0 + i * d, eps, xt + i * d, d);
	}
	free(buf);
	return 0;
}

int dm_forward_train(const dm_schedule *s, const dm_forward_train_opts *o, uint64_t seed,
                     const dm_forward_index *ix, float *x, float *target, float *t, float *w,
                     int64_t n, int64_t d, dm_error *err)
{
	int nt = omp_get_max_threads();
	float *buf = scratch(nt, d, err);
	if (!buf)
		return DM_ERR_NOMEM;
#pragma omp parallel for schedule(static) num_threads(nt)
	for (int64_t i = 0; i < n; i++) {
		float *eps = buf + (size_t)omp_get_thread_num() * (size_t)d;
		uint64_t ri = dm_forward_rng_index(ix->base + (uint64_t)i * ix->stride, ix->epoch);
		double ti = dm_forward_draw_t(s, o, seed, ri);
		dm_rng_normal(seed, DM_RNG_NOISE, ri, 0, eps, (size_t)d);
		dm_forward_target(s, ti, x + i * d, eps, target + i * d, d);
		dm_forward_mix(s, ti, x + i * d, eps, x + i * d, d);
		t[i] = (float)ti;
		w[i] = (float)dm_forward_weight(s, o->weighting, o->gamma, ti);
	}
	free(buf);
	return 0;
}

void dm_forward_prior(const dm_schedule *s, uint64_t seed, uint64_t index0, float *x, int64_t n,
                      int64_t d)
{
	float sd = (float)dm_schedule_prior_std(s);
#pragma omp parallel for schedule(static)
	for (int64_t i = 0; i < n; i++) {
		float *xi = x + i * d;
		dm_rng_normal(seed, DM_RNG_PRIOR, index0 + (uint64_t)i, 0, xi, (size_t)d);
		for (int64_t k = 0; k < d; k++)
			xi[k] *= sd;
	}
}

int dm_forward_diffuse(const dm_schedule *s, double t, uint64_t seed, uint32_t purpose,
                       uint64_t draw, uint64_t index0, float *x, int64_t n, int64_t d,
                       dm_error *err)
{
	int nt = omp_get_max_threads();
	float *buf = scratch(nt, d, err);
	if (!buf)
		return DM_ERR_NOMEM;
#pragma omp parallel for schedule(static) num_threads(nt)
	for (int64_t i = 0; i < n; i++) {
		float *eps = buf + (size_t)omp_get_thread_num() * (size_t)d;
		dm_rng_normal(seed, purpose, index0 + (uint64_t)i, draw, eps, (size_t)d);
		dm_forward_mix(s, t, x + i * d, eps, x + i * d, d);
	}
	free(buf);
	return 0;
}

/* ---- training options from specs ---------------------------------------- */

void dm_forward_train_opts_default(dm_forward_train_opts *o)
{
	memset(o, 0, sizeof *o);
	o->tsampling = DM_TSAMPLE_UNIFORM;
	o->weighting = DM_WEIGHT_NONE;
	o->ln_mean = -1.2, o->ln_std = 1.2;
}

/* "NAME" or "NAME:REST" -> name (truncated to size) and REST or NULL. */
static const char *split(const char *spec, char *name, size_t size)
{
	const char *colon = strchr(spec, ':');
	snprintf(name, size, "%.*s", colon ? (int)(colon - spec) : (int)strlen(spec), spec);
	return colon ? colon + 1 : NULL;
}

/* A whole finite number, up to `stop` (or the end). */
static int number(const char *s, const char *stop, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return !errno && end != s && (stop ? end == stop : *end == 0) && isfinite(*v);
}

int dm_forward_weighting_spec(dm_forward_train_opts *o, const char *spec, dm_error *err)
{
	char name[32];
	const char *param = split(spec, name, sizeof name);
	int w = dm_weighting_parse(name);
	if (!w)
		return dm_error_set(err, DM_ERR_ARG, "--weighting: unknown '%s' (none, snr, min-snr, "
		                    "trunc-snr, edm)", name);
	o->weighting = w;
	o->gamma = dm_weighting_default_gamma(w);
	if (!param)
		return 0;
	if (!(o->gamma > 0))
		return dm_error_set(err, DM_ERR_ARG, "--weighting: '%s': only min-snr and edm take a "
		                    "parameter", spec);
	if (!number(param, NULL, &o->gamma) || !(o->gamma > 0))
		return dm_error_set(err, DM_ERR_ARG, "--weighting: '%s': the parameter must be a "
		                    "positive number", spec);
	return 0;
}

int dm_forward_tsampling_spec(dm_forward_train_opts *o, const char *spec, dm_error *err)
{
	char name[32];
	const char *param = split(spec, name, sizeof name);
	int k = dm_tsampling_parse(name);
	if (!k)
		return dm_error_set(err, DM_ERR_ARG, "--t-sampling: unknown '%s' (uniform, logsnr, "
		                    "lognormal)", name);
	o->tsampling = k;
	o->ln_mean = -1.2, o->ln_std = 1.2;
	if (!param)
		return 0;
	if (k != DM_TSAMPLE_LOGNORMAL)
		return dm_error_set(err, DM_ERR_ARG, "--t-sampling: '%s': only lognormal takes "
		                    "MEAN:STD", spec);
	const char *colon = strchr(param, ':');
	if (!colon || !number(param, colon, &o->ln_mean) || !number(colon + 1, NULL, &o->ln_std))
		return dm_error_set(err, DM_ERR_ARG, "--t-sampling: '%s' is not lognormal:MEAN:STD",
		                    spec);
	if (!(o->ln_std > 0))
		return dm_error_set(err, DM_ERR_ARG, "--t-sampling: '%s': STD must be positive", spec);
	return 0;
}

/* ---- frames --------------------------------------------------------------- */

int dm_forward_check_t(const dm_schedule *s, double t, dm_error *err)
{
	double hi = dm_schedule_t_max(s);
	if (!(t >= 0 && t <= hi))
		return dm_error_set(err, DM_ERR_ARG, "%g is outside the schedule's range 0..%g", t,
		                    hi);
	if (dm_schedule_is_discrete(s) && t != floor(t))
		return dm_error_set(err, DM_ERR_ARG, "%g is not an integer step of the discrete "
		                    "%s schedule", t, dm_schedule_kind_name(s->kind));
	return 0;
}

int dm_forward_frame_x(dm_frame *f, const char *stream, dm_tensor **x, int64_t *n, int64_t *d,
                       dm_error *err)
{
	if (!dm_frame_get(f, "x"))
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frame has no tensor x", stream);
	dm_tensor *t = dm_frame_make_f32(f, "x", err);
	if (!t)
		return err->code ? err->code : DM_ERR_NOMEM;
	if (t->rank < 1 || t->dims[0] < 1)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: tensor x must be N x ... with N >= 1",
		                    stream);
	*x = t;
	*n = t->dims[0];
	*d = dm_tensor_numel(t) / *n;
	return 0;
}

/* A new f32 tensor of f, NULL with err set. */
static float *add(dm_frame *f, const char *name, int rank, const int64_t *dims, int compress,
                  dm_error *err)
{
	dm_tensor *t = dm_frame_add(f, name, DM_F32, rank, dims, err);
	if (!t)
		return NULL;
	t->compress = compress;
	return t->data;
}

static void fill(float *v, int64_t n, double x)
{
	for (int64_t i = 0; i < n; i++)
		v[i] = (float)x;
}

int dm_forward_noise_frame(const dm_schedule *s, double t, uint64_t seed,
                           const dm_forward_index *ix, dm_frame *in, const char *stream,
                           dm_frame *out, int compress, dm_error *err)
{
	dm_tensor *x;
	int64_t n, d;
	int rc = dm_forward_frame_x(in, stream, &x, &n, &d, err);
	if (rc < 0 || (rc = dm_frame_copy(out, in, err)) < 0)
		return rc;
	dm_tensor *xt = dm_frame_get(out, "x");
	xt->compress = compress;
	float *tt = add(out, "t", 1, &n, compress, err);
	if (!tt)
		return err->code;
	if ((rc = dm_forward_noise(s, t, seed, ix, x->data, xt->data, n, d, err)) < 0)
		return rc;
	fill(tt, n, t);
	if (dm_kv_setf(&out->tags, "t", "%.9g", t) ||
	    dm_kv_setf(&out->tags, "sigma", "%.9g", dm_schedule_sigma_ve(s, t)))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	return 0;
}

int dm_forward_train_frame(const dm_schedule *s, const dm_forward_train_opts *o, uint64_t seed,
                           const dm_forward_index *ix, dm_frame *f, const char *stream,
                           int compress, dm_error *err)
{
	dm_tensor *x;
	int64_t n, d;
	int rc = dm_forward_frame_x(f, stream, &x, &n, &d, err);
	if (rc < 0)
		return rc;
	x->compress = compress;
	int rank = x->rank;
	int64_t dims[DM_MAX_RANK];
	memcpy(dims, x->dims, sizeof dims);
	float *tt = add(f, "t", 1, &n, compress, err), *tg, *w;
	if (!tt || !(tg = add(f, "target", rank, dims, compress, err)) ||
	    !(w = add(f, "w", 1, &n, compress, err)))
		return err->code;
	return dm_forward_train(s, o, seed, ix, x->data, tg, tt, w, n, d, err);
}

int dm_forward_prior_frame(const dm_schedule *s, uint64_t seed, uint64_t index0, int rank,
                           const int64_t *dims, int64_t n, dm_frame *f, int compress,
                           dm_error *err)
{
	int64_t d = 1, sh[DM_MAX_RANK];
	for (int k = 1; k < rank; k++)
		d *= dims[k];
	if (d > ((int64_t)1 << 32))
		return dm_error_set(err, DM_ERR_ARG, "--shape: a sample of %" PRId64 " values is too large", d);
	memcpy(sh, dims, (size_t)rank * sizeof *sh);
	sh[0] = n;
	dm_frame_clear(f);
	float *x = add(f, "x", rank, sh, compress, err), *tt;
	if (!x || !(tt = add(f, "t", 1, &n, compress, err)))
		return err->code;
	double tmax = dm_schedule_t_max(s);
	dm_forward_prior(s, seed, index0, x, n, d);
	fill(tt, n, tmax);
	if (dm_kv_setf(&f->tags, "index", "%" PRIu64, index0) ||
	    dm_kv_setf(&f->tags, "t", "%.9g", tmax))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	return 0;
}

#include "eval/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/forward.h"
#include "io/samples.h"
#include "io/stream.h"
#include "models/denoiser.h"
#include "nn/gemm.h"

void dm_check_opts_default(dm_check_opts *o)
{
	o->bands = 10;
	o->max_samples = 1024;
	o->seed = 0;
}

static void warn(dm_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(dm_check *c, const char *fmt, ...)
{
	if (c->nwarn == DM_CHECK_MAX_WARN)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->warn[c->nwarn++], sizeof c->warn[0], fmt, ap);
	va_end(ap);
}

/* Non-finite values in the checkpoint's weights and EMA weights. */
static int count_nonfinite(dm_check *c, const char *path, dm_error *err)
{
	dm_reader *r;
	int rc = dm_reader_open_path(&r, path, err);
	if (rc < 0)
		return rc;
	const char *v = dm_kv_get(dm_reader_meta(r), "model");
	snprintf(c->model, sizeof c->model, "%s", v ? v : "?");
	v = dm_kv_get(dm_reader_meta(r), "step");
	c->step = v ? atol(v) : -1;
	dm_frame f;
	dm_frame_init(&f);
	while ((rc = dm_reader_next(r, &f, err)) > 0) {
		const char *kind = dm_kv_get(&f.tags, "kind");
		int ema = kind && strcmp(kind, "ema") == 0, raw = kind && strcmp(kind, "weights") == 0;
		if (!ema && !raw)
			continue;
		for (int i = 0; i < f.n; i++) {
			const dm_tensor *t = f.t[i];
			int64_t n = dm_tensor_numel(t), bad = 0;
			for (int64_t k = 0; k < n; k++)
				bad += !isfinite(dm_tensor_get(t, k));
			*(ema ? &c->nonfinite_ema : &c->nonfinite_raw) += bad;
			if (raw)
				c->nparams += n;
		}
	}
	dm_frame_free(&f);
	dm_reader_close(r);
	return rc < 0 ? rc : 0;
}

static void data_stats(dm_check *c, const dm_samples *x, double *mean)
{
	double sum = 0, ss = 0, lo = INFINITY, hi = -INFINITY;
	int64_t N = x->n * x->d;
	for (int64_t j = 0; j < x->d; j++)
		mean[j] = 0;
	for (int64_t i = 0; i < x->n; i++)
		for (int64_t j = 0; j < x->d; j++) {
			double v = x->p[i * x->d + j];
			mean[j] += v / (double)x->n;
			sum += v;
			lo = fmin(lo, v), hi = fmax(hi, v);
		}
	double m = sum / (double)N;
	for (int64_t k = 0; k < N; k++)
		ss += (x->p[k] - m) * (x->p[k] - m);
	c->data_min = lo, c->data_max = hi, c->data_mean = m, c->data_std = sqrt(ss / (double)N);
}

/* The t of sample i in band b: uniform in [lo, hi), a whole step for a
 * discrete schedule. */
static double band_t(const dm_schedule *s, uint64_t seed, int b, int64_t i, double lo, double hi)
{
	float u;
	dm_rng_uniform(seed, DM_RNG_TIME, ((uint64_t)b << 40) + (uint64_t)i, 0, &u, 1);
	double t = lo + u * (hi - lo);
	if (dm_schedule_is_discrete(s)) {
		t = floor(t);
		t = t < lo ? ceil(lo) : t;
		t = t > dm_schedule_t_max(s) ? dm_schedule_t_max(s) : t;
	}
	return t;
}

typedef struct bufs {
	float *x0, *xt, *eps, *tg, *out, *t;
	int32_t *lab;
} bufs;

/* The losses of band b over every sample, in chunks of B. */
static int measure_band(dm_check *c, dm_denoiser *ema, dm_denoiser *raw, const dm_samples *x,
                        const double *mean, int b, const dm_check_opts *o, bufs *u, int B,
                        dm_error *err)
{
	const dm_schedule *s = &ema->s;
	dm_check_band *bd = &c->band[b];
	int64_t d = x->d;
	double sum[4] = {0, 0, 0, 0};
	for (int64_t i0 = 0; i0 < x->n; i0 += B) {
		int nb = (int)(x->n - i0 < B ? x->n - i0 : B);
		for (int k = 0; k < nb; k++) {
			int64_t i = i0 + k;
			double t = band_t(s, o->seed, b, i, bd->t_lo, bd->t_hi);
			float *x0 = x->p + i * d, *eps = u->eps + k * d, *xt = u->xt + k * d, *tg = u->tg + k * d;
			dm_rng_normal(o->seed, DM_RNG_NOISE, ((uint64_t)b << 40) + (uint64_t)i, 0, eps, (size_t)d);
			dm_forward_mix(s, t, x0, eps, xt, d);
			dm_forward_target(s, t, x0, eps, tg, d);
			u->t[k] = (float)t;
			u->lab[k] = ema->classes ? (x->lab ? x->lab[i] : ema->classes) : 0;
			/* the trivial predictors */
			double a = dm_schedule_alpha(s, t), sg = dm_schedule_sigma(s, t);
			for (int64_t j = 0; j < d; j++) {
				double e = (xt[j] - a * mean[j]) / sg, p = mean[j];
				if (s->predict == DM_PREDICT_EPS)
					p = e;
				else if (s->predict == DM_PREDICT_V)
					p = a * e - sg * mean[j];
				sum[2] += (double)tg[j] * tg[j];
				sum[3] += (p - tg[j]) * (p - tg[j]);
			}
		}
		const int32_t *lab = ema->classes ? u->lab : NULL;
		dm_denoiser *m[2] = {ema, raw};
		for (int w = 0; w < 2; w++) {
			int rc = dm_model_predict(m[w]->net, u->xt, u->t, lab, nb, u->out, err);
			if (rc < 0)
				return rc;
			for (int64_t k = 0; k < nb * d; k++)
				sum[w] += ((double)u->out[k] - u->tg[k]) * ((double)u->out[k] - u->tg[k]);
		}
	}
	double N = (double)x->n * (double)d;
	bd->ema = sum[0] / N, bd->raw = sum[1] / N, bd->zero = sum[2] / N, bd->mean = sum[3] / N;
	double best = fmin(bd->zero, bd->mean);
	bd->state = bd->ema < best - 0.02 * bd->zero ? DM_BAND_LEARNED : DM_BAND_CONSTANT;
	if (!(bd->ema <= best + 0.1 * bd->zero))
		bd->state = DM_BAND_UNTRAINED;
	return 0;
}

static int measure(dm_check *c, dm_denoiser *ema, dm_denoiser *raw, const dm_samples *x,
                   const dm_check_opts *o, dm_error *err)
{
	int B = 256;
	size_t bd = (size_t)B * (size_t)x->d;
	bufs u = {0};
	double *mean = malloc((size_t)x->d * sizeof *mean);
	u.xt = malloc(bd * sizeof(float)), u.eps = malloc(bd * sizeof(float));
	u.tg = malloc(bd * sizeof(float)), u.out = malloc(bd * sizeof(float));
	u.t = malloc((size_t)B * sizeof(float)), u.lab = malloc((size_t)B * sizeof(int32_t));
	int rc = 0;
	if (!mean || !u.xt || !u.eps || !u.tg || !u.out || !u.t || !u.lab)
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (rc == 0) {
		data_stats(c, x, mean);
		const dm_schedule *s = &ema->s;
		double lo = dm_schedule_t_min(s), hi = dm_schedule_t_max(s);
		if (dm_schedule_is_discrete(s))
			hi += 1; /* bands of whole steps 0..T-1 */
		for (int b = 0; b < c->bands && rc == 0; b++) {
			c->band[b].t_lo = lo + (hi - lo) * b / c->bands;
			c->band[b].t_hi = lo + (hi - lo) * (b + 1) / c->bands;
			rc = measure_band(c, ema, raw, x, mean, b, o, &u, B, err);
		}
	}
	free(mean), free(u.xt), free(u.eps), free(u.tg), free(u.out), free(u.t), free(u.lab);
	return rc;
}

/* The plain-language reading of the numbers. */
static void judge(dm_check *c, const dm_schedule *s)
{
	int B = c->bands;
	for (int b = 0; b < B; b++) {
		c->ema_all += c->band[b].ema / B, c->raw_all += c->band[b].raw / B;
		c->learned += c->band[b].state == DM_BAND_LEARNED;
		c->untrained += c->band[b].state == DM_BAND_UNTRAINED;
	}
	if (c->nonfinite_ema || c->nonfinite_raw)
		warn(c, "%lld of the EMA weights and %lld of the raw weights are NaN or infinite: "
		        "the run diverged; resume an earlier checkpoint with a lower --lr or --clip-grad",
		     (long long)c->nonfinite_ema, (long long)c->nonfinite_raw);
	int top = B;
	while (top > 0 && c->band[top - 1].state == DM_BAND_UNTRAINED)
		top--;
	if (top < B && top > 0)
		warn(c, "untrained at high noise (t from %g up, loss %.3g against %.3g for the data mean): "
		        "sampling starts there from pure noise, so the samples stay noise; train longer",
		     c->band[top].t_lo, c->band[B - 1].ema, c->band[B - 1].mean);
	if (c->has_range) {
		double w = c->range_hi - c->range_lo;
		if (c->data_min < c->range_lo - 0.05 * w || c->data_max > c->range_hi + 0.05 * w ||
		    c->data_max - c->data_min < 0.5 * w)
			warn(c, "range mismatch: the data spans [%.3g, %.3g] but the model was trained on data "
			        "in [%.3g, %.3g] (range=%g:%g); load it the same way (dm-load --range, --scale)",
			     c->data_min, c->data_max, c->range_lo, c->range_hi, c->range_lo, c->range_hi);
	}
	if (c->signal_at_top > 0.1)
		warn(c, "the schedule does not reach pure noise for this data: at the largest t the data "
		        "still shows through (alpha std / sigma = %.2g), so the prior the sampler starts "
		        "from is not what the model saw there; use a schedule with more noise at the end",
		     c->signal_at_top);
	if (c->learned > 0 && c->ema_all > 1.1 * c->raw_all)
		warn(c, "the EMA weights are %.0f%% worse than the raw ones: the average still carries "
		        "early weights; train longer, or sample with dm-denoise --raw",
		     100 * (c->ema_all / c->raw_all - 1));
	if (c->nonfinite_ema || c->nonfinite_raw)
		c->verdict = "broken: the weights hold NaN or Inf";
	else if (c->learned == 0)
		c->verdict = "untrained: at no noise level does it beat a constant prediction";
	else if (c->untrained > 0)
		c->verdict = "partly trained: it beats a constant prediction at some noise levels, and is "
		             "worse than one at others";
	else
		c->verdict = "trained: it beats a constant prediction at some noise levels and is as good "
		             "as one at the others";
	(void)s;
}

int dm_check_run(dm_check *c, const char *model_path, const char *data_path,
                 const dm_check_opts *o, dm_error *err)
{
	memset(c, 0, sizeof *c);
	if (o->bands < 1 || o->bands > DM_CHECK_MAX_BANDS)
		return dm_error_set(err, DM_ERR_ARG, "bands: %d is outside 1..%d", o->bands,
		                    DM_CHECK_MAX_BANDS);
	c->bands = o->bands;
	dm_denoiser ema, raw;
	memset(&ema, 0, sizeof ema), memset(&raw, 0, sizeof raw);
	dm_samples x;
	memset(&x, 0, sizeof x);
	/* non-finite weights first: the loader refuses such a checkpoint, and
	 * there is nothing to measure; the report says why */
	int rc = strncmp(model_path, "gaussian:", 9) ? count_nonfinite(c, model_path, err) : 0;
	if (rc == 0 && (c->nonfinite_ema || c->nonfinite_raw)) {
		snprintf(c->schedule, sizeof c->schedule, "? (not loaded)");
		c->bands = 0; /* nothing measured */
		judge(c, NULL);
		return 0;
	}
	if (rc == 0)
		rc = dm_denoiser_open(&ema, model_path, 0, DM_PREC_FP32, NULL, NULL, model_path, err);
	if (rc == 0)
		rc = dm_denoiser_open(&raw, model_path, 1, DM_PREC_FP32, NULL, NULL, model_path, err);
	if (rc == 0 && !ema.net)
		rc = dm_error_set(err, DM_ERR_ARG, "%s: --check measures a checkpoint of dm-train", model_path);
	if (rc == 0) {
		rc = dm_samples_read(&x, data_path, "x", 0, ema.classes > 0, o->max_samples, err);
		if (rc < 0 && ema.classes > 0) /* no labels: the null label */
			rc = dm_samples_read(&x, data_path, "x", 0, 0, o->max_samples, err);
	}
	if (rc == 0 && x.d != dm_denoiser_values(&ema))
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: samples of %lld values, the model %s takes %lld",
		                  data_path, (long long)x.d, model_path, (long long)dm_denoiser_values(&ema));
	if (rc == 0) {
		snprintf(c->schedule, sizeof c->schedule, "%s%s T=%d predict=%s", dm_schedule_kind_name(ema.s.kind),
		         ema.s.zero_snr ? " zero-snr" : "", dm_schedule_is_discrete(&ema.s) ? ema.s.T : 0,
		         dm_predict_name(ema.s.predict));
		c->has_range = dm_denoiser_range(&ema, &c->range_lo, &c->range_hi);
		c->n = x.n, c->d = x.d;
		rc = measure(c, &ema, &raw, &x, o, err);
	}
	if (rc == 0) {
		double tm = dm_schedule_t_max(&ema.s);
		c->signal_at_top = dm_schedule_alpha(&ema.s, tm) * c->data_std / dm_schedule_sigma(&ema.s, tm);
		judge(c, &ema.s);
	}
	dm_samples_free(&x);
	dm_denoiser_free(&raw);
	dm_denoiser_free(&ema);
	return rc;
}

void dm_check_print(const dm_check *c, FILE *f)
{
	fprintf(f, "model: %s, step %ld, %lld parameters, schedule %s", c->model, c->step,
	        (long long)c->nparams, c->schedule);
	if (c->has_range)
		fprintf(f, ", trained on data in [%g, %g]", c->range_lo, c->range_hi);
	fprintf(f, "\n");
	if (c->bands == 0) /* (non-finite weights: not measured) */
		goto words;
	fprintf(f, "data: %lld samples of %lld values, in [%.4g, %.4g], mean %.4g, std %.4g\n",
	        (long long)c->n, (long long)c->d, c->data_min, c->data_max, c->data_mean, c->data_std);
	fprintf(f, "loss per band of t (mean squared error of the prediction, per value):\n");
	fprintf(f, "%5s %9s %9s %10s %10s %10s %10s %8s  %s\n", "band", "t from", "t to", "ema", "raw",
	        "zero", "mean", "excess", "state");
	static const char *const states[] = {"learned", "constant", "untrained"};
	for (int b = 0; b < c->bands; b++) {
		const dm_check_band *d = &c->band[b];
		fprintf(f, "%5d %9.4g %9.4g %10.4g %10.4g %10.4g %10.4g %8.4f  %s\n", b + 1, d->t_lo, d->t_hi,
		        d->ema, d->raw, d->zero, d->mean, (d->ema - fmin(d->zero, d->mean)) / d->zero,
		        states[d->state]);
	}
	fprintf(f, "mean over bands: ema %.4g, raw %.4g\n", c->ema_all, c->raw_all);
	fprintf(f, "(excess: ema minus the better constant prediction, zero or the data mean, over "
	           "zero's loss; learned below -0.02, untrained above 0.1)\n");
words:
	for (int i = 0; i < c->nwarn; i++)
		fprintf(f, "warning: %s\n", c->warn[i]);
	if (!c->nwarn)
		fprintf(f, "no warnings\n");
	fprintf(f, "verdict: %s\n", c->verdict);
}

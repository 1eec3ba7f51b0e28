#include "eval/watch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/outfile.h"
#include "diffusion/forward.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "eval/features.h"
#include "eval/frechet.h"
#include "eval/metrics.h"
#include "io/render.h"
#include "io/samples.h"
#include "io/video.h"

#define CHUNK 64 /* samples per network call: one activation plan */

struct dm_watch {
	dm_watch_opts o;
	dm_net net;           /* own copy: own activation plan */
	const float *params;  /* the EMA weights of the current call */
	dm_schedule s;
	int64_t dims[8];
	int rank, images;
	int64_t D;
	int classes;
	int has_range;        /* the data's range is known: x0^ clipped to it, as dm-denoise does */
	double lo, hi;
	float *x;             /* max(n, eval_n) x D */
	int32_t *lab;
	dm_render_opts ro;
	/* pictures */
	const char *video_fmt; /* NULL: numbered PNGs */
	dm_outfile of;
	dm_video *video;
	long step;
	double seconds;       /* spent watching so far */
	/* evaluation */
	dm_samples ref;
	dm_featnet feat;
	int has_feat;
	float *fa, *fb;
};

void dm_watch_opts_default(dm_watch_opts *o)
{
	memset(o, 0, sizeof *o);
	o->sampler = DM_SAMPLER_DDIM;
	o->steps = 20;
	o->fps = 4;
	o->lim_lo = -4, o->lim_hi = 4;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int predict(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                   float *out, dm_error *err)
{
	dm_watch *w = ctx;
	return dm_net_forward(&w->net, w->params, x, t, label, B, out, 0, 0, 0, err);
}

static const char *video_format(const char *path)
{
	static const char *const fmts[] = {"gif", "mp4", "webm"};
	const char *dot = strrchr(path, '.');
	for (int i = 0; dot && i < 3; i++)
		if (strcasecmp(dot + 1, fmts[i]) == 0)
			return fmts[i];
	return NULL;
}

/* n samples from the fixed prior noise (global indices 0..n-1), in chunks. */
static int draw(dm_watch *w, int n, dm_error *err)
{
	dm_sampler_opts so;
	dm_sampler_opts_default(&so, w->o.sampler);
	so.steps = w->o.steps;
	so.seed = w->o.seed;
	so.classes = w->classes;
	if (w->has_range)
		so.clip = 1, so.clip_lo = w->lo, so.clip_hi = w->hi;
	dm_sampler_model m = {predict, w, w->s.predict, NULL};
	dm_forward_prior(&w->s, w->o.seed, 0, w->x, n, w->D);
	for (int i0 = 0; i0 < n; i0 += CHUNK) {
		int B = n - i0 < CHUNK ? n - i0 : CHUNK;
		int rc = dm_sample(&w->s, &m, &so, w->x + (size_t)i0 * w->D, w->classes ? w->lab + i0 : NULL,
		                   B, w->D, (uint64_t)i0, NULL, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int emit(void *ctx, dm_canvas *cv, dm_error *err)
{
	dm_watch *w = ctx;
	int rc = 0;
	if (!w->video_fmt) {
		char path[4096];
		snprintf(path, sizeof path, w->o.out, w->step);
		rc = dm_render_write_png(path, cv, err);
	} else {
		if (!w->video) {
			dm_video_opts vo = {w->video_fmt, w->o.fps, 0, -1, 0};
			rc = dm_outfile_open(&w->of, w->o.out, err);
			if (rc == 0 && (rc = dm_video_open(&w->video, w->of.f, w->o.out, cv->w, cv->h, cv->c, &vo, err)) < 0)
				dm_outfile_abort(&w->of);
		}
		if (rc == 0)
			rc = dm_video_frame(w->video, cv, err);
	}
	dm_canvas_free(cv);
	return rc;
}

static int picture(dm_watch *w, long step, dm_error *err)
{
	int n = w->o.n;
	int rc = draw(w, n, err);
	if (rc < 0)
		return rc;
	dm_frame f;
	dm_frame_init(&f);
	int64_t dims[9] = {n};
	memcpy(dims + 1, w->dims, (size_t)w->rank * sizeof *dims);
	dm_tensor *t = dm_frame_add(&f, "x", DM_F32, w->rank + 1, dims, err);
	if (!t) {
		dm_frame_free(&f);
		return err->code ? err->code : DM_ERR_NOMEM;
	}
	memcpy(t->data, w->x, (size_t)n * (size_t)w->D * sizeof(float));
	dm_kv_setf(&f.tags, "step", "%ld", step);
	w->step = step;
	if (w->images && !w->ro.rows)
		rc = dm_render_fit_grid(t, &w->ro.rows, &w->ro.cols, err);
	if (rc == 0)
		rc = dm_render_frame(&f, t, &w->ro, "samples", emit, w, err);
	dm_frame_free(&f);
	return rc;
}

static int evaluate(dm_watch *w, dm_watch_report *r, dm_error *err)
{
	int n = w->o.eval_n;
	int rc = draw(w, n, err);
	if (rc == 0)
		rc = dm_sliced_w2(w->x, n, w->ref.p, w->ref.n, (int)w->D, 128, w->o.seed, &r->sw, err);
	r->fd = NAN;
	if (rc == 0 && w->has_feat) {
		int k = dm_featnet_dim(&w->feat);
		rc = dm_featnet_map(&w->feat, w->x, n, w->fa, NULL, err);
		if (rc == 0)
			rc = dm_frechet(w->fa, n, w->fb, w->ref.n, k, &r->fd, err);
	}
	return rc;
}

static int open_eval(dm_watch *w, dm_error *err)
{
	const dm_watch_opts *o = &w->o;
	int rc = dm_samples_read(&w->ref, o->ref, "x", 0, 0, o->eval_n ? o->eval_n : 512, err);
	if (rc < 0)
		return rc;
	if (w->ref.d != w->D)
		return dm_error_set(err, DM_ERR_ARG, "%s: held-out samples of %lld values, the model makes %lld",
		                    o->ref, (long long)w->ref.d, (long long)w->D);
	if (!w->o.eval_n)
		w->o.eval_n = (int)w->ref.n;
	if (!o->features)
		return 0;
	w->has_feat = 1; /* freed even after a failed load */
	if ((rc = dm_featnet_load(&w->feat, o->features, err)) < 0)
		return rc;
	if ((int64_t)dm_featnet_input_size(&w->feat) != w->D)
		return dm_error_set(err, DM_ERR_ARG, "%s: a classifier of %zu inputs, the model makes %lld",
		                    o->features, dm_featnet_input_size(&w->feat), (long long)w->D);
	size_t k = (size_t)dm_featnet_dim(&w->feat);
	w->fa = malloc((size_t)w->o.eval_n * k * sizeof(float));
	w->fb = malloc((size_t)w->ref.n * k * sizeof(float));
	if (!w->fa || !w->fb)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	return dm_featnet_map(&w->feat, w->ref.p, w->ref.n, w->fb, NULL, err);
}

int dm_watch_open(dm_watch **out, const dm_net_config *cfg, const dm_kv *meta,
                  const dm_watch_opts *o, dm_error *err)
{
	*out = NULL;
	if (cfg->kind == DM_NET_CLASSIFIER)
		return dm_error_set(err, DM_ERR_ARG, "--sample-every, --eval-every: a classifier draws no samples");
	if (o->sample_every > 0 && (!o->out || (dm_outfile_numbered(o->out) != 1 && !video_format(o->out))))
		return dm_error_set(err, DM_ERR_ARG,
		                    "--sample-out '%s': neither a numbered PNG name (one %%d, e.g. s-%%06d.png) nor a .gif, .mp4 or .webm video",
		                    o->out ? o->out : "");
	if (o->eval_every > 0 && !o->ref)
		return dm_error_set(err, DM_ERR_ARG, "--eval-every needs --eval-data, a stream of held-out clean samples");
	if (o->steps < 1 || o->steps > 10000)
		return dm_error_set(err, DM_ERR_ARG, "--sample-steps %d outside 1..10000", o->steps);
	dm_watch *w = calloc(1, sizeof *w);
	if (!w)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	w->o = *o;
	int rc = dm_schedule_from_kv(meta, &w->s, err);
	if (rc == 0)
		rc = dm_net_init(&w->net, cfg, err);
	if (rc < 0) {
		dm_schedule_free(&w->s);
		free(w);
		return rc;
	}
	w->rank = dm_net_sample_shape(cfg, w->dims);
	w->D = (int64_t)dm_net_sample_size(cfg);
	w->images = w->rank == 3 || w->rank == 4; /* images, or clips: a picture per frame */
	w->classes = cfg->classes;
	if (!w->o.n)
		w->o.n = w->rank == 4 ? 16 : w->images ? 64 : 1000;
	w->video_fmt = o->out ? video_format(o->out) : NULL;
	if (w->rank == 4 && o->out && !w->video_fmt) {
		dm_watch_close(w, NULL);
		return dm_error_set(err, DM_ERR_ARG, "--sample-out %s: clips are watched as a video "
		                    "(a name ending in .mp4, .gif or .webm)", o->out);
	}
	w->ro = (dm_render_opts){.scale = o->scale ? o->scale : 2, .gap = 1, .lo = -1, .hi = 1,
	                         .range_set = 1, .caption = 1};
	const char *range = dm_kv_get(meta, "range");
	double lo, hi;
	char end;
	if (range && sscanf(range, "%lf:%lf%c", &lo, &hi, &end) == 2 && lo < hi)
		w->ro.lo = w->lo = lo, w->ro.hi = w->hi = hi, w->has_range = 1;
	if (!w->images) {
		w->ro.scatter = 1;
		w->ro.sc = (dm_scatter){.w = 512, .h = 512, .xlo = o->lim_lo, .xhi = o->lim_hi,
		                        .ylo = o->lim_lo, .yhi = o->lim_hi,
		                        .radius = 1, .fg = {0x1f, 0x77, 0xb4}, .bg = {255, 255, 255}, .axes = 1};
	}
	if (o->eval_every > 0)
		rc = open_eval(w, err);
	int nmax = w->o.n > w->o.eval_n ? w->o.n : w->o.eval_n;
	if (rc == 0) {
		w->x = malloc((size_t)nmax * (size_t)w->D * sizeof(float));
		w->lab = malloc((size_t)nmax * sizeof(int32_t));
		if (!w->x || !w->lab)
			rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	if (rc < 0) {
		dm_watch_close(w, NULL);
		return rc;
	}
	for (int i = 0; i < nmax; i++) /* a class per column of the grid */
		w->lab[i] = w->classes ? i % w->classes : 0;
	*out = w;
	return 0;
}

int dm_watch_step(dm_watch *w, long step, const float *ema, dm_watch_report *r, dm_error *err)
{
	memset(r, 0, sizeof *r);
	r->fd = NAN;
	w->params = ema;
	int rc = 0;
	if (w->o.sample_every > 0 && step % w->o.sample_every == 0) {
		double t0 = now();
		rc = picture(w, step, err);
		r->drew = 1, r->draw_seconds = now() - t0;
	}
	if (rc == 0 && w->o.eval_every > 0 && step % w->o.eval_every == 0) {
		double t0 = now();
		rc = evaluate(w, r, err);
		r->evaluated = 1, r->eval_seconds = now() - t0;
	}
	w->seconds += r->draw_seconds + r->eval_seconds;
	return rc;
}

void dm_watch_describe(const dm_watch *w, const dm_watch_report *r, long step, double elapsed,
                       char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	if (!r->drew && !r->evaluated)
		return;
	k += (size_t)snprintf(buf + k, n - k, "step %ld:", step);
	if (r->drew && k < n)
		k += (size_t)snprintf(buf + k, n - k, " %d samples (%s, %d steps) in %.2f s;", w->o.n,
		                      dm_sampler_name(w->o.sampler), w->o.steps, r->draw_seconds);
	if (r->evaluated && k < n) {
		k += (size_t)snprintf(buf + k, n - k, " sliced W2 %.4g", r->sw);
		if (isfinite(r->fd) && k < n)
			k += (size_t)snprintf(buf + k, n - k, ", FD %.4g", r->fd);
		if (k < n)
			k += (size_t)snprintf(buf + k, n - k, " over %d samples in %.2f s;", w->o.eval_n,
			                      r->eval_seconds);
	}
	if (k < n)
		snprintf(buf + k, n - k, " watching took %.1f%% of the run so far",
		         elapsed > 0 ? 100 * w->seconds / elapsed : 0.0);
}

int dm_watch_close(dm_watch *w, dm_error *err)
{
	if (!w)
		return 0;
	int rc = 0;
	if (w->video) {
		rc = dm_video_close(w->video, err);
		if (rc == 0)
			rc = dm_outfile_commit(&w->of, err);
		else
			dm_outfile_abort(&w->of);
	}
	dm_net_free(&w->net);
	dm_schedule_free(&w->s);
	dm_samples_free(&w->ref);
	if (w->has_feat)
		dm_featnet_free(&w->feat);
	free(w->fa), free(w->fb), free(w->x), free(w->lab);
	free(w);
	return rc;
}

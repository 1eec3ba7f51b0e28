/* watch.h - watching a model learn (dm-train --sample-every, --eval-every):
 * every so many steps, samples from the current EMA weights with fixed
 * prior noise and a fast sampler (DDIM with 20 steps by default) drawn as
 * a captioned grid (images) or scatter plot (2-D points) into a numbered
 * PNG or as one more frame of a video, so that a run can be watched as a
 * film of the same seeds getting sharper; and a quality figure against a
 * fixed held-out set: the sliced Wasserstein distance of the samples to it
 * (eval/metrics), and with a classifier the Frechet distance in its
 * features (eval/features, eval/frechet).
 *
 * The watcher owns its own copy of the network (its own activation plan,
 * so that the training batch's is not re-planned) and reads the EMA
 * weights in place; it never changes the training state, so a run with
 * watching trains bit for bit as one without.
 */
#ifndef DM_WATCH_H
#define DM_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"
#include "models/net.h"

typedef struct dm_watch_opts {
	long sample_every;    /* steps between pictures (0 = none) */
	long eval_every;      /* steps between quality figures (0 = none) */
	const char *out;      /* the pictures: a numbered PNG name ("s-%06d.png",
	                         numbered by step) or a .gif/.mp4/.webm video */
	int n;                /* samples in a picture (0: 64 images, 1000 points) */
	int sampler, steps;   /* DM_SAMPLER_* (DDIM) and its steps (20) */
	uint64_t seed;        /* of the fixed prior noise */
	int scale;            /* image upscaling in the grid (0: 2) */
	double lim_lo, lim_hi; /* both axes of a scatter plot (-4, 4) */
	int fps;              /* video frame rate (4) */
	const char *ref;      /* --eval-every: a stream of held-out clean samples */
	int eval_n;           /* samples compared (0: 512, at most the held-out set) */
	const char *features; /* a classifier checkpoint for FD in its features, or NULL */
} dm_watch_opts;

void dm_watch_opts_default(dm_watch_opts *o);

typedef struct dm_watch dm_watch;

/* What one call did. */
typedef struct dm_watch_report {
	int drew, evaluated;  /* a picture written, a figure computed */
	double draw_seconds, eval_seconds;
	double sw;            /* sliced W2 to the held-out set */
	double fd;            /* FD in the classifier's features (NaN without one) */
} dm_watch_report;

/* A watcher for the network cfg trained on the schedule of the training
 * stream's header meta (the trainer's).  Errors (DM_ERR_ARG, naming the
 * option's value or the file): no schedule in meta, an --out that is
 * neither a numbered PNG name nor a video, a held-out set of another
 * sample size, a classifier for other inputs.  *w is NULL on error. */
int dm_watch_open(dm_watch **w, const dm_net_config *cfg, const dm_kv *meta,
                  const dm_watch_opts *o, dm_error *err);
/* After optimiser step `step` with EMA weights ema: the picture and/or the
 * figure that are due (none when neither is). */
int dm_watch_step(dm_watch *w, long step, const float *ema, dm_watch_report *r, dm_error *err);
/* One line for the log on what r did at step, elapsed seconds into the
 * run: "step S: samples in X s; sliced W2 A, FD B (Y s); watching took P%
 * of the run so far", or "" when nothing was due. */
void dm_watch_describe(const dm_watch *w, const dm_watch_report *r, long step, double elapsed,
                       char *buf, size_t n);
/* Finish the video (if any) and free w (always freed; NULL is fine). */
int dm_watch_close(dm_watch *w, dm_error *err);

#endif

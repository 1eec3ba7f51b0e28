/* denoiser.h - the model a sampler runs: a checkpoint of dm-train, or the
 * exact denoiser of Gaussian data named gaussian:MEAN:STD[:P], with the
 * schedule it was trained on (the checkpoint's) or is told to assume, and
 * the data range it knows.  dm-denoise's -m.
 */
#ifndef DM_DENOISER_H
#define DM_DENOISER_H

#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"
#include "core/tensor.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "models/gaussmodel.h"
#include "models/model.h"

typedef struct dm_denoiser {
	dm_model *net;              /* a checkpoint, or NULL for gaussian: */
	dm_gaussmodel g;            /* gaussian:..., when net is NULL */
	dm_schedule s;              /* owned */
	int classes;                /* the checkpoint's; 0 for gaussian: */
	int64_t shape[DM_MAX_RANK]; /* the checkpoint's sample shape */
	int rank;                   /* its rank; 0 for gaussian: */
} dm_denoiser;

/* Open spec.  gaussian:MEAN:STD[:P] takes its schedule from sched when
 * not NULL (moved into d, the caller's copy no longer to be freed), else
 * from meta, the header of the stream src being denoised; P is the
 * parametrisation.  Anything else is a checkpoint path, loaded with its
 * EMA weights unless raw, its convolutions at precision (DM_PREC_*), its
 * schedule from its own header (sched is then freed when not NULL).
 * Errors name src or spec.  d is left for dm_denoiser_free either way. */
int dm_denoiser_open(dm_denoiser *d, const char *spec, int raw, int precision, dm_schedule *sched,
                     const dm_kv *meta, const char *src, dm_error *err);
void dm_denoiser_free(dm_denoiser *d);

/* Values per sample a checkpoint takes (its sample shape's product); 0 for
 * gaussian:, which takes any. */
int64_t dm_denoiser_values(const dm_denoiser *d);

/* Whether label (>= 0 given, -1 none) suits a checkpoint: DM_ERR_ARG "SPEC:
 * --label given, but the model is unconditional" or "--label L: the model
 * has classes 0..C-1".  gaussian: takes any label. */
int dm_denoiser_check_label(const dm_denoiser *d, int label, const char *spec, dm_error *err);

/* Classifier guidance for the sampler options so: load the classifier
 * checkpoint path (EMA weights) into *cls (caller frees with
 * dm_model_free), check that class K is one it tells apart and scale is
 * finite, and set so->cls_* to guide every sample towards K.  Errors name
 * path. */
int dm_denoiser_classifier(dm_sampler_opts *so, const char *path, int K, double scale,
                           dm_model **cls, dm_error *err);

/* The sampler's view of d: the callback (x, t) -> prediction and its
 * parametrisation.  Valid while d is. */
dm_sampler_model dm_denoiser_model(dm_denoiser *d);

/* The data range of a checkpoint's header (range=LO:HI, from dm-load's
 * images or dm-load --range): 1 with *lo < *hi set, else 0 (none, a
 * gaussian: model, or a malformed value). */
int dm_denoiser_range(const dm_denoiser *d, double *lo, double *hi);

/* Clip x0^ to the data's range: with a known range o's clip range is set
 * to it, and clipping is turned on unless clip_given (--clip or --no-clip
 * said which).  Without one o is left as it is: [-1, 1], off. */
void dm_denoiser_clip_default(const dm_denoiser *d, dm_sampler_opts *o, int clip_given);

#endif

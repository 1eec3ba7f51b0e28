/* startframe.h - a frame of dm-denoise's input made into the sampler's
 * inputs: the samples' shape (the frame's x, or the model's for a small or
 * gray measurement to restore, or clips for still images with --given),
 * the start state as f32, the labels, and for restorations the known image
 * y, its masks, and the start diffused to the top.
 */
#ifndef DM_STARTFRAME_H
#define DM_STARTFRAME_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "diffusion/restore.h"
#include "diffusion/sampler.h"
#include "models/denoiser.h"

/* What the command line asks of every frame. */
typedef struct dm_startframe_opts {
	const char *mask;        /* --mask FILE: RePaint, or NULL */
	const dm_restore_spec *rs; /* --restore (kind DM_RESTORE_NONE: none) */
	int given;               /* --given first:K: K, or 0 */
	int label;               /* --label, or -1: the stream's */
	int sdedit;              /* --sdedit (with so->from_t) */
	double from_sigma;       /* --from-sigma, or < 0 */
	double from_t;           /* --from-t as given, or < 0 */
} dm_startframe_opts;

/* The sampler's inputs for one frame; the mask persists across frames. */
typedef struct dm_startframe {
	dm_tensor shape;   /* the samples' shape (data NULL) */
	float *xs;         /* B x D start states, f32 */
	float *y;          /* the known image (restorations), or NULL */
	int32_t *labels;   /* B labels, or NULL */
	float *mask;       /* the RePaint / restoration / --given mask, loaded once */
	int B;
	int64_t D;
} dm_startframe;

void dm_startframe_init(dm_startframe *st);

/* Set up frame f (frame number frame_no of the stream called name; its
 * first sample at stream position index0) with the options o: st's fields,
 * and in so the sample layout (C, H, W), the known image, masks and
 * restoration, and the start t (a dm-noise --t tag) when o asks for none.
 * 1 with a frame to sample, 0 for an empty frame, or a negative dm error
 * whose message names the stream and the frame. */
int dm_startframe_begin(dm_startframe *st, const dm_startframe_opts *o, dm_denoiser *m,
                        dm_sampler_opts *so, const dm_frame *f, const char *name,
                        uint64_t frame_no, uint64_t index0, dm_error *err);
/* Free the frame's buffers (not the mask); so->y cleared. */
void dm_startframe_end(dm_startframe *st, dm_sampler_opts *so);
/* Free everything. */
void dm_startframe_free(dm_startframe *st);

#endif

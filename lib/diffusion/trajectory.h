/* trajectory.h - the frames the reverse process writes: the states along
 * the way (dm-denoise --every, for videos) and the final samples, each a
 * frame of the output stream tagged with where it is.
 */
#ifndef DM_TRAJECTORY_H
#define DM_TRAJECTORY_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "diffusion/schedule.h"
#include "io/stream.h"

/* The state of an emitter, the ctx of dm_trajectory_emit. */
typedef struct dm_trajectory {
	dm_writer *w;           /* where the frames go (not owned) */
	const dm_tensor *shape; /* the samples' shape (its data unused) */
	uint64_t index0;        /* the index of the batch's first sample */
	int x0_only;            /* x is the predicted x0, and no x0 tensor */
} dm_trajectory;

/* dm_sampler_opts.emit: one frame of x (or x0^ when x0_only) and x0, both
 * of ctx's shape, tagged index, t (%.9g) and step.  B and D are the
 * shape's, unused.  0 or the writer's error. */
int dm_trajectory_emit(void *ctx, int step, double t, const float *x, const float *x0, int B,
                       int64_t D, dm_error *err);

/* The final frame of a batch: f (the input frame) with its tensor y
 * removed, x replaced by the samples xs (f32, of shape's shape), the tensor
 * t removed, tags index=index0, t=t_end (%.9g), final=1, nfe (%.6g) and no
 * sigma.  0, DM_ERR_NOMEM or a tensor error. */
int dm_trajectory_final(dm_frame *f, const dm_tensor *shape, const float *xs, uint64_t index0,
                        double t_end, double nfe, dm_error *err);

/* The class K the B samples of final frame f were guided towards
 * (classifier guidance) as its tensor label (i32 B, replacing any).  0 or
 * the frame's error. */
int dm_trajectory_label(dm_frame *f, int B, int K, dm_error *err);

/* The header of the output stream: the input's meta in (copied into meta,
 * initialised by the caller, who frees it) with tool=dm-denoise, sampler,
 * seed, denoiser (the -m argument), the schedule s (dm_schedule_to_kv) and encoded=1 when the
 * samples are encodings (noise from data).  0 or DM_ERR_NOMEM. */
int dm_trajectory_meta(dm_kv *meta, const dm_kv *in, const char *sampler, uint64_t seed,
                       const char *model, const dm_schedule *s, int encoded, dm_error *err);

#endif

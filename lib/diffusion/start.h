/* start.h - where the reverse process starts, as a frame of the input
 * stream says it: the class labels of its samples and the t of its tag
 * (dm-noise --t T writes it).  Used by dm-denoise per frame.
 */
#ifndef DM_START_H
#define DM_START_H

#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"
#include "core/tensor.h"
#include "diffusion/schedule.h"

/* The labels of B samples: fixed (>= 0) for all, else when the model has
 * classes (> 0) the frame's label tensor lt (element b; a shorter tensor
 * gives element 0 to the rest).  *labels is malloc'ed (caller frees), or
 * NULL when neither applies.  0, DM_ERR_ARG when lt is empty, DM_ERR_NOMEM. */
int dm_start_labels(const dm_tensor *lt, int fixed, int classes, int B, int32_t **labels,
                    dm_error *err);

/* The frame tag t as the start of the reverse process: its value when it
 * is a number above dm_schedule_t_min (a noisy state), else -1 (no tag, or
 * clean data such as a dm-denoise output: start at the top). */
double dm_start_t(const dm_kv *tags, const dm_schedule *s);

/* The known image of a restoration (RePaint, DDNM) and its start state:
 * *y (malloc'ed, B x D; caller frees) is the frame's tensor y when it has
 * one (yt, of B x D values), else x itself, which is then diffused to top
 * (dm_forward_diffuse's noise of sample index0 + b under seed).  0,
 * DM_ERR_ARG when yt has another size, DM_ERR_NOMEM. */
int dm_start_known(const dm_schedule *s, double top, const dm_tensor *yt, float *x, int B,
                   int64_t D, uint64_t seed, uint64_t index0, float **y, dm_error *err);

/* Frame conditioning (Ho et al. 2022, sec. 3.1, by replacement): the
 * first `first` frames of each clip are given and kept, the rest sampled.
 * dm_start_given_parse reads "first:K" (K >= 1).  dm_start_given_mask makes
 * the RePaint mask of a C x T x HW clip (malloc'ed, C*T*HW values: 1 on
 * frames t < first, else 0); first must be below T. */
int dm_start_given_parse(const char *spec, int *first, dm_error *err);
int dm_start_given_mask(int first, int64_t C, int64_t T, int64_t HW, float **mask,
                        dm_error *err);
/* Still images as clips: B images of C x HW into B clips of C x T x HW,
 * each frame the image (malloc'ed *clips, caller frees). */
int dm_start_stills(const float *x, int B, int64_t C, int64_t T, int64_t HW, float **clips,
                    dm_error *err);

#endif

/* restore.h - setting up a restoration for the sampler (sampler.h):
 * RePaint inpainting masks and the DDNM degradations (--restore sr:K,
 * gray, mask:FILE), and the full-size A+ y of a measurement smaller than
 * the samples.
 */
#ifndef DM_RESTORE_H
#define DM_RESTORE_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "diffusion/degrade.h"
#include "diffusion/sampler.h"

/* A restoration as given on the command line. */
typedef struct dm_restore_spec {
	int kind;          /* DM_RESTORE_* of sampler.h (NONE for no --restore) */
	int sr_factor;     /* sr:K */
	const char *mask;  /* mask:FILE: the PNG (points into the spec string) */
	dm_degrade deg;    /* kind DEGRADE: lowlight:GAIN:GAMMA, blur:SIGMA (for DPS) */
	double *theta;     /* GDP's estimates of a frame (dm_restore_dps_setup) */
} dm_restore_spec;

/* Parse "sr:K" (1 <= K <= 65536), "gray", "mask:FILE" or a degradation of
 * degrade.h ("lowlight:GAIN:GAMMA", "blur:SIGMA"; kind DEGRADE) into *r.
 * 0 or DM_ERR_ARG with a sentence naming the spec. */
int dm_restore_parse(const char *spec, dm_restore_spec *r, dm_error *err);

/* A mask PNG as C x H x W values (white = 1 = keep, black = 0; the mean of
 * the image's channels thresholded at 0.5 and broadcast over C channels).
 * *mask is malloc'ed (caller frees).  0, the PNG reader's error,
 * DM_ERR_ARG when the image is not W x H, DM_ERR_NOMEM. */
int dm_restore_load_mask(const char *path, int C, int H, int W, float **mask, dm_error *err);

/* Does a measurement of c x h x w per sample fit samples of C x H x W for
 * spec (sr:K: c = C, h K = H, w K = W; gray: c = 1, C = 3, h = H, w = W)? */
int dm_restore_fits(const dm_restore_spec *r, int64_t C, int64_t H, int64_t W, int64_t c,
                    int64_t h, int64_t w);

/* A+ y at full size for B measurements y (B x c x h x w, as
 * dm_restore_fits accepted): pixels repeated K x K, or the gray value in
 * all three channels, so that A (A+ y) = y.  full holds B x C x H x W. */
void dm_restore_expand(const dm_restore_spec *r, const float *y, int64_t B, int64_t c, int64_t h,
                       int64_t w, int64_t C, int64_t H, int64_t W, float *full);

/* The start state of a measurement x (B x c x h x w, any dtype) smaller
 * than samples of shape (rank 3: C x H x W) as r restores it: *full =
 * dm_restore_expand's A+ y (malloc'ed, B x C x H x W; caller frees) and
 * dims[1..3] = C, H, W.  1 done; 0 when x does not fit r (nothing
 * allocated); DM_ERR_NOMEM. */
int dm_restore_measurement(const dm_restore_spec *r, const int64_t *shape, int rank,
                           const dm_tensor *x, float **full, int64_t *dims, dm_error *err);

/* The sampler options of a DPS/GDP restoration once parsed: so->degrade =
 * &r->deg for a degradation (else NULL), and so->gdp the mask of the
 * parameters gdp names (dm_degrade_param_mask; NULL = none).  0 or
 * DM_ERR_ARG (--gdp without a degradation, an unknown parameter). */
int dm_restore_dps_options(dm_restore_spec *r, const char *gdp, dm_sampler_opts *so,
                           dm_error *err);

/* A DPS/GDP restoration of B samples of C x H x W values in the data range
 * [lo, hi]: r->deg laid out for them, and with GDP r->theta = B x
 * DM_DEGRADE_MAXP copies of the spec's parameters (the start guess;
 * so->theta = r->theta).  0 or DM_ERR_NOMEM. */
int dm_restore_dps_setup(dm_restore_spec *r, dm_sampler_opts *so, int B, int C, int H, int W,
                         double lo, double hi, dm_error *err);

/* After the run: GDP's estimates as tensor "gdp" (B x np f32: gain, gamma
 * for lowlight) of frame f, and r->theta freed.  0 or the frame's error. */
int dm_restore_dps_finish(dm_restore_spec *r, dm_frame *f, int B, dm_error *err);
#endif

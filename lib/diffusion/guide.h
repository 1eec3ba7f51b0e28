/* guide.h - the sampler's network callback made into the eps^ and x0^ a
 * step uses: the model's prediction in its parametrisation converted,
 * classifier-free guidance (Ho & Salimans 2022: eps_u + w (eps_c - eps_u),
 * the conditional and unconditional rows in one call), x0^ clipped to the
 * data range or dynamically thresholded (Saharia et al. 2022, sec. 2.3),
 * projected onto a restoration's measurement (DDNM, Wang et al. 2023 eq.
 * 13), eps^ made consistent with the changed x0^ (unless clip_keep_eps);
 * and RePaint's known part (Lugmayr et al. 2022).  The sampler sees the
 * network only through dm_guide_denoise, so a new guidance method is one
 * more case here.
 */
#ifndef DM_GUIDE_H
#define DM_GUIDE_H

#include <stdint.h>

#include "core/error.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"

typedef struct dm_guide {
	const dm_schedule *s;
	const dm_sampler_model *m;
	const dm_sampler_opts *o;    /* guidance, clip, dyn_threshold, restore, mask, y */
	const int32_t *label;        /* B labels, or NULL */
	int B;
	int64_t D;
	int guided;                  /* two evaluations per sample */
	float *xin, *pred, *tv;      /* (2)B x D, (2)B x D, (2)B */
	int32_t *lab;                /* (2)B */
	float *epsu;                 /* B x D */
	double *as;                  /* 2B: alpha, sigma per row */
	long evals;                  /* network evaluations (per sample, summed) */
} dm_guide;

/* Buffers for B samples of D values, planned once. */
int dm_guide_init(dm_guide *g, const dm_schedule *s, const dm_sampler_model *m,
                  const dm_sampler_opts *o, const int32_t *label, int B, int64_t D,
                  dm_error *err);
void dm_guide_free(dm_guide *g);

/* The network at B states x (rows: the batch row of each, NULL = 0..B-1)
 * at times t[b]: eps^ and x0^ (B x D each) after guidance, clipping and
 * projection. */
int dm_guide_denoise(dm_guide *g, const float *x, const double *t, const int *rows, int B,
                     float *eps, float *x0, dm_error *err);

/* RePaint: x = mask (a y + s z) + (1 - mask) x over the batch, the known
 * image y at level (a, s) by the forward process with noise z (B x D), or
 * y itself when clean. */
void dm_guide_paint_known(const dm_guide *g, float *x, double a, double s, int clean,
                          const float *z);

#endif

/* guide.h - the sampler's network callback made into the eps^ and x0^ a
 * step uses: the model's prediction in its parametrisation converted,
 * classifier-free guidance (Ho & Salimans 2022: eps_u + w (eps_c - eps_u),
 * the conditional and unconditional rows in one call), x0^ clipped to the
 * data range or dynamically thresholded (Saharia et al. 2022, sec. 2.3),
 * projected onto a restoration's measurement (DDNM, Wang et al. 2023 eq.
 * 13), eps^ made consistent with the changed x0^ (unless clip_keep_eps);
 * the DPS gradient of a degradation's residual (Chung et al. 2023) through
 * the model's VJP, with GDP's estimate of its parameters (Fei et al. 2023);
 * a noisy classifier's guidance (Dhariwal & Nichol 2021);
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
	/* DPS (o->dps > 0): the gradient of each sample's ||y - A(x0^)|| in
	 * x_t at the last dm_guide_denoise (B x D), and its scratch */
	float *grad, *x0raw, *cot, *vin, *vout, *scratch;
	double *theta;               /* B x DM_DEGRADE_MAXP: o->theta, or theta_own */
	double *theta_own;           /* copies of A's own theta when o->theta is NULL */
	double *resid;               /* B: ||y - A(x0^)|| at the last call */
	float *cgrad;                /* classifier guidance: B x D gradient */
	int32_t *clab;               /* B x cls_class */
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

/* The DPS gradient of B samples (the rows of the last dm_guide_denoise):
 * g->grad = d ||y - A_theta(x0^)|| / d x_t, each sample's theta first
 * moved by GDP's step when o->gdp.  x0raw holds the unclipped x0^.  Called
 * by dm_guide_denoise when o->dps > 0. */
int dm_guide_dps(dm_guide *g, const float *x, int B, dm_error *err);

/* RePaint: x = mask (a y + s z) + (1 - mask) x over the batch, the known
 * image y at level (a, s) by the forward process with noise z (B x D), or
 * y itself when clean. */
void dm_guide_paint_known(const dm_guide *g, float *x, double a, double s, int clean,
                          const float *z);

#endif

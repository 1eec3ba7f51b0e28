/* degrade.h - degradations y = A_theta(x) with their gradients, for
 * posterior sampling (DPS, Chung et al. 2023) and for estimating A's
 * parameters theta while sampling (GDP, Fei et al. 2023).
 *
 * A works on one sample of C x H x W values in the data range [lo, hi]
 * (-1..1 for images) and gives a measurement of the same size:
 *   lowlight:GAIN:GAMMA  u = (x - lo)/(hi - lo) clamped to [0, 1],
 *                        A(x) = lo + (hi - lo) min(GAIN u^GAMMA, 1):
 *                        a dark (GAIN < 1), gamma-curved (GAMMA > 1) image,
 *                        saturated where GAIN u^GAMMA > 1 (an overexposed
 *                        one for GAIN > 1).  Nonlinear in x.
 *   blur:SIGMA           a Gaussian blur of std SIGMA pixels over H x W in
 *                        each channel (radius ceil(3 SIGMA), edges
 *                        extended).  Linear in x.
 * The parameters theta (lowlight: GAIN, GAMMA; blur: SIGMA) are doubles
 * given per call, so that each sample can carry its own estimate.
 */
#ifndef DM_DEGRADE_H
#define DM_DEGRADE_H

#include <stdint.h>

#include "core/error.h"

enum dm_degrade_kind { DM_DEGRADE_NONE = 0, DM_DEGRADE_LOWLIGHT, DM_DEGRADE_BLUR };

#define DM_DEGRADE_MAXP 2   /* parameters of a degradation, at most */
#define DM_DEGRADE_MAXR 64  /* blur radius, at most (SIGMA <= 21) */

typedef struct dm_degrade {
	int kind;                       /* DM_DEGRADE_* */
	int np;                         /* parameters: lowlight 2, blur 1 */
	double theta[DM_DEGRADE_MAXP];  /* as given in the spec */
	int C, H, W;                    /* one sample's layout */
	double lo, hi;                  /* the data range */
} dm_degrade;

/* Parse "lowlight:GAIN:GAMMA" (0 < GAIN <= 100, 0.1 <= GAMMA <= 10) or
 * "blur:SIGMA" (0 < SIGMA <= 21) into *d (layout and range left 0; set
 * them with dm_degrade_layout).  0; 1 when spec names none of these (d
 * kind NONE: the caller may try another parser); DM_ERR_ARG with a
 * sentence naming the spec when it names one with bad parameters. */
int dm_degrade_parse(const char *spec, dm_degrade *d, dm_error *err);

/* The sample layout and data range A works on (lo < hi). */
void dm_degrade_layout(dm_degrade *d, int C, int H, int W, double lo, double hi);

/* The parameter names of d ("gain", "gamma"; "sigma"), i < d->np. */
const char *dm_degrade_param_name(const dm_degrade *d, int i);

/* The parameters named in list ("gain,gamma", "gamma", or "all") as a
 * bit mask (bit i: parameter i).  A positive mask, or DM_ERR_ARG naming the
 * unknown name. */
int dm_degrade_param_mask(const dm_degrade *d, const char *list, dm_error *err);

/* Is theta (d->np values) a valid parameter vector (the parse ranges)? */
int dm_degrade_valid(const dm_degrade *d, const double *theta);

/* y = A_theta(x) for one sample (D = C H W values).  scratch: D floats
 * (blur), may alias nothing. */
void dm_degrade_apply(const dm_degrade *d, const double *theta, const float *x, float *y,
                      float *scratch);

/* The vector-Jacobian product in x: dx = v^T dA_theta/dx at x (one
 * sample).  scratch: D floats.  dx must not alias v. */
void dm_degrade_vjp(const dm_degrade *d, const double *theta, const float *x, const float *v,
                    float *dx, float *scratch);

/* The Jacobian in the log-parameters: J[i] (D floats, i < d->np) =
 * dA_theta(x)/d log theta_i at x (one sample).  Lowlight only (it is
 * elementwise); DM_ERR_ARG for a degradation without it. */
int dm_degrade_param_jacobian(const dm_degrade *d, const double *theta, const float *x,
                              float *const *J, dm_error *err);

/* Does d have dm_degrade_param_jacobian (can GDP estimate its parameters)? */
int dm_degrade_has_param_jacobian(const dm_degrade *d);

#endif

/* gaussmodel.h - the analytic "network" for Gaussian data, -m gaussian:MEAN:STD.
 *
 * If every data value is x0 ~ N(m, d^2) (independently), then under
 * x_t = a x0 + s eps the posterior mean is known in closed form:
 *     E[x0 | x_t] = m + a d^2 (x_t - a m) / (a^2 d^2 + s^2),
 * and eps^ = (x_t - a x0^)/s, v^ = a eps^ - s x0^.  A sampler driven by this
 * model must turn its prior into N(m, d^2) exactly in the limit of small
 * steps, which is what the sampler tests check.  For guidance tests, class
 * labels can shift the mean: label c < classes gives N(m + c shift, d^2);
 * the "no label" value (== classes) gives the plain N(m, d^2).
 */
#ifndef DM_GAUSSMODEL_H
#define DM_GAUSSMODEL_H

#include <stdint.h>

#include "core/error.h"
#include "diffusion/schedule.h"

typedef struct dm_gaussmodel {
	double mean, std;           /* of each data value */
	int predict;                /* DM_PREDICT_*: the parametrisation returned */
	int classes;                /* labels 0..classes-1 shift the mean */
	double shift;               /* per-class mean shift */
	const dm_schedule *sched;   /* the forward process (not owned) */
	int64_t D;                  /* values per sample */
} dm_gaussmodel;

/* Parse "gaussian:MEAN:STD" (optionally ":eps", ":x0" or ":v" after STD,
 * default eps).  std must be > 0.  Leaves sched and D for the caller.
 * 0 or DM_ERR_ARG naming the spec. */
int dm_gaussmodel_parse(const char *spec, dm_gaussmodel *g, dm_error *err);

/* A dm_predict_fn: ctx is a dm_gaussmodel. */
int dm_gaussmodel_predict(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                          float *out, dm_error *err);

/* A dm_predict_vjp_fn: the prediction is affine in each value with slope
 * c(t) (x0: k = a d^2/(a^2 d^2 + s^2); eps: (1 - a k)/s; v: a (1 - a k)/s
 * - s k), so dx = c(t) v. */
int dm_gaussmodel_vjp(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                      const float *v, float *out, float *dx, dm_error *err);

#endif

/* ode.h - adaptive Dormand-Prince 5(4) integration (Dormand & Prince 1980,
 * first same as last) of B independent systems dy/du = f(y, u) of D values
 * each, every system with its own step size, so that a system's path does
 * not depend on the others in its batch.  The slope comes from a callback
 * that evaluates the systems still under way at once.  The sampler's rk45
 * integrates the probability-flow ODE with it; anything with the same shape
 * of problem (a likelihood's augmented ODE) can too.
 */
#ifndef DM_ODE_H
#define DM_ODE_H

#include <stdint.h>

#include "core/error.h"

/* The slope k (A x D) of the A systems rows[0..A-1] (indices into the
 * batch) at states y (A x D, compacted) and times u[0..A-1].  0 or a
 * negative dm error. */
typedef int (*dm_ode_fn)(void *ctx, const float *y, const double *u, const int *rows, int A,
                         float *k, dm_error *err);

/* Integrate every row of y (B x D, in and out) from u0 to u1 (either
 * direction).  The first step is (u1 - u0)/20; a step is accepted when the
 * RMS over the row of err / (atol + rtol max(|y|, |y_new|)) is at most 1,
 * and the next step is the last one times 0.9 en^-1/5, within [0.2, 10]
 * times, not overshooting u1.  DM_ERR_NOMEM, the callback's error, or
 * DM_ERR_ARG after 100000 rounds of steps without reaching u1. */
int dm_ode_rk45(dm_ode_fn f, void *ctx, float *y, int B, int64_t D, double u0, double u1,
                double rtol, double atol, dm_error *err);

#endif

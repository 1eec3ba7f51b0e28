/* metrics.h - sample-quality measures that compare two point sets.
 *
 * The sliced 2-Wasserstein distance (Rabin et al., "Wasserstein barycenter
 * and its application to texture mixing", 2011; Bonneel et al. 2015): the
 * root mean square, over K random unit directions u, of the exact 1-D W2
 * distance between the projections <a_i, u> and <b_j, u>.  It is zero for
 * identical sets, equal to |shift . u| averaged in RMS for a translated copy,
 * and between two finite samples of one distribution it is not zero but a
 * floor that shrinks like 1/sqrt(N): report it beside that floor.
 */
#ifndef DM_METRICS_H
#define DM_METRICS_H

#include <stdint.h>

#include "core/error.h"
#include "core/rng.h" /* DM_RNG_METRIC_DIRS: the projection directions */

/* Exact W2 distance between the empirical distributions of a[0..na-1] and
 * b[0..nb-1] (uniform weights; na and nb may differ).  Sorts a and b in
 * place.  na, nb >= 1. */
double dm_w2_1d(float *a, int64_t na, float *b, int64_t nb);

/* Sliced W2 between the rows of a (na x d) and b (nb x d), row-major f32,
 * over nproj directions drawn from the standard normal of
 * (seed, DM_RNG_METRIC_DIRS, k) and normalised.  Results depend only on the
 * inputs, nproj and seed.  Returns 0 and sets *out, or DM_ERR_ARG (empty
 * set, d < 1, nproj < 1, a non-finite value) / DM_ERR_NOMEM with err set. */
int dm_sliced_w2(const float *a, int64_t na, const float *b, int64_t nb, int d, int nproj,
                 uint64_t seed, double *out, dm_error *err);

/* Peak signal-to-noise ratio in dB, sample by sample: for each of the n
 * rows of a and b (n x d, row-major f32; row i of a against row i of b),
 * 10 log10(peak^2 / mse_i), where peak is the value range (2 for images in
 * [-1, 1]); *mean is the mean of those n figures and, when min is not
 * NULL, *min the worst.  A row with mse 0 counts as 100 dB.  Returns 0, or
 * DM_ERR_ARG (n, d < 1, peak <= 0, a non-finite value) with err set. */
int dm_psnr(const float *a, const float *b, int64_t n, int64_t d, double peak, double *mean,
            double *min, dm_error *err);

/* How much clips change from frame to frame: the mean over n clips
 * (n x c*T*hw values, row-major, each c x T x hw) of |x[t+1] - x[t]|,
 * over every channel, position and pair of consecutive frames.  T >= 2. */
double dm_temporal_change(const float *x, int64_t n, int64_t c, int64_t T, int64_t hw);

#endif

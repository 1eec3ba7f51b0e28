/* likelihood.h - how likely a model finds data, in bits per dimension.
 *
 * Two measures, both over a model as the samplers see it (a prediction
 * callback and its parametrisation, diffusion/sampler.h):
 *
 * The DDPM variational bound (Ho et al. 2020, eq. 5) on -ln p(x0) of
 * 8-bit data, for a discrete schedule of T steps:
 *   L_T = KL(q(x_T | x0) || N(0, I))
 *   L_t = KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t)),  t = 2..T (Ho's
 *         numbering), x_t drawn once per t from q(x_t | x0), the model's
 *         mean from its x0^ and its variance beta~_t (small) or beta_t
 *         (large; beta~_2 at t = 1, as improved-diffusion's "large")
 *   L_0 = -ln of the discretised Gaussian decoder (Ho et al. eq. 13): the
 *         mass of N(x0^(x_1), beta~_2) on the 8-bit bin of each value
 *         (width 2/255 in [-1, 1], open to infinity at the two ends).
 * A bound: on average at least the data's true negative log-likelihood.
 *
 * The probability-flow ODE (Song et al. 2021, App. D.2) from t_min to
 * t_max, in the sampler's variables y = x/alpha, u = ln(sigma/alpha):
 * dy/du = sbar eps^(alpha y, t), and
 *   ln p(x) = ln N(y_T; 0, (prior_std/alpha_T)^2) + int div_y F du - D ln alpha_0,
 * the divergence by the Hutchinson-Skilling estimator z^T (dF/dy) z with
 * `probes` fixed probes per sample (Rademacher or Gaussian), each its own
 * integral, so the estimate is their mean and its standard error their
 * spread / sqrt(probes).  z^T J z comes from the model's input VJP.
 * Integrated by diffusion/ode.h over y and the probes' integrals together.
 *
 * Bits per dimension of 8-bit data (both): (-ln p(x) - D ln(2/255)) /
 * (D ln 2), the probability of the bin per value.  For the ODE, 8-bit
 * data is dequantised first: x + U(-1/255, 1/255) per value.  (score_sde
 * divides [0, 1] into 256 bins of 1/256: its figures are lower by
 * log2(256/255) = 0.0056 bits/dim than this convention for the same
 * density.)
 */
#ifndef DM_LIKELIHOOD_H
#define DM_LIKELIHOOD_H

#include <stdint.h>

#include "core/error.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"

/* The 8-bit bin width of data in [-1, 1] (dm-load's levels k 2/255 - 1). */
#define DM_BIN_8BIT (2.0 / 255.0)

/* The variational bound of B samples x0 (B x D, 8-bit data in [-1, 1]:
 * a value off dm-load's levels is DM_ERR_ARG),
 * labels NULL or B: per sample bits/dim in bpd[b] and, when terms is not
 * NULL, the three parts (L_T, sum of L_t, L_0) in bits/dim in terms[3b..].
 * large: the variance beta_t instead of beta~_t.  The x_t are drawn from
 * (seed, DM_RNG_NOISE, index0 + b).  Discrete schedules only (DM_ERR_ARG
 * otherwise).  T network evaluations of B samples. */
int dm_vlb_bpd(const dm_schedule *s, const dm_sampler_model *m, const float *x0,
               const int32_t *label, int B, int64_t D, int large, uint64_t seed,
               uint64_t index0, double *bpd, double *terms, dm_error *err);

typedef struct dm_ode_bpd_opts {
	int probes;       /* Hutchinson probes per sample (>= 1) */
	int gaussian;     /* Gaussian probes instead of Rademacher */
	int dequantize;   /* add U(-bin/2, bin/2) to every value first */
	double rtol, atol;
	uint64_t seed;    /* probes and dequantisation: (seed, DM_RNG_SAMPLER, index0 + b) */
} dm_ode_bpd_opts;

/* The ODE estimate for B samples x (B x D): bpd[b] (8-bit convention
 * above) and its standard error stderr_[b] (NULL allowed), and nll[b] =
 * -ln p(x) in nats (NULL allowed; of the dequantised values when
 * dequantising).  Needs m->vjp.  0 or a negative dm error. */
int dm_ode_bpd(const dm_schedule *s, const dm_sampler_model *m, const float *x,
               const int32_t *label, int B, int64_t D, const dm_ode_bpd_opts *o,
               uint64_t index0, double *bpd, double *stderr_, double *nll, dm_error *err);

/* Over N samples x (N x D) in batches of 64 (sample i indexed i): the mean
 * bits/dim, its standard error over the samples, and for the bound (ode
 * 0) the mean terms; the ODE with opts o. */
typedef struct dm_bpd_summary {
	double bpd, se, terms[3];
	int64_t n;
} dm_bpd_summary;
int dm_bpd_mean(const dm_schedule *s, const dm_sampler_model *m, const float *x, int64_t N,
                int64_t D, int ode, const dm_ode_bpd_opts *o, int large, uint64_t seed,
                dm_bpd_summary *out, dm_error *err);

#endif

/* forward.h - the forward process q(x_t | x_0) of a schedule (schedule.h):
 * the one place data is noised.  dm-noise makes pictures of it, training
 * examples and prior samples with it; the sampler's SDEdit and restoration
 * start states use it too.
 *
 *     x_t = alpha(t) x_0 + sigma(t) eps,    eps ~ N(0, I)
 *
 * computed in float (alpha and sigma rounded to float first) so that every
 * caller gets the same bits for the same (x_0, eps, t).
 *
 * Randomness: sample i of a pass draws its t from dm_rng(seed, DM_RNG_TIME,
 * ri) and its eps from dm_rng(seed, DM_RNG_NOISE, ri), ri =
 * dm_forward_rng_index(global index, epoch); prior sample i from
 * dm_rng(seed, DM_RNG_PRIOR, i).  So results depend on nothing but the seed
 * and the sample's index: not on threads, batch sizes or ranges.
 */
#ifndef DM_FORWARD_H
#define DM_FORWARD_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "diffusion/schedule.h"

/* ---- t-sampling and loss weights of training examples ------------------ */

enum dm_tsampling {
	DM_TSAMPLE_UNIFORM = 1,   /* discrete: integer t uniform in 0..T-1;
	                           * continuous: uniform in [t_eps, 1] */
	DM_TSAMPLE_LOGSNR = 2,    /* uniform in log-SNR between the ends (-20 for
	                           * a zero-terminal-SNR end) */
	DM_TSAMPLE_LOGNORMAL = 3, /* ln sigma_ve ~ N(mean, std^2) (EDM: -1.2, 1.2) */
};
/* "uniform" | "logsnr" | "lognormal" -> enum dm_tsampling, or 0. */
int dm_tsampling_parse(const char *name);
const char *dm_tsampling_name(int tsampling);

/* "none" | "snr" | "min-snr" | "trunc-snr" | "edm" -> enum dm_weighting, or 0. */
int dm_weighting_parse(const char *name);
const char *dm_weighting_name(int weighting);
/* The default parameter of a weighting: min-snr gamma 5, edm sigma_data 0.5,
 * else 0 (none taken). */
double dm_weighting_default_gamma(int weighting);

/* Loss weight w for a sample at t, chosen so that w * |net - target|^2
 * equals lambda(t) * |x0_hat - x0|^2 for the target of s->predict:
 *   eps: w = lambda / SNR;  x0: w = lambda;  v: w = lambda sigma^2/(alpha^2+sigma^2)^2
 * where lambda is:
 *   DM_WEIGHT_NONE      w = 1 whatever the target (the "simple" loss)
 *   DM_WEIGHT_SNR       lambda = SNR   (= the plain eps loss)
 *   DM_WEIGHT_MIN_SNR   lambda = min(SNR, gamma)   (Hang et al. 2023)
 *   DM_WEIGHT_TRUNC_SNR lambda = max(SNR, 1)       (Salimans & Ho 2022)
 *   DM_WEIGHT_EDM       lambda = (s^2 + sd^2)/(s sd)^2, s = sigma_ve,
 *                       sd = gamma (sigma_data, default 0.5) (Karras eq. 8)
 * At SNR = 0 or infinity the limits are used (finite for every case but
 * snr/x0, which is clamped to 1e8). */
enum dm_weighting {
	DM_WEIGHT_NONE = 1,
	DM_WEIGHT_SNR = 2,
	DM_WEIGHT_MIN_SNR = 3,
	DM_WEIGHT_TRUNC_SNR = 4,
	DM_WEIGHT_EDM = 5,
};
double dm_forward_weight(const dm_schedule *s, int weighting, double gamma, double t);

/* How training examples are drawn. */
typedef struct dm_forward_train_opts {
	int tsampling;          /* enum dm_tsampling */
	double ln_mean, ln_std; /* lognormal */
	int weighting;          /* enum dm_weighting */
	double gamma;           /* its parameter (dm_weighting_default_gamma) */
} dm_forward_train_opts;

/* The defaults: uniform t, no weighting (w = 1). */
void dm_forward_train_opts_default(dm_forward_train_opts *o);
/* "NAME[:PARAM]" of a weighting (min-snr:5, edm:0.5) into o; 0 or
 * DM_ERR_ARG with a sentence naming the spec (dm-noise --weighting). */
int dm_forward_weighting_spec(dm_forward_train_opts *o, const char *spec, dm_error *err);
/* "uniform", "logsnr" or "lognormal[:MEAN:STD]" (default -1.2:1.2) into o;
 * 0 or DM_ERR_ARG (dm-noise --t-sampling). */
int dm_forward_tsampling_spec(dm_forward_train_opts *o, const char *spec, dm_error *err);

/* ---- samples' identities ------------------------------------------------ */

/* Where a frame's samples sit in the run: sample i of the frame has global
 * index base + i * stride in pass `epoch` (dm-load's frame tags index,
 * stride, epoch). */
typedef struct dm_forward_index {
	uint64_t base, stride, epoch;
} dm_forward_index;

/* The RNG stream index of sample `index` in pass `epoch`: (epoch << 44) + index. */
uint64_t dm_forward_rng_index(uint64_t index, uint64_t epoch);

/* ---- the process ------------------------------------------------------- */

/* xt = alpha(t) x0 + sigma(t) eps for n values (xt may be x0). */
void dm_forward_mix(const dm_schedule *s, double t, const float *x0, const float *eps,
                    float *xt, int64_t n);

/* The training target of s->predict for (x0, eps) at t (schedule.h:
 * eps, x0, or v = alpha eps - sigma x0), n values. */
void dm_forward_target(const dm_schedule *s, double t, const float *x0, const float *eps,
                       float *target, int64_t n);

/* The t of one training sample of RNG stream index ri: the first draw of
 * dm_rng(seed, DM_RNG_TIME, ri), mapped by o->tsampling, never below
 * dm_schedule_t_min, rounded to a step for discrete schedules. */
double dm_forward_draw_t(const dm_schedule *s, const dm_forward_train_opts *o, uint64_t seed,
                         uint64_t ri);

/* n samples of d values x0 (n x d) to noise level t: xt (n x d; may be
 * x0) with eps from (seed, DM_RNG_NOISE, sample's rng index).  0 or
 * DM_ERR_NOMEM. */
int dm_forward_noise(const dm_schedule *s, double t, uint64_t seed, const dm_forward_index *ix,
                     const float *x0, float *xt, int64_t n, int64_t d, dm_error *err);

/* n training examples from clean data x (n x d), in place: x becomes x_t,
 * target (n x d) the target of s->predict, t and w (n) each sample's time
 * and loss weight.  0 or DM_ERR_NOMEM. */
int dm_forward_train(const dm_schedule *s, const dm_forward_train_opts *o, uint64_t seed,
                     const dm_forward_index *ix, float *x, float *target, float *t, float *w,
                     int64_t n, int64_t d, dm_error *err);

/* n prior samples of d values: x = prior_std * z, z from (seed,
 * DM_RNG_PRIOR, index0 + i). */
void dm_forward_prior(const dm_schedule *s, uint64_t seed, uint64_t index0, float *x, int64_t n,
                      int64_t d);

/* SDEdit and restorations: move n samples x (n x d, clean) to level t in
 * place with eps from (seed, purpose, index0 + i) starting at element
 * offset `draw` of that stream (so a caller can keep it apart from its
 * other draws).  0 or DM_ERR_NOMEM (x unchanged then). */
int dm_forward_diffuse(const dm_schedule *s, double t, uint64_t seed, uint32_t purpose,
                       uint64_t draw, uint64_t index0, float *x, int64_t n, int64_t d,
                       dm_error *err);

/* ---- frames (dm-noise) -------------------------------------------------
 *
 * A frame's clean samples are its tensor x, N x (sample shape), any dtype
 * (made f32 in place); other tensors pass through.  `stream` names the
 * input in messages; `compress` is set on the tensors written. */

/* t is a time of s: in [0, t_max], an integer step when discrete.  0 or
 * DM_ERR_ARG. */
int dm_forward_check_t(const dm_schedule *s, double t, dm_error *err);

/* out = in with x noised to level t (dm_forward_noise), a tensor t (N) and
 * the tags t and sigma (the VE noise level). */
int dm_forward_noise_frame(const dm_schedule *s, double t, uint64_t seed,
                           const dm_forward_index *ix, dm_frame *in, const char *stream,
                           dm_frame *out, int compress, dm_error *err);

/* f's x made training examples in place (dm_forward_train): x = x_t, and
 * tensors t (N), target (as x) and w (N) added. */
int dm_forward_train_frame(const dm_schedule *s, const dm_forward_train_opts *o, uint64_t seed,
                           const dm_forward_index *ix, dm_frame *f, const char *stream,
                           int compress, dm_error *err);

/* f = n prior samples index0.. of sample shape dims[1..rank-1] (x) at
 * t = t_max (tensor t and tags index, t). */
int dm_forward_prior_frame(const dm_schedule *s, uint64_t seed, uint64_t index0, int rank,
                           const int64_t *dims, int64_t n, dm_frame *f, int compress,
                           dm_error *err);

/* The samples of f: N and values per sample of its x, made f32. */
int dm_forward_frame_x(dm_frame *f, const char *stream, dm_tensor **x, int64_t *n, int64_t *d,
                       dm_error *err);

#endif

/* sampler.h - the reverse process: samplers that turn prior noise (or noisy
 * data) into samples, independent of any network.
 *
 * Every sampler here sees the forward process only as x_t = a(t) x0 + s(t) eps
 * (a = alpha, s = sigma; VP: a^2 + s^2 = 1, VE and EDM: a = 1, sub-VP:
 * s = 1 - a^2) and the network only as a prediction callback returning its
 * parametrisation (eps, x0 or v).  Everything is derived from these:
 *   x0^ = (x - s eps^) / a,   eps^ = (x - a x0^) / s,
 *   v = a eps - s x0  =>  x0^ = (a x - s v)/(a^2+s^2), eps^ = (s x + a v)/(a^2+s^2),
 *   score = -eps^ / s,   sbar = s / a (the EDM sigma of x/a), lambda = -log sbar.
 *
 * Time t is in the schedule's own convention (schedule.h: discrete steps,
 * fractional in between; continuous t in [t_eps, 1]).  A run goes down a
 * grid t_0 > t_1 > ... > t_{K-1} of K network evaluations and ends with a
 * final step to clean data (a = 1, s = 0: x = x0^, the last DDPM step and
 * the "denoising step" of Song et al. 2021).
 *
 * Randomness: every fresh normal comes from dm_rng_normal(seed,
 * DM_RNG_SAMPLER, global sample index, draw * D + element), where draw is a
 * number fixed by the step (and corrector/resampling round), so a sample's
 * result depends only on the seed and its global index: not on batch size,
 * batch composition or thread count.
 */
#ifndef DM_SAMPLER_H
#define DM_SAMPLER_H

#include <stdint.h>

#include "core/error.h"

#include "diffusion/degrade.h"
#include "diffusion/schedule.h"

/* ---- the network as the samplers see it ------------------------------- */

/* Fill out (B x D floats) with the network's prediction (its parametrisation,
 * enum dm_predict of schedule.h) for B samples x at times t (one per sample,
 * the schedule's convention), labels label (NULL when unconditional).
 * 0 or a negative dm error. */
typedef int (*dm_predict_fn)(void *ctx, const float *x, const float *t, const int32_t *label,
                             int B, float *out, dm_error *err);

/* The network's vector-Jacobian product with respect to its input: out as
 * dm_predict_fn, and dx (B x D) = v^T d out / d x for the cotangent v
 * (B x D).  For likelihoods and gradient guidance; 0 or a negative error. */
typedef int (*dm_predict_vjp_fn)(void *ctx, const float *x, const float *t, const int32_t *label,
                                 int B, const float *v, float *out, float *dx, dm_error *err);

/* Convert one prediction pred of parametrisation param (DM_PREDICT_*) at
 * (a, s) for state x into eps^ and x0^ (n elements; eps or x0 may be NULL).
 * Needs a > 0 for eps, s > 0 for x0 (a^2 + s^2 > 0 for v). */
void dm_predict_to_eps_x0(int param, double a, double s, const float *x, const float *pred,
                          float *eps, float *x0, int64_t n);

/* ---- samplers --------------------------------------------------------- */

enum dm_sampler_kind {
	DM_SAMPLER_DDPM,    /* ancestral, Ho et al. 2020 */
	DM_SAMPLER_DDIM,    /* Song, Meng, Ermon 2021, eta */
	DM_SAMPLER_EM,      /* reverse-SDE Euler-Maruyama, Song et al. 2021 */
	DM_SAMPLER_PC,      /* predictor-corrector (EM + Langevin), Song et al. 2021 */
	DM_SAMPLER_ODE,     /* probability-flow ODE, Heun fixed steps */
	DM_SAMPLER_RK45,    /* probability-flow ODE, adaptive Dormand-Prince */
	DM_SAMPLER_DPMPP2M, /* DPM-Solver++(2M), Lu et al. 2022 */
	DM_SAMPLER_EULER,   /* EDM Euler, Karras et al. 2022 */
	DM_SAMPLER_HEUN,    /* EDM Heun (Algorithm 1), Karras et al. 2022 */
};

/* pc predictors (Song et al. 2021): Euler-Maruyama on the reverse SDE, or
 * "reverse diffusion" (their eq. 46: the forward discretisation reversed). */
enum dm_predictor { DM_PREDICTOR_EM = 0, DM_PREDICTOR_REVERSE_DIFFUSION = 1 };
enum dm_variance { DM_VARIANCE_SMALL = 0 /* beta tilde */, DM_VARIANCE_LARGE /* beta */ };
/* DEGRADE: a dm_degrade (degrade.h) restored by DPS; no DDNM projection. */
enum dm_restore { DM_RESTORE_NONE = 0, DM_RESTORE_MASK, DM_RESTORE_SR, DM_RESTORE_GRAY,
                  DM_RESTORE_DEGRADE };

/* Parse a sampler name ("ddpm", "ddim", "euler-maruyama", "pc", "ode",
 * "rk45", "dpm++2m", "euler", "heun"); -1 when unknown. */
int dm_sampler_parse(const char *name);
const char *dm_sampler_name(int kind);
/* Names of DM_VARIANCE_* ("small", "large"; parse also takes "beta-tilde"
 * and "beta") and DM_PREDICTOR_* ("euler-maruyama", "reverse-diffusion";
 * parse also takes "em").  parse returns -1 for an unknown name, name "?"
 * for an unknown value. */
int dm_variance_parse(const char *name);
const char *dm_variance_name(int v);
int dm_predictor_parse(const char *name);
const char *dm_predictor_name(int p);
/* Recommended number of model evaluations on the grid for a sampler. */
int dm_sampler_default_steps(int kind, const dm_schedule *s);

typedef struct dm_sampler_opts {
	int kind;
	int steps;           /* K grid points (0 = the sampler's default) */
	int spacing;         /* DM_SPACE_* of schedule.h; 0: karras for euler/heun,
	                        logsnr for dpm++2m, else linspace */
	double eta;          /* ddim */
	int variance;        /* ddpm: DM_VARIANCE_* */
	int clip;            /* clip x0^ to [clip_lo, clip_hi] (and eps^ made
	                        consistent) */
	double clip_lo, clip_hi; /* the data's range (default -1, 1) */
	int clip_keep_eps;   /* with clip: keep the network's eps^ (diffusers'
	                        convention) instead of recomputing it from the
	                        clipped x0^ */
	double dyn_threshold; /* dynamic thresholding (Saharia et al. 2022,
	                        Imagen sec. 2.3): per sample, s = the quantile
	                        dyn_threshold (e.g. 0.995) of |x0^| in units of
	                        the half-range, s = max(s, 1), x0^ clipped to
	                        s and divided by s; 0 = off.  Replaces clip. */
	double snr;          /* pc: Langevin signal-to-noise ratio (0.16) */
	int corrector_steps; /* pc: Langevin steps per level (1) */
	int predictor;       /* pc: DM_PREDICTOR_* */
	double rtol, atol;   /* rk45 */
	double churn;        /* euler, heun: EDM S_churn (0 = deterministic) */
	double from_t;       /* start at this t (< 0: the top of the schedule) */
	/* ddim, dpm++2m, ode: start no higher than the t where lambda =
	 * ln(alpha/sigma) = lambda_min (default -5.1; -INFINITY: off).  Near
	 * zero SNR (the top of the cosine schedule: lambda -9.9) the x0 these
	 * samplers step through, (x - sigma eps^)/alpha, multiplies the model's
	 * error by 1/alpha; linear (lambda -5.06) is unaffected.  Like
	 * diffusers' lambda_min_clipped for DPM-Solver. */
	double lambda_min;
	int encode;          /* deterministic samplers only: run data -> noise */
	uint64_t seed;

	/* guidance: eps = eps_u + W (eps_c - eps_u); the unconditional branch is
	 * label == classes.  Only with labels; W == 1 evaluates once. */
	double guidance;
	int classes;

	/* RePaint inpainting (Lugmayr et al. 2022): keep where mask = 1; known
	 * values y (B x D); resample rounds per step. */
	const float *mask;   /* D values in [0,1], or NULL */
	int resample;

	/* DDNM projection of x0^ (Wang et al. 2023) onto A x0 = A y. */
	int restore;         /* DM_RESTORE_* */
	int sr_factor;
	const float *restore_mask; /* D values for DM_RESTORE_MASK */
	const float *y;      /* B x D: the known image for mask/RePaint/DDNM (full size;
	                        A y is taken internally) */
	int C, H, W;         /* sample layout for sr/gray (D = C*H*W) */

	/* DPS (Chung et al. 2023, Alg. 1): after each step (ddpm, ddim) x -=
	 * dps * grad_{x_t} ||y - A(x0^(x_t))|| through the model's VJP, for
	 * restore DEGRADE with A = *degrade and y the measurement (o->y).
	 * x0^ is the unclipped prediction.  0 = off. */
	double dps;
	const dm_degrade *degrade;
	/* GDP (Fei et al. 2023): A's parameters unknown, estimated per sample
	 * while sampling: before each DPS gradient, one damped Gauss-Newton
	 * step on ||y - A_theta(x0^)||^2 in log theta (x0^ held fixed), of
	 * the parameters p whose bit 1 << p is set in gdp (0 = off).
	 * theta: B x DM_DEGRADE_MAXP values (the batch's rows), the start
	 * guess in, the estimates out; NULL = degrade->theta, fixed. */
	int gdp;
	double *theta;

	/* Classifier guidance (Dhariwal & Nichol 2021, Alg. 2, in eps): eps^ -=
	 * cls_scale s grad_{x_t} log p(cls_class | x_t), the gradient from
	 * cls_grad (B x D, a classifier of noisy states; labels B x cls_class).
	 * Every sampler.  cls_scale 0 = off. */
	double cls_scale;
	int cls_class;
	int (*cls_grad)(void *ctx, const float *x, const float *t, const int32_t *label, int B,
	                float *grad, dm_error *err);
	void *cls_ctx;

	/* Trajectory: called for grid step i (every `every` steps and the last
	 * grid step) with the state x_t and the prediction x0^ at it.  NULL =
	 * none.  Returns 0 or a negative dm error (which stops the run). */
	int every;
	int (*emit)(void *ctx, int step, double t, const float *x, const float *x0, int B,
	            int64_t D, dm_error *err);
	void *emit_ctx;
} dm_sampler_opts;

/* Defaults for a sampler kind (eta 0, snr 0.16, 1 corrector step,
 * rtol 1e-4, atol 1e-4, guidance 1, from_t -1, steps 0 = default, no
 * clipping, clip range [-1, 1]). */
void dm_sampler_opts_default(dm_sampler_opts *o, int kind);

typedef struct dm_sampler_model {
	dm_predict_fn predict;
	void *ctx;
	int param;             /* DM_PREDICT_* */
	dm_predict_vjp_fn vjp; /* NULL when the model has none (the samplers need none) */
} dm_sampler_model;

/* The grid of K times (from from_t or t_max, down), following o->spacing.
 * t must hold K values.  0 or DM_ERR_ARG. */
int dm_sampler_grid(const dm_schedule *s, const dm_sampler_opts *o, int K, double *t,
                    dm_error *err);

/* Check that a sampler and its options make sense for a schedule and model
 * (e.g. rk45 has no trajectory or inpainting); 0 or DM_ERR_ARG with a
 * sentence. */
int dm_sampler_check(const dm_schedule *s, int param, const dm_sampler_opts *o, dm_error *err);
/* The same before any frame is read: everything but what comes with a
 * frame (the known image y, the sample shape C, H, W; o->mask need only be
 * non-NULL when a mask will come, o->restore set), and the grid of
 * o->steps points built once as a trial (a --from-t or --steps the grid
 * cannot have is refused here). */
int dm_sampler_check_plan(const dm_schedule *s, int param, const dm_sampler_opts *o,
                          dm_error *err);

/* Run the reverse process in place on B samples of D values: x holds the
 * start states (at the first grid time, e.g. prior noise) and receives the
 * samples (or, with o->encode, the noise they map to).  label: B labels or
 * NULL.  index0: global index of sample 0 (for the RNG).  nfe (may be NULL)
 * gets the mean number of network evaluations per sample (guidance counts
 * double).  0 or a negative dm error. */
int dm_sample(const dm_schedule *s, const dm_sampler_model *m, const dm_sampler_opts *o, float *x,
              const int32_t *label, int B, int64_t D, uint64_t index0, double *nfe,
              dm_error *err);

/* Move B samples of clean data x (D values each) to noise level t in place:
 * x = a(t) x + s(t) z, z from the sampler's RNG stream (a draw reserved for
 * this, so it never coincides with a sampler step's noise).  For SDEdit
 * (--from-t) and for the start of restorations.  The forward process of
 * diffusion/forward.h (dm_forward_diffuse).  0, or DM_ERR_NOMEM with x
 * unchanged. */
int dm_sampler_diffuse(const dm_schedule *s, double t, float *x, int B, int64_t D,
                       uint64_t seed, uint64_t index0, dm_error *err);

#endif

/* schedule.h - noise schedules of the forward process q(x_t | x_0) and
 * their SDEs.  dm-noise writes a schedule into the stream header
 * (dm_schedule_to_kv); dm-train and dm-denoise rebuild it from there
 * (dm_schedule_from_kv) so that no other program re-derives it.
 *
 * ---- Conventions ------------------------------------------------------
 *
 * Every schedule is described by its marginal
 *
 *     x_t = alpha(t) * x_0 + sigma(t) * eps,     eps ~ N(0, I)
 *
 * with alpha_bar(t) = alpha(t)^2, SNR(t) = alpha^2 / sigma^2 and
 * log-SNR lambda(t) = ln SNR(t).  "sigma_ve(t)" = sigma/alpha =
 * exp(-lambda/2) is the noise level in units of the data (the sigma of
 * VE/EDM models; for VP-type schedules x_t / alpha = x_0 + sigma_ve * eps).
 * Noise increases with t; lambda(t) is strictly decreasing.
 *
 * Discrete schedules (linear, scaled-linear, cosine, sigmoid): T steps
 * (default 1000), t is the integer step 0..T-1 (as a float in streams).
 * t = 0 is the FIRST NOISE LEVEL, not clean data:
 *     alpha_bar_t = prod_{s=0..t} (1 - beta_s)    (running product, double)
 *     alpha = sqrt(alpha_bar), sigma = sqrt(1 - alpha_bar).
 * By definition alpha_bar(-1) = 1, sigma(-1) = 0 (clean data), which is
 * what the last step of a sampler moves to.  Fractional t in [-1, T-1] is
 * defined by linear interpolation of ln alpha_bar between steps (used by
 * --sigma, log-SNR time sampling and Karras/log-SNR respacing); the
 * network embeds t as it is (MODELS.md).
 *
 * Continuous schedules (vp, subvp, ve, edm): t in [0, 1]; the stream's `t`
 * tensor holds this t (never sigma) for every kind, also for VE/EDM; sigma
 * follows from the header.  The network embeds 999*t (MODELS.md).  Training
 * draws t in [t_eps, 1]; samplers integrate from t = 1 down to t_eps
 * (t_eps defaults: vp/subvp 1e-5, ve/edm 0, where sigma(0) = sigma_min).
 *   vp:    alpha_bar = exp(-(beta_min t + (beta_max-beta_min) t^2 / 2)),
 *          sigma^2 = 1 - alpha_bar                     (Song et al. 2021)
 *   subvp: alpha_bar as vp, sigma = 1 - alpha_bar
 *   ve:    alpha = 1, sigma = sigma_min (sigma_max/sigma_min)^t
 *   edm:   alpha = 1, sigma = (smin^(1/rho) + t (smax^(1/rho) -
 *          smin^(1/rho)))^rho  (Karras et al. 2022 eq. 5, run backwards
 *          so that t = 1 is the noisiest)
 *
 * The SDE of a schedule: dx = f(t) x dt + g(t) dw, with
 *     f = d ln alpha / dt,   g^2 = d sigma^2/dt - 2 f sigma^2
 * (per unit of t: per step for discrete schedules).  vp: f = -beta(t)/2,
 * g^2 = beta(t); subvp: g^2 = beta(t)(1 - alpha_bar^2); ve/edm: f = 0,
 * g^2 = d sigma^2/dt.
 *
 * Zero terminal SNR (Lin et al. 2024, "Common diffusion noise schedules and
 * sample steps are flawed", Alg. 1): alpha is rescaled affinely so that
 * alpha(t_max) = 0 and alpha(first) is unchanged:
 *     alpha' = (alpha - alpha_last) * alpha_first / (alpha_first - alpha_last)
 * then sigma is recomputed (vp/discrete: sqrt(1 - alpha'^2); subvp:
 * 1 - alpha'^2) and, for discrete schedules, beta_t = 1 - abar_t/abar_{t-1}.
 * Not defined for ve/edm (DM_ERR_ARG).  With it, lambda(t_max) = -inf.
 *
 * The prior (what sampling starts from, dm-noise --prior) is
 * N(0, prior_std^2 I): prior_std = 1 for discrete/vp/subvp, sigma_max for
 * ve/edm.
 *
 * ---- Header metadata (dm_schedule_to_kv / dm_schedule_from_kv) --------
 *   schedule=linear|scaled-linear|cosine|sigmoid|vp|subvp|ve|edm
 *   predict=eps|x0|v
 *   zero_snr=0|1
 *   discrete:  T, and beta_start, beta_end (linear, scaled-linear, sigmoid)
 *              or cosine_s, max_beta (cosine)
 *   vp, subvp: beta_min, beta_max, t_eps
 *   ve:        sigma_min, sigma_max, t_eps
 *   edm:       sigma_min, sigma_max, rho, t_eps
 * Numbers are written in the shortest form that reads back as the same
 * double, so the rebuilt schedule is bit-identical.
 */
#ifndef DM_SCHEDULE_H
#define DM_SCHEDULE_H

#include "core/error.h"
#include "core/kv.h"

enum dm_schedule_kind {
	DM_SCHED_LINEAR = 1,        /* beta_t = linspace(beta_start, beta_end, T) */
	DM_SCHED_SCALED_LINEAR = 2, /* beta_t = linspace(sqrt bs, sqrt be, T)^2 */
	DM_SCHED_COSINE = 3,        /* Nichol & Dhariwal 2021 eq. 17, beta <= max_beta */
	DM_SCHED_SIGMOID = 4,       /* beta_t = bs + (be-bs) sigmoid(linspace(-6, 6, T)) */
	DM_SCHED_VP = 5,            /* continuous */
	DM_SCHED_SUBVP = 6,
	DM_SCHED_VE = 7,
	DM_SCHED_EDM = 8,
};

/* What the network predicts (and dm-noise --train emits as `target`):
 *   eps: eps;  x0: x_0;  v: alpha*eps - sigma*x_0 (Salimans & Ho 2022). */
enum dm_predict { DM_PREDICT_EPS = 1, DM_PREDICT_X0 = 2, DM_PREDICT_V = 3 };

#define DM_SCHEDULE_MAX_T 1000000

typedef struct dm_schedule {
	int kind;               /* enum dm_schedule_kind */
	int predict;            /* enum dm_predict */
	int zero_snr;           /* 0/1: Lin et al. rescaling */
	int T;                  /* discrete: number of steps */
	double beta_start, beta_end;  /* linear 1e-4, 0.02; scaled-linear 0.00085,
	                               * 0.012; sigmoid 1e-4, 0.02 */
	double cosine_s, max_beta;    /* cosine: 0.008, 0.999 */
	double beta_min, beta_max;    /* vp, subvp: 0.1, 20 */
	double sigma_min, sigma_max;  /* ve: 0.01, 50; edm: 0.002, 80 */
	double rho;                   /* edm: 7 */
	double t_eps;                 /* continuous: smallest t (see above) */
	/* Derived by dm_schedule_init (discrete kinds), owned, length T: */
	double *beta;           /* beta_t (after zero-SNR rescaling if any) */
	double *alpha_bar;      /* alpha_bar_t, running product in double */
	/* Derived (continuous kinds with zero_snr): alpha at t_eps and at 1. */
	double za_first, za_last;
} dm_schedule;

/* ---- construction ---------------------------------------------------- */

/* Parse a kind name ("linear", "scaled-linear", "cosine", "sigmoid", "vp",
 * "subvp" (or "sub-vp"), "ve", "edm" (or "karras")); returns the kind or 0. */
int dm_schedule_kind_parse(const char *name);
/* Canonical name of a kind ("linear", ...), or NULL. */
const char *dm_schedule_kind_name(int kind);
/* Nonzero for linear, scaled-linear, cosine, sigmoid. */
int dm_schedule_is_discrete(const dm_schedule *s);

/* "eps" | "x0" | "v" -> enum dm_predict, or 0. */
int dm_predict_parse(const char *name);
const char *dm_predict_name(int predict);

/* Fill s with the documented defaults for kind (predict = eps, T = 1000,
 * zero_snr = 0) and no tables.  Then change fields and call
 * dm_schedule_init.  Returns 0 or DM_ERR_ARG for an unknown kind. */
int dm_schedule_defaults(dm_schedule *s, int kind, dm_error *err);
/* Validate the parameters and build the derived tables.  0 ok;
 * DM_ERR_ARG naming the bad parameter; DM_ERR_NOMEM.  Call
 * dm_schedule_free when done (also safe after a failed init). */
int dm_schedule_init(dm_schedule *s, dm_error *err);
void dm_schedule_free(dm_schedule *s);

/* Write the schedule (keys above) into meta, replacing existing keys and
 * removing the parameter keys of other kinds. */
int dm_schedule_to_kv(const dm_schedule *s, dm_kv *meta, dm_error *err);
/* Rebuild from stream metadata: defaults of `schedule=` overridden by any
 * keys present, then dm_schedule_init.  A missing `schedule` key gives
 * DM_ERR_FORMAT ("stream has no schedule=... in its header; was it made by
 * dm-noise?"); a bad value DM_ERR_FORMAT naming the key. */
int dm_schedule_from_kv(const dm_kv *meta, dm_schedule *s, dm_error *err);

/* Whether two headers name the same process: both rebuilt (from_kv) and
 * written back (to_kv), so spelling and defaults do not count.  0: the
 * same (or neither has schedule=); 1: they differ, what (n bytes) names
 * the first key that does and its two values, "predict (eps vs v)".  A
 * header that does not rebuild: its DM_ERR_FORMAT. */
int dm_schedule_kv_differ(const dm_kv *a, const dm_kv *b, char *what, size_t n, dm_error *err);

/* ---- evaluation (t as documented above; out-of-range t is clamped to
 * [t_min_clean, t_max]) --------------------------------------------- */

double dm_schedule_t_max(const dm_schedule *s);  /* T-1, or 1 */
double dm_schedule_t_min(const dm_schedule *s);  /* 0, or t_eps: smallest noisy t */
/* The clean end a sampler steps to: -1 for discrete, t_eps continuous
 * (where sigma is small but not zero). */
double dm_schedule_t_clean(const dm_schedule *s);
double dm_schedule_prior_std(const dm_schedule *s);

double dm_schedule_alpha_bar(const dm_schedule *s, double t);
double dm_schedule_alpha(const dm_schedule *s, double t);  /* mean scale */
double dm_schedule_sigma(const dm_schedule *s, double t);  /* noise std */
double dm_schedule_snr(const dm_schedule *s, double t);
double dm_schedule_logsnr(const dm_schedule *s, double t);
double dm_schedule_sigma_ve(const dm_schedule *s, double t); /* sigma/alpha */
/* beta: discrete: beta_t at integer t (interpolated between steps);
 * vp/subvp: beta(t) = beta_min + t (beta_max - beta_min) (times the
 * zero-SNR correction if any: -2 d ln alpha/dt); ve/edm: 0. */
double dm_schedule_beta(const dm_schedule *s, double t);
/* SDE coefficients dx = f x dt + g dw at t (see above). */
void dm_schedule_sde(const dm_schedule *s, double t, double *f, double *g);

/* Inverses (monotone; by bisection to double precision), clamped to
 * [0, 1] (discrete: [-1, T-1]); the result may be fractional for discrete
 * schedules (round it if you need a step). */
double dm_schedule_t_from_logsnr(const dm_schedule *s, double logsnr);
double dm_schedule_t_from_sigma_ve(const dm_schedule *s, double sigma_ve);

/* ---- respacing (samplers use K of the T steps) ----------------------- */

enum dm_spacing {
	DM_SPACE_LINSPACE = 1, /* discrete: round(linspace(T-1, 0, K));
	                        * continuous: linspace(1, t_eps, K) */
	DM_SPACE_LEADING = 2,  /* discrete: (K-1-k) * (T/K)  (DDIM paper) */
	DM_SPACE_TRAILING = 3, /* discrete: round(T - k T/K) - 1 (Lin et al.) */
	DM_SPACE_LOGSNR = 4,   /* uniform in log-SNR (fractional t) */
	DM_SPACE_KARRAS = 5,   /* sigma_ve ramp with rho (Karras eq. 5; rho = s->rho,
	                        * 7 for non-edm kinds) (fractional t) */
};
/* "linspace" | "leading" | "trailing" | "logsnr" | "karras" -> enum, or 0. */
int dm_spacing_parse(const char *name);

/* Fill ts[0..K-1] with K decreasing times, ts[0] the noisiest (t_max for
 * linspace/trailing/logsnr/karras), ts[K-1] the least noisy noisy level
 * (>= t_min).  A sampler goes ts[0] -> ts[1] -> ... -> ts[K-1] ->
 * dm_schedule_t_clean(s).  K >= 1 (and K <= T for the integer spacings of
 * discrete schedules, else DM_ERR_ARG).  For the log-SNR spacing of a
 * zero-terminal-SNR schedule the first point is t_max and the rest are
 * uniform in log-SNR from the next step's level. */
int dm_schedule_respace(const dm_schedule *s, int K, int spacing, double *ts, dm_error *err);

/* Training examples (t-sampling, targets, loss weights) and every use of
 * the forward process: diffusion/forward.h. */

#endif

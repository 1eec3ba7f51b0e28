/* sampler.c - the reverse process (see sampler.h for the conventions).
 *
 * All samplers are written in terms of a = alpha(t), s = sigma(t) of the
 * marginal x_t = a x0 + s eps, so one code path serves discrete and
 * continuous, VP, sub-VP, VE and EDM schedules.  Per step t -> u (u less
 * noisy; u = "clean" means a = 1, s = 0):
 *
 *   ddpm   posterior q(x_u | x_t, x0^) (Ho et al. 2020 eq. 7, generalised):
 *          a_tu = a_t/a_u, s2_tu = s_t^2 - a_tu^2 s_u^2,
 *          mean = a_tu s_u^2/s_t^2 x + a_u s2_tu/s_t^2 x0^,
 *          var = s2_tu s_u^2/s_t^2 (beta tilde) or s2_tu (beta).
 *   ddim   x_u = a_u x0^ + sqrt(s_u^2 - c^2) eps^ + c z, c = eta sqrt(var_small)
 *          (Song, Meng, Ermon 2021 eq. 12 and 16).
 *   em     reverse SDE dx = [f x - g^2 score] dt + g dw (Song et al. 2021
 *          eq. 6), one Euler-Maruyama step with f dt = ln(a_t/a_u) and
 *          g^2 dt = s_t^2 - s_u^2 - 2 ln(a_t/a_u) s_t^2 (schedule.h's f, g
 *          integrated over the step), score = -eps^/s_t.
 *   pc     Langevin corrector (Song et al. 2021 Alg. 4/5), step
 *          2 r (snr s_t)^2 with r = (a_t/a_u)^2 (see correct()), then the
 *          em predictor or the reverse-diffusion one (their eq. 46).
 *   ode    probability flow in EDM form: xbar = x/a, sbar = s/a,
 *          d xbar / d sbar = eps^ (Karras et al. 2022 eq. 4 with the
 *          scaling of sec. 4); Heun between grid points, Euler to 0.
 *          ddim with eta = 0 is exactly the Euler step of this ODE.
 *   rk45   the same ODE in ln sbar, Dormand-Prince 5(4) (first same as
 *          last) with per-sample step control (so a sample's path does
 *          not depend on its batch).
 *   dpm++2m  Lu et al. 2022 (DPM-Solver++, Alg. 2): lambda = ln(a/s),
 *          h = lambda_u - lambda_t, x_u = s_u/s_t x - a_u (e^-h - 1) D with
 *          D = (1 + 1/2r) x0^_t - 1/2r x0^_prev, r = h_prev/h.
 *   euler, heun  the ode steps on the Karras sigma spacing (Alg. 1).
 */
#include "diffusion/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/forward.h"
#include "diffusion/guide.h"
#include "diffusion/ode.h"

/* Below this many values a parallel loop costs more than it saves. */
#define PAR_MIN 32768

/* ---- parametrisations ------------------------------------------------- */

void dm_predict_to_eps_x0(int param, double a, double s, const float *x, const float *pred,
                          float *eps, float *x0, int64_t n)
{
	for (int64_t i = 0; i < n; i++) {
		double xi = x[i], p = pred[i], e, z;
		if (param == DM_PREDICT_X0) {
			z = p;
			e = (xi - a * z) / s;
		} else if (param == DM_PREDICT_V) {
			double n2 = a * a + s * s;
			z = (a * xi - s * p) / n2;
			e = (s * xi + a * p) / n2;
		} else {
			e = p;
			z = (xi - s * e) / a;
		}
		if (eps)
			eps[i] = (float)e;
		if (x0)
			x0[i] = (float)z;
	}
}

/* ---- names ------------------------------------------------------------ */

static const char *const sampler_names[] = {
	[DM_SAMPLER_DDPM] = "ddpm", [DM_SAMPLER_DDIM] = "ddim",
	[DM_SAMPLER_EM] = "euler-maruyama", [DM_SAMPLER_PC] = "pc",
	[DM_SAMPLER_ODE] = "ode", [DM_SAMPLER_RK45] = "rk45",
	[DM_SAMPLER_DPMPP2M] = "dpm++2m", [DM_SAMPLER_EULER] = "euler",
	[DM_SAMPLER_HEUN] = "heun",
};
#define N_SAMPLERS ((int)(sizeof sampler_names / sizeof sampler_names[0]))

int dm_sampler_parse(const char *name)
{
	for (int k = 0; k < N_SAMPLERS; k++)
		if (!strcmp(name, sampler_names[k]))
			return k;
	if (!strcmp(name, "em"))
		return DM_SAMPLER_EM;
	if (!strcmp(name, "dpmpp2m"))
		return DM_SAMPLER_DPMPP2M;
	return -1;
}

const char *dm_sampler_name(int kind)
{
	return kind >= 0 && kind < N_SAMPLERS ? sampler_names[kind] : "?";
}

static const char *const variance_names[] = {"small", "large"};
static const char *const predictor_names[] = {"euler-maruyama", "reverse-diffusion"};

int dm_variance_parse(const char *name)
{
	if (!strcmp(name, "small") || !strcmp(name, "beta-tilde"))
		return DM_VARIANCE_SMALL;
	if (!strcmp(name, "large") || !strcmp(name, "beta"))
		return DM_VARIANCE_LARGE;
	return -1;
}

const char *dm_variance_name(int v)
{
	return v >= 0 && v < 2 ? variance_names[v] : "?";
}

int dm_predictor_parse(const char *name)
{
	if (!strcmp(name, "euler-maruyama") || !strcmp(name, "em"))
		return DM_PREDICTOR_EM;
	if (!strcmp(name, "reverse-diffusion"))
		return DM_PREDICTOR_REVERSE_DIFFUSION;
	return -1;
}

const char *dm_predictor_name(int p)
{
	return p >= 0 && p < 2 ? predictor_names[p] : "?";
}

int dm_sampler_default_steps(int kind, const dm_schedule *s)
{
	int full = dm_schedule_is_discrete(s) ? s->T : 1000;
	switch (kind) {
	case DM_SAMPLER_DDPM:
	case DM_SAMPLER_EM:
		return full;
	case DM_SAMPLER_PC:
		return full < 500 ? full : 500;
	case DM_SAMPLER_DDIM:
	case DM_SAMPLER_ODE:
	case DM_SAMPLER_EULER:
		return 50;
	case DM_SAMPLER_HEUN:
		return 30;
	case DM_SAMPLER_DPMPP2M:
		return 20;
	default:
		return 50;
	}
}

void dm_sampler_opts_default(dm_sampler_opts *o, int kind)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->snr = 0.16;
	o->corrector_steps = 1;
	o->rtol = 1e-4;
	o->atol = 1e-4;
	o->guidance = 1.0;
	o->from_t = -1;
	o->clip_lo = -1;
	o->clip_hi = 1;
	o->lambda_min = -5.1;
	o->resample = 1;
	o->sr_factor = 1;
}

static int is_ode(int kind)
{
	return kind == DM_SAMPLER_ODE || kind == DM_SAMPLER_EULER || kind == DM_SAMPLER_HEUN ||
	       kind == DM_SAMPLER_RK45 || kind == DM_SAMPLER_DDIM || kind == DM_SAMPLER_DPMPP2M;
}

static int default_spacing(const dm_sampler_opts *o)
{
	if (o->spacing)
		return o->spacing;
	if (o->kind == DM_SAMPLER_EULER || o->kind == DM_SAMPLER_HEUN)
		return DM_SPACE_KARRAS;
	if (o->kind == DM_SAMPLER_DPMPP2M)
		return DM_SPACE_LOGSNR;
	return DM_SPACE_LINSPACE;
}

/* ---- the grid --------------------------------------------------------- */

int dm_sampler_grid(const dm_schedule *s, const dm_sampler_opts *o, int K, double *t,
                    dm_error *err)
{
	double tmax = dm_schedule_t_max(s), tmin = dm_schedule_t_min(s);
	int spacing = default_spacing(o);
	int discrete = dm_schedule_is_discrete(s);
	if (K < 1)
		return dm_error_set(err, DM_ERR_ARG, "--steps must be at least 1");
	double top = o->from_t;
	int kind = o->kind;
	/* leading and trailing are defined by their top (the DDIM paper, Lin et
	 * al.): lambda_min does not move it, and a start part-way down has no
	 * such grid */
	int fixed_top = spacing == DM_SPACE_LEADING || spacing == DM_SPACE_TRAILING;
	if (fixed_top && top >= 0 && top < tmax)
		return dm_error_set(err, DM_ERR_ARG, "--spacing %s starts at the top of the schedule; "
		                    "with --from-t use linspace, logsnr or karras",
		                    spacing == DM_SPACE_LEADING ? "leading" : "trailing");
	if ((top < 0 || top >= tmax) && !fixed_top &&
	    (kind == DM_SAMPLER_DDIM || kind == DM_SAMPLER_DPMPP2M || kind == DM_SAMPLER_ODE) &&
	    dm_schedule_logsnr(s, tmax) < 2 * o->lambda_min) {
		/* Too close to zero SNR: start where lambda = lambda_min (rounded
		 * down to a step of a discrete schedule), unless that leaves too
		 * few steps for K. */
		double lo = dm_schedule_t_from_logsnr(s, 2 * o->lambda_min);
		if (discrete)
			lo = floor(lo);
		if (lo > tmin && (!discrete || spacing == DM_SPACE_KARRAS ||
		                  spacing == DM_SPACE_LOGSNR || K <= (int)lo + 1))
			top = lo;
	}
	if (top < 0 || top >= tmax)
		return dm_schedule_respace(s, K, spacing, t, err);
	/* Starting part-way down (SDEdit, or lambda_min): the same spacings
	 * from top. */
	if (top < tmin)
		return dm_error_set(err, DM_ERR_ARG, "--from-t %g is below the schedule's t_min %g",
		                    top, tmin);
	if (discrete && spacing != DM_SPACE_KARRAS && spacing != DM_SPACE_LOGSNR &&
	    K > (int)floor(top) + 1)
		return dm_error_set(err, DM_ERR_ARG,
		                    "--steps %d is more than the %d discrete steps below --from-t %g", K,
		                    (int)floor(top) + 1, top);
	for (int k = 0; k < K; k++) {
		double f = K == 1 ? 0.0 : (double)k / (K - 1);
		if (spacing == DM_SPACE_KARRAS) {
			double r = 7.0, hi = pow(dm_schedule_sigma_ve(s, top), 1 / r),
			       lo = pow(dm_schedule_sigma_ve(s, tmin), 1 / r);
			t[k] = k == 0 ? top : dm_schedule_t_from_sigma_ve(s, pow(hi + f * (lo - hi), r));
		} else if (spacing == DM_SPACE_LOGSNR) {
			double hi = dm_schedule_logsnr(s, top), lo = dm_schedule_logsnr(s, tmin);
			t[k] = k == 0 ? top : dm_schedule_t_from_logsnr(s, hi + f * (lo - hi));
		} else {
			t[k] = top + f * (tmin - top);
			if (discrete)
				t[k] = floor(t[k] + 0.5);
		}
	}
	return 0;
}

static int check_dps(const dm_sampler_opts *o, dm_error *err)
{
	if (!(o->dps >= 0) || !isfinite(o->dps))
		return dm_error_set(err, DM_ERR_ARG, "--dps must be a step size >= 0");
	if (o->restore == DM_RESTORE_DEGRADE && !(o->dps > 0))
		return dm_error_set(err, DM_ERR_ARG, "--restore %s has no DDNM projection: give --dps "
		                    "ZETA (posterior sampling)",
		                    o->degrade && o->degrade->kind == DM_DEGRADE_BLUR ? "blur" : "lowlight");
	if (o->dps > 0 && (o->restore != DM_RESTORE_DEGRADE || !o->degrade))
		return dm_error_set(err, DM_ERR_ARG, "--dps needs a degradation: --restore "
		                                     "lowlight:GAIN:GAMMA or blur:SIGMA");
	if (o->dps > 0 && o->kind != DM_SAMPLER_DDPM && o->kind != DM_SAMPLER_DDIM)
		return dm_error_set(err, DM_ERR_ARG, "--dps steps after each network evaluation: it "
		                    "needs ddpm or ddim, not %s", dm_sampler_name(o->kind));
	if (o->dps > 0 && o->guidance != 1)
		return dm_error_set(err, DM_ERR_ARG, "--dps cannot be combined with --guidance");
	if (o->gdp && !(o->dps > 0))
		return dm_error_set(err, DM_ERR_ARG, "--gdp estimates the degradation while DPS "
		                                     "guides: it needs --dps ZETA");
	if (o->gdp && !dm_degrade_has_param_jacobian(o->degrade))
		return dm_error_set(err, DM_ERR_ARG, "--gdp: the parameters of --restore blur cannot be "
		                                     "estimated (lowlight's can)");
	return 0;
}

static int check(const dm_schedule *s, int param, const dm_sampler_opts *o, int frame,
                 dm_error *err)
{
	int k = o->kind;
	if (k < 0 || k >= N_SAMPLERS)
		return dm_error_set(err, DM_ERR_ARG, "unknown sampler");
	if (s->zero_snr && param == DM_PREDICT_EPS)
		return dm_error_set(err, DM_ERR_ARG,
		                    "an eps-prediction model cannot be sampled with a zero-terminal-SNR "
		                    "schedule (x0 = (x - sigma eps)/alpha is undefined at alpha = 0); "
		                    "train with --predict v");
	if (o->encode && !(k == DM_SAMPLER_DDIM || k == DM_SAMPLER_ODE || k == DM_SAMPLER_EULER ||
	                   k == DM_SAMPLER_HEUN))
		return dm_error_set(err, DM_ERR_ARG,
		                    "--encode needs a deterministic one-step sampler (ddim, ode, euler, "
		                    "heun), not %s",
		                    dm_sampler_name(k));
	if (o->encode && k == DM_SAMPLER_DDIM && o->eta != 0)
		return dm_error_set(err, DM_ERR_ARG, "--encode with ddim needs --eta 0");
	if (o->encode && (o->mask || o->restore))
		return dm_error_set(err, DM_ERR_ARG, "--encode cannot be combined with inpainting "
		                                     "or restoration");
	if (k == DM_SAMPLER_RK45 && (o->mask || o->every))
		return dm_error_set(err, DM_ERR_ARG,
		                    "rk45 has no fixed grid: it cannot emit a trajectory (--every) or "
		                    "inpaint with --mask (use --restore mask:FILE)");
	if (o->resample > 1 && !o->mask)
		return dm_error_set(err, DM_ERR_ARG, "--resample needs --mask");
	if (o->resample > 1 && (k == DM_SAMPLER_DPMPP2M || is_ode(k)) && k != DM_SAMPLER_DDIM)
		return dm_error_set(err, DM_ERR_ARG,
		                    "--resample re-noises the state; it needs a one-step sampler "
		                    "(ddpm, ddim, euler-maruyama, pc), not %s",
		                    dm_sampler_name(k));
	if (o->eta < 0 || o->eta > 1)
		return dm_error_set(err, DM_ERR_ARG, "--eta must be in [0, 1]");
	if (frame && o->restore == DM_RESTORE_GRAY && o->C != 3)
		return dm_error_set(err, DM_ERR_ARG, "--restore gray needs 3-channel samples, not %d",
		                    o->C);
	if (frame && o->restore == DM_RESTORE_SR &&
	    (o->sr_factor < 1 || o->H % o->sr_factor || o->W % o->sr_factor))
		return dm_error_set(err, DM_ERR_ARG,
		                    "--restore sr:%d needs the image size %dx%d to be a multiple of %d",
		                    o->sr_factor, o->H, o->W, o->sr_factor);
	if (frame && (o->restore || o->mask) && !o->y)
		return dm_error_set(err, DM_ERR_ARG, "restoration needs the measured image y");
	if (s->zero_snr && !(k == DM_SAMPLER_DDPM || k == DM_SAMPLER_DDIM ||
	                     k == DM_SAMPLER_DPMPP2M))
		return dm_error_set(err, DM_ERR_ARG,
		                    "%s divides by alpha, which is 0 at the top of a zero-terminal-SNR "
		                    "schedule; use ddpm, ddim or dpm++2m",
		                    dm_sampler_name(k));
	if (o->resample > 1000 || o->corrector_steps > 1000)
		return dm_error_set(err, DM_ERR_ARG, "--resample and --corrector-steps are at most 1000");
	if (o->rtol <= 0 || o->atol <= 0)
		return dm_error_set(err, DM_ERR_ARG, "--rtol and --atol must be positive");
	if (o->churn < 0 || (o->churn > 0 && k != DM_SAMPLER_EULER && k != DM_SAMPLER_HEUN))
		return dm_error_set(err, DM_ERR_ARG, "--churn must be >= 0 and goes with euler or heun");
	if (o->churn > 0 && o->encode)
		return dm_error_set(err, DM_ERR_ARG, "--churn makes a sampler stochastic: no --encode");
	if (o->snr <= 0 || o->corrector_steps < 0)
		return dm_error_set(err, DM_ERR_ARG, "--snr must be positive");
	return check_dps(o, err);
}

int dm_sampler_check(const dm_schedule *s, int param, const dm_sampler_opts *o, dm_error *err)
{
	return check(s, param, o, 1, err);
}

/* The number of grid points of a run. */
static int grid_size(const dm_schedule *s, const dm_sampler_opts *o)
{
	if (o->kind == DM_SAMPLER_RK45)
		return 2;
	return o->steps > 0 ? o->steps : dm_sampler_default_steps(o->kind, s);
}

int dm_sampler_check_plan(const dm_schedule *s, int param, const dm_sampler_opts *o,
                          dm_error *err)
{
	int rc = check(s, param, o, 0, err), K = grid_size(s, o);
	if (rc < 0)
		return rc;
	double *ts = malloc((size_t)(K > 0 ? K : 1) * sizeof(double));
	if (!ts)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	rc = dm_sampler_grid(s, o, K, ts, err);
	free(ts);
	return rc;
}

/* ---- one run ------------------------------------------------------------ */

typedef struct run {
	const dm_schedule *s;
	const dm_sampler_opts *o;
	int B;
	int64_t D;
	uint64_t index0;
	dm_guide g;       /* the network, guided (guide.h) */
	float *eps, *x0, *z, *tmp, *eps2, *x0p;  /* B x D */
	double *tt;       /* B: times */
} run;

static void run_free(run *r)
{
	dm_guide_free(&r->g);
	free(r->eps), free(r->x0), free(r->z), free(r->tmp), free(r->eps2), free(r->x0p);
	free(r->tt);
}

static int run_init(run *r, const dm_schedule *s, const dm_sampler_model *m,
                    const dm_sampler_opts *o, const int32_t *label, int B, int64_t D,
                    uint64_t index0, dm_error *err)
{
	memset(r, 0, sizeof *r);
	r->s = s, r->o = o, r->B = B, r->D = D, r->index0 = index0;
	int rc = dm_guide_init(&r->g, s, m, o, label, B, D, err);
	if (rc < 0)
		return rc;
	size_t n = (size_t)B * (size_t)D;
	r->eps = malloc(n * sizeof(float));
	r->x0 = malloc(n * sizeof(float));
	r->z = malloc(n * sizeof(float));
	r->tmp = malloc(n * sizeof(float));
	r->eps2 = malloc(n * sizeof(float));
	r->x0p = malloc(n * sizeof(float));
	r->tt = malloc((size_t)B * sizeof(double));
	if (!r->eps || !r->x0 || !r->z || !r->tmp || !r->eps2 || !r->x0p || !r->tt) {
		run_free(r);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for %d samples of %lld values",
		                    B, (long long)D);
	}
	return 0;
}

/* Fresh normals for draw number `draw` of every sample. */
static void draw_normal(const run *r, uint64_t draw, float *z, int B, const int *rows)
{
	int64_t D = r->D;
#pragma omp parallel for schedule(static) if ((size_t)B * D > PAR_MIN)
	for (int b = 0; b < B; b++) {
		uint64_t idx = r->index0 + (uint64_t)(rows ? rows[b] : b);
		dm_rng_normal(r->o->seed, DM_RNG_SAMPLER, idx, draw * (uint64_t)D, z + (size_t)b * D,
		              (size_t)D);
	}
}

/* Draw numbers (times D = the first element): step i, round k < 1024. */
#define DRAW_STEP(i, k) ((uint64_t)(i) * 4096 + (uint64_t)(k))
#define DRAW_RENOISE(i, k) ((uint64_t)(i) * 4096 + 1024 + (uint64_t)(k))
#define DRAW_PAINT(i, k) ((uint64_t)(i) * 4096 + 2048 + (uint64_t)(k))
#define DRAW_CORRECT(i, k) ((uint64_t)(i) * 4096 + 3072 + (uint64_t)(k))
#define DRAW_DIFFUSE ((uint64_t)1 << 32)

static int denoise_at(run *r, const float *x, double t, float *eps, float *x0, dm_error *err)
{
	for (int b = 0; b < r->B; b++)
		r->tt[b] = t;
	return dm_guide_denoise(&r->g, x, r->tt, NULL, r->B, eps, x0, err);
}

/* Noise level of grid point: t < -0.5 stands for clean data. */
typedef struct level {
	double t, a, s;
	int clean;
} level;

static level level_at(const dm_schedule *s, double t)
{
	level l = {t, dm_schedule_alpha(s, t), dm_schedule_sigma(s, t), 0};
	return l;
}

static const level CLEAN = {-1, 1, 0, 1};

/* ---- one-step updates (all elementwise, per sample) -------------------- */

static void step_ddpm(const run *r, float *x, level t, level u, int large)
{
	size_t n = (size_t)r->B * r->D;
	if (u.clean) {
		memcpy(x, r->x0, n * sizeof(float));
		return;
	}
	double atu = t.a / u.a, s2tu = t.s * t.s - atu * atu * u.s * u.s;
	double cx = atu * u.s * u.s / (t.s * t.s), c0 = u.a * s2tu / (t.s * t.s);
	double var = large ? s2tu : s2tu * u.s * u.s / (t.s * t.s);
	double sd = sqrt(var > 0 ? var : 0);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(cx * x[i] + c0 * r->x0[i] + sd * r->z[i]);
}

static void step_ddim(const run *r, float *x, level t, level u, double eta)
{
	size_t n = (size_t)r->B * r->D;
	if (u.clean) {
		memcpy(x, r->x0, n * sizeof(float));
		return;
	}
	double c = 0;
	if (eta > 0) {
		/* the DDPM posterior variance (beta tilde): eta = 1 is DDPM */
		double atu = t.a / u.a;
		double v = u.s * u.s / (t.s * t.s) * (t.s * t.s - atu * atu * u.s * u.s);
		c = eta * sqrt(v > 0 ? v : 0);
	}
	double ce = sqrt(u.s * u.s - c * c > 0 ? u.s * u.s - c * c : 0);
	const float *z = c > 0 ? r->z : NULL; /* z is not drawn for eta = 0 */
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(u.a * r->x0[i] + ce * r->eps[i] + (z ? c * z[i] : 0.0));
}

static void step_em(const run *r, float *x, level t, level u)
{
	size_t n = (size_t)r->B * r->D;
	if (u.clean) {
		memcpy(x, r->x0, n * sizeof(float));
		return;
	}
	double fdt = log(t.a / u.a);
	double g2 = t.s * t.s - u.s * u.s - 2 * fdt * t.s * t.s;
	double g = sqrt(g2 > 0 ? g2 : 0);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((1 - fdt) * x[i] - g2 * r->eps[i] / t.s + g * r->z[i]);
}

/* Reverse-diffusion predictor (Song et al. 2021, eq. 46 and their
 * ReverseDiffusionPredictor): the forward step x_t = a_tu x_u + s_tu z run
 * backwards with the score, x_u = (2 - a_tu) x + s_tu^2 score + s_tu z. */
static void step_reverse_diffusion(const run *r, float *x, level t, level u)
{
	size_t n = (size_t)r->B * r->D;
	if (u.clean) {
		memcpy(x, r->x0, n * sizeof(float));
		return;
	}
	double atu = t.a / u.a, g2 = t.s * t.s - atu * atu * u.s * u.s;
	double g = sqrt(g2 > 0 ? g2 : 0);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)((2 - atu) * x[i] - g2 * r->eps[i] / t.s + g * r->z[i]);
}

/* Probability-flow Euler step in (xbar, sbar) with slope eps: x at t to u. */
static void step_euler(const run *r, float *x, level t, level u, const float *eps)
{
	size_t n = (size_t)r->B * r->D;
	if (u.clean) {
		memcpy(x, r->x0, n * sizeof(float));
		return;
	}
	double dsb = u.s / u.a - t.s / t.a;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(u.a * (x[i] / t.a + dsb * eps[i]));
}

/* Heun: predictor to u, then the average slope (Karras et al. Alg. 1). */
static int step_heun(run *r, float *x, level t, level u, dm_error *err)
{
	size_t n = (size_t)r->B * r->D;
	if (u.clean) {
		memcpy(x, r->x0, n * sizeof(float));
		return 0;
	}
	memcpy(r->tmp, x, n * sizeof(float));
	step_euler(r, r->tmp, t, u, r->eps);
	int rc = denoise_at(r, r->tmp, u.t, r->eps2, r->x0p, err);
	if (rc < 0)
		return rc;
	double dsb = u.s / u.a - t.s / t.a;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(u.a * (x[i] / t.a + dsb * 0.5 * ((double)r->eps[i] + r->eps2[i])));
	return 0;
}

static void step_dpmpp2m(const run *r, float *x, level t, level u, double hprev, int have_prev)
{
	size_t n = (size_t)r->B * r->D;
	if (u.clean) {
		memcpy(x, r->x0, n * sizeof(float));
		return;
	}
	double lt = log(t.a / t.s), lu = log(u.a / u.s), h = lu - lt;
	double cx = u.s / t.s, cd = -u.a * expm1(-h);
	double w1 = 1, w0 = 0;
	if (have_prev && isfinite(lt)) {
		double rr = hprev / h;
		w1 = 1 + 1 / (2 * rr);
		w0 = -1 / (2 * rr);
	}
	if (!isfinite(lt)) /* zero terminal SNR: s_u/s_t x vanishes with a_t = 0 */
		cx = 0;
	const float *prev = w0 != 0 ? r->x0p : r->x0; /* x0p is unset at the first step */
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(cx * x[i] + cd * (w1 * r->x0[i] + w0 * prev[i]));
}

/* Langevin corrector at level t (Song et al. 2021, Alg. 5).  Song's step
 * 2 r (snr |z| / |score|)^2 uses batch means of the norms; here they are
 * replaced by their values for the Gaussian perturbation, |z|^2 = D and
 * |score|^2 = D / s_t^2, so that the step is 2 r (snr s_t)^2 for every
 * sample: the same for large D, independent of the batch, and stable for
 * D = 2, where per-sample norms make wild steps. */
static int correct(run *r, float *x, level t, level u, int i, dm_error *err)
{
	const dm_sampler_opts *o = r->o;
	double ratio = u.clean ? 1.0 : (t.a / u.a) * (t.a / u.a);
	double step = 2 * ratio * o->snr * o->snr * t.s * t.s, sq = sqrt(2 * step);
	size_t n = (size_t)r->B * r->D;
	for (int k = 0; k < o->corrector_steps; k++) {
		int rc = denoise_at(r, x, t.t, r->eps, r->x0, err);
		if (rc < 0)
			return rc;
		draw_normal(r, DRAW_CORRECT(i, k), r->z, r->B, NULL);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
		for (size_t j = 0; j < n; j++)
			x[j] = (float)(x[j] - step * r->eps[j] / t.s + sq * r->z[j]);
	}
	return 0;
}

/* RePaint: the known part at level u from y (forward noise), the rest from
 * the sampler (Lugmayr et al. 2022, Alg. 1). */
static void paint_known(run *r, float *x, level u, uint64_t draw)
{
	if (!u.clean)
		draw_normal(r, draw, r->tmp, r->B, NULL);
	dm_guide_paint_known(&r->g, x, u.a, u.s, u.clean, r->tmp);
}

/* Back from u to t by the forward process: x_t = a_tu x_u + s_tu z. */
static void renoise(run *r, float *x, level t, level u, uint64_t draw)
{
	size_t n = (size_t)r->B * r->D;
	double atu = t.a / u.a, s2 = t.s * t.s - atu * atu * u.s * u.s, sd = sqrt(s2 > 0 ? s2 : 0);
	draw_normal(r, draw, r->z, r->B, NULL);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(atu * x[i] + sd * r->z[i]);
}

static int emit(run *r, int i, int K, double t, const float *x, dm_error *err)
{
	const dm_sampler_opts *o = r->o;
	if (!o->emit || o->every <= 0 || (i % o->every && i != K - 1))
		return 0;
	return o->emit(o->emit_ctx, i, t, x, r->x0, r->B, r->D, err);
}

/* EDM stochastic churn (Karras et al. 2022, Alg. 2): raise the noise of x
 * from sbar to sbar (1 + gamma), gamma = min(churn/K, sqrt 2 - 1), by fresh
 * noise, then step from there.  Capped at the top of the schedule. */
static level churn(run *r, float *x, level t, int K, int i)
{
	double gamma = fmin(r->o->churn / K, sqrt(2.0) - 1);
	double sb = t.s / t.a, top = dm_schedule_sigma_ve(r->s, dm_schedule_t_max(r->s));
	double sh = fmin(sb * (1 + gamma), top);
	if (!(sh > sb))
		return t;
	level h = level_at(r->s, dm_schedule_t_from_sigma_ve(r->s, sh));
	double add = sqrt(sh * sh - sb * sb);
	size_t n = (size_t)r->B * r->D;
	draw_normal(r, DRAW_CORRECT(i, 1023), r->z, r->B, NULL);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t j = 0; j < n; j++)
		x[j] = (float)(h.a * (x[j] / t.a + add * r->z[j]));
	return h;
}

/* ---- grid samplers ------------------------------------------------------ */

/* DPS (Chung et al. 2023, Alg. 1 line 7): x_{i-1} -= zeta grad_{x_i} ||y - A(x0^)||,
 * the gradient taken at the step's network evaluation. */
static void dps_move(run *r, float *x)
{
	size_t n = (size_t)r->B * r->D;
	float z = (float)r->o->dps;
	const float *g = r->g.grad;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		x[i] -= z * g[i];
}

static int run_grid(run *r, float *x, const double *ts, int K, dm_error *err)
{
	const dm_sampler_opts *o = r->o;
	int kind = o->kind, rc = 0;
	double hprev = 0;
	size_t n = (size_t)r->B * r->D;
	for (int i = 0; i < K; i++) {
		level t = level_at(r->s, ts[i]);
		level u = i + 1 < K ? level_at(r->s, ts[i + 1]) : CLEAN;
		if (kind == DM_SAMPLER_PC && (rc = correct(r, x, t, u, i, err)) < 0)
			return rc;
		if ((kind == DM_SAMPLER_EULER || kind == DM_SAMPLER_HEUN) && o->churn > 0)
			t = churn(r, x, t, K, i);
		int rounds = o->mask ? (o->resample > 0 ? o->resample : 1) : 1;
		for (int k = 0; k < rounds; k++) {
			if ((rc = denoise_at(r, x, t.t, r->eps, r->x0, err)) < 0)
				return rc;
			if (k == 0 && (rc = emit(r, i, K, t.t, x, err)) < 0)
				return rc;
			int noisy = kind == DM_SAMPLER_DDPM || kind == DM_SAMPLER_EM ||
			            kind == DM_SAMPLER_PC || (kind == DM_SAMPLER_DDIM && o->eta > 0);
			if (noisy && !u.clean)
				draw_normal(r, DRAW_STEP(i, k), r->z, r->B, NULL);
			switch (kind) {
			case DM_SAMPLER_DDPM:
				step_ddpm(r, x, t, u, o->variance == DM_VARIANCE_LARGE);
				break;
			case DM_SAMPLER_DDIM:
				step_ddim(r, x, t, u, o->eta);
				break;
			case DM_SAMPLER_EM:
				step_em(r, x, t, u);
				break;
			case DM_SAMPLER_PC:
				if (o->predictor == DM_PREDICTOR_REVERSE_DIFFUSION)
					step_reverse_diffusion(r, x, t, u);
				else
					step_em(r, x, t, u);
				break;
			case DM_SAMPLER_EULER:
				step_euler(r, x, t, u, r->eps);
				break;
			case DM_SAMPLER_ODE:
			case DM_SAMPLER_HEUN:
				if ((rc = step_heun(r, x, t, u, err)) < 0)
					return rc;
				break;
			case DM_SAMPLER_DPMPP2M: {
				double h = u.clean ? 0 : log(u.a / u.s) - log(t.a / t.s);
				step_dpmpp2m(r, x, t, u, hprev, i > 0);
				hprev = h;
				memcpy(r->x0p, r->x0, n * sizeof(float));
				break;
			}
			}
			if (o->dps > 0)
				dps_move(r, x);
			if (o->mask) {
				paint_known(r, x, u, DRAW_PAINT(i, k));
				if (k + 1 < rounds && !u.clean)
					renoise(r, x, t, u, DRAW_RENOISE(i, k));
			}
		}
	}
	return 0;
}

/* Deterministic encoding: the ODE run upwards from ts[K-1] to ts[0]. */
static int run_encode(run *r, float *x, const double *ts, int K, dm_error *err)
{
	int rc;
	for (int i = K - 1; i > 0; i--) {
		level t = level_at(r->s, ts[i]), u = level_at(r->s, ts[i - 1]);
		if ((rc = denoise_at(r, x, t.t, r->eps, r->x0, err)) < 0)
			return rc;
		if (r->o->kind == DM_SAMPLER_DDIM || r->o->kind == DM_SAMPLER_EULER)
			step_euler(r, x, t, u, r->eps);
		else if ((rc = step_heun(r, x, t, u, err)) < 0)
			return rc;
	}
	return 0;
}

/* ---- adaptive RK45 (ode.h) --------------------------------------------- */

/* The PF-ODE in u = ln sbar, y = x/a: dy/du = sbar eps^(a y, t(sbar)),
 * evaluated for the active rows at their own u. */
static int rk_f(void *ctx, const float *y, const double *u, const int *rows, int B, float *k,
                dm_error *err)
{
	run *r = ctx;
	int64_t D = r->D;
	double *tt = r->tt;
	for (int b = 0; b < B; b++)
		tt[b] = dm_schedule_t_from_sigma_ve(r->s, exp(u[b]));
	float *xs = r->tmp;
	for (int b = 0; b < B; b++) {
		double a = dm_schedule_alpha(r->s, tt[b]);
		for (int64_t j = 0; j < D; j++)
			xs[(size_t)b * D + j] = (float)(a * y[(size_t)b * D + j]);
	}
	int rc = dm_guide_denoise(&r->g, xs, tt, rows, B, k, r->x0p, err);
	if (rc < 0)
		return rc;
	for (int b = 0; b < B; b++) {
		double sb = exp(u[b]);
		for (int64_t j = 0; j < D; j++)
			k[(size_t)b * D + j] = (float)(sb * k[(size_t)b * D + j]);
	}
	return 0;
}

/* From t0 to t1 along the ODE, then the final denoising step x = x0^. */
static int run_rk45(run *r, float *x, double t0, double t1, dm_error *err)
{
	size_t n = (size_t)r->B * r->D;
	double u0 = log(dm_schedule_sigma_ve(r->s, t0)), u1 = log(dm_schedule_sigma_ve(r->s, t1));
	double a0 = dm_schedule_alpha(r->s, t0), a1 = dm_schedule_alpha(r->s, t1);
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(x[i] / a0);
	int rc = dm_ode_rk45(rk_f, r, x, r->B, r->D, u0, u1, r->o->rtol, r->o->atol, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(a1 * x[i]);
	if ((rc = denoise_at(r, x, t1, r->eps, r->x0, err)) < 0)
		return rc;
	memcpy(x, r->x0, n * sizeof(float));
	return 0;
}

/* ---- entry points ------------------------------------------------------- */

int dm_sample(const dm_schedule *s, const dm_sampler_model *m, const dm_sampler_opts *o, float *x,
              const int32_t *label, int B, int64_t D, uint64_t index0, double *nfe,
              dm_error *err)
{
	int rc = dm_sampler_check(s, m->param, o, err);
	if (rc < 0)
		return rc;
	if (B <= 0 || D <= 0)
		return 0;
	if (o->dps > 0 && !m->vjp)
		return dm_error_set(err, DM_ERR_ARG, "--dps needs the model's gradient, which it lacks");
	if (o->dps > 0 && (int64_t)o->degrade->C * o->degrade->H * o->degrade->W != D)
		return dm_error_set(err, DM_ERR_ARG, "the degradation is set up for %dx%dx%d samples, "
		                    "not %lld values", o->degrade->C, o->degrade->H, o->degrade->W,
		                    (long long)D);
	int K = grid_size(s, o);
	double *ts = malloc((size_t)K * sizeof(double));
	if (!ts)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	run r;
	if ((rc = dm_sampler_grid(s, o, K, ts, err)) < 0 ||
	    (rc = run_init(&r, s, m, o, label, B, D, index0, err)) < 0) {
		free(ts);
		return rc;
	}
	if (o->encode)
		rc = run_encode(&r, x, ts, K, err);
	else if (o->kind == DM_SAMPLER_RK45)
		rc = run_rk45(&r, x, ts[0], ts[K - 1], err);
	else
		rc = run_grid(&r, x, ts, K, err);
	if (nfe)
		*nfe = (double)r.g.evals / B;
	run_free(&r);
	free(ts);
	return rc;
}

int dm_sampler_diffuse(const dm_schedule *s, double t, float *x, int B, int64_t D,
                       uint64_t seed, uint64_t index0, dm_error *err)
{
	return dm_forward_diffuse(s, t, seed, DM_RNG_SAMPLER, DRAW_DIFFUSE * (uint64_t)D, index0, x,
	                          B, D, err);
}

/* schedule.c - noise schedules (conventions and formulas in schedule.h). */
#include "diffusion/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {
	NULL, "linear", "scaled-linear", "cosine", "sigmoid", "vp", "subvp", "ve", "edm",
};

int dm_schedule_kind_parse(const char *name)
{
	if (!name)
		return 0;
	for (int k = DM_SCHED_LINEAR; k <= DM_SCHED_EDM; k++)
		if (!strcmp(name, kind_names[k]))
			return k;
	if (!strcmp(name, "sub-vp"))
		return DM_SCHED_SUBVP;
	if (!strcmp(name, "karras"))
		return DM_SCHED_EDM;
	return 0;
}

const char *dm_schedule_kind_name(int kind)
{
	return kind >= DM_SCHED_LINEAR && kind <= DM_SCHED_EDM ? kind_names[kind] : NULL;
}

static int is_discrete_kind(int kind) { return kind >= DM_SCHED_LINEAR && kind <= DM_SCHED_SIGMOID; }

int dm_schedule_is_discrete(const dm_schedule *s) { return is_discrete_kind(s->kind); }

int dm_predict_parse(const char *name)
{
	if (!name)
		return 0;
	if (!strcmp(name, "eps") || !strcmp(name, "epsilon"))
		return DM_PREDICT_EPS;
	if (!strcmp(name, "x0"))
		return DM_PREDICT_X0;
	if (!strcmp(name, "v"))
		return DM_PREDICT_V;
	return 0;
}

const char *dm_predict_name(int p)
{
	return p == DM_PREDICT_EPS ? "eps" : p == DM_PREDICT_X0 ? "x0" : p == DM_PREDICT_V ? "v" : NULL;
}

int dm_spacing_parse(const char *name)
{
	static const char *const n[] = {NULL, "linspace", "leading", "trailing", "logsnr", "karras"};
	for (int k = 1; k <= DM_SPACE_KARRAS; k++)
		if (name && !strcmp(name, n[k]))
			return k;
	return 0;
}

/* ---- construction ---------------------------------------------------- */

int dm_schedule_defaults(dm_schedule *s, int kind, dm_error *err)
{
	memset(s, 0, sizeof *s);
	if (!dm_schedule_kind_name(kind))
		return dm_error_set(err, DM_ERR_ARG, "unknown noise schedule kind %d", kind);
	s->kind = kind;
	s->predict = DM_PREDICT_EPS;
	s->T = 1000;
	s->beta_start = kind == DM_SCHED_SCALED_LINEAR ? 0.00085 : 1e-4;
	s->beta_end = kind == DM_SCHED_SCALED_LINEAR ? 0.012 : 0.02;
	s->cosine_s = 0.008;
	s->max_beta = 0.999;
	s->beta_min = 0.1;
	s->beta_max = 20.0;
	s->sigma_min = kind == DM_SCHED_EDM ? 0.002 : 0.01;
	s->sigma_max = kind == DM_SCHED_EDM ? 80.0 : 50.0;
	s->rho = 7.0;
	s->t_eps = (kind == DM_SCHED_VP || kind == DM_SCHED_SUBVP) ? 1e-5 : 0.0;
	return 0;
}

void dm_schedule_free(dm_schedule *s)
{
	free(s->beta);
	free(s->alpha_bar);
	s->beta = s->alpha_bar = NULL;
}

static int bad(dm_error *err, const char *what)
{
	return dm_error_set(err, DM_ERR_ARG, "noise schedule: %s", what);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Cosine schedule's f(t)/f(0) at continuous step u in [0, T]
 * (Nichol & Dhariwal 2021 eq. 17). */
static double cosine_abar(const dm_schedule *s, double u)
{
	double f = cos((u / s->T + s->cosine_s) / (1.0 + s->cosine_s) * M_PI / 2);
	double f0 = cos(s->cosine_s / (1.0 + s->cosine_s) * M_PI / 2);
	return f * f / (f0 * f0);
}

static void discrete_betas(dm_schedule *s)
{
	int T = s->T;
	for (int t = 0; t < T; t++) {
		double x = T > 1 ? (double)t / (T - 1) : 0.0;
		double b;
		switch (s->kind) {
		case DM_SCHED_LINEAR:
			b = s->beta_start + x * (s->beta_end - s->beta_start);
			break;
		case DM_SCHED_SCALED_LINEAR: {
			double r = sqrt(s->beta_start) + x * (sqrt(s->beta_end) - sqrt(s->beta_start));
			b = r * r;
			break;
		}
		case DM_SCHED_COSINE:
			b = 1.0 - cosine_abar(s, t + 1) / cosine_abar(s, t);
			if (b > s->max_beta)
				b = s->max_beta;
			break;
		default: /* sigmoid */
			b = s->beta_start + (s->beta_end - s->beta_start) * sigmoid(-6.0 + 12.0 * x);
			break;
		}
		s->beta[t] = b;
	}
}

/* Lin et al. 2024 Alg. 1 on the table: rescale sqrt(abar) so that the last
 * step has alpha = 0 and the first is unchanged; re-derive beta. */
static void discrete_zero_snr(dm_schedule *s)
{
	int T = s->T;
	double a0 = sqrt(s->alpha_bar[0]), aT = sqrt(s->alpha_bar[T - 1]);
	for (int t = 0; t < T; t++) {
		double a = (sqrt(s->alpha_bar[t]) - aT) * a0 / (a0 - aT);
		s->alpha_bar[t] = t == T - 1 ? 0.0 : a * a;
	}
	for (int t = 0; t < T; t++)
		s->beta[t] = 1.0 - s->alpha_bar[t] / (t ? s->alpha_bar[t - 1] : 1.0);
}

static double vp_alpha_raw(const dm_schedule *s, double t)
{
	return exp(-0.5 * (s->beta_min * t + 0.5 * (s->beta_max - s->beta_min) * t * t));
}

static int validate(const dm_schedule *s, dm_error *err)
{
	if (!dm_predict_name(s->predict))
		return bad(err, "predict must be eps, x0 or v");
	if (s->zero_snr != 0 && s->zero_snr != 1)
		return bad(err, "zero_snr must be 0 or 1");
	if (is_discrete_kind(s->kind)) {
		if (s->T < 1 || s->T > DM_SCHEDULE_MAX_T)
			return dm_error_set(err, DM_ERR_ARG, "noise schedule: T must be in 1..%d",
			                    DM_SCHEDULE_MAX_T);
		if (s->zero_snr && s->T < 2)
			return bad(err, "zero terminal SNR needs T >= 2");
		if (s->kind == DM_SCHED_COSINE) {
			if (!(s->cosine_s >= 0 && s->cosine_s < 1))
				return bad(err, "cosine_s must be in [0, 1)");
			if (!(s->max_beta > 0 && s->max_beta < 1))
				return bad(err, "max_beta must be in (0, 1)");
		} else if (!(s->beta_start > 0 && s->beta_start < 1 && s->beta_end > 0 &&
		             s->beta_end < 1)) {
			return bad(err, "beta_start and beta_end must be in (0, 1)");
		}
		return 0;
	}
	if (!(s->t_eps >= 0 && s->t_eps < 1))
		return bad(err, "t_eps must be in [0, 1)");
	switch (s->kind) {
	case DM_SCHED_VP:
	case DM_SCHED_SUBVP:
		if (!(s->beta_min >= 0 && s->beta_max > 0 && s->beta_max >= s->beta_min &&
		      s->beta_max < 1e6))
			return bad(err, "need 0 <= beta_min <= beta_max, beta_max > 0");
		return 0;
	case DM_SCHED_EDM:
		if (!(s->rho > 0 && s->rho < 1000))
			return bad(err, "rho must be in (0, 1000)");
		/* fall through */
	case DM_SCHED_VE:
		if (s->zero_snr)
			return bad(err, "zero terminal SNR is not defined for ve/edm");
		if (!(s->sigma_min > 0 && s->sigma_max > s->sigma_min && s->sigma_max < 1e12))
			return bad(err, "need 0 < sigma_min < sigma_max");
		return 0;
	}
	return bad(err, "unknown kind");
}

int dm_schedule_init(dm_schedule *s, dm_error *err)
{
	s->beta = s->alpha_bar = NULL;
	int rc = validate(s, err);
	if (rc)
		return rc;
	if (!is_discrete_kind(s->kind)) {
		s->za_first = 1.0;
		s->za_last = vp_alpha_raw(s, 1.0);
		return 0;
	}
	s->beta = malloc((size_t)s->T * sizeof *s->beta);
	s->alpha_bar = malloc((size_t)s->T * sizeof *s->alpha_bar);
	if (!s->beta || !s->alpha_bar) {
		dm_schedule_free(s);
		return dm_error_set(err, DM_ERR_NOMEM, "noise schedule: out of memory for T=%d", s->T);
	}
	discrete_betas(s);
	double p = 1.0;
	for (int t = 0; t < s->T; t++) {
		p *= 1.0 - s->beta[t];
		s->alpha_bar[t] = p;
	}
	if (s->zero_snr)
		discrete_zero_snr(s);
	return 0;
}

/* ---- header metadata -------------------------------------------------- */

/* The shortest %g form that reads back as the same double. */
static int set_num(dm_kv *m, const char *key, double v)
{
	char buf[40];
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return dm_kv_set(m, key, buf);
}

int dm_schedule_to_kv(const dm_schedule *s, dm_kv *m, dm_error *err)
{
	/* keys of another kind left from an earlier schedule would be read
	 * back by dm_schedule_from_kv: remove them all first */
	static const char *const keys[] = {"T", "beta_start", "beta_end", "cosine_s", "max_beta",
	                                   "beta_min", "beta_max", "sigma_min", "sigma_max", "rho",
	                                   "t_eps"};
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
		dm_kv_del(m, keys[i]);
	int rc = 0;
	rc |= dm_kv_set(m, "schedule", dm_schedule_kind_name(s->kind));
	rc |= dm_kv_set(m, "predict", dm_predict_name(s->predict));
	rc |= dm_kv_setf(m, "zero_snr", "%d", s->zero_snr);
	switch (s->kind) {
	case DM_SCHED_COSINE:
		rc |= dm_kv_setf(m, "T", "%d", s->T);
		rc |= set_num(m, "cosine_s", s->cosine_s);
		rc |= set_num(m, "max_beta", s->max_beta);
		break;
	case DM_SCHED_LINEAR:
	case DM_SCHED_SCALED_LINEAR:
	case DM_SCHED_SIGMOID:
		rc |= dm_kv_setf(m, "T", "%d", s->T);
		rc |= set_num(m, "beta_start", s->beta_start);
		rc |= set_num(m, "beta_end", s->beta_end);
		break;
	case DM_SCHED_VP:
	case DM_SCHED_SUBVP:
		rc |= set_num(m, "beta_min", s->beta_min);
		rc |= set_num(m, "beta_max", s->beta_max);
		rc |= set_num(m, "t_eps", s->t_eps);
		break;
	default:
		rc |= set_num(m, "sigma_min", s->sigma_min);
		rc |= set_num(m, "sigma_max", s->sigma_max);
		if (s->kind == DM_SCHED_EDM)
			rc |= set_num(m, "rho", s->rho);
		rc |= set_num(m, "t_eps", s->t_eps);
		break;
	}
	return rc ? dm_error_set(err, DM_ERR_NOMEM, "noise schedule: cannot write metadata") : 0;
}

static int kv_double(const dm_kv *m, const char *key, double *out, dm_error *err)
{
	const char *v = dm_kv_get(m, key);
	if (!v)
		return 0;
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d))
		return dm_error_set(err, DM_ERR_FORMAT, "stream header: %s=%s is not a number", key, v);
	*out = d;
	return 0;
}

static int kv_int(const dm_kv *m, const char *key, int *out, dm_error *err)
{
	double d = *out;
	int rc = kv_double(m, key, &d, err);
	if (rc)
		return rc;
	if (d != floor(d) || d < -2147483647.0 || d > 2147483647.0)
		return dm_error_set(err, DM_ERR_FORMAT, "stream header: %s=%s is not an integer", key,
		                    dm_kv_get(m, key));
	*out = (int)d;
	return 0;
}

int dm_schedule_from_kv(const dm_kv *m, dm_schedule *s, dm_error *err)
{
	memset(s, 0, sizeof *s);
	const char *name = dm_kv_get(m, "schedule");
	if (!name)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "stream has no schedule=... in its header; was it made by dm-noise?");
	int kind = dm_schedule_kind_parse(name);
	if (!kind)
		return dm_error_set(err, DM_ERR_FORMAT, "stream header: unknown schedule=%s", name);
	dm_schedule_defaults(s, kind, err);
	const char *p = dm_kv_get(m, "predict");
	if (p && !(s->predict = dm_predict_parse(p)))
		return dm_error_set(err, DM_ERR_FORMAT, "stream header: unknown predict=%s", p);
	int rc = 0;
	if (!rc) rc = kv_int(m, "T", &s->T, err);
	if (!rc) rc = kv_int(m, "zero_snr", &s->zero_snr, err);
	if (!rc) rc = kv_double(m, "beta_start", &s->beta_start, err);
	if (!rc) rc = kv_double(m, "beta_end", &s->beta_end, err);
	if (!rc) rc = kv_double(m, "cosine_s", &s->cosine_s, err);
	if (!rc) rc = kv_double(m, "max_beta", &s->max_beta, err);
	if (!rc) rc = kv_double(m, "beta_min", &s->beta_min, err);
	if (!rc) rc = kv_double(m, "beta_max", &s->beta_max, err);
	if (!rc) rc = kv_double(m, "sigma_min", &s->sigma_min, err);
	if (!rc) rc = kv_double(m, "sigma_max", &s->sigma_max, err);
	if (!rc) rc = kv_double(m, "rho", &s->rho, err);
	if (!rc) rc = kv_double(m, "t_eps", &s->t_eps, err);
	if (rc)
		return rc;
	rc = dm_schedule_init(s, err);
	if (rc) {
		char msg[sizeof err->msg];
		snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
		return dm_error_set(err, DM_ERR_FORMAT, "stream header: %s", msg);
	}
	return 0;
}

static int canonical(const dm_kv *m, dm_kv *out, dm_error *err)
{
	dm_schedule s;
	int rc = dm_schedule_from_kv(m, &s, err);
	if (rc == 0)
		rc = dm_schedule_to_kv(&s, out, err);
	dm_schedule_free(&s);
	return rc;
}

int dm_schedule_kv_differ(const dm_kv *a, const dm_kv *b, char *what, size_t n, dm_error *err)
{
	int ha = dm_kv_get(a, "schedule") != NULL, hb = dm_kv_get(b, "schedule") != NULL;
	if (!ha && !hb)
		return 0;
	if (ha != hb) {
		snprintf(what, n, "schedule (%s vs %s)", ha ? dm_kv_get(a, "schedule") : "none",
		         hb ? dm_kv_get(b, "schedule") : "none");
		return 1;
	}
	dm_kv ca, cb;
	dm_kv_init(&ca), dm_kv_init(&cb);
	int rc = canonical(a, &ca, err);
	if (rc == 0)
		rc = canonical(b, &cb, err);
	for (int i = 0; rc == 0 && i < ca.n; i++) {
		const char *v = dm_kv_get(&cb, ca.key[i]);
		if (!v || strcmp(v, ca.val[i])) {
			snprintf(what, n, "%s (%s vs %s)", ca.key[i], ca.val[i], v ? v : "none");
			rc = 1;
		}
	}
	for (int i = 0; rc == 0 && i < cb.n; i++)
		if (!dm_kv_get(&ca, cb.key[i])) {
			snprintf(what, n, "%s (none vs %s)", cb.key[i], cb.val[i]);
			rc = 1;
		}
	dm_kv_free(&ca), dm_kv_free(&cb);
	return rc;
}

/* ---- evaluation -------------------------------------------------------- */

double dm_schedule_t_max(const dm_schedule *s)
{
	return is_discrete_kind(s->kind) ? (double)(s->T - 1) : 1.0;
}

double dm_schedule_t_min(const dm_schedule *s) { return is_discrete_kind(s->kind) ? 0.0 : s->t_eps; }

double dm_schedule_t_clean(const dm_schedule *s) { return is_discrete_kind(s->kind) ? -1.0 : s->t_eps; }

double dm_schedule_prior_std(const dm_schedule *s)
{
	return (s->kind == DM_SCHED_VE || s->kind == DM_SCHED_EDM) ? s->sigma_max : 1.0;
}

static double clamp_t(const dm_schedule *s, double t)
{
	double lo = is_discrete_kind(s->kind) ? -1.0 : 0.0, hi = dm_schedule_t_max(s);
	return t < lo ? lo : t > hi ? hi : t; /* NaN stays NaN */
}

/* alpha, sigma at t, and the t-derivatives of alpha and of sigma^2 (a_t,
 * s2_t may be NULL; sigma^2 rather than sigma so that the limit at sigma = 0
 * is right). */
static void eval(const dm_schedule *s, double t, double *a, double *sg, double *a_t, double *s2_t)
{
	double A, S, At, St;
	t = clamp_t(s, t);
	if (is_discrete_kind(s->kind)) {
		/* ln abar piecewise linear between steps, abar(-1) = 1; with zero
		 * terminal SNR the last segment interpolates alpha linearly. */
		int T = s->T;
		int i = (int)floor(t);
		if (i >= T - 1)
			i = T - 2;
		double x = t - i;
		double ab0 = i >= 0 ? s->alpha_bar[i] : 1.0, ab1 = i + 1 < T ? s->alpha_bar[i + 1] : ab0;
		if (T == 1) {
			ab0 = 1.0;
			ab1 = s->alpha_bar[0];
			x = t + 1.0;
		}
		if (ab1 > 0) {
			double l0 = log(ab0), l1 = log(ab1);
			double l = l0 + x * (l1 - l0);
			A = exp(0.5 * l);
			At = 0.5 * A * (l1 - l0);
		} else {
			double a0 = sqrt(ab0);
			A = a0 * (1.0 - x);
			At = -a0;
		}
		double ab = A * A;
		/* 1 - abar from the table where exact, for precision at small t */
		double om = (x == 0.0 && i >= 0) ? 1.0 - s->alpha_bar[i]
		          : (x == 1.0) ? 1.0 - s->alpha_bar[i + 1] : 1.0 - ab;
		S = sqrt(om);
		St = -2.0 * A * At;
	} else if (s->kind == DM_SCHED_VP || s->kind == DM_SCHED_SUBVP) {
		double beta = s->beta_min + t * (s->beta_max - s->beta_min);
		double la = -0.5 * (s->beta_min * t + 0.5 * (s->beta_max - s->beta_min) * t * t);
		A = exp(la);
		At = -0.5 * beta * A;
		double om; /* 1 - alpha^2 */
		if (s->zero_snr) {
			double c = s->za_first / (s->za_first - s->za_last);
			A = (A - s->za_last) * c;
			At *= c;
			if (A < 0)
				A = 0;
			om = 1.0 - A * A;
		} else {
			om = -expm1(2.0 * la);
		}
		if (s->kind == DM_SCHED_VP) {
			S = sqrt(om);
			St = -2.0 * A * At;
		} else {
			S = om;
			St = 2.0 * S * (-2.0 * A * At);
		}
	} else if (s->kind == DM_SCHED_VE) {
		double r = log(s->sigma_max / s->sigma_min);
		A = 1.0;
		At = 0.0;
		S = s->sigma_min * exp(t * r);
		St = 2.0 * S * S * r;
	} else { /* edm */
		double lo = pow(s->sigma_min, 1.0 / s->rho), hi = pow(s->sigma_max, 1.0 / s->rho);
		double b = lo + t * (hi - lo);
		A = 1.0;
		At = 0.0;
		S = pow(b, s->rho);
		St = 2.0 * S * s->rho * pow(b, s->rho - 1.0) * (hi - lo);
	}
	*a = A;
	*sg = S;
	if (a_t)
		*a_t = At;
	if (s2_t)
		*s2_t = St;
}

double dm_schedule_alpha(const dm_schedule *s, double t)
{
	double a, sg;
	eval(s, t, &a, &sg, NULL, NULL);
	return a;
}

double dm_schedule_sigma(const dm_schedule *s, double t)
{
	double a, sg;
	eval(s, t, &a, &sg, NULL, NULL);
	return sg;
}

double dm_schedule_alpha_bar(const dm_schedule *s, double t)
{
	if (is_discrete_kind(s->kind) && t == floor(t) && t >= 0 && t <= s->T - 1)
		return s->alpha_bar[(int)t];
	double a = dm_schedule_alpha(s, t);
	return a * a;
}

double dm_schedule_snr(const dm_schedule *s, double t)
{
	double a, sg;
	eval(s, t, &a, &sg, NULL, NULL);
	return sg > 0 ? a * a / (sg * sg) : INFINITY;
}

double dm_schedule_logsnr(const dm_schedule *s, double t)
{
	double a, sg;
	eval(s, t, &a, &sg, NULL, NULL);
	return 2.0 * (log(a) - log(sg));
}

double dm_schedule_sigma_ve(const dm_schedule *s, double t)
{
	double a, sg;
	eval(s, t, &a, &sg, NULL, NULL);
	return a > 0 ? sg / a : INFINITY;
}

void dm_schedule_sde(const dm_schedule *s, double t, double *f, double *g)
{
	double a, sg, at, st;
	eval(s, t, &a, &sg, &at, &st);
	double F = a > 0 ? at / a : -INFINITY;
	double g2 = st - 2.0 * F * sg * sg;
	if (a <= 0)
		g2 = INFINITY;
	*f = F;
	*g = sqrt(g2 > 0 ? g2 : 0.0);
}

double dm_schedule_beta(const dm_schedule *s, double t)
{
	t = clamp_t(s, t);
	if (is_discrete_kind(s->kind)) {
		if (t <= 0)
			return s->beta[0];
		int i = (int)floor(t);
		if (i >= s->T - 1)
			return s->beta[s->T - 1];
		double x = t - i;
		return s->beta[i] + x * (s->beta[i + 1] - s->beta[i]);
	}
	if (s->kind == DM_SCHED_VE || s->kind == DM_SCHED_EDM)
		return 0.0;
	if (!s->zero_snr)
		return s->beta_min + t * (s->beta_max - s->beta_min);
	double f, g;
	dm_schedule_sde(s, t, &f, &g);
	return -2.0 * f;
}

/* Smallest t in [lo, hi] with key(t) <= v for a decreasing key, by
 * bisection to the resolution of doubles. */
static double bisect(const dm_schedule *s, double (*key)(const dm_schedule *, double), double v)
{
	double lo = is_discrete_kind(s->kind) ? -1.0 : 0.0, hi = dm_schedule_t_max(s);
	if (isnan(v))
		return NAN;
	if (key(s, lo) <= v)
		return lo;
	if (key(s, hi) >= v)
		return hi;
	for (int i = 0; i < 200; i++) {
		double mid = 0.5 * (lo + hi);
		if (mid <= lo || mid >= hi)
			break;
		if (key(s, mid) > v)
			lo = mid;
		else
			hi = mid;
	}
	return fabs(key(s, lo) - v) < fabs(key(s, hi) - v) ? lo : hi;
}

static double neg_sigma_ve(const dm_schedule *s, double t) { return -dm_schedule_sigma_ve(s, t); }

double dm_schedule_t_from_logsnr(const dm_schedule *s, double l)
{
	return bisect(s, dm_schedule_logsnr, l);
}

double dm_schedule_t_from_sigma_ve(const dm_schedule *s, double sv)
{
	return bisect(s, neg_sigma_ve, -sv);
}

/* ---- respacing --------------------------------------------------------- */

int dm_schedule_respace(const dm_schedule *s, int K, int sp, double *ts, dm_error *err)
{
	int disc = is_discrete_kind(s->kind);
	double tmax = dm_schedule_t_max(s), tmin = dm_schedule_t_min(s);
	if (K < 1)
		return dm_error_set(err, DM_ERR_ARG, "respacing: need at least 1 step, not %d", K);
	if (disc && K > s->T && sp <= DM_SPACE_TRAILING)
		return dm_error_set(err, DM_ERR_ARG, "respacing: %d steps is more than T=%d", K, s->T);
	switch (sp) {
	case DM_SPACE_LINSPACE:
		for (int k = 0; k < K; k++) {
			double x = K > 1 ? (double)k / (K - 1) : 0.0;
			ts[k] = tmax - x * (tmax - tmin);
			if (disc)
				ts[k] = round(ts[k]);
		}
		return 0;
	case DM_SPACE_LEADING:
		for (int k = 0; k < K; k++)
			ts[k] = disc ? (double)((K - 1 - k) * (s->T / K))
			             : fmax(tmin, (double)(K - 1 - k) / K);
		return 0;
	case DM_SPACE_TRAILING:
		for (int k = 0; k < K; k++)
			ts[k] = disc ? round(s->T - k * ((double)s->T / K)) - 1.0
			             : fmax(tmin, (double)(K - k) / K);
		return 0;
	case DM_SPACE_LOGSNR:
	case DM_SPACE_KARRAS: {
		/* the noisiest end: with zero terminal SNR take t_max first and
		 * space the rest from the next level down */
		int k0 = 0;
		double top = tmax;
		if (K > 1 && !(dm_schedule_sigma_ve(s, tmax) < INFINITY)) {
			ts[0] = tmax;
			k0 = 1;
			top = disc ? tmax - 1.0 : 1.0 - 1e-3;
		}
		int n = K - k0;
		double rho = s->kind == DM_SCHED_EDM ? s->rho : 7.0;
		double l_hi = dm_schedule_logsnr(s, tmin), l_lo = dm_schedule_logsnr(s, top);
		double r_hi = pow(dm_schedule_sigma_ve(s, top), 1.0 / rho);
		double r_lo = pow(dm_schedule_sigma_ve(s, tmin), 1.0 / rho);
		for (int k = 0; k < n; k++) {
			double x = n > 1 ? (double)k / (n - 1) : 0.0;
			double t;
			if (sp == DM_SPACE_LOGSNR)
				t = dm_schedule_t_from_logsnr(s, l_lo + x * (l_hi - l_lo));
			else
				t = dm_schedule_t_from_sigma_ve(s, pow(r_hi + x * (r_lo - r_hi), rho));
			ts[k0 + k] = k == 0 ? top : k == n - 1 ? tmin : t;
		}
		return 0;
	}
	}
	return dm_error_set(err, DM_ERR_ARG, "respacing: unknown spacing %d", sp);
}

/* degrade.c - degradations and their gradients; see degrade.h. */
#include "diffusion/degrade.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Read n numbers separated by ':' from s; 0 or -1. */
static int numbers(const char *s, int n, double *v)
{
	for (int i = 0; i < n; i++) {
		char *end;
		errno = 0;
		v[i] = strtod(s, &end);
		if (errno || end == s || !isfinite(v[i]))
			return -1;
		if (i + 1 < n) {
			if (*end != ':')
				return -1;
			s = end + 1;
		} else if (*end) {
			return -1;
		}
	}
	return 0;
}

int dm_degrade_valid(const dm_degrade *d, const double *th)
{
	if (d->kind == DM_DEGRADE_LOWLIGHT)
		return th[0] > 0 && th[0] <= 100 && th[1] >= 0.1 && th[1] <= 10;
	if (d->kind == DM_DEGRADE_BLUR)
		return th[0] > 0 && th[0] <= 21;
	return 0;
}

int dm_degrade_parse(const char *spec, dm_degrade *d, dm_error *err)
{
	memset(d, 0, sizeof *d);
	if (!strncmp(spec, "lowlight:", 9)) {
		d->kind = DM_DEGRADE_LOWLIGHT, d->np = 2;
		if (numbers(spec + 9, 2, d->theta) < 0 || !dm_degrade_valid(d, d->theta))
			return dm_error_set(err, DM_ERR_ARG, "--restore %s: want lowlight:GAIN:GAMMA with "
			                    "0 < GAIN <= 100 and 0.1 <= GAMMA <= 10", spec);
		return 0;
	}
	if (!strncmp(spec, "blur:", 5)) {
		d->kind = DM_DEGRADE_BLUR, d->np = 1;
		if (numbers(spec + 5, 1, d->theta) < 0 || !dm_degrade_valid(d, d->theta))
			return dm_error_set(err, DM_ERR_ARG, "--restore %s: want blur:SIGMA with "
			                    "0 < SIGMA <= 21 (pixels)", spec);
		return 0;
	}
	return 1;
}

void dm_degrade_layout(dm_degrade *d, int C, int H, int W, double lo, double hi)
{
	d->C = C, d->H = H, d->W = W, d->lo = lo, d->hi = hi;
}

const char *dm_degrade_param_name(const dm_degrade *d, int i)
{
	static const char *const ll[] = {"gain", "gamma"};
	if (d->kind == DM_DEGRADE_LOWLIGHT && i >= 0 && i < 2)
		return ll[i];
	if (d->kind == DM_DEGRADE_BLUR && i == 0)
		return "sigma";
	return "?";
}

int dm_degrade_param_mask(const dm_degrade *d, const char *list, dm_error *err)
{
	if (!strcmp(list, "all"))
		return (1 << d->np) - 1;
	int mask = 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ","), i;
		for (i = 0; i < (size_t)d->np; i++) {
			const char *name = dm_degrade_param_name(d, (int)i);
			if (strlen(name) == n && !strncmp(p, name, n))
				break;
		}
		if (i == (size_t)d->np || n == 0)
			return dm_error_set(err, DM_ERR_ARG, "--gdp %s: '%.*s' is not a parameter of the "
			                    "degradation (%s%s%s or all)", list, (int)n, p,
			                    dm_degrade_param_name(d, 0), d->np > 1 ? ", " : "",
			                    d->np > 1 ? dm_degrade_param_name(d, 1) : "");
		mask |= 1 << i;
		p += n + (p[n] == ',');
	}
	return mask ? mask : dm_error_set(err, DM_ERR_ARG, "--gdp: no parameter named");
}

int dm_degrade_has_param_jacobian(const dm_degrade *d)
{
	return d->kind == DM_DEGRADE_LOWLIGHT;
}

/* ---- lowlight ----------------------------------------------------------- */

/* One value: A(x) and dA/dx (0 where clamped or saturated). */
static double lowlight(const dm_degrade *d, const double *th, double x, double *dx)
{
	double r = d->hi - d->lo, u = (x - d->lo) / r;
	if (u <= 0) {
		*dx = 0;
		return d->lo;
	}
	if (u > 1)
		u = 1;
	double p = pow(u, th[1]), v = th[0] * p;
	if (v >= 1) {
		*dx = 0;
		return d->hi;
	}
	/* d/dx (lo + r g u^gamma) = g gamma u^(gamma-1) (du/dx = 1/r) */
	*dx = (x - d->lo) / r >= 1 ? 0 : th[0] * th[1] * p / u;
	return d->lo + r * v;
}

/* ---- blur ----------------------------------------------------------------- */

/* The normalised kernel k[-R..R] of std sigma in k[0..2R]; returns R. */
static int kernel(double sigma, double *k)
{
	int R = (int)ceil(3 * sigma);
	if (R > DM_DEGRADE_MAXR)
		R = DM_DEGRADE_MAXR;
	double z = 0;
	for (int j = -R; j <= R; j++)
		z += k[j + R] = exp(-0.5 * j * j / (sigma * sigma));
	for (int j = 0; j <= 2 * R; j++)
		k[j] /= z;
	return R;
}

static int clampi(int i, int n)
{
	return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* out = the kernel along one axis of each channel, edges extended:
 * out[i] = sum_j k[j] in[clamp(i + j)] (n values at stride st, m lines).
 * adjoint: out[clamp(i + j)] += k[j] in[i] instead (out zeroed first). */
static void blur_axis(const float *in, float *out, const double *k, int R, int C, int H, int W,
                      int vertical, int adjoint)
{
	int n = vertical ? H : W;
	int64_t st = vertical ? W : 1;
	if (adjoint)
		memset(out, 0, (size_t)C * H * W * sizeof *out);
	for (int c = 0; c < C; c++)
		for (int l = 0; l < (vertical ? W : H); l++) {
			int64_t base = (int64_t)c * H * W + (vertical ? l : (int64_t)l * W);
			for (int i = 0; i < n; i++) {
				if (adjoint) {
					double v = in[base + i * st];
					for (int j = -R; j <= R; j++)
						out[base + clampi(i + j, n) * st] += (float)(k[j + R] * v);
				} else {
					double s = 0;
					for (int j = -R; j <= R; j++)
						s += k[j + R] * in[base + clampi(i + j, n) * st];
					out[base + i * st] = (float)s;
				}
			}
		}
}

/* ---- the interface -------------------------------------------------------- */

void dm_degrade_apply(const dm_degrade *d, const double *th, const float *x, float *y,
                      float *scratch)
{
	int64_t D = (int64_t)d->C * d->H * d->W;
	if (d->kind == DM_DEGRADE_LOWLIGHT) {
		double g;
		for (int64_t i = 0; i < D; i++)
			y[i] = (float)lowlight(d, th, x[i], &g);
	} else if (d->kind == DM_DEGRADE_BLUR) {
		double k[2 * DM_DEGRADE_MAXR + 1];
		int R = kernel(th[0], k);
		blur_axis(x, scratch, k, R, d->C, d->H, d->W, 0, 0);
		blur_axis(scratch, y, k, R, d->C, d->H, d->W, 1, 0);
	}
}

void dm_degrade_vjp(const dm_degrade *d, const double *th, const float *x, const float *v,
                    float *dx, float *scratch)
{
	int64_t D = (int64_t)d->C * d->H * d->W;
	if (d->kind == DM_DEGRADE_LOWLIGHT) {
		for (int64_t i = 0; i < D; i++) {
			double g;
			lowlight(d, th, x[i], &g);
			dx[i] = (float)(g * v[i]);
		}
	} else if (d->kind == DM_DEGRADE_BLUR) {
		/* A = V H (vertical after horizontal): A^T = H^T V^T */
		double k[2 * DM_DEGRADE_MAXR + 1];
		int R = kernel(th[0], k);
		blur_axis(v, scratch, k, R, d->C, d->H, d->W, 1, 1);
		blur_axis(scratch, dx, k, R, d->C, d->H, d->W, 0, 1);
	}
}

int dm_degrade_param_jacobian(const dm_degrade *d, const double *th, const float *x,
                              float *const *J, dm_error *err)
{
	if (d->kind != DM_DEGRADE_LOWLIGHT)
		return dm_error_set(err, DM_ERR_ARG, "the parameters of this degradation cannot be "
		                                     "estimated (only lowlight's)");
	int64_t D = (int64_t)d->C * d->H * d->W;
	double r = d->hi - d->lo;
	for (int64_t i = 0; i < D; i++) {
		double u = (x[i] - d->lo) / r;
		u = u > 1 ? 1 : u;
		double p = u > 0 ? pow(u, th[1]) : 0, v = th[0] * p;
		if (u <= 0 || v >= 1) {
			J[0][i] = J[1][i] = 0;
			continue;
		}
		/* d/dlog g (r g u^gamma) = r g u^gamma; d/dlog gamma = r g u^gamma gamma ln u */
		J[0][i] = (float)(r * v);
		J[1][i] = (float)(r * v * th[1] * log(u));
	}
	return 0;
}

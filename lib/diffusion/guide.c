/* guide.c - the network's prediction made into the sampler's eps^ and x0^
 * (see guide.h). */
#include "diffusion/guide.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many values a parallel loop costs more than it saves. */
#define PAR_MIN 32768

int dm_guide_init(dm_guide *g, const dm_schedule *s, const dm_sampler_model *m,
                  const dm_sampler_opts *o, const int32_t *label, int B, int64_t D,
                  dm_error *err)
{
	memset(g, 0, sizeof *g);
	g->s = s, g->m = m, g->o = o, g->label = label, g->B = B, g->D = D;
	g->guided = label && o->guidance != 1.0;
	size_t n = (size_t)B * (size_t)D, k = g->guided ? 2 : 1;
	g->xin = malloc(k * n * sizeof(float));
	g->pred = malloc(k * n * sizeof(float));
	g->tv = malloc(k * (size_t)B * sizeof(float));
	g->lab = malloc(k * (size_t)B * sizeof(int32_t));
	g->epsu = malloc(n * sizeof(float));
	g->as = malloc(2 * (size_t)B * sizeof(double));
	if (!g->xin || !g->pred || !g->tv || !g->lab || !g->epsu || !g->as) {
		dm_guide_free(g);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for %d samples of %lld values",
		                    B, (long long)D);
	}
	return 0;
}

void dm_guide_free(dm_guide *g)
{
	free(g->xin), free(g->pred), free(g->tv), free(g->lab), free(g->epsu), free(g->as);
	memset(g, 0, sizeof *g);
}

/* DDNM range-null-space projection of one sample's x0^ (Wang et al. 2023
 * eq. 13): x0 <- x0 - A+ (A x0 - A y), A+ A y = the part of y that A sees. */
static void project(const dm_sampler_opts *o, float *x0, const float *y, int64_t D)
{
	if (o->restore == DM_RESTORE_MASK) {
		for (int64_t i = 0; i < D; i++)
			x0[i] += o->restore_mask[i] * (y[i] - x0[i]);
	} else if (o->restore == DM_RESTORE_GRAY) {
		int64_t P = (int64_t)o->H * o->W;
		for (int64_t p = 0; p < P; p++) {
			double d = 0;
			for (int c = 0; c < 3; c++)
				d += (double)x0[c * P + p] - y[c * P + p];
			d /= 3;
			for (int c = 0; c < 3; c++)
				x0[c * P + p] -= (float)d;
		}
	} else if (o->restore == DM_RESTORE_SR) {
		int K = o->sr_factor, H = o->H, W = o->W;
		for (int c = 0; c < o->C; c++)
			for (int by = 0; by < H; by += K)
				for (int bx = 0; bx < W; bx += K) {
					double d = 0;
					for (int yy = by; yy < by + K; yy++)
						for (int xx = bx; xx < bx + K; xx++) {
							int64_t j = ((int64_t)c * H + yy) * W + xx;
							d += (double)x0[j] - y[j];
						}
					d /= (double)K * K;
					for (int yy = by; yy < by + K; yy++)
						for (int xx = bx; xx < bx + K; xx++)
							x0[((int64_t)c * H + yy) * W + xx] -= (float)d;
				}
	}
}

/* The k-th smallest of v[0..n-1] (0-based), reordering v (Hoare's select). */
static float select_kth(float *v, int64_t n, int64_t k)
{
	int64_t lo = 0, hi = n - 1;
	while (lo < hi) {
		float p = v[lo + (hi - lo) / 2];
		int64_t i = lo, j = hi;
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				float t = v[i];
				v[i++] = v[j];
				v[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return v[k];
}

/* Dynamic thresholding of one sample's x0^ (Saharia et al. 2022, sec. 2.3)
 * in the data range [lo, hi]; scratch holds D floats. */
static void dyn_threshold(float *z, int64_t D, double q, double lo, double hi, float *scratch)
{
	double c = 0.5 * (lo + hi), h = 0.5 * (hi - lo);
	for (int64_t i = 0; i < D; i++)
		scratch[i] = (float)fabs((z[i] - c) / h);
	int64_t k = (int64_t)(q * (double)(D - 1) + 0.5);
	double sv = select_kth(scratch, D, k < 0 ? 0 : k >= D ? D - 1 : k);
	if (sv < 1)
		sv = 1;
	for (int64_t i = 0; i < D; i++) {
		double u = (z[i] - c) / h;
		u = u > sv ? sv : u < -sv ? -sv : u;
		z[i] = (float)(c + h * u / sv);
	}
}

int dm_guide_denoise(dm_guide *g, const float *x, const double *t, const int *rows, int B,
                     float *eps, float *x0, dm_error *err)
{
	const dm_sampler_opts *o = g->o;
	int64_t D = g->D;
	size_t n = (size_t)B * D;
	int k = g->guided ? 2 : 1;
	for (int b = 0; b < B; b++) {
		int src = rows ? rows[b] : b;
		g->tv[b] = (float)t[b];
		if (g->label)
			g->lab[b] = g->label[src];
		if (k == 2) {
			g->tv[B + b] = (float)t[b];
			g->lab[B + b] = o->classes;
		}
	}
	memcpy(g->xin, x, n * sizeof(float));
	if (k == 2)
		memcpy(g->xin + n, x, n * sizeof(float));
	int rc = g->m->predict(g->m->ctx, g->xin, g->tv, g->label ? g->lab : NULL, k * B, g->pred,
	                       err);
	if (rc < 0)
		return rc;
	g->evals += (long)k * B;
	int change = o->clip || o->dyn_threshold > 0 || o->restore;
	for (int b = 0; b < B; b++) { /* rows mostly share t: look it up once */
		if (b > 0 && t[b] == t[b - 1]) {
			g->as[2 * b] = g->as[2 * b - 2];
			g->as[2 * b + 1] = g->as[2 * b - 1];
		} else {
			g->as[2 * b] = dm_schedule_alpha(g->s, t[b]);
			g->as[2 * b + 1] = dm_schedule_sigma(g->s, t[b]);
		}
	}
#pragma omp parallel for schedule(static) if ((size_t)B * D > PAR_MIN)
	for (int b = 0; b < B; b++) {
		double a = g->as[2 * b], s = g->as[2 * b + 1];
		size_t off = (size_t)b * D;
		float *e = eps + off, *z = x0 + off;
		const float *xb = x + off;
		dm_predict_to_eps_x0(g->m->param, a, s, xb, g->pred + off, e, NULL, D);
		if (k == 2) {
			/* Classifier-free guidance (Ho & Salimans 2022) on eps. */
			float *eu = g->epsu + off;
			dm_predict_to_eps_x0(g->m->param, a, s, xb, g->pred + n + off, eu, NULL, D);
			for (int64_t i = 0; i < D; i++)
				e[i] = (float)(eu[i] + o->guidance * ((double)e[i] - eu[i]));
		}
		for (int64_t i = 0; i < D; i++)
			z[i] = (float)((xb[i] - s * e[i]) / a);
		if (a == 0 && g->m->param != DM_PREDICT_EPS) /* zero terminal SNR, first step */
			dm_predict_to_eps_x0(g->m->param, a, s, xb, g->pred + off, NULL, z, D);
		if (!change)
			continue;
		if (o->dyn_threshold > 0) {
			/* epsu's row is free again: guidance is done with it */
			dyn_threshold(z, D, o->dyn_threshold, o->clip_lo, o->clip_hi, g->epsu + off);
		} else if (o->clip) {
			float lo = (float)o->clip_lo, hi = (float)o->clip_hi;
			for (int64_t i = 0; i < D; i++)
				z[i] = z[i] > hi ? hi : z[i] < lo ? lo : z[i];
		}
		if (o->restore)
			project(o, z, o->y + (size_t)(rows ? rows[b] : b) * D, D);
		if (o->clip_keep_eps && !o->restore)
			continue;
		for (int64_t i = 0; i < D; i++)
			e[i] = (float)((xb[i] - a * z[i]) / s);
	}
	return 0;
}

void dm_guide_paint_known(const dm_guide *g, float *x, double a, double s, int clean,
                          const float *z)
{
	const dm_sampler_opts *o = g->o;
	int64_t D = g->D;
#pragma omp parallel for schedule(static) if ((size_t)g->B * D > PAR_MIN)
	for (int b = 0; b < g->B; b++)
		for (int64_t j = 0; j < D; j++) {
			size_t q = (size_t)b * D + j;
			double known = clean ? o->y[q] : a * o->y[q] + s * z[q];
			x[q] = (float)(o->mask[j] * known + (1 - o->mask[j]) * x[q]);
		}
}

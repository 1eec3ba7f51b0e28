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
	int bad = !g->xin || !g->pred || !g->tv || !g->lab || !g->epsu || !g->as;
	if (!bad && o->dps > 0 && o->degrade) {
		float **bufs[] = {&g->grad, &g->x0raw, &g->cot, &g->vin, &g->vout, &g->scratch};
		for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
			bad |= !(*bufs[i] = malloc(n * sizeof(float)));
		g->resid = malloc((size_t)B * sizeof(double));
		g->theta = o->theta;
		if (!o->theta) {
			g->theta = g->theta_own = malloc((size_t)B * DM_DEGRADE_MAXP * sizeof(double));
			for (int b = 0; g->theta_own && b < B; b++)
				memcpy(g->theta_own + (size_t)b * DM_DEGRADE_MAXP, o->degrade->theta,
				       sizeof o->degrade->theta);
		}
		bad |= !g->resid || !g->theta;
	}
	if (!bad && o->cls_scale != 0 && o->cls_grad) {
		g->cgrad = malloc(n * sizeof(float));
		g->clab = malloc((size_t)B * sizeof(int32_t));
		bad |= !g->cgrad || !g->clab;
		for (int b = 0; !bad && b < B; b++)
			g->clab[b] = o->cls_class;
	}
	if (bad) {
		dm_guide_free(g);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for %d samples of %lld values",
		                    B, (long long)D);
	}
	return 0;
}

void dm_guide_free(dm_guide *g)
{
	free(g->xin), free(g->pred), free(g->tv), free(g->lab), free(g->epsu), free(g->as);
	free(g->grad), free(g->x0raw), free(g->cot), free(g->vin), free(g->vout), free(g->scratch);
	free(g->resid), free(g->theta_own), free(g->cgrad), free(g->clab);
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
	if (g->cgrad && (rc = o->cls_grad(o->cls_ctx, x, g->tv, g->clab, B, g->cgrad, err)) < 0)
		return rc;
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
		if (g->cgrad) { /* score + scale grad log p(c | x): eps - scale s grad */
			const float *cg = g->cgrad + off;
			for (int64_t i = 0; i < D; i++)
				e[i] = (float)(e[i] - o->cls_scale * s * cg[i]);
		}
		for (int64_t i = 0; i < D; i++)
			z[i] = (float)((xb[i] - s * e[i]) / a);
		if (a == 0 && g->m->param != DM_PREDICT_EPS) /* zero terminal SNR, first step */
			dm_predict_to_eps_x0(g->m->param, a, s, xb, g->pred + off, NULL, z, D);
		if (g->grad)
			memcpy(g->x0raw + off, z, (size_t)D * sizeof(float));
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
	return g->grad ? dm_guide_dps(g, x, B, err) : 0;
}

/* GDP's step for one sample: a damped Gauss-Newton step (Levenberg-
 * Marquardt, lambda = 0.1 of the diagonal) on ||A_theta(x0) - y||^2 in
 * log theta, at most a factor e^0.5 per parameter, kept in the valid
 * range; parameter p only when bit p of mask is set.  J: np rows of D floats of scratch (the rows after x0's). */
static void gdp_step(const dm_degrade *d, int mask, double *th, const float *x0, const float *y,
                     float *ax, float *const *J, int64_t D, float *scratch)
{
	dm_error err;
	dm_degrade_apply(d, th, x0, ax, scratch);
	if (dm_degrade_param_jacobian(d, th, x0, J, &err) < 0)
		return;
	int np = d->np;
	double H[DM_DEGRADE_MAXP][DM_DEGRADE_MAXP] = {{0}}, gv[DM_DEGRADE_MAXP] = {0};
	for (int64_t i = 0; i < D; i++) {
		double r = (double)ax[i] - y[i];
		for (int p = 0; p < np; p++) {
			gv[p] += J[p][i] * r;
			for (int q = 0; q < np; q++)
				H[p][q] += (double)J[p][i] * J[q][i];
		}
	}
	for (int p = 0; p < np; p++) {
		H[p][p] = H[p][p] * 1.1 + 1e-12;
		for (int q = 0; q < np; q++) /* a parameter held fixed: its row and column out */
			if (p != q && (!(mask >> p & 1) || !(mask >> q & 1)))
				H[p][q] = 0;
		if (!(mask >> p & 1))
			gv[p] = 0;
	}
	double step[DM_DEGRADE_MAXP];
	if (np == 1) {
		step[0] = -gv[0] / H[0][0];
	} else {
		double det = H[0][0] * H[1][1] - H[0][1] * H[1][0];
		step[0] = -(H[1][1] * gv[0] - H[0][1] * gv[1]) / det;
		step[1] = -(H[0][0] * gv[1] - H[1][0] * gv[0]) / det;
	}
	double old[DM_DEGRADE_MAXP];
	memcpy(old, th, sizeof old);
	for (int p = 0; p < np; p++)
		th[p] *= exp(fmax(-0.5, fmin(0.5, isfinite(step[p]) ? step[p] : 0)));
	if (!dm_degrade_valid(d, th))
		memcpy(th, old, sizeof old);
}

int dm_guide_dps(dm_guide *g, const float *x, int B, dm_error *err)
{
	const dm_sampler_opts *o = g->o;
	const dm_degrade *d = o->degrade;
	int64_t D = g->D;
	/* the cotangent of x0^ = c_x x + c_p pred in x and in the prediction */
	for (int b = 0; b < B; b++) {
		size_t off = (size_t)b * D;
		double *th = g->theta + (size_t)b * DM_DEGRADE_MAXP;
		const float *x0 = g->x0raw + off, *y = o->y + off;
		float *ax = g->vout + off, *c = g->cot + off;
		if (o->gdp) {
			float *J[DM_DEGRADE_MAXP] = {g->vin + off, g->grad + off};
			gdp_step(d, o->gdp, th, x0, y, ax, J, D, g->scratch + off);
		}
		dm_degrade_apply(d, th, x0, ax, g->scratch + off);
		double n2 = 0;
		for (int64_t i = 0; i < D; i++) {
			ax[i] -= y[i];
			n2 += (double)ax[i] * ax[i];
		}
		double nr = sqrt(n2);
		g->resid[b] = nr;
		/* d ||r|| / d x0 = A'^T r / ||r|| */
		dm_degrade_vjp(d, th, x0, ax, c, g->scratch + off);
		float inv = nr > 0 ? (float)(1 / nr) : 0.0f;
		for (int64_t i = 0; i < D; i++)
			c[i] *= inv;
	}
	for (int b = 0; b < B; b++) {
		double a = g->as[2 * b], s = g->as[2 * b + 1], cp;
		if (g->m->param == DM_PREDICT_X0)
			cp = 1;
		else if (g->m->param == DM_PREDICT_V)
			cp = -s / (a * a + s * s);
		else
			cp = -s / a;
		size_t off = (size_t)b * D;
		for (int64_t i = 0; i < D; i++)
			g->vin[off + i] = (float)(cp * g->cot[off + i]);
	}
	int rc = g->m->vjp(g->m->ctx, x, g->tv, g->label ? g->lab : NULL, B, g->vin, g->vout,
	                   g->grad, err);
	if (rc < 0)
		return rc;
	g->evals += B;
	for (int b = 0; b < B; b++) {
		double a = g->as[2 * b], s = g->as[2 * b + 1], cx;
		if (g->m->param == DM_PREDICT_X0)
			cx = 0;
		else if (g->m->param == DM_PREDICT_V)
			cx = a / (a * a + s * s);
		else
			cx = 1 / a;
		size_t off = (size_t)b * D;
		for (int64_t i = 0; i < D; i++)
			g->grad[off + i] += (float)(cx * g->cot[off + i]);
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

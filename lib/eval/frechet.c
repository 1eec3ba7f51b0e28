/* frechet.c - Frechet distance of Gaussian fits, KID, and the symmetric
 * eigen-solver under them. */
#include "eval/frechet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- symmetric eigen-decomposition ------------------------------------ */

/* The eigenvector matrix, V(r, c) = component r of vector c, is kept with
 * each vector contiguous (v + c*n): the QL rotations and the accumulation
 * of the Householder reflections walk down columns. */
#define V(r, c) v[(size_t)(c) * (size_t)n + (size_t)(r)]

/* Householder reduction to tridiagonal form (EISPACK tred2, after JAMA):
 * on return d is the diagonal, e[1..n-1] the sub-diagonal, and V the
 * accumulated orthogonal transformation when vectors != 0. */
static void tred2(double *v, int n, double *d, double *e, int vectors)
{
	for (int j = 0; j < n; j++)
		d[j] = V(n - 1, j);
	for (int i = n - 1; i > 0; i--) {
		double scale = 0, h = 0;
		for (int k = 0; k < i; k++)
			scale += fabs(d[k]);
		if (scale == 0) {
			e[i] = d[i - 1];
			for (int j = 0; j < i; j++) {
				d[j] = V(i - 1, j);
				V(i, j) = 0;
				V(j, i) = 0;
			}
		} else {
			for (int k = 0; k < i; k++) {
				d[k] /= scale;
				h += d[k] * d[k];
			}
			double f = d[i - 1], g = sqrt(h);
			if (f > 0)
				g = -g;
			e[i] = scale * g;
			h -= f * g;
			d[i - 1] = f - g;
			for (int j = 0; j < i; j++)
				e[j] = 0;
			for (int j = 0; j < i; j++) {
				f = d[j];
				V(j, i) = f;
				g = e[j] + V(j, j) * f;
				for (int k = j + 1; k <= i - 1; k++) {
					g += V(k, j) * d[k];
					e[k] += V(k, j) * f;
				}
				e[j] = g;
			}
			f = 0;
			for (int j = 0; j < i; j++) {
				e[j] /= h;
				f += e[j] * d[j];
			}
			double hh = f / (h + h);
			for (int j = 0; j < i; j++)
				e[j] -= hh * d[j];
			for (int j = 0; j < i; j++) {
				f = d[j];
				g = e[j];
				for (int k = j; k <= i - 1; k++)
					V(k, j) -= f * e[k] + g * d[k];
				d[j] = V(i - 1, j);
				V(i, j) = 0;
			}
		}
		d[i] = h;
	}
	if (!vectors) {
		/* the diagonal of the tridiagonal matrix is where the
		 * accumulation below would fetch it from */
		for (int j = 0; j < n; j++)
			d[j] = V(j, j);
		e[0] = 0;
		return;
	}
	for (int i = 0; i < n - 1; i++) {
		V(n - 1, i) = V(i, i);
		V(i, i) = 1;
		double h = d[i + 1];
		if (h != 0) {
			for (int k = 0; k <= i; k++)
				d[k] = V(k, i + 1) / h;
			for (int j = 0; j <= i; j++) {
				double g = 0;
				for (int k = 0; k <= i; k++)
					g += V(k, i + 1) * V(k, j);
				for (int k = 0; k <= i; k++)
					V(k, j) -= g * d[k];
			}
		}
		for (int k = 0; k <= i; k++)
			V(k, i + 1) = 0;
	}
	for (int j = 0; j < n; j++) {
		d[j] = V(n - 1, j);
		V(n - 1, j) = 0;
	}
	V(n - 1, n - 1) = 1;
	e[0] = 0;
}

/* Implicit QL on the tridiagonal (d, e) (EISPACK tql2, after JAMA),
 * rotating V along when vectors != 0.  Returns -1 without convergence. */
static int tql2(double *v, int n, double *d, double *e, int vectors)
{
	for (int i = 1; i < n; i++)
		e[i - 1] = e[i];
	e[n - 1] = 0;
	double f = 0, tst1 = 0, eps = ldexp(1.0, -52);
	for (int l = 0; l < n; l++) {
		double t = fabs(d[l]) + fabs(e[l]);
		if (t > tst1)
			tst1 = t;
		int m = l;
		while (m < n - 1 && !(fabs(e[m]) <= eps * tst1))
			m++;
		if (m > l) {
			int iter = 0;
			do {
				if (++iter > 60)
					return -1;
				double g = d[l], p = (d[l + 1] - g) / (2 * e[l]), r = hypot(p, 1);
				if (p < 0)
					r = -r;
				d[l] = e[l] / (p + r);
				d[l + 1] = e[l] * (p + r);
				double dl1 = d[l + 1], h = g - d[l];
				for (int i = l + 2; i < n; i++)
					d[i] -= h;
				f += h;
				p = d[m];
				double c = 1, c2 = 1, c3 = 1, el1 = e[l + 1], s = 0, s2 = 0;
				for (int i = m - 1; i >= l; i--) {
					c3 = c2;
					c2 = c;
					s2 = s;
					g = c * e[i];
					h = c * p;
					r = hypot(p, e[i]);
					e[i + 1] = s * r;
					s = e[i] / r;
					c = p / r;
					p = c * d[i] - s * g;
					d[i + 1] = h + s * (c * g + s * d[i]);
					if (vectors) {
						double *vi = &V(0, i), *vi1 = &V(0, i + 1);
						for (int k = 0; k < n; k++) {
							h = vi1[k];
							vi1[k] = s * vi[k] + c * h;
							vi[k] = c * vi[k] - s * h;
						}
					}
				}
				p = -s * s2 * c3 * el1 * e[l] / dl1;
				e[l] = s * p;
				d[l] = c * p;
				if (!isfinite(d[l]))
					return -1;
			} while (fabs(e[l]) > eps * tst1);
		}
		d[l] += f;
		e[l] = 0;
	}
	return 0;
}

int dm_sym_eigen(double *a, int n, double *w, int vectors, dm_error *err)
{
	if (n < 1)
		return dm_error_set(err, DM_ERR_ARG, "eigen: matrix size %d", n);
	double *e = malloc((size_t)n * sizeof *e);
	if (!e)
		return dm_error_set(err, DM_ERR_NOMEM, "eigen: out of memory for n = %d", n);
	double *v = a; /* symmetric: row-major and column-major agree on input */
	tred2(v, n, w, e, vectors);
	int rc = tql2(v, n, w, e, vectors);
	free(e);
	if (rc < 0)
		return dm_error_set(err, DM_ERR_ARG, "eigen: no convergence (a non-finite value in "
		                    "the %dx%d matrix?)", n, n);
	/* ascending, vectors along (selection sort: n swaps at most) */
	for (int i = 0; i < n - 1; i++) {
		int k = i;
		for (int j = i + 1; j < n; j++)
			if (w[j] < w[k])
				k = j;
		if (k != i) {
			double t = w[i];
			w[i] = w[k];
			w[k] = t;
			if (vectors)
				for (int r = 0; r < n; r++) {
					t = V(r, i);
					V(r, i) = V(r, k);
					V(r, k) = t;
				}
		}
	}
	return 0;
}

#undef V

/* ---- Gaussian fits and the Frechet distance --------------------------- */

static int check_set(const float *x, int64_t n, int d, int64_t min_n, const char *which,
                     dm_error *err)
{
	if (n < min_n || d < 1)
		return dm_error_set(err, DM_ERR_ARG, "%s set: needs at least %lld samples of d >= 1 "
		                    "values (got %lld of %d)", which, (long long)min_n, (long long)n, d);
	for (int64_t i = 0; i < n * d; i++)
		if (!isfinite(x[i]))
			return dm_error_set(err, DM_ERR_ARG, "%s set: sample %lld has a non-finite value",
			                    which, (long long)(i / d));
	return 0;
}

void dm_gauss_free(dm_gauss *g)
{
	free(g->mu);
	free(g->cov);
	memset(g, 0, sizeof *g);
}

int dm_gauss_fit(const float *x, int64_t n, int d, dm_gauss *g, dm_error *err)
{
	memset(g, 0, sizeof *g);
	int rc = check_set(x, n, d, 2, "the", err);
	if (rc < 0)
		return rc;
	size_t D = (size_t)d;
	g->d = d, g->n = n;
	g->mu = calloc(D, sizeof *g->mu);
	g->cov = calloc(D * D, sizeof *g->cov);
	double *c = malloc(D * sizeof *c);
	if (!g->mu || !g->cov || !c) {
		free(c);
		dm_gauss_free(g);
		return dm_error_set(err, DM_ERR_NOMEM, "Gaussian fit: out of memory for d = %d", d);
	}
	for (int64_t s = 0; s < n; s++)
		for (size_t i = 0; i < D; i++)
			g->mu[i] += x[(size_t)s * D + i];
	for (size_t i = 0; i < D; i++)
		g->mu[i] /= (double)n;
	/* upper triangle of sum (x - mu)(x - mu)^T, then mirrored */
	for (int64_t s = 0; s < n; s++) {
		for (size_t i = 0; i < D; i++)
			c[i] = (double)x[(size_t)s * D + i] - g->mu[i];
		for (size_t i = 0; i < D; i++) {
			double ci = c[i];
			double *row = g->cov + i * D;
			for (size_t j = i; j < D; j++)
				row[j] += ci * c[j];
		}
	}
	for (size_t i = 0; i < D; i++)
		for (size_t j = i; j < D; j++) {
			double v = g->cov[i * D + j] / (double)(n - 1);
			g->cov[i * D + j] = g->cov[j * D + i] = v;
		}
	free(c);
	return 0;
}

int dm_frechet_gauss(const dm_gauss *a, const dm_gauss *b, double *fd, dm_error *err)
{
	if (a->d != b->d || a->d < 1)
		return dm_error_set(err, DM_ERR_ARG, "Frechet distance: dimensions %d and %d differ",
		                    a->d, b->d);
	int d = a->d;
	size_t D = (size_t)d;
	double *v = malloc(D * D * sizeof *v), *w = malloc(D * D * sizeof *w);
	double *la = malloc(D * sizeof *la), *lm = malloc(D * sizeof *lm);
	int rc = 0;
	if (!v || !w || !la || !lm) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "Frechet distance: out of memory for d = %d", d);
		goto out;
	}
	/* Sa = V^T diag(la) V with V's rows the eigenvectors */
	memcpy(v, a->cov, D * D * sizeof *v);
	if ((rc = dm_sym_eigen(v, d, la, 1, err)) < 0)
		goto out;
	/* w = V Sb, then M = diag(s) (V Sb V^T) diag(s), s = sqrt(la) */
	memset(w, 0, D * D * sizeof *w);
	for (size_t i = 0; i < D; i++)
		for (size_t k = 0; k < D; k++) {
			double vik = v[i * D + k];
			const double *sb = b->cov + k * D;
			double *wi = w + i * D;
			for (size_t j = 0; j < D; j++)
				wi[j] += vik * sb[j];
		}
	for (size_t i = 0; i < D; i++)
		la[i] = la[i] > 0 ? sqrt(la[i]) : 0;
	double *m = malloc(D * D * sizeof *m);
	if (!m) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "Frechet distance: out of memory for d = %d", d);
		goto out;
	}
	for (size_t i = 0; i < D; i++)
		for (size_t j = i; j < D; j++) {
			const double *wi = w + i * D, *vj = v + j * D;
			double s = 0;
			for (size_t k = 0; k < D; k++)
				s += wi[k] * vj[k];
			m[i * D + j] = m[j * D + i] = la[i] * s * la[j];
		}
	rc = dm_sym_eigen(m, d, lm, 0, err);
	free(m);
	if (rc < 0)
		goto out;
	double tr_sqrt = 0, tr = 0, dmu = 0;
	for (size_t i = 0; i < D; i++) {
		tr_sqrt += lm[i] > 0 ? sqrt(lm[i]) : 0;
		tr += a->cov[i * D + i] + b->cov[i * D + i];
		double e = a->mu[i] - b->mu[i];
		dmu += e * e;
	}
	*fd = dmu + tr - 2 * tr_sqrt;
	if (*fd < 0) /* rounding of a distance that is 0 */
		*fd = 0;
out:
	free(v), free(w), free(la), free(lm);
	return rc;
}

int dm_frechet(const float *a, int64_t na, const float *b, int64_t nb, int d, double *fd,
               dm_error *err)
{
	dm_gauss ga, gb;
	memset(&ga, 0, sizeof ga);
	memset(&gb, 0, sizeof gb);
	int rc;
	if ((rc = check_set(a, na, d, 2, "first", err)) == 0 &&
	    (rc = check_set(b, nb, d, 2, "second", err)) == 0 &&
	    (rc = dm_gauss_fit(a, na, d, &ga, err)) == 0 && (rc = dm_gauss_fit(b, nb, d, &gb, err)) == 0)
		rc = dm_frechet_gauss(&ga, &gb, fd, err);
	dm_gauss_free(&ga);
	dm_gauss_free(&gb);
	return rc;
}

/* ---- KID ---------------------------------------------------------------- */

static double dot(const float *x, const float *y, int d)
{
	float acc[8] = {0};
	int i = 0;
	for (; i + 8 <= d; i += 8)
#pragma omp simd
		for (int j = 0; j < 8; j++)
			acc[j] += x[i + j] * y[i + j];
	double s = ((double)acc[0] + acc[4]) + ((double)acc[1] + acc[5]) +
	           (((double)acc[2] + acc[6]) + ((double)acc[3] + acc[7]));
	for (; i < d; i++)
		s += (double)x[i] * y[i];
	return s;
}

static double kern(const float *x, const float *y, int d)
{
	double k = dot(x, y, d) / d + 1;
	return k * k * k;
}

/* sum over i of (sum over j of k(x_i, y_j)), j > i only when same; rows
 * summed by threads, then in order (any thread count, one answer) */
static double kernel_sum(const float *x, int64_t nx, const float *y, int64_t ny, int d, int same,
                         double *rows)
{
#pragma omp parallel for schedule(dynamic, 16)
	for (int64_t i = 0; i < nx; i++) {
		double s = 0;
		for (int64_t j = same ? i + 1 : 0; j < ny; j++)
			s += kern(x + (size_t)i * (size_t)d, y + (size_t)j * (size_t)d, d);
		rows[i] = s;
	}
	double t = 0;
	for (int64_t i = 0; i < nx; i++)
		t += rows[i];
	return t;
}

int dm_kid(const float *a, int64_t na, const float *b, int64_t nb, int d, double *kid,
           dm_error *err)
{
	int rc;
	if ((rc = check_set(a, na, d, 2, "first", err)) < 0 ||
	    (rc = check_set(b, nb, d, 2, "second", err)) < 0)
		return rc;
	double *rows = malloc((size_t)(na > nb ? na : nb) * sizeof *rows);
	if (!rows)
		return dm_error_set(err, DM_ERR_NOMEM, "KID: out of memory");
	double m = (double)na, n = (double)nb;
	double kaa = 2 * kernel_sum(a, na, a, na, d, 1, rows) / (m * (m - 1));
	double kbb = 2 * kernel_sum(b, nb, b, nb, d, 1, rows) / (n * (n - 1));
	double kab = kernel_sum(a, na, b, nb, d, 0, rows) / (m * n);
	free(rows);
	*kid = kaa + kbb - 2 * kab;
	return 0;
}

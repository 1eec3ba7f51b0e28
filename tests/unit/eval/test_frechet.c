/* test_frechet.c - the eigen-solver against Jacobi rotations, the Frechet
 * distance against closed forms and an independent computation, KID
 * against its explicit feature map. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "eval/frechet.h"

/* Cyclic Jacobi (Golub & Van Loan, alg. 8.4.3): the independent solver.
 * a (row-major, destroyed) -> w (unsorted), V row-major with the vectors
 * as columns. */
static void jacobi(double *a, int n, double *w, double *V)
{
	for (int i = 0; i < n * n; i++)
		V[i] = 0;
	for (int i = 0; i < n; i++)
		V[i * n + i] = 1;
	for (int sweep = 0; sweep < 100; sweep++) {
		double off = 0, all = 0;
		for (int p = 0; p < n; p++)
			for (int q = 0; q < n; q++) {
				all += a[p * n + q] * a[p * n + q];
				if (p != q)
					off += a[p * n + q] * a[p * n + q];
			}
		if (off <= 1e-30 * all)
			break;
		for (int p = 0; p < n; p++)
			for (int q = p + 1; q < n; q++) {
				double apq = a[p * n + q];
				if (apq == 0)
					continue;
				double th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
				double t = (th >= 0 ? 1 : -1) / (fabs(th) + sqrt(th * th + 1));
				double c = 1 / sqrt(t * t + 1), s = t * c;
				for (int k = 0; k < n; k++) {
					double kp = a[k * n + p], kq = a[k * n + q];
					a[k * n + p] = c * kp - s * kq;
					a[k * n + q] = s * kp + c * kq;
				}
				for (int k = 0; k < n; k++) {
					double pk = a[p * n + k], qk = a[q * n + k];
					a[p * n + k] = c * pk - s * qk;
					a[q * n + k] = s * pk + c * qk;
				}
				for (int k = 0; k < n; k++) {
					double kp = V[k * n + p], kq = V[k * n + q];
					V[k * n + p] = c * kp - s * kq;
					V[k * n + q] = s * kp + c * kq;
				}
			}
	}
	for (int i = 0; i < n; i++)
		w[i] = a[i * n + i];
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* a random symmetric PSD matrix G G^T / k (rank min(n, k)) */
static void random_psd(double *S, int n, int k, uint64_t seed)
{
	float *g = malloc((size_t)n * (size_t)k * sizeof *g);
	dm_rng_normal(seed, 77, 0, 0, g, (size_t)n * (size_t)k);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int r = 0; r < k; r++)
				s += (double)g[i * k + r] * g[j * k + r];
			S[i * n + j] = s / k;
		}
	free(g);
}

TEST(frechet_eigen_matches_jacobi_and_reconstructs)
{
	int n = 37;
	double *A = malloc(n * n * sizeof *A), *B = malloc(n * n * sizeof *B);
	double *C = malloc(n * n * sizeof *C), *V = malloc(n * n * sizeof *V);
	double w[37], wj[37];
	float *g = malloc(n * n * sizeof *g);
	dm_rng_normal(4, 77, 0, 0, g, (size_t)n * n);
	for (int i = 0; i < n; i++) /* symmetric, indefinite */
		for (int j = 0; j < n; j++)
			A[i * n + j] = (double)g[i * n + j] + g[j * n + i];
	memcpy(B, A, n * n * sizeof *A);
	memcpy(C, A, n * n * sizeof *A);
	dm_error err;
	CHECK(dm_sym_eigen(B, n, w, 1, &err) == 0);
	jacobi(C, n, wj, V);
	qsort(wj, n, sizeof *wj, cmp_double);
	for (int i = 0; i < n; i++) {
		CHECK_NEAR(w[i], wj[i], 1e-10);
		if (i)
			CHECK(w[i] >= w[i - 1]);
	}
	/* rows of B orthonormal, and sum_i w_i b_i b_i^T = A */
	double eo = 0, er = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s = 0, r = 0;
			for (int k = 0; k < n; k++) {
				s += B[i * n + k] * B[j * n + k];
				r += w[k] * B[k * n + i] * B[k * n + j];
			}
			eo = fmax(eo, fabs(s - (i == j)));
			er = fmax(er, fabs(r - A[i * n + j]));
		}
	CHECK_MSG(eo < 1e-12 && er < 1e-11, "orthonormality %g, reconstruction %g", eo, er);
	/* values only: the same eigenvalues */
	double w2[37];
	memcpy(B, A, n * n * sizeof *A);
	CHECK(dm_sym_eigen(B, n, w2, 0, &err) == 0);
	for (int i = 0; i < n; i++)
		CHECK_NEAR(w2[i], w[i], 1e-10);
	free(A), free(B), free(C), free(V), free(g);
}

TEST(frechet_eigen_degenerate_matrices)
{
	dm_error err;
	double one[1] = {-3}, w[4];
	CHECK(dm_sym_eigen(one, 1, w, 1, &err) == 0);
	CHECK(w[0] == -3 && one[0] == 1);
	double z[16] = {0}, id[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
	CHECK(dm_sym_eigen(z, 4, w, 1, &err) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(w[i] == 0);
	CHECK(dm_sym_eigen(id, 4, w, 1, &err) == 0);
	for (int i = 0; i < 4; i++)
		CHECK_NEAR(w[i], 1, 1e-15);
	double diag[9] = {5, 0, 0, 0, -1, 0, 0, 0, 2};
	CHECK(dm_sym_eigen(diag, 3, w, 0, &err) == 0);
	CHECK_NEAR(w[0], -1, 1e-15);
	CHECK_NEAR(w[1], 2, 1e-15);
	CHECK_NEAR(w[2], 5, 1e-15);
	double bad[4] = {1, NAN, NAN, 1};
	CHECK(dm_sym_eigen(bad, 2, w, 1, &err) < 0);
}

static void gauss_set(dm_gauss *g, int d, const double *mu, const double *cov)
{
	g->d = d, g->n = 2;
	g->mu = malloc(d * sizeof *g->mu);
	g->cov = malloc(d * d * sizeof *g->cov);
	memcpy(g->mu, mu, d * sizeof *mu);
	memcpy(g->cov, cov, d * d * sizeof *cov);
}

TEST(frechet_closed_forms_diagonal_commuting_2x2)
{
	dm_error err;
	dm_gauss a, b;
	double fd;
	/* diagonal: |dmu|^2 + sum (sqrt a_i - sqrt b_i)^2 */
	double mua[3] = {1, 0, -2}, mub[3] = {0, 0, 1};
	double ca[9] = {4, 0, 0, 0, 1, 0, 0, 0, 0.25}, cb[9] = {1, 0, 0, 0, 9, 0, 0, 0, 0};
	gauss_set(&a, 3, mua, ca);
	gauss_set(&b, 3, mub, cb);
	CHECK(dm_frechet_gauss(&a, &b, &fd, &err) == 0);
	CHECK_NEAR(fd, (1 + 0 + 9) + (1 + 4 + 0.25), 1e-12);
	CHECK(dm_frechet_gauss(&a, &a, &fd, &err) == 0);
	CHECK_NEAR(fd, 0, 1e-12);
	dm_gauss_free(&a);
	dm_gauss_free(&b);

	/* commuting: Sa = R diag(x) R^T, Sb = R diag(y) R^T with the same R */
	int n = 8;
	double R[64], T[64], S1[64], S2[64], x[8], y[8], w[8], mu0[8] = {0};
	random_psd(T, n, 3 * n, 9);
	CHECK(dm_sym_eigen(T, n, w, 1, &err) == 0); /* rows of T: an orthonormal basis */
	memcpy(R, T, sizeof R);
	double want = 0;
	for (int i = 0; i < n; i++) {
		x[i] = 0.1 + i, y[i] = i % 3 == 0 ? 0 : 4.0 / (1 + i);
		want += (sqrt(x[i]) - sqrt(y[i])) * (sqrt(x[i]) - sqrt(y[i]));
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s1 = 0, s2 = 0;
			for (int k = 0; k < n; k++) {
				s1 += R[k * n + i] * x[k] * R[k * n + j];
				s2 += R[k * n + i] * y[k] * R[k * n + j];
			}
			S1[i * n + j] = s1, S2[i * n + j] = s2;
		}
	gauss_set(&a, n, mu0, S1);
	gauss_set(&b, n, mu0, S2);
	CHECK(dm_frechet_gauss(&a, &b, &fd, &err) == 0);
	/* the zero eigenvalues' square roots carry sqrt(eps) of rounding */
	CHECK_NEAR(fd, want, 1e-7);
	dm_gauss_free(&a);
	dm_gauss_free(&b);

	/* 2x2, not commuting: the eigenvalues l1, l2 of Sa Sb give
	 * sqrt l1 + sqrt l2 = sqrt(tr(Sa Sb) + 2 sqrt(det Sa det Sb)) */
	double p[4] = {2, 0.7, 0.7, 1}, q[4] = {0.5, -0.3, -0.3, 3}, m0[2] = {0, 0};
	double trab = p[0] * q[0] + p[1] * q[2] + p[2] * q[1] + p[3] * q[3];
	double dets = (p[0] * p[3] - p[1] * p[2]) * (q[0] * q[3] - q[1] * q[2]);
	double want2 = p[0] + p[3] + q[0] + q[3] - 2 * sqrt(trab + 2 * sqrt(dets));
	gauss_set(&a, 2, m0, p);
	gauss_set(&b, 2, m0, q);
	CHECK(dm_frechet_gauss(&a, &b, &fd, &err) == 0);
	CHECK_NEAR(fd, want2, 1e-12);
	dm_gauss_free(&a);
	dm_gauss_free(&b);
}

/* tr((Sa Sb)^{1/2}) the long way, by Jacobi: sqrt(Sa) = V diag(sqrt l) V^T,
 * then the eigenvalues of sqrt(Sa) Sb sqrt(Sa). */
static double trace_sqrt_jacobi(const double *Sa, const double *Sb, int n)
{
	double *A = malloc(n * n * sizeof *A), *V = malloc(n * n * sizeof *V);
	double *H = malloc(n * n * sizeof *H), *M = malloc(n * n * sizeof *M);
	double *w = malloc(n * sizeof *w);
	memcpy(A, Sa, n * n * sizeof *A);
	jacobi(A, n, w, V);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int k = 0; k < n; k++)
				s += V[i * n + k] * sqrt(fmax(w[k], 0)) * V[j * n + k];
			H[i * n + j] = s;
		}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double s = 0;
			for (int k = 0; k < n; k++)
				for (int l = 0; l < n; l++)
					s += H[i * n + k] * Sb[k * n + l] * H[l * n + j];
			M[i * n + j] = s;
		}
	jacobi(M, n, w, V);
	double t = 0;
	for (int i = 0; i < n; i++)
		t += sqrt(fmax(w[i], 0));
	free(A), free(V), free(H), free(M), free(w);
	return t;
}

TEST(frechet_matches_an_independent_computation)
{
	int n = 15;
	double Sa[225], Sb[225], mu[15] = {0};
	random_psd(Sa, n, 40, 21);
	random_psd(Sb, n, 6, 22); /* rank 6: singular, as small-n covariances are */
	double tr = 0;
	for (int i = 0; i < n; i++)
		tr += Sa[i * n + i] + Sb[i * n + i];
	double want = tr - 2 * trace_sqrt_jacobi(Sa, Sb, n);
	dm_gauss a, b;
	gauss_set(&a, n, mu, Sa);
	gauss_set(&b, n, mu, Sb);
	dm_error err;
	double fd, fd2;
	CHECK(dm_frechet_gauss(&a, &b, &fd, &err) == 0);
	CHECK_NEAR(fd, want, 1e-7);
	CHECK(dm_frechet_gauss(&b, &a, &fd2, &err) == 0); /* symmetric */
	CHECK_NEAR(fd2, fd, 1e-7);
	dm_gauss_free(&a);
	dm_gauss_free(&b);
}

TEST(frechet_of_sample_sets)
{
	int n = 500, d = 4;
	float *a = malloc(n * d * sizeof *a), *b = malloc(n * d * sizeof *b);
	dm_rng_normal(5, 77, 0, 0, a, (size_t)n * d);
	for (int i = 0; i < n * d; i++)
		a[i] = a[i] * (1 + (i % d)) + 0.5f;
	dm_error err;
	double fd;
	CHECK(dm_frechet(a, n, a, n, d, &fd, &err) == 0);
	CHECK_NEAR(fd, 0, 1e-9);
	/* a shifted copy: the same covariance, FD = |shift|^2 */
	for (int i = 0; i < n * d; i++)
		b[i] = a[i] + (i % d == 1 ? 3.0f : 0.0f);
	CHECK(dm_frechet(a, n, b, n, d, &fd, &err) == 0);
	CHECK_NEAR(fd, 9, 1e-4);
	/* the fit against a two-pass mean and covariance computed here */
	dm_gauss g;
	CHECK(dm_gauss_fit(a, n, d, &g, &err) == 0);
	for (int i = 0; i < d; i++) {
		double m = 0;
		for (int s = 0; s < n; s++)
			m += a[s * d + i];
		m /= n;
		CHECK_NEAR(g.mu[i], m, 1e-12);
		for (int j = 0; j < d; j++) {
			double mj = 0, c = 0;
			for (int s = 0; s < n; s++)
				mj += a[s * d + j];
			mj /= n;
			for (int s = 0; s < n; s++)
				c += (a[s * d + i] - m) * (a[s * d + j] - mj);
			CHECK_NEAR(g.cov[i * d + j], c / (n - 1), 1e-9);
		}
	}
	dm_gauss_free(&g);
	/* bad input */
	CHECK(dm_frechet(a, 1, b, n, d, &fd, &err) == DM_ERR_ARG);
	a[7] = NAN;
	CHECK(dm_frechet(b, n, a, n, d, &fd, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "second") && strstr(err.msg, "sample 1 "));
	free(a), free(b);
}

/* The cubic kernel (x.y/2 + 1)^3 in d = 2 as an explicit feature map:
 * (1 + u + v)^3 with u = x1 y1 / 2, v = x2 y2 / 2 is a sum over a+b+c = 3
 * of 3!/(a! b! c!) u^b v^c. */
static void phi(const float *x, double *f)
{
	static const int pw[10][2] = {{0, 0}, {1, 0}, {0, 1}, {2, 0}, {1, 1},
	                              {0, 2}, {3, 0}, {2, 1}, {1, 2}, {0, 3}};
	static const double fact[4] = {1, 1, 2, 6};
	double u = x[0] / sqrt(2.0), v = x[1] / sqrt(2.0);
	for (int i = 0; i < 10; i++) {
		int b = pw[i][0], c = pw[i][1], a = 3 - b - c;
		f[i] = sqrt(6 / (fact[a] * fact[b] * fact[c])) * pow(u, b) * pow(v, c);
	}
}

TEST(kid_matches_its_feature_map)
{
	int m = 40, n = 25;
	float a[80], b[50];
	dm_rng_normal(6, 77, 0, 0, a, 80);
	dm_rng_normal(7, 77, 0, 0, b, 50);
	for (int i = 0; i < 50; i++)
		b[i] = 0.7f * b[i] + 0.3f;
	double sa[10] = {0}, sb[10] = {0}, qa = 0, qb = 0, f[10];
	for (int i = 0; i < m; i++) {
		phi(a + 2 * i, f);
		for (int k = 0; k < 10; k++)
			sa[k] += f[k], qa += f[k] * f[k];
	}
	for (int i = 0; i < n; i++) {
		phi(b + 2 * i, f);
		for (int k = 0; k < 10; k++)
			sb[k] += f[k], qb += f[k] * f[k];
	}
	double aa = 0, bb = 0, ab = 0;
	for (int k = 0; k < 10; k++)
		aa += sa[k] * sa[k], bb += sb[k] * sb[k], ab += sa[k] * sb[k];
	double want = (aa - qa) / (m * (m - 1.0)) + (bb - qb) / (n * (n - 1.0)) - 2 * ab / (m * n);
	double kid;
	dm_error err;
	CHECK(dm_kid(a, m, b, n, 2, &kid, &err) == 0);
	CHECK_NEAR(kid, want, 1e-6 * fabs(want) + 1e-9);
	CHECK(want > 0.05);
	double k2;
	CHECK(dm_kid(b, n, a, m, 2, &k2, &err) == 0);
	CHECK_NEAR(k2, kid, 1e-9);
	/* two large samples of one distribution: near 0 (unbiased) */
	int N = 2000;
	float *x = malloc(N * 2 * sizeof *x);
	dm_rng_normal(8, 77, 0, 0, x, (size_t)N * 2);
	CHECK(dm_kid(x, N / 2, x + N, N / 2, 2, &kid, &err) == 0);
	for (int i = N; i < 2 * N; i++)
		x[i] = 0.7f * x[i] + 0.3f;
	CHECK(dm_kid(x, N / 2, x + N, N / 2, 2, &k2, &err) == 0);
	CHECK_MSG(fabs(kid) < 0.05 && k2 > 10 * fabs(kid), "kid %g, of a shifted copy %g", kid, k2);
	CHECK(dm_kid(x, 1, x, N, 2, &kid, &err) == DM_ERR_ARG);
	free(x);
}

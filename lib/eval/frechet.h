/* frechet.h - distances between two sample sets through their statistics:
 * the Frechet distance between their Gaussian fits (FID's formula) and the
 * kernel inception distance (KID's unbiased MMD^2).
 *
 * Frechet distance (Dowson & Landau 1982; Heusel et al., "GANs trained by
 * a two time-scale update rule", 2017, eq. 6):
 *   FD = |mu_a - mu_b|^2 + tr(Sa + Sb - 2 (Sa Sb)^{1/2})
 * with mu, S the sample mean and the unbiased covariance (1/(n-1), as
 * numpy.cov and pytorch-fid).  The trace of the square root is computed
 * without a non-symmetric square root: with Sa = V L V^T, Sa^{1/2} Sb
 * Sa^{1/2} is similar to Sa Sb and symmetric positive semi-definite, so
 * tr((Sa Sb)^{1/2}) = sum_i sqrt(eig_i(L^{1/2} V^T Sb V L^{1/2})).  All in
 * double.  FD is biased upward at small n (the sample covariances are
 * noisy): compare figures only at equal n, beside the floor of two
 * independent samples of the reference.
 *
 * KID (Binkowski et al., "Demystifying MMD GANs", 2018): the unbiased
 * estimator of MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3,
 *   1/(m(m-1)) sum_{i!=j} k(a_i, a_j) + 1/(n(n-1)) sum_{i!=j} k(b_i, b_j)
 *   - 2/(mn) sum_{i,j} k(a_i, b_j).
 * Unbiased, so it can be slightly negative for two samples of one
 * distribution; its floor is near 0 at any n.
 *
 * Sets are row-major f32 (n x d, one sample a row).  Results depend only on
 * the inputs (fixed summation order, no threads).
 */
#ifndef DM_FRECHET_H
#define DM_FRECHET_H

#include <stdint.h>

#include "core/error.h"

/* Eigen-decomposition of the symmetric n x n matrix a (row-major, only
 * symmetric input makes sense): eigenvalues into w, ascending.  With
 * vectors != 0, a is overwritten by the eigenvectors, one per row: vector
 * i is a[i*n .. i*n + n-1], for eigenvalue w[i]; otherwise a is destroyed.
 * Householder tridiagonalisation then the implicit QL method (tred2/tql2
 * of EISPACK, as in JAMA).  Returns 0, DM_ERR_NOMEM, or DM_ERR_ARG when
 * the QL iteration does not converge (a non-finite input). */
int dm_sym_eigen(double *a, int n, double *w, int vectors, dm_error *err);

/* The Gaussian fit of a sample set: n samples of d values. */
typedef struct dm_gauss {
	int d;
	int64_t n;
	double *mu;  /* d */
	double *cov; /* d x d, unbiased (divided by n-1) */
} dm_gauss;

/* Fit x (n x d).  n >= 2, d >= 1, every value finite; 0, DM_ERR_ARG or
 * DM_ERR_NOMEM.  Free with dm_gauss_free (also after a failed fit). */
int dm_gauss_fit(const float *x, int64_t n, int d, dm_gauss *g, dm_error *err);
void dm_gauss_free(dm_gauss *g);

/* FD between two fits of the same d (from their moments alone: a and b
 * may also be filled by hand with any symmetric PSD covariances). */
int dm_frechet_gauss(const dm_gauss *a, const dm_gauss *b, double *fd, dm_error *err);

/* FD between the fits of the rows of a (na x d) and b (nb x d). */
int dm_frechet(const float *a, int64_t na, const float *b, int64_t nb, int d, double *fd,
               dm_error *err);

/* KID (unbiased MMD^2, cubic polynomial kernel) between the rows of a and
 * b.  na, nb >= 2; 0, DM_ERR_ARG (sizes, a non-finite value). */
int dm_kid(const float *a, int64_t na, const float *b, int64_t nb, int d, double *kid,
           dm_error *err);

#endif

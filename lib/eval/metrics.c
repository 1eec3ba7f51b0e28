/* metrics.c - sliced Wasserstein distance between point sets. */
#include "eval/metrics.h"

#include <math.h>
#include <stdlib.h>

#include "core/rng.h"

static int cmp_float(const void *x, const void *y)
{
	float a = *(const float *)x, b = *(const float *)y;
	return (a > b) - (a < b);
}

/* Both quantile functions are step functions on [0, 1): a's steps at k/na,
 * b's at k/nb.  Walk the merged breakpoints and integrate the squared
 * difference of the two values over each piece. */
double dm_w2_1d(float *a, int64_t na, float *b, int64_t nb)
{
	qsort(a, (size_t)na, sizeof *a, cmp_float);
	qsort(b, (size_t)nb, sizeof *b, cmp_float);
	int64_t i = 0, j = 0;
	double pos = 0, sum = 0;
	while (i < na && j < nb) {
		double ea = (double)(i + 1) / (double)na, eb = (double)(j + 1) / (double)nb;
		double end = ea < eb ? ea : eb;
		double diff = (double)a[i] - (double)b[j];
		sum += (end - pos) * diff * diff;
		pos = end;
		if (ea <= end)
			i++;
		if (eb <= end)
			j++;
	}
	return sqrt(sum);
}

static void project(const float *p, int64_t n, int d, const float *u, float *out)
{
	for (int64_t i = 0; i < n; i++) {
		double s = 0;
		for (int k = 0; k < d; k++)
			s += (double)p[i * d + k] * u[k];
		out[i] = (float)s;
	}
}

int dm_sliced_w2(const float *a, int64_t na, const float *b, int64_t nb, int d, int nproj,
                 uint64_t seed, double *out, dm_error *err)
{
	if (na < 1 || nb < 1 || d < 1 || nproj < 1)
		return dm_error_set(err, DM_ERR_ARG,
		                    "sliced W2 needs two non-empty point sets, d >= 1 and at least one "
		                    "direction (got %lld and %lld points, d %d, %d directions)",
		                    (long long)na, (long long)nb, d, nproj);
	for (int64_t i = 0; i < na * d; i++)
		if (!isfinite(a[i]))
			return dm_error_set(err, DM_ERR_ARG, "first point set: value %lld is not finite",
			                    (long long)i);
	for (int64_t i = 0; i < nb * d; i++)
		if (!isfinite(b[i]))
			return dm_error_set(err, DM_ERR_ARG, "second point set: value %lld is not finite",
			                    (long long)i);
	float *u = malloc((size_t)d * sizeof *u);
	float *pa = malloc((size_t)na * sizeof *pa);
	float *pb = malloc((size_t)nb * sizeof *pb);
	if (!u || !pa || !pb) {
		free(u);
		free(pa);
		free(pb);
		return dm_error_set(err, DM_ERR_NOMEM, "sliced W2: out of memory for %lld + %lld points",
		                    (long long)na, (long long)nb);
	}
	double total = 0;
	for (int k = 0; k < nproj; k++) {
		dm_rng_normal(seed, DM_RNG_METRIC_DIRS, (uint64_t)k, 0, u, (size_t)d);
		double norm = 0;
		for (int c = 0; c < d; c++)
			norm += (double)u[c] * u[c];
		if (norm == 0) { /* never in practice; keeps the division safe */
			u[0] = 1;
			norm = 1;
		}
		for (int c = 0; c < d; c++)
			u[c] = (float)(u[c] / sqrt(norm));
		project(a, na, d, u, pa);
		project(b, nb, d, u, pb);
		double w = dm_w2_1d(pa, na, pb, nb);
		total += w * w;
	}
	free(u);
	free(pa);
	free(pb);
	*out = sqrt(total / nproj);
	return 0;
}

int dm_psnr(const float *a, const float *b, int64_t n, int64_t d, double peak, double *mean,
            double *min, dm_error *err)
{
	if (n < 1 || d < 1 || !(peak > 0))
		return dm_error_set(err, DM_ERR_ARG, "psnr: needs n, d >= 1 and a positive peak");
	double sum = 0, lo = HUGE_VAL;
	for (int64_t i = 0; i < n; i++) {
		double se = 0;
		for (int64_t j = 0; j < d; j++) {
			double e = (double)a[i * d + j] - (double)b[i * d + j];
			se += e * e;
		}
		if (!isfinite(se))
			return dm_error_set(err, DM_ERR_ARG, "psnr: sample %lld has a non-finite value",
			                    (long long)i);
		double mse = se / (double)d;
		double p = mse > 0 ? 10 * log10(peak * peak / mse) : 100;
		if (p > 100)
			p = 100;
		sum += p;
		if (p < lo)
			lo = p;
	}
	*mean = sum / (double)n;
	if (min)
		*min = lo;
	return 0;
}

double dm_temporal_change(const float *x, int64_t n, int64_t c, int64_t T, int64_t hw)
{
	double sum = 0;
	for (int64_t i = 0; i < n * c; i++) {
		const float *clip = x + i * T * hw;
		for (int64_t t = 0; t + 1 < T; t++)
			for (int64_t q = 0; q < hw; q++)
				sum += fabs((double)clip[(t + 1) * hw + q] - clip[t * hw + q]);
	}
	return n * c * (T - 1) * hw > 0 ? sum / (double)(n * c * (T - 1) * hw) : 0;
}

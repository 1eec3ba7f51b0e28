/* test_conv.c - conv2d forward against a direct loop; both backward passes
 * against central finite differences of a double-precision direct
 * convolution and against the direct adjoint loops; accumulation
 * semantics; 1 vs 2 threads bit-identical; every available SIMD path. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/conv.h"
#include "core/cpu.h"
#include "harness.h"

typedef struct cshape {
	int B, Cin, H, W, Cout, k, stride, pad;
} cshape;

static const cshape shapes[] = {
	{ 2, 3, 7, 5, 4, 3, 1, 1 }, { 1, 2, 7, 7, 3, 3, 2, 1 }, { 2, 3, 5, 6, 5, 1, 1, 0 },
	{ 1, 4, 7, 5, 3, 1, 2, 0 }, { 2, 2, 6, 7, 3, 3, 2, 0 }, { 1, 1, 1, 1, 2, 3, 1, 1 },
	{ 1, 17, 3, 3, 7, 3, 1, 1 },
	/* Cout a multiple of 16: the direct weight gradient (AVX2) */
	{ 1, 3, 5, 4, 16, 3, 1, 1 }, { 2, 2, 4, 3, 32, 1, 1, 0 }, { 1, 3, 7, 6, 16, 3, 2, 1 },
	{ 1, 2, 6, 5, 16, 3, 2, 0 },
};
#define NSHAPES (int)(sizeof shapes / sizeof *shapes)

static double drand(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (double)((*s >> 8) & 0xffff) / 32768.0 - 1.0;
}

static int osz(const cshape *s, int n) { return dm_conv2d_out_size(n, s->k, s->stride, s->pad); }

/* Direct convolution in double. */
static void naive_fwd(const cshape *s, const double *x, const double *w, const double *bias,
                      double *y)
{
	int Ho = osz(s, s->H), Wo = osz(s, s->W), k = s->k;
	for (int b = 0; b < s->B; b++)
		for (int o = 0; o < s->Cout; o++)
			for (int oh = 0; oh < Ho; oh++)
				for (int ow = 0; ow < Wo; ow++) {
					double acc = bias[o];
					for (int c = 0; c < s->Cin; c++)
						for (int i = 0; i < k; i++)
							for (int j = 0; j < k; j++) {
								int ih = oh * s->stride - s->pad + i;
								int iw = ow * s->stride - s->pad + j;
								if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W)
									continue;
								acc += w[((o * s->Cin + c) * k + i) * k + j] *
								       x[((b * s->Cin + c) * s->H + ih) * s->W + iw];
							}
					y[((b * s->Cout + o) * Ho + oh) * Wo + ow] = acc;
				}
}

/* The direct adjoint loops: dx and dw of L = sum(y * r). */
static void naive_bwd(const cshape *s, const double *x, const double *w, const double *r,
                      double *dx, double *dw, double *db)
{
	int Ho = osz(s, s->H), Wo = osz(s, s->W), k = s->k;
	memset(dx, 0, sizeof *dx * s->B * s->Cin * s->H * s->W);
	memset(dw, 0, sizeof *dw * s->Cout * s->Cin * k * k);
	memset(db, 0, sizeof *db * s->Cout);
	for (int b = 0; b < s->B; b++)
		for (int o = 0; o < s->Cout; o++)
			for (int oh = 0; oh < Ho; oh++)
				for (int ow = 0; ow < Wo; ow++) {
					double g = r[((b * s->Cout + o) * Ho + oh) * Wo + ow];
					db[o] += g;
					for (int c = 0; c < s->Cin; c++)
						for (int i = 0; i < k; i++)
							for (int j = 0; j < k; j++) {
								int ih = oh * s->stride - s->pad + i;
								int iw = ow * s->stride - s->pad + j;
								if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W)
									continue;
								size_t xi = ((size_t)(b * s->Cin + c) * s->H + ih) * s->W + iw;
								size_t wi = ((size_t)(o * s->Cin + c) * k + i) * k + j;
								dx[xi] += g * w[wi];
								dw[wi] += g * x[xi];
							}
				}
}

static double loss(const cshape *s, const double *x, const double *w, const double *bias,
                   const double *r, double *y, size_t ny)
{
	naive_fwd(s, x, w, bias, y);
	double l = 0;
	for (size_t i = 0; i < ny; i++)
		l += y[i] * r[i];
	return l;
}

/* Central difference of the loss with respect to v[i]. */
static double fd(const cshape *s, double *x, double *w, double *bias, const double *r,
                 double *y, size_t ny, double *v, size_t i)
{
	const double h = 1e-3;
	double keep = v[i];
	v[i] = keep + h;
	double lp = loss(s, x, w, bias, r, y, ny);
	v[i] = keep - h;
	double lm = loss(s, x, w, bias, r, y, ny);
	v[i] = keep;
	return (lp - lm) / (2 * h);
}

static float *to_f(const double *d, size_t n)
{
	float *f = malloc(n * sizeof *f + 4);
	for (size_t i = 0; i < n; i++)
		f[i] = (float)d[i];
	return f;
}

static double *rnd(size_t n, unsigned seed)
{
	double *d = malloc(n * sizeof *d + 8);
	for (size_t i = 0; i < n; i++)
		d[i] = (float)drand(&seed); /* exactly representable in float */
	return d;
}

static void check_shape(const cshape *s, unsigned seed)
{
	int Ho = osz(s, s->H), Wo = osz(s, s->W), k = s->k;
	size_t nx = (size_t)s->B * s->Cin * s->H * s->W, nw = (size_t)s->Cout * s->Cin * k * k;
	size_t ny = (size_t)s->B * s->Cout * Ho * Wo;
	double *x = rnd(nx, seed), *w = rnd(nw, seed + 1), *bias = rnd(s->Cout, seed + 2);
	double *r = rnd(ny, seed + 3), *y = malloc(ny * sizeof *y);
	double *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw),
	       *db = malloc(s->Cout * sizeof *db);
	float *xf = to_f(x, nx), *wf = to_f(w, nw), *bf = to_f(bias, s->Cout), *rf = to_f(r, ny);
	float *yf = malloc(ny * sizeof *yf), *dxf = malloc(nx * sizeof *dxf);
	float *dwf = calloc(nw, sizeof *dwf), *dbf = calloc(s->Cout, sizeof *dbf);
	size_t nws = dm_conv2d_workspace(s->Cin, s->H, s->W, s->Cout, k, k, s->stride, s->pad);
	float *ws = malloc(nws * sizeof *ws + 4);
	char what[160];
	snprintf(what, sizeof what, "B%d Cin%d %dx%d Cout%d k%d s%d p%d (%s)", s->B, s->Cin, s->H,
	         s->W, s->Cout, k, s->stride, s->pad, dm_simd_name(dm_simd()));

	dm_conv2d_forward(yf, xf, wf, bf, s->B, s->Cin, s->H, s->W, s->Cout, k, k, s->stride,
	                  s->pad, ws);
	naive_fwd(s, x, w, bias, y);
	for (size_t i = 0; i < ny; i++)
		CHECK_MSG(fabs(yf[i] - y[i]) < 1e-5 * (1 + fabs(y[i])) * (1 + s->Cin * k * k / 16.0),
		          "forward %s [%zu]: %g vs %g", what, i, yf[i], y[i]);

	for (size_t i = 0; i < nx; i++)
		dxf[i] = NAN; /* accumulate == 0 overwrites */
	dm_conv2d_backward_input(dxf, rf, wf, s->B, s->Cin, s->H, s->W, s->Cout, k, k, s->stride,
	                         s->pad, 0, ws);
	dm_conv2d_backward_weight(dwf, dbf, rf, xf, s->B, s->Cin, s->H, s->W, s->Cout, k, k,
	                          s->stride, s->pad, ws);
	naive_bwd(s, x, w, r, dx, dw, db);
	for (size_t i = 0; i < nx; i++) {
		double g = fd(s, x, w, bias, r, y, ny, x, i);
		CHECK_MSG(fabs(dx[i] - g) < 1e-6 * (1 + fabs(g)), "adjoint dx %s", what);
		CHECK_MSG(fabs(dxf[i] - g) < 1e-4 * (1 + fabs(g)), "dx %s [%zu]: %g vs fd %g", what,
		          i, dxf[i], g);
	}
	for (size_t i = 0; i < nw; i++) {
		double g = fd(s, x, w, bias, r, y, ny, w, i);
		CHECK_MSG(fabs(dw[i] - g) < 1e-6 * (1 + fabs(g)), "adjoint dw %s", what);
		CHECK_MSG(fabs(dwf[i] - g) < 1e-4 * (1 + fabs(g)), "dw %s [%zu]: %g vs fd %g", what,
		          i, dwf[i], g);
	}
	for (int o = 0; o < s->Cout; o++) {
		double g = fd(s, x, w, bias, r, y, ny, bias, o);
		CHECK_MSG(fabs(dbf[o] - g) < 1e-4 * (1 + fabs(g)), "db %s [%d]: %g vs fd %g", what,
		          o, dbf[o], g);
	}

	/* Accumulation: a second call adds the same again. */
	dm_conv2d_backward_input(dxf, rf, wf, s->B, s->Cin, s->H, s->W, s->Cout, k, k, s->stride,
	                         s->pad, 1, ws);
	dm_conv2d_backward_weight(dwf, dbf, rf, xf, s->B, s->Cin, s->H, s->W, s->Cout, k, k,
	                          s->stride, s->pad, ws);
	for (size_t i = 0; i < nx; i++)
		CHECK_MSG(fabs(dxf[i] - 2 * dx[i]) < 2e-4 * (1 + fabs(dx[i])), "dx accumulate %s", what);
	for (size_t i = 0; i < nw; i++)
		CHECK_MSG(fabs(dwf[i] - 2 * dw[i]) < 2e-4 * (1 + fabs(dw[i])), "dw accumulate %s", what);
	for (int o = 0; o < s->Cout; o++)
		CHECK_MSG(fabs(dbf[o] - 2 * db[o]) < 2e-4 * (1 + fabs(db[o])), "db accumulate %s", what);

	free(x), free(w), free(bias), free(r), free(y), free(dx), free(dw), free(db);
	free(xf), free(wf), free(bf), free(rf), free(yf), free(dxf), free(dwf), free(dbf), free(ws);
}

TEST(conv_against_direct_and_fd)
{
	int old = dm_simd();
	for (int lvl = DM_SIMD_SCALAR; lvl <= DM_SIMD_AVX512; lvl++) {
		if (!dm_simd_supported(lvl))
			continue; /* gemm_against_ref_<path> reports the skip */
		dm_simd_force(lvl, NULL);
		for (int i = 0; i < NSHAPES && !dm_test_failed(); i++)
			check_shape(&shapes[i], 100u + (unsigned)i);
	}
	dm_simd_force(old, NULL);
}

TEST(conv_threads_bit_identical)
{
	const int B = 3, Cin = 16, H = 14, W = 13, Cout = 32;
	int oldt = omp_get_max_threads();
	size_t nx = (size_t)B * Cin * H * W;
	float *x = malloc(nx * 4), *w = malloc((size_t)Cout * Cin * 9 * 4), *bias = malloc(Cout * 4);
	unsigned seed = 9;
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)drand(&seed);
	for (int i = 0; i < Cout * Cin * 9; i++)
		w[i] = (float)drand(&seed);
	for (int i = 0; i < Cout; i++)
		bias[i] = (float)drand(&seed);
	for (int stride = 1; stride <= 2; stride++) {
		int Ho = dm_conv2d_out_size(H, 3, stride, 1), Wo = dm_conv2d_out_size(W, 3, stride, 1);
		size_t ny = (size_t)B * Cout * Ho * Wo;
		float *ws = malloc(dm_conv2d_workspace(Cin, H, W, Cout, 3, 3, stride, 1) * 4);
		float *out[2], *dx[2], *dw[2], *db[2];
		for (int t = 0; t < 2; t++) {
			omp_set_num_threads(t + 1);
			out[t] = malloc(ny * 4), dx[t] = malloc(nx * 4);
			dw[t] = calloc((size_t)Cout * Cin * 9, 4), db[t] = calloc(Cout, 4);
			dm_conv2d_forward(out[t], x, w, bias, B, Cin, H, W, Cout, 3, 3, stride, 1, ws);
			/* use the output as the incoming gradient */
			dm_conv2d_backward_input(dx[t], out[t], w, B, Cin, H, W, Cout, 3, 3, stride, 1, 0,
			                         ws);
			dm_conv2d_backward_weight(dw[t], db[t], out[t], x, B, Cin, H, W, Cout, 3, 3,
			                          stride, 1, ws);
		}
		omp_set_num_threads(oldt);
		int same = !memcmp(out[0], out[1], ny * 4) && !memcmp(dx[0], dx[1], nx * 4) &&
		           !memcmp(dw[0], dw[1], (size_t)Cout * Cin * 9 * 4) &&
		           !memcmp(db[0], db[1], Cout * 4);
		for (int t = 0; t < 2; t++)
			free(out[t]), free(dx[t]), free(dw[t]), free(db[t]);
		free(ws);
		CHECK_MSG(same, "stride %d: results differ between 1 and 2 threads", stride);
	}
	free(x), free(w), free(bias);
}

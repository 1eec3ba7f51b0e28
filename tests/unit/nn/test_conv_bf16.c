/* test_conv_bf16.c - the convolution's three passes at DM_PREC_BF16 against
 * a direct loop in double over the bf16-rounded operands, within the fp32
 * accumulation bound, on every bf16 path the CPU has; DM_PREC_FP32 gives
 * the bits of the plain functions. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/bf16.h"
#include "nn/conv.h"
#include "nn/gemm.h"
#include "harness.h"

static float *rbuf(size_t n, unsigned s)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++) {
		s = s * 1664525u + 1013904223u;
		p[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
	return p;
}

typedef struct cs { int B, Cin, H, Cout, k, stride, pad; } cs;

/* Direct loops: y (forward), dx, dw in double on rounded operands, and the
 * sums of |products| for the bound. */
static void ref_conv(const cs *c, const float *x, const float *w, const float *dy, double *y,
                     double *ym, double *dx, double *dxm, double *dw, double *dwm)
{
	int Ho = dm_conv2d_out_size(c->H, c->k, c->stride, c->pad), H = c->H, k = c->k;
	size_t nx = (size_t)c->B * c->Cin * H * H, ny = (size_t)c->B * c->Cout * Ho * Ho;
	size_t nw = (size_t)c->Cout * c->Cin * k * k;
	memset(y, 0, ny * 8), memset(ym, 0, ny * 8), memset(dx, 0, nx * 8), memset(dxm, 0, nx * 8);
	memset(dw, 0, nw * 8), memset(dwm, 0, nw * 8);
	for (int b = 0; b < c->B; b++)
		for (int o = 0; o < c->Cout; o++)
			for (int oh = 0; oh < Ho; oh++)
				for (int ow = 0; ow < Ho; ow++) {
					size_t yi = (((size_t)b * c->Cout + o) * Ho + oh) * Ho + ow;
					for (int ci = 0; ci < c->Cin; ci++)
						for (int i = 0; i < k; i++)
							for (int j = 0; j < k; j++) {
								int ih = oh * c->stride - c->pad + i, iw = ow * c->stride - c->pad + j;
								if (ih < 0 || iw < 0 || ih >= H || iw >= H)
									continue;
								size_t xi = (((size_t)b * c->Cin + ci) * H + ih) * H + iw;
								size_t wi = (((size_t)o * c->Cin + ci) * k + i) * k + j;
								double xv = dm_bf16_round(x[xi]), wv = dm_bf16_round(w[wi]);
								double gv = dm_bf16_round(dy[yi]);
								y[yi] += xv * wv, ym[yi] += fabs(xv * wv);
								dx[xi] += gv * wv, dxm[xi] += fabs(gv * wv);
								dw[wi] += gv * xv, dwm[wi] += fabs(gv * xv);
							}
				}
}

static int within(const float *got, const double *ref, const double *mag, size_t n, int terms,
                  double *worst)
{
	*worst = 0;
	for (size_t i = 0; i < n; i++) {
		double bound = (terms + 2) * 0x1p-24 * mag[i] + 0x1p-24 * fabs(ref[i]) + 1e-30;
		double e = fabs(got[i] - ref[i]) / bound;
		if (!(e <= *worst))
			*worst = isnan(e) ? 1e30 : e;
	}
	return *worst <= 1.0;
}

static void run_shape(const cs *c)
{
	int Ho = dm_conv2d_out_size(c->H, c->k, c->stride, c->pad), k = c->k;
	size_t nx = (size_t)c->B * c->Cin * c->H * c->H, ny = (size_t)c->B * c->Cout * Ho * Ho;
	size_t nw = (size_t)c->Cout * c->Cin * k * k;
	size_t ws = dm_conv2d_workspace(c->Cin, c->H, c->H, c->Cout, k, k, c->stride, c->pad);
	float *x = rbuf(nx, 1), *w = rbuf(nw, 2), *dy = rbuf(ny, 3), *wsb = malloc((ws + 1) * 4);
	float *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = calloc(nw, 4);
	float *y2 = malloc(ny * 4), *dx2 = malloc(nx * 4), *dw2 = calloc(nw, 4);
	double *ry = malloc(ny * 8), *rym = malloc(ny * 8), *rdx = malloc(nx * 8);
	double *rdxm = malloc(nx * 8), *rdw = malloc(nw * 8), *rdwm = malloc(nw * 8);
	ref_conv(c, x, w, dy, ry, rym, rdx, rdxm, rdw, rdwm);
	dm_conv2d_forward_prec(DM_PREC_BF16, y, x, w, NULL, c->B, c->Cin, c->H, c->H, c->Cout, k,
	                       k, c->stride, c->pad, wsb);
	dm_conv2d_backward_input_prec(DM_PREC_BF16, dx, dy, w, c->B, c->Cin, c->H, c->H, c->Cout,
	                              k, k, c->stride, c->pad, 0, wsb);
	dm_conv2d_backward_weight_prec(DM_PREC_BF16, dw, NULL, dy, x, c->B, c->Cin, c->H, c->H,
	                               c->Cout, k, k, c->stride, c->pad, wsb);
	double e1, e2, e3;
	int ok1 = within(y, ry, rym, ny, c->Cin * k * k, &e1);
	int ok2 = within(dx, rdx, rdxm, nx, c->Cout * k * k, &e2);
	int ok3 = within(dw, rdw, rdwm, nw, c->B * Ho * Ho, &e3);
	/* fp32 through the _prec entry points: the plain functions' bits */
	dm_conv2d_forward(y, x, w, NULL, c->B, c->Cin, c->H, c->H, c->Cout, k, k, c->stride, c->pad, wsb);
	dm_conv2d_forward_prec(DM_PREC_FP32, y2, x, w, NULL, c->B, c->Cin, c->H, c->H, c->Cout, k, k,
	                       c->stride, c->pad, wsb);
	dm_conv2d_backward_input(dx, dy, w, c->B, c->Cin, c->H, c->H, c->Cout, k, k, c->stride,
	                         c->pad, 0, wsb);
	dm_conv2d_backward_input_prec(DM_PREC_FP32, dx2, dy, w, c->B, c->Cin, c->H, c->H, c->Cout,
	                              k, k, c->stride, c->pad, 0, wsb);
	memset(dw, 0, nw * 4);
	dm_conv2d_backward_weight(dw, NULL, dy, x, c->B, c->Cin, c->H, c->H, c->Cout, k, k,
	                          c->stride, c->pad, wsb);
	dm_conv2d_backward_weight_prec(DM_PREC_FP32, dw2, NULL, dy, x, c->B, c->Cin, c->H, c->H,
	                               c->Cout, k, k, c->stride, c->pad, wsb);
	int same = !memcmp(y, y2, ny * 4) && !memcmp(dx, dx2, nx * 4) && !memcmp(dw, dw2, nw * 4);
	free(x), free(w), free(dy), free(wsb), free(y), free(dx), free(dw), free(y2), free(dx2);
	free(dw2), free(ry), free(rym), free(rdx), free(rdxm), free(rdw), free(rdwm);
	CHECK_MSG(ok1 && ok2 && ok3,
	          "%s B%d Cin%d H%d Cout%d k%d s%d: error / bound fwd %.3g bwd-in %.3g bwd-w %.3g",
	          dm_simd_name(dm_simd_bf16()), c->B, c->Cin, c->H, c->Cout, k, c->stride, e1, e2, e3);
	CHECK_MSG(same, "DM_PREC_FP32 differs from the plain functions");
}

TEST(conv_bf16_paths)
{
	static const cs shapes[] = {
		{ 2, 3, 9, 16, 3, 1, 1 }, { 3, 16, 8, 32, 3, 2, 1 }, { 2, 32, 7, 16, 1, 1, 0 },
		{ 1, 5, 6, 7, 3, 1, 1 },
		/* the AMX direct route (3x3 and 1x1, stride 1, channels in 32s): odd and
		 * even sizes, two channel blocks, more images than chunks */
		{ 2, 32, 7, 32, 3, 1, 1 }, { 3, 64, 6, 32, 3, 1, 1 }, { 9, 32, 5, 64, 3, 1, 1 },
		{ 2, 64, 7, 32, 1, 1, 0 }, { 9, 32, 6, 64, 1, 1, 0 },
	};
	static const int levels[] = { DM_SIMD_SCALAR, DM_SIMD_AVX512BF16, DM_SIMD_AMX };
	int old = dm_simd();
	for (int li = 0; li < 3; li++) {
		if (!dm_simd_supported(levels[li])) {
			fprintf(stderr, "    (bf16 path %s: %s, skipped)\n", dm_simd_name(levels[li]),
			        dm_cpu_has_isa(levels[li]) ? "refused by the OS" : "CPU lacks it");
			continue;
		}
		dm_simd_force(levels[li], NULL);
		for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
			run_shape(&shapes[s]);
			if (dm_test_failed())
				break;
		}
		dm_simd_force(old, NULL);
		if (dm_test_failed())
			return;
	}
}

/* The AMX route's bias, accumulate and thread count: y(bias) = y + bias
 * to one rounding, din(accumulate) = din0 + din to one rounding, and the
 * three passes bit for bit the same on 1 and 2 threads. */
TEST(conv_bf16_amx_bias_accumulate_threads)
{
	if (!dm_simd_supported(DM_SIMD_AMX))
		SKIP(dm_cpu_has_isa(DM_SIMD_AMX) ? "amx refused by the OS" : "CPU lacks amx");
	int old = dm_simd();
	dm_simd_force(DM_SIMD_AMX, NULL);
	enum { B = 10, C = 32, H = 6, O = 64 };
	size_t nx = (size_t)B * C * H * H, ny = (size_t)B * O * H * H, nw = (size_t)O * C * 9;
	float *x = rbuf(nx, 4), *w = rbuf(nw, 5), *dy = rbuf(ny, 6), *bias = rbuf(O, 7);
	float *y[2], *yb = malloc(ny * 4), *dx[2], *dxa = rbuf(nx, 8), *dx0 = malloc(nx * 4);
	float *dw[2];
	memcpy(dx0, dxa, nx * 4);
	int nthr = omp_get_max_threads();
	for (int t = 0; t < 2; t++) {
		omp_set_num_threads(t + 1);
		y[t] = malloc(ny * 4), dx[t] = malloc(nx * 4), dw[t] = calloc(nw, 4);
		dm_conv2d_forward_prec(DM_PREC_BF16, y[t], x, w, NULL, B, C, H, H, O, 3, 3, 1, 1, NULL);
		dm_conv2d_backward_input_prec(DM_PREC_BF16, dx[t], dy, w, B, C, H, H, O, 3, 3, 1, 1, 0,
		                              NULL);
		dm_conv2d_backward_weight_prec(DM_PREC_BF16, dw[t], NULL, dy, x, B, C, H, H, O, 3, 3,
		                               1, 1, NULL);
	}
	omp_set_num_threads(nthr);
	dm_conv2d_forward_prec(DM_PREC_BF16, yb, x, w, bias, B, C, H, H, O, 3, 3, 1, 1, NULL);
	dm_conv2d_backward_input_prec(DM_PREC_BF16, dxa, dy, w, B, C, H, H, O, 3, 3, 1, 1, 1, NULL);
	int same = !memcmp(y[0], y[1], ny * 4) && !memcmp(dx[0], dx[1], nx * 4) &&
	           !memcmp(dw[0], dw[1], nw * 4);
	int biased = 1, added = 1;
	for (size_t i = 0; i < ny; i++)
		biased &= yb[i] == y[0][i] + bias[i / (H * H) % O];
	for (size_t i = 0; i < nx; i++)
		added &= dxa[i] == dx0[i] + dx[0][i];
	dm_simd_force(old, NULL);
	CHECK_MSG(same, "the AMX passes differ between 1 and 2 threads");
	CHECK_MSG(biased, "forward with a bias is not the sum plus the bias");
	CHECK_MSG(added, "the accumulated input gradient is not din0 + din");
	for (int t = 0; t < 2; t++)
		free(y[t]), free(dx[t]), free(dw[t]);
	free(x), free(w), free(dy), free(bias), free(yb), free(dxa), free(dx0);
}

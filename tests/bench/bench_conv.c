/* bench_conv.c - dm_conv2d forward and both backward passes at the unet-s
 * shapes (batch 128), in GFLOP/s and % of the measured FMA peak, for 1 and
 * 2 threads.  FLOPs are the direct convolution's, 2*B*Cout*Ho*Wo*Cin*kh*kw
 * per pass (the bias is not counted); best of a few repetitions, one thread
 * timed by its CPU time, two by the wall clock.  Where the CPU has a bf16
 * path (cpu.h: AMX or AVX512-BF16; DM_SIMD forces one) each shape's bf16
 * passes (DM_PREC_BF16) follow on a second line, as GFLOP/s and as a
 * multiple of the fp32 pass measured just before. */
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/conv.h"
#include "nn/gemm.h"
#include "bench_peak.h"

typedef struct cshape {
	const char *name;
	int B, Cin, H, W, Cout, k, stride, pad;
} cshape;

enum { FWD, BWD_IN, BWD_W };

static double run(int threads, const cshape *s, int pass, int prec, float *x, float *w, float *bias, float *y,
                  float *dx, float *dw, float *db, float *ws)
{
	int Ho = dm_conv2d_out_size(s->H, s->k, s->stride, s->pad);
	int Wo = dm_conv2d_out_size(s->W, s->k, s->stride, s->pad);
	double flop = 2.0 * s->B * s->Cout * Ho * Wo * s->Cin * s->k * s->k, best = 0, spent = 0;
	for (int rep = 0; rep < 5 && (rep < 2 || spent < 1.0); rep++) {
		double t0 = bench_clock(threads);
		if (pass == FWD)
			dm_conv2d_forward_prec(prec, y, x, w, bias, s->B, s->Cin, s->H, s->W, s->Cout, s->k,
			                       s->k, s->stride, s->pad, ws);
		else if (pass == BWD_IN)
			dm_conv2d_backward_input_prec(prec, dx, y, w, s->B, s->Cin, s->H, s->W, s->Cout,
			                              s->k, s->k, s->stride, s->pad, 0, ws);
		else
			dm_conv2d_backward_weight_prec(prec, dw, db, y, x, s->B, s->Cin, s->H, s->W,
			                               s->Cout, s->k, s->k, s->stride, s->pad, ws);
		double dt = bench_clock(threads) - t0;
		spent += dt;
		if (flop / dt * 1e-9 > best)
			best = flop / dt * 1e-9;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const cshape shapes[] = {
		{ "28x28 32->32 3x3", 128, 32, 28, 28, 32, 3, 1, 1 },
		{ "28->14 32 3x3 s2", 128, 32, 28, 28, 32, 3, 2, 1 },
		{ "14x14 64->64 3x3", 128, 64, 14, 14, 64, 3, 1, 1 },
		{ "7x7 64->64 3x3", 128, 64, 7, 7, 64, 3, 1, 1 },
		{ "14x14 96->64 1x1", 128, 96, 14, 14, 64, 1, 1, 0 },
		{ "7x7 64->64 1x1", 128, 64, 7, 7, 64, 1, 1, 0 },
	};
	int ns = (int)(sizeof shapes / sizeof *shapes);
	const char *only = argc > 1 ? argv[1] : NULL;
	size_t nx = 0, ny = 0, nw = 0, nws = 0;
	for (int i = 0; i < ns; i++) {
		const cshape *s = &shapes[i];
		size_t x = (size_t)s->B * s->Cin * s->H * s->W, y = (size_t)s->B * s->Cout * s->H * s->W;
		size_t w = (size_t)s->Cout * s->Cin * s->k * s->k;
		size_t ws = dm_conv2d_workspace(s->Cin, s->H, s->W, s->Cout, s->k, s->k, s->stride,
		                                s->pad);
		nx = x > nx ? x : nx, ny = y > ny ? y : ny, nw = w > nw ? w : nw;
		nws = ws > nws ? ws : nws;
	}
	float *x = malloc(nx * 4), *dx = malloc(nx * 4), *y = malloc(ny * 4);
	float *w = malloc(nw * 4), *dw = calloc(nw, 4), *bias = calloc(1024, 4), *db = calloc(1024, 4);
	float *ws = malloc(nws * 4 + 4);
	for (size_t i = 0; i < nx; i++)
		x[i] = (float)(i % 23) * 0.01f - 0.1f;
	for (size_t i = 0; i < ny; i++)
		y[i] = (float)(i % 19) * 0.01f - 0.09f;
	for (size_t i = 0; i < nw; i++)
		w[i] = (float)(i % 7) * 0.01f - 0.03f;
	int bf16 = dm_simd_bf16() != DM_SIMD_SCALAR;
	printf("dm_conv2d, SIMD path %s, batch 128; bf16 rows: %s\n", dm_simd_name(dm_simd()),
	       bf16 ? dm_simd_name(dm_simd_bf16()) : "none (no bf16 path on this CPU)");
	for (int threads = 1; threads <= 2; threads++) {
		omp_set_num_threads(threads);
		double peak = bench_peak(threads);
		printf("\n%d thread%s, FMA peak %.1f GFLOP/s\n", threads, threads > 1 ? "s" : "",
		       peak);
		printf("%-18s %9s %7s %9s %7s %9s %7s\n", "shape", "fwd GF/s", "% peak", "bwd-in",
		       "% peak", "bwd-w", "% peak");
		for (int i = 0; i < ns; i++) {
			const cshape *s = &shapes[i];
			if (only && !strstr(s->name, only))
				continue;
			printf("%-18s", s->name);
			double g32[3];
			for (int pass = FWD; pass <= BWD_W; pass++) {
				double g = g32[pass] = run(threads, s, pass, DM_PREC_FP32, x, w, bias, y, dx,
				                           dw, db, ws);
				printf(" %9.1f %6.0f%%", g, peak > 0 ? 100 * g / peak : 0);
			}
			printf("\n");
			if (bf16) {
				printf("%-18s", "  bf16");
				for (int pass = FWD; pass <= BWD_W; pass++) {
					double g = run(threads, s, pass, DM_PREC_BF16, x, w, bias, y, dx, dw, db, ws);
					printf(" %9.1f %6.2fx", g, g / g32[pass]);
				}
				printf("\n");
			}
			fflush(stdout);
		}
	}
	free(x), free(dx), free(y), free(w), free(dw), free(bias), free(db), free(ws);
	return 0;
}

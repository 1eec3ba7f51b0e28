/* bench_gemm.c - dm_sgemm GFLOP/s beside OpenBLAS and the FMA peak, at the
 * GEMM shapes of the unet-s convolutions (batch 128) and at squares.
 *
 * Convolution shapes through im2col (K9 = Cin*9, P = B*H*W positions):
 *   forward          C[Cout x P]  = W[Cout x K9] * col[K9 x P]
 *   backward input   dcol[K9 x P] = W^T * dout[Cout x P]        (transa)
 *   backward weight  dW[Cout x K9] = dout[Cout x P] * col^T     (transb)
 * Each figure is the best of a few repetitions, dm and OpenBLAS alternating
 * in the same process so that the ratio is fair on a busy machine; one
 * thread is timed by its CPU time, two by the wall clock, each two-thread
 * call after the other library's idle workers have gone to sleep
 * (bench_settle in bench_peak.h says why). */
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "bench_peak.h"

typedef struct shape {
	const char *name;
	int ta, tb, m, n, k;
} shape;

/* Best GFLOP/s of dm (res[0]) and OpenBLAS (res[1], when loaded), the two
 * alternating so that both see the same machine load. */
static void gflops(int threads, const shape *s, const float *a, const float *b, float *c,
                   int have_ob, double res[2])
{
	int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
	double flop = 2.0 * s->m * s->n * s->k, spent = 0;
	omp_set_num_threads(threads);
	res[0] = res[1] = 0;
	for (int rep = 0; rep < 6 && (rep < 3 || spent < 1.5); rep++)
		for (int lib = 0; lib <= have_ob; lib++) {
			if (threads > 1 && have_ob)
				bench_settle(); /* the other library's workers asleep */
			double t0 = bench_clock(threads);
			if (lib)
				bench_openblas(threads, s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b,
				               ldb, 0.0f, c, s->n);
			else
				dm_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c,
				         s->n);
			double dt = bench_clock(threads) - t0;
			spent += dt;
			if (flop / dt * 1e-9 > res[lib])
				res[lib] = flop / dt * 1e-9;
		}
}

int main(int argc, char **argv)
{
	static const shape shapes[] = {
		{ "28x28x32 fwd", 0, 0, 32, 128 * 784, 288 },
		{ "28x28x32 bwd-in", 1, 0, 288, 128 * 784, 32 },
		{ "28x28x32 bwd-w", 0, 0, 32, 288, 128 * 784 },
		{ "14x14x64 fwd", 0, 0, 64, 128 * 196, 576 },
		{ "14x14x64 bwd-in", 1, 0, 576, 128 * 196, 64 },
		{ "14x14x64 bwd-w", 0, 0, 64, 576, 128 * 196 },
		{ "7x7x64 fwd", 0, 0, 64, 128 * 49, 576 },
		{ "7x7x64 bwd-in", 1, 0, 576, 128 * 49, 64 },
		{ "7x7x64 bwd-w", 0, 0, 64, 576, 128 * 49 },
		{ "square 512", 0, 0, 512, 512, 512 },
		{ "square 1024", 0, 0, 1024, 1024, 1024 },
		{ "square 2048", 0, 0, 2048, 2048, 2048 },
	};
	int ns = (int)(sizeof shapes / sizeof *shapes);
	const char *only = argc > 1 ? argv[1] : NULL; /* substring of a shape name */
	size_t amax = 0, bmax = 0, cmax = 0;
	for (int i = 0; i < ns; i++) {
		size_t a = (size_t)shapes[i].m * shapes[i].k, b = (size_t)shapes[i].k * shapes[i].n;
		size_t c = (size_t)shapes[i].m * shapes[i].n;
		amax = a > amax ? a : amax, bmax = b > bmax ? b : bmax, cmax = c > cmax ? c : cmax;
	}
	float *a = malloc(amax * 4), *b = malloc(bmax * 4), *c = malloc(cmax * 4);
	for (size_t i = 0; i < amax; i++)
		a[i] = (float)(i % 17) * 0.01f - 0.08f;
	for (size_t i = 0; i < bmax; i++)
		b[i] = (float)(i % 13) * 0.01f - 0.06f;
	memset(c, 0, cmax * 4);
	int have_ob = bench_openblas_load();
	printf("dm_sgemm, SIMD path %s; OpenBLAS %s\n", dm_simd_name(dm_simd()),
	       have_ob ? "libopenblas.so.0" : "not found (ratios omitted)");
	for (int threads = 1; threads <= 2; threads++) {
		double peak = bench_peak(threads);
		printf("\n%d thread%s, FMA peak %.1f GFLOP/s\n", threads, threads > 1 ? "s" : "",
		       peak);
		printf("%-18s %6s %6s %6s %8s %8s %6s %7s\n", "shape", "M", "N", "K", "dm GF/s",
		       "OB GF/s", "dm/OB", "% peak");
		for (int i = 0; i < ns; i++) {
			const shape *s = &shapes[i];
			if (only && !strstr(s->name, only))
				continue;
			double r[2];
			gflops(threads, s, a, b, c, have_ob, r);
			double g = r[0], o = r[1];
			printf("%-18s %6d %6d %6d %8.1f ", s->name, s->m, s->n, s->k, g);
			if (have_ob)
				printf("%8.1f %6.2f", o, g / o);
			else
				printf("%8s %6s", "-", "-");
			printf(" %6.0f%%\n", peak > 0 ? 100 * g / peak : 0);
			fflush(stdout);
		}
	}
	free(a), free(b), free(c);
	return 0;
}

/* bench_gemm.c - dm_sgemm GFLOP/s beside OpenBLAS and the FMA peak, at the
 * GEMM shapes of the unet-s convolutions (batch 128) and at squares
 * (bench_shapes in bench_peak.h).
 * Each figure is the best of a few repetitions, dm and OpenBLAS alternating
 * in the same process so that the ratio is fair on a busy machine; one
 * thread is timed by its CPU time, two by the wall clock, each two-thread
 * call after the other library's idle workers have gone to sleep
 * (bench_settle in bench_peak.h says why). */
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "bench_peak.h"

/* Best GFLOP/s of dm (res[0]) and OpenBLAS (res[1], when loaded), the two
 * alternating so that both see the same machine load. */
static void gflops(int threads, const bench_shape *s, const float *a, const float *b, float *c,
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
	const bench_shape *shapes = bench_shapes;
	int ns = BENCH_NSHAPES;
	const char *only = argc > 1 ? argv[1] : NULL; /* substring of a shape name */
	float *a, *b, *c;
	bench_operands(&a, &b, &c);
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
			const bench_shape *s = &shapes[i];
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

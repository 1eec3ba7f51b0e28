/* bench_peak.h - shared by the GEMM and conv benchmarks (header-only, as
 * every tests/bench/bench_*.c is its own program): a wall clock, the
 * machine's measured FMA peak, OpenBLAS's sgemm found at run time, and the
 * GEMM shapes of unet-s. */
#ifndef DM_BENCH_PEAK_H
#define DM_BENCH_PEAK_H

#include <dlfcn.h>
#include <stdlib.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

#include "core/cpu.h"

__attribute__((unused)) static double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The clock for a run on `threads` threads: with one thread, the thread's
 * CPU time, which a busy machine's preemptions do not inflate (the runs
 * here share 2 cores with other jobs); with more, the wall clock. */
static double bench_clock(int threads)
{
	struct timespec ts;
	clock_gettime(threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 12 independent FMA chains (more than latency x throughput = 4 x 2 on
 * Zen 4), so the loop runs at the FMA issue rate. */
__attribute__((target("avx2,fma"))) static double fma_loop_avx2(long iters)
{
	__m256 acc[12], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
	for (int i = 0; i < 12; i++)
		acc[i] = _mm256_set1_ps((float)i);
	for (long it = 0; it < iters; it++)
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			acc[i] = _mm256_fmadd_ps(acc[i], x, y);
	__m256 s = acc[0];
	for (int i = 1; i < 12; i++)
		s = _mm256_add_ps(s, acc[i]);
	float out[8];
	_mm256_storeu_ps(out, s);
	return out[0];
}

__attribute__((target("avx512f"))) static double fma_loop_avx512(long iters)
{
	__m512 acc[12], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
	for (int i = 0; i < 12; i++)
		acc[i] = _mm512_set1_ps((float)i);
	for (long it = 0; it < iters; it++)
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			acc[i] = _mm512_fmadd_ps(acc[i], x, y);
	__m512 s = acc[0];
	for (int i = 1; i < 12; i++)
		s = _mm512_add_ps(s, acc[i]);
	return _mm512_reduce_add_ps(s);
}

/* Peak single-precision GFLOP/s on `threads` threads, best of 3, with the
 * widest FMA the CPU has (the scalar path has no peak of its own). */
static double bench_peak(int threads)
{
	int wide = dm_simd_supported(DM_SIMD_AVX512);
	if (!wide && !dm_simd_supported(DM_SIMD_AVX2))
		return 0;
	long iters = 20000000;
	double best = 0, sink = 0;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = bench_clock(threads);
#pragma omp parallel num_threads(threads) reduction(+ : sink)
		sink += wide ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
		double dt = bench_clock(threads) - t0;
		double gf = (double)threads * iters * 12 * (wide ? 16 : 8) * 2 / dt * 1e-9;
		if (gf > best)
			best = gf;
	}
	if (sink == 12345.0)
		printf(" ");
	return best;
}

/* cblas_sgemm from libopenblas.so.0, or NULL. */
typedef void (*cblas_sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                               const float *a, int lda, const float *b, int ldb, float beta,
                               float *c, int ldc);
static cblas_sgemm_fn openblas_sgemm;
static void (*openblas_threads)(int);

/* Between calls of two libraries that both keep worker threads: let the
 * last one's workers go to sleep first.  Idle workers spin before they
 * sleep -- libgomp's for GOMP_SPINCOUNT pauses (milliseconds), OpenBLAS's
 * for 2^OPENBLAS_THREAD_TIMEOUT cycles (2^28 by default, a tenth of a
 * second) -- and on 2 cores a spinning worker of one library holds a core
 * that the other's second thread then waits a whole time slice for: a
 * 1 ms product (512^2 on 2 threads) measured 5-7x slower that way, the
 * "2-thread 512^2 collapse" (0.15x OpenBLAS).  bench_openblas_load caps
 * OpenBLAS's spin at 2^20 cycles (well under a millisecond) and this
 * waits out both. */
__attribute__((unused)) static void bench_settle(void)
{
	struct timespec ts = { 0, 25 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

__attribute__((unused)) static int bench_openblas_load(void)
{
	/* read by OpenBLAS when it starts its threads (see bench_settle) */
	setenv("OPENBLAS_THREAD_TIMEOUT", "20", 0);
	void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return 0;
	openblas_sgemm = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
	openblas_threads = (void (*)(int))dlsym(h, "openblas_set_num_threads");
	return openblas_sgemm != NULL;
}

/* Row-major call with dm's argument convention. */
__attribute__((unused)) static void bench_openblas(int threads, int ta, int tb, int m, int n, int k, float alpha,
                           const float *a, int lda, const float *b, int ldb, float beta,
                           float *c, int ldc)
{
	if (openblas_threads)
		openblas_threads(threads);
	openblas_sgemm(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta,
	               c, ldc);
}

/* The GEMM shapes of the unet-s convolutions at batch 128 through im2col
 * (K9 = Cin*9, P = B*H*W positions), and squares; shared by bench_gemm and
 * bench_bf16 so that their tables line up:
 *   forward          C[Cout x P]  = W[Cout x K9] * col[K9 x P]
 *   backward input   dcol[K9 x P] = W^T * dout[Cout x P]        (transa)
 *   backward weight  dW[Cout x K9] = dout[Cout x P] * col^T     (transb) */
typedef struct bench_shape {
	const char *name;
	int ta, tb, m, n, k;
} bench_shape;

__attribute__((unused)) static const bench_shape bench_shapes[] = {
	{ "28x28x32 fwd", 0, 0, 32, 128 * 784, 288 },
	{ "28x28x32 bwd-in", 1, 0, 288, 128 * 784, 32 },
	{ "28x28x32 bwd-w", 0, 1, 32, 288, 128 * 784 },
	{ "14x14x64 fwd", 0, 0, 64, 128 * 196, 576 },
	{ "14x14x64 bwd-in", 1, 0, 576, 128 * 196, 64 },
	{ "14x14x64 bwd-w", 0, 1, 64, 576, 128 * 196 },
	{ "7x7x64 fwd", 0, 0, 64, 128 * 49, 576 },
	{ "7x7x64 bwd-in", 1, 0, 576, 128 * 49, 64 },
	{ "7x7x64 bwd-w", 0, 1, 64, 576, 128 * 49 },
	{ "square 512", 0, 0, 512, 512, 512 },
	{ "square 1024", 0, 0, 1024, 1024, 1024 },
	{ "square 2048", 0, 0, 2048, 2048, 2048 },
};
enum { BENCH_NSHAPES = (int)(sizeof bench_shapes / sizeof *bench_shapes) };

/* Operands large enough for every shape above, filled with small values;
 * *c is zeroed.  Free the three with free(). */
__attribute__((unused)) static void bench_operands(float **a, float **b, float **c)
{
	size_t amax = 0, bmax = 0, cmax = 0;
	for (int i = 0; i < BENCH_NSHAPES; i++) {
		const bench_shape *s = &bench_shapes[i];
		size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n, nc = (size_t)s->m * s->n;
		amax = na > amax ? na : amax, bmax = nb > bmax ? nb : bmax, cmax = nc > cmax ? nc : cmax;
	}
	*a = malloc(amax * 4), *b = malloc(bmax * 4), *c = calloc(cmax, 4);
	if (!*a || !*b || !*c) {
		fprintf(stderr, "bench: out of memory for the operands\n");
		exit(1);
	}
	for (size_t i = 0; i < amax; i++)
		(*a)[i] = (float)(i % 17) * 0.01f - 0.08f;
	for (size_t i = 0; i < bmax; i++)
		(*b)[i] = (float)(i % 13) * 0.01f - 0.06f;
}

#endif

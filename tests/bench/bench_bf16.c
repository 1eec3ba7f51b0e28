/* bench_bf16.c - the bf16 GEMM (dm_gemm_bf16: bf16 operands, fp32 sums) on
 * each bf16 path the CPU has, beside dm's fp32 SGEMM and the FMA peak, at
 * the GEMM shapes of the unet-s convolutions (batch 128, as bench_gemm)
 * and at squares.  Also the instruction peaks: fp32 FMA (bench_peak.h),
 * vdpbf16ps and tdpbf16ps in register-only loops.  Ratios only, all in one
 * run; one thread timed by its CPU time, two by the wall clock.
 *   bench_bf16 [SHAPE-SUBSTRING] */
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "bench_peak.h"

/* vdpbf16ps: 12 chains, 32 flops per lane pair = 64 per instruction. */
__attribute__((target("avx512f,avx512bf16"))) static double dp_loop(long iters)
{
	__m512 acc[12];
	__m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = x;
	for (int i = 0; i < 12; i++)
		acc[i] = _mm512_set1_ps((float)i);
	for (long it = 0; it < iters; it++)
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++)
			acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
	__m512 s = acc[0];
	for (int i = 1; i < 12; i++)
		s = _mm512_add_ps(s, acc[i]);
	return _mm512_reduce_add_ps(s);
}

typedef struct tile_config {
	unsigned char palette, start_row, reserved[14];
	unsigned short colsb[16];
	unsigned char rows[16];
} tile_config;

/* tdpbf16ps on 4 accumulator tiles from 2 + 2 loaded ones: 16x16x32x2
 * flops each. */
__attribute__((target("amx-tile,amx-bf16"))) static double amx_loop(long iters)
{
	_Alignas(64) tile_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.palette = 1;
	for (int t = 0; t < 8; t++)
		cfg.rows[t] = 16, cfg.colsb[t] = 64;
	_tile_loadconfig(&cfg);
	_Alignas(64) static unsigned short buf[16 * 32];
	for (int i = 0; i < 16 * 32; i++)
		buf[i] = 0x3c00;
	_tile_zero(0);
	_tile_zero(1);
	_tile_zero(2);
	_tile_zero(3);
	_tile_loadd(4, buf, 64);
	_tile_loadd(5, buf, 64);
	_tile_loadd(6, buf, 64);
	_tile_loadd(7, buf, 64);
	for (long it = 0; it < iters; it++) {
		_tile_dpbf16ps(0, 4, 6);
		_tile_dpbf16ps(1, 4, 7);
		_tile_dpbf16ps(2, 5, 6);
		_tile_dpbf16ps(3, 5, 7);
	}
	_Alignas(64) float out[256];
	_tile_stored(0, out, 64);
	return out[0];
}

/* GFLOP/s of one instruction loop on `threads` threads, best of 3. */
static double inst_peak(int threads, int amx)
{
	long iters = amx ? 200000 : 20000000;
	double best = 0, sink = 0;
	for (int rep = 0; rep < 3; rep++) {
		double t0 = bench_clock(threads);
#pragma omp parallel num_threads(threads) reduction(+ : sink)
		sink += amx ? amx_loop(iters) : dp_loop(iters);
		double dt = bench_clock(threads) - t0;
		double flop = amx ? 4.0 * 16 * 16 * 32 * 2 : 12.0 * 16 * 2 * 2;
		double gf = (double)threads * iters * flop / dt * 1e-9;
		if (gf > best)
			best = gf;
	}
	if (sink == 12345.0)
		printf(" ");
	return best;
}

enum { NPATHS = 4 }; /* fp32 sgemm, bf16 portable, bf16 avx512bf16, bf16 amx */
static const char *const path_name[NPATHS] = { "fp32", "bf16-port", "avx512bf16", "amx" };
static const int path_level[NPATHS] = { -1, DM_SIMD_SCALAR, DM_SIMD_AVX512BF16, DM_SIMD_AMX };

/* Best GFLOP/s of each usable path, the paths alternating within each
 * repetition so that all see the same load. */
static void gflops(int threads, const bench_shape *s, const float *a, const float *b, float *c,
                   const int *use, double *res)
{
	int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n, best = dm_simd();
	double flop = 2.0 * s->m * s->n * s->k, spent = 0;
	omp_set_num_threads(threads);
	for (int p = 0; p < NPATHS; p++)
		res[p] = 0;
	for (int rep = 0; rep < 5 && (rep < 2 || spent < 1.5); rep++)
		for (int p = 0; p < NPATHS; p++) {
			if (!use[p] || (p == 1 && rep > 0))
				continue; /* the portable kernel: once, it is slow */
			dm_simd_force(p == 0 ? (best > DM_SIMD_AVX512 ? DM_SIMD_AVX512 : best)
			                     : path_level[p], NULL);
			double t0 = bench_clock(threads);
			if (p == 0)
				dm_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c, s->n);
			else
				dm_gemm_bf16(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 0.0f, c,
				             s->n);
			double dt = bench_clock(threads) - t0;
			spent += dt;
			if (flop / dt * 1e-9 > res[p])
				res[p] = flop / dt * 1e-9;
		}
	dm_simd_force(best, NULL);
}

int main(int argc, char **argv)
{
	const bench_shape *shapes = bench_shapes;
	int ns = BENCH_NSHAPES;
	const char *only = argc > 1 ? argv[1] : NULL;
	float *a, *b, *c;
	bench_operands(&a, &b, &c);
	int use[NPATHS] = { 1, 1, dm_simd_supported(DM_SIMD_AVX512BF16),
		            dm_simd_supported(DM_SIMD_AMX) };
	printf("dm_gemm_bf16 vs dm_sgemm (fp32 path %s); CPU family %s; bf16 paths:",
	       dm_simd_name(dm_simd() > DM_SIMD_AVX512 ? DM_SIMD_AVX512 : dm_simd()),
	       dm_cpu_family_name(dm_cpu_family()));
	for (int p = 1; p < NPATHS; p++)
		printf(" %s%s", path_name[p], use[p] ? "" : " (absent)");
	printf("\n");
	for (int threads = 1; threads <= 2; threads++) {
		double peak = bench_peak(threads);
		printf("\n%d thread%s: FMA peak %.1f GFLOP/s", threads, threads > 1 ? "s" : "", peak);
		if (use[2])
			printf(", vdpbf16ps peak %.1f (%.2fx)", inst_peak(threads, 0),
			       inst_peak(threads, 0) / peak);
		if (use[3]) {
			double ap = inst_peak(threads, 1);
			printf(", tdpbf16ps peak %.1f (%.1fx)", ap, ap / peak);
		}
		printf("\n%-16s %5s %6s %6s %7s", "shape", "M", "N", "K", "fp32");
		for (int p = 1; p < NPATHS; p++)
			if (use[p])
				printf(" %10s %6s", path_name[p], "/fp32");
		printf("   (GFLOP/s; %% of FMA peak in brackets)\n");
		for (int i = 0; i < ns; i++) {
			const bench_shape *s = &shapes[i];
			if (only && !strstr(s->name, only))
				continue;
			int u[NPATHS];
			memcpy(u, use, sizeof u);
			if (strcmp(s->name, "square 512") != 0)
				u[1] = 0; /* the portable kernel on one shape only */
			double r[NPATHS];
			gflops(threads, s, a, b, c, u, r);
			printf("%-16s %5d %6d %6d %7.1f", s->name, s->m, s->n, s->k, r[0]);
			for (int p = 1; p < NPATHS; p++)
				if (use[p]) {
					if (u[p])
						printf(" %10.1f %6.2f", r[p], r[p] / r[0]);
					else
						printf(" %10s %6s", "-", "-");
				}
			printf("   [fp32 %.0f%%", 100 * r[0] / peak);
			for (int p = 2; p < NPATHS; p++)
				if (u[p])
					printf(", %s %.0f%%", path_name[p], 100 * r[p] / peak);
			printf("]\n");
			fflush(stdout);
		}
	}
	free(a), free(b), free(c);
	return 0;
}

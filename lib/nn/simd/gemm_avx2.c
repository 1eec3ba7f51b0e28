/* gemm_avx2.c - the AVX2+FMA micro-kernel (see gemm_kernel.h): MR x NR
 * with NR/8 ymm columns, MR*NR/8 accumulators.  6 x 16 (12 accumulators,
 * 2 loads of B and 6 broadcasts of A per 12 FMAs): 4 x 24 divides the
 * convolution shapes better, but its B micro-panel needs kc <= 160 to sit
 * in half of L1, and the extra passes over C cost more than the empty
 * rows of 6 x 16 (bench_gemm: squares 0.95-0.98x OpenBLAS against
 * 0.85x). */
#include <immintrin.h>

#include "nn/simd/conv_kernel.h"
#include "nn/simd/gemm_kernel.h"

#define MR DM_GEMM_AVX2_MR
#if DM_CONV_AVX2_MR != MR || DM_CONV_AVX2_NR != DM_GEMM_AVX2_NR
#error "the AVX2 conv kernels share the GEMM tile"
#endif
#define NR DM_GEMM_AVX2_NR
#define NV (NR / 8)

/* The kernel for the first `rows` rows of the tile (rows <= MR, a
 * compile-time constant in each instance): the last, partial row panel of
 * C (M = 32 = 5 x 6 + 2) is computed without the empty rows' FMAs and
 * written in place, with the same per-element arithmetic as the full tile. */
static inline __attribute__((always_inline)) void
kernel_rows(int rows, long kc, const float *a, const float *b, float *c, long ldc, float alpha,
            float beta)
{
	__m256 acc[MR][NV];
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++) {
		/* C is needed only after the loop: start fetching it now. */
		_mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
		_mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			acc[i][v] = _mm256_setzero_ps();
	}
	for (long p = 0; p < kc; p++, a += MR, b += NR) {
		__m256 bv[NV];
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
		for (int i = 0; i < rows; i++) {
			__m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 8
			for (int v = 0; v < NV; v++)
				acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
		}
	}
	__m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++) {
		float *ci = c + i * ldc;
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++) {
			__m256 t = _mm256_mul_ps(va, acc[i][v]);
			if (beta != 0.0f)
				t = _mm256_add_ps(t, _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8 * v)));
			_mm256_storeu_ps(ci + 8 * v, t);
		}
	}
}

void dm_gemm_ukernel_avx2(long kc, const float *a, const float *b, float *c, long ldc,
                          float alpha, float beta)
{
	kernel_rows(MR, kc, a, b, c, ldc, alpha, beta);
}

void dm_gemm_ukernel_avx2_rows(int rows, long kc, const float *a, const float *b, float *c,
                               long ldc, float alpha, float beta)
{
	switch (rows) {
	case 1: kernel_rows(1, kc, a, b, c, ldc, alpha, beta); break;
	case 2: kernel_rows(2, kc, a, b, c, ldc, alpha, beta); break;
	case 3: kernel_rows(3, kc, a, b, c, ldc, alpha, beta); break;
	case 4: kernel_rows(4, kc, a, b, c, ldc, alpha, beta); break;
	case 5: kernel_rows(5, kc, a, b, c, ldc, alpha, beta); break;
	default: kernel_rows(MR, kc, a, b, c, ldc, alpha, beta); break;
	}
}

/* The direct-convolution kernel (see gemm_kernel.h): rows x 16 outputs
 * from a packed MR-row panel of weights and 16-float runs of a padded
 * input at the offsets boff[p]. */
static inline __attribute__((always_inline)) void
conv_rows(int rows, long K, const float *a, const float *b, const int *boff, float *c,
          long ldc)
{
	__m256 acc[MR][NV];
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++)
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			acc[i][v] = _mm256_setzero_ps();
	for (long p = 0; p < K; p++, a += MR) {
		const float *bp = b + boff[p];
		__m256 bv[NV];
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			bv[v] = _mm256_loadu_ps(bp + 8 * v);
#pragma GCC unroll 16
		for (int i = 0; i < rows; i++) {
			__m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 8
			for (int v = 0; v < NV; v++)
				acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
		}
	}
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++)
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			_mm256_storeu_ps(c + i * ldc + 8 * v, acc[i][v]);
}

void dm_conv_ukernel_avx2(int rows, long K, const float *a, const float *b, const int *boff,
                          float *c, long ldc)
{
	switch (rows) {
	case 1: conv_rows(1, K, a, b, boff, c, ldc); break;
	case 2: conv_rows(2, K, a, b, boff, c, ldc); break;
	case 3: conv_rows(3, K, a, b, boff, c, ldc); break;
	case 4: conv_rows(4, K, a, b, boff, c, ldc); break;
	case 5: conv_rows(5, K, a, b, boff, c, ldc); break;
	default: conv_rows(MR, K, a, b, boff, c, ldc); break;
	}
}

/* The direct weight-gradient kernel (see gemm_kernel.h): c[i][0..16) +=
 * sum over q < Q of arow[i][q] * b[q*16 + 0..16), i < rows. */
static inline __attribute__((always_inline)) void
convw_rows(int rows, long Q, const float *const *arow, const float *b, float *c, long ldc)
{
	__m256 acc[MR][NV];
	const float *ar[MR];
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++) {
		ar[i] = arow[i];
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			acc[i][v] = _mm256_setzero_ps();
	}
	for (long q = 0; q < Q; q++, b += NR) {
		__m256 bv[NV];
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			bv[v] = _mm256_load_ps(b + 8 * v);
#pragma GCC unroll 16
		for (int i = 0; i < rows; i++) {
			__m256 ai = _mm256_broadcast_ss(ar[i] + q);
#pragma GCC unroll 8
			for (int v = 0; v < NV; v++)
				acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
		}
	}
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++)
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++) {
			float *ci = c + i * ldc + 8 * v;
			_mm256_storeu_ps(ci, _mm256_add_ps(_mm256_loadu_ps(ci), acc[i][v]));
		}
}

void dm_convw_ukernel_avx2(int rows, long Q, const float *const *arow, const float *b, float *c,
                           long ldc)
{
	switch (rows) {
	case 1: convw_rows(1, Q, arow, b, c, ldc); break;
	case 2: convw_rows(2, Q, arow, b, c, ldc); break;
	case 3: convw_rows(3, Q, arow, b, c, ldc); break;
	case 4: convw_rows(4, Q, arow, b, c, ldc); break;
	case 5: convw_rows(5, Q, arow, b, c, ldc); break;
	default: convw_rows(MR, Q, arow, b, c, ldc); break;
	}
}

/* gemm_avx2.c - the AVX2+FMA micro-kernel, 6 x 16 (12 accumulators in
 * ymm registers, 2 for B, 1 broadcast of A); see gemm_kernel.h. */
#include <immintrin.h>

#include "gemm_kernel.h"

#define MR DM_GEMM_AVX2_MR
#define NR DM_GEMM_AVX2_NR

void dm_gemm_ukernel_avx2(long kc, const float *a, const float *b, float *c, long ldc,
                          float alpha, float beta)
{
	__m256 acc[MR][2];
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++)
		acc[i][0] = acc[i][1] = _mm256_setzero_ps();
	for (long p = 0; p < kc; p++, a += MR, b += NR) {
		__m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
		for (int i = 0; i < MR; i++) {
			__m256 ai = _mm256_broadcast_ss(a + i);
			acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
			acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
		}
	}
	__m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
	for (int i = 0; i < MR; i++) {
		float *ci = c + i * ldc;
		__m256 t0 = _mm256_mul_ps(va, acc[i][0]), t1 = _mm256_mul_ps(va, acc[i][1]);
		if (beta != 0.0f) {
			t0 = _mm256_add_ps(t0, _mm256_mul_ps(vb, _mm256_loadu_ps(ci)));
			t1 = _mm256_add_ps(t1, _mm256_mul_ps(vb, _mm256_loadu_ps(ci + 8)));
		}
		_mm256_storeu_ps(ci, t0);
		_mm256_storeu_ps(ci + 8, t1);
	}
}

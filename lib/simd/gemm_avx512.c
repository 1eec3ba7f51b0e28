/* gemm_avx512.c - the AVX-512 micro-kernel, 14 x 32 (28 accumulators in
 * zmm registers, 2 for B, 1 broadcast of A: all 32 registers, which is what
 * AVX-512 buys on Zen 4 where a zmm FMA costs two ymm FMAs); see
 * gemm_kernel.h. */
#include <immintrin.h>

#include "gemm_kernel.h"

#define MR DM_GEMM_AVX512_MR
#define NR DM_GEMM_AVX512_NR

void dm_gemm_ukernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            float alpha, float beta)
{
	__m512 acc[MR][2];
#pragma GCC unroll 14
	for (int i = 0; i < MR; i++)
		acc[i][0] = acc[i][1] = _mm512_setzero_ps();
	for (long p = 0; p < kc; p++, a += MR, b += NR) {
		__m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
		for (int i = 0; i < MR; i++) {
			__m512 ai = _mm512_set1_ps(a[i]);
			acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
			acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
		}
	}
	__m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
	for (int i = 0; i < MR; i++) {
		float *ci = c + i * ldc;
		__m512 t0 = _mm512_mul_ps(va, acc[i][0]), t1 = _mm512_mul_ps(va, acc[i][1]);
		if (beta != 0.0f) {
			t0 = _mm512_add_ps(t0, _mm512_mul_ps(vb, _mm512_loadu_ps(ci)));
			t1 = _mm512_add_ps(t1, _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16)));
		}
		_mm512_storeu_ps(ci, t0);
		_mm512_storeu_ps(ci + 16, t1);
	}
}

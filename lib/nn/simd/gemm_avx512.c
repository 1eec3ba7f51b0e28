/* gemm_avx512.c - the AVX-512 micro-kernel (see gemm_kernel.h): MR x NR
 * with NR/16 zmm columns.  8 x 48: 24 accumulators + 3 for B + 1 broadcast
 * of A, which needs the 32 registers (that, not width, is what AVX-512 buys
 * on Zen 4, where a zmm FMA costs two ymm FMAs); 8 and 48 divide the
 * convolution shapes' M and N (32, 64, 288, 576). */
#include <immintrin.h>

#include "nn/simd/gemm_kernel.h"

#define MR DM_GEMM_AVX512_MR
#define NR DM_GEMM_AVX512_NR
#define NV (NR / 16)

void dm_gemm_ukernel_avx512(long kc, const float *a, const float *b, float *c, long ldc,
                            float alpha, float beta)
{
	__m512 acc[MR][NV];
#pragma GCC unroll 16
	for (int i = 0; i < MR; i++) {
		/* C is needed only after the loop: start fetching it now. */
		for (int l = 0; l < NR; l += 16)
			_mm_prefetch((const char *)(c + i * ldc + l), _MM_HINT_T0);
		_mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			acc[i][v] = _mm512_setzero_ps();
	}
	for (long p = 0; p < kc; p++, a += MR, b += NR) {
		__m512 bv[NV];
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 16
		for (int i = 0; i < MR; i++) {
			__m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 8
			for (int v = 0; v < NV; v++)
				acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
		}
	}
	__m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
	for (int i = 0; i < MR; i++) {
		float *ci = c + i * ldc;
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++) {
			__m512 t = _mm512_mul_ps(va, acc[i][v]);
			if (beta != 0.0f)
				t = _mm512_add_ps(t, _mm512_mul_ps(vb, _mm512_loadu_ps(ci + 16 * v)));
			_mm512_storeu_ps(ci + 16 * v, t);
		}
	}
}

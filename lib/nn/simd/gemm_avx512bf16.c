/* gemm_avx512bf16.c - the AVX512-BF16 micro-kernel (see gemm_kernel.h):
 * 8 x 48 like the fp32 AVX-512 one (24 accumulators, 3 registers of B, one
 * broadcast of an A pair), each vdpbf16ps doing two k steps of 16 columns.
 * Bit-identical to the portable kernel (same pair order, same rounding). */
#include <immintrin.h>

#include "nn/simd/gemm_kernel.h"

#define MR DM_GEMM_AVX512BF16_MR
#define NR DM_GEMM_AVX512BF16_NR
#define NV (NR / 16)

void dm_gemm_ukernel_avx512bf16(long kp, const uint16_t *a, const uint16_t *b, float *c,
                                long ldc, float alpha, float beta)
{
	__m512 acc[MR][NV];
#pragma GCC unroll 16
	for (int i = 0; i < MR; i++) {
		for (int l = 0; l < NR; l += 16)
			_mm_prefetch((const char *)(c + i * ldc + l), _MM_HINT_T0);
		_mm_prefetch((const char *)(c + i * ldc + NR - 1), _MM_HINT_T0);
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			acc[i][v] = _mm512_setzero_ps();
	}
	const int *ap = (const int *)a; /* one pair of A per int */
	for (long q = 0; q < kp / 2; q++, ap += MR, b += 2 * NR) {
		__m512bh bv[NV];
#pragma GCC unroll 8
		for (int v = 0; v < NV; v++)
			bv[v] = (__m512bh)_mm512_load_si512((const void *)(b + 32 * v));
#pragma GCC unroll 16
		for (int i = 0; i < MR; i++) {
			__m512bh ai = (__m512bh)_mm512_set1_epi32(ap[i]);
#pragma GCC unroll 8
			for (int v = 0; v < NV; v++)
				acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
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

void dm_bf16_cvt_avx512bf16(uint16_t *dst, const float *src, int n)
{
	int i = 0;
	for (; i + 32 <= n; i += 32) {
		__m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
		_mm512_storeu_si512((void *)(dst + i), (__m512i)h);
	}
	for (; i < n; i += 16) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
		__m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
		_mm256_mask_storeu_epi16(dst + i, m, (__m256i)h);
	}
}

void dm_bf16_pairs_avx512bf16(uint16_t *dst, const float *r0, const float *r1, int n)
{
	/* cvtne2ps gives r0's 16 values then r1's; the permutation interleaves them */
	const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
	                                     24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
	                                     16, 0);
	for (int j = 0; j < n; j += 16) {
		__mmask16 m = (__mmask16)(n - j >= 16 ? 0xffff : (1u << (n - j)) - 1);
		__m512 a = _mm512_maskz_loadu_ps(m, r0 + j);
		__m512 b = r1 ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
		__m512i h = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
		_mm512_mask_storeu_epi32(dst + 2 * j, m, h);
	}
}

void dm_bf16_round_copy_avx512bf16(float *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = (__mmask16)(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
		__m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
		__m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)h), 16);
		_mm512_mask_storeu_epi32(dst + i, m, w);
	}
}

/* gemm_scalar.c - the portable micro-kernel (see gemm_kernel.h). */
#include "nn/simd/gemm_kernel.h"

#define MR DM_GEMM_SCALAR_MR
#define NR DM_GEMM_SCALAR_NR

void dm_gemm_ukernel_scalar(long kc, const float *a, const float *b, float *c, long ldc,
                            float alpha, float beta)
{
	float ab[MR][NR] = { { 0 } };
	for (long p = 0; p < kc; p++, a += MR, b += NR)
		for (int i = 0; i < MR; i++)
			for (int j = 0; j < NR; j++)
				ab[i][j] += a[i] * b[j];
	for (int i = 0; i < MR; i++)
		for (int j = 0; j < NR; j++) {
			float t = alpha * ab[i][j];
			if (beta != 0.0f)
				t += beta * c[i * ldc + j];
			c[i * ldc + j] = t;
		}
}

/* gemm_bf16_scalar.c - the portable bf16 micro-kernel (see gemm_kernel.h):
 * the reference every bf16 path is tested against, and the path on CPUs
 * without AVX512-BF16.  It reproduces vdpbf16ps bit for bit: the odd
 * product of each pair added first, every addition rounded to fp32, and
 * denormal sums flushed to zero (the instruction ignores MXCSR and works
 * with DAZ and FTZ).  The products of two bf16 are exact in fp32 (8 x 8
 * significant bits); one that underflows is flushed too. */
#include <float.h>
#include <math.h>

#include "nn/bf16.h"
#include "nn/simd/gemm_kernel.h"

#define MR DM_GEMM_BF16_SCALAR_MR
#define NR DM_GEMM_BF16_SCALAR_NR

static inline float ftz(float x)
{
	return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x;
}

void dm_gemm_bf16_ukernel_scalar(long kp, const uint16_t *a, const uint16_t *b, float *c,
                                 long ldc, float alpha, float beta)
{
	float acc[MR][NR] = { { 0 } };
	for (long q = 0; q < kp / 2; q++, a += 2 * MR, b += 2 * NR)
		for (int i = 0; i < MR; i++) {
			float a0 = dm_bf16_to_f32(a[2 * i]), a1 = dm_bf16_to_f32(a[2 * i + 1]);
			for (int j = 0; j < NR; j++) {
				float s = ftz(acc[i][j] + ftz(a1 * dm_bf16_to_f32(b[2 * j + 1])));
				acc[i][j] = ftz(s + ftz(a0 * dm_bf16_to_f32(b[2 * j])));
			}
		}
	for (int i = 0; i < MR; i++)
		for (int j = 0; j < NR; j++) {
			float t = alpha * acc[i][j];
			if (beta != 0.0f)
				t += beta * c[i * ldc + j];
			c[i * ldc + j] = t;
		}
}

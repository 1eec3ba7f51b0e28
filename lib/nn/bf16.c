/* bf16.c - bfloat16 conversion of arrays (see bf16.h). */
#include "nn/bf16.h"

void dm_bf16_from_f32_array(dm_bf16 *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = dm_bf16_from_f32(src[i]);
}

void dm_bf16_round_array(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = dm_bf16_round(x[i]);
}

/* bf16.h - bfloat16 numbers: the portable conversion that every bf16 path
 * (nn/gemm.h dm_gemm_bf16, conv, the models' --precision bf16) rounds with.
 *
 * A bf16 is the top half of an IEEE float32: sign, 8 exponent bits, 7
 * mantissa bits.  dm_bf16_from_f32 rounds exactly as the AVX512-BF16
 * instruction vcvtneps2bf16 does (Intel SDM vol. 2, "convert_fp32_to_
 * bfloat16"), so a kernel using the instruction and the portable kernel see
 * the same inputs:
 *   - round to nearest, ties to even, whatever MXCSR says;
 *   - zero and denormal inputs become a zero of the same sign (denormals are
 *     flushed, not rounded);
 *   - infinities stay infinities; finite values that round past the largest
 *     bf16 become infinities;
 *   - a NaN keeps its sign and top 7 payload bits and is made quiet (bit 6 of
 *     the bf16 set): a signalling NaN comes out as a quiet one, never as an
 *     infinity.
 * Checked against the instruction on every value class in
 * tests/unit/nn/test_bf16.c. */
#ifndef DM_BF16_H
#define DM_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t dm_bf16;

static inline dm_bf16 dm_bf16_from_f32(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet, sign and payload top kept */
		return (dm_bf16)((u >> 16) | 0x40u);
	if ((u & 0x7f800000u) == 0) /* zero or denormal: signed zero */
		return (dm_bf16)((u >> 16) & 0x8000u);
	u += 0x7fffu + ((u >> 16) & 1u); /* ties to even; carries into the exponent */
	return (dm_bf16)(u >> 16);
}

static inline float dm_bf16_to_f32(dm_bf16 h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* f rounded to the nearest bf16, as a float. */
static inline float dm_bf16_round(float f)
{
	return dm_bf16_to_f32(dm_bf16_from_f32(f));
}

/* dst[i] = dm_bf16_from_f32(src[i]), i < n. */
void dm_bf16_from_f32_array(dm_bf16 *dst, const float *src, size_t n);
/* x[i] = dm_bf16_round(x[i]) in place. */
void dm_bf16_round_array(float *x, size_t n);

#endif

/* init.c - PyTorch-default parameter initialisation (init.h). */
#include "nn/init.h"

#include <math.h>

#include "core/rng.h"

void dm_init_uniform(float *out, size_t n, float bound, uint64_t seed, uint64_t index,
                     uint64_t first)
{
	dm_rng_uniform(seed, DM_RNG_INIT, index, first, out, n);
	for (size_t i = 0; i < n; i++)
		out[i] = (2.0f * out[i] - 1.0f) * bound;
}

/* kaiming_uniform_(a = sqrt(5)): gain = sqrt(2 / (1 + a^2)) = sqrt(1/3),
 * bound = sqrt(3) * gain / sqrt(fan_in) = 1 / sqrt(fan_in); the bias uses
 * the same bound (torch.nn.Linear.reset_parameters). */
static void init_fan_in(float *w, size_t nw, float *b, int nb, size_t fan_in, uint64_t seed,
                        uint64_t index)
{
	float bound = fan_in > 0 ? (float)(1.0 / sqrt((double)fan_in)) : 0.0f;
	dm_init_uniform(w, nw, bound, seed, index, 0);
	if (b)
		dm_init_uniform(b, (size_t)nb, bound, seed, index, nw);
}

void dm_init_conv2d(float *w, float *b, int out_ch, int in_ch, int kh, int kw, uint64_t seed,
                    uint64_t index)
{
	size_t fan_in = (size_t)in_ch * kh * kw;
	init_fan_in(w, (size_t)out_ch * fan_in, b, out_ch, fan_in, seed, index);
}

void dm_init_linear(float *w, float *b, int outf, int in, uint64_t seed, uint64_t index)
{
	init_fan_in(w, (size_t)outf * in, b, outf, (size_t)in, seed, index);
}

void dm_init_groupnorm(float *weight, float *bias, int C)
{
	for (int c = 0; c < C; c++) {
		weight[c] = 1.0f;
		bias[c] = 0.0f;
	}
}

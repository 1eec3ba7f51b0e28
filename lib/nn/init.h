/* init.h - parameter initialisation as PyTorch's defaults.
 *
 * So that a dm model starts from the same distribution as its PyTorch twin
 * (and training curves are comparable):
 *   Conv2d, Linear: kaiming_uniform_(a = sqrt(5)) for the weight, which is
 *     U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias;
 *     fan_in = in_ch * kh * kw (conv) or in (linear).
 *   GroupNorm: weight 1, bias 0.
 * Uniforms come from rng.h with purpose DM_RNG_INIT and the caller's
 * per-layer index: the weight takes elements 0..nw-1 of (seed, DM_RNG_INIT,
 * index), the bias continues with elements nw..nw+out-1.  Give every layer
 * its own index; the values then depend only on (seed, index, shape).
 */
#ifndef DM_INIT_H
#define DM_INIT_H

#include <stddef.h>
#include <stdint.h>

/* n values U(-bound, bound) from elements first.. of (seed, DM_RNG_INIT,
 * index): out = (2u - 1) * bound. */
void dm_init_uniform(float *out, size_t n, float bound, uint64_t seed, uint64_t index,
                     uint64_t first);

/* w: out_ch x in_ch x kh x kw, b: out_ch (may be NULL). */
void dm_init_conv2d(float *w, float *b, int out_ch, int in_ch, int kh, int kw, uint64_t seed,
                    uint64_t index);
/* w: outf x in, b: outf (may be NULL). */
void dm_init_linear(float *w, float *b, int outf, int in, uint64_t seed, uint64_t index);
/* weight: C ones, bias: C zeros. */
void dm_init_groupnorm(float *weight, float *bias, int C);

#endif

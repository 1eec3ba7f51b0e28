/* unet.h - the DDPM-style U-Net of MODELS.md (Ho et al. 2020, App. B).
 *
 * Exactly the topology of MODELS.md, with parameter names of the PyTorch
 * twin (tests/ref/models.py):
 *   time.lin1, time.lin2                Linear(ch,4ch), Linear(4ch,4ch)
 *   label_emb.weight                    (classes+1) x 4ch, when classes > 0
 *   conv_in                             3x3 in_ch -> ch
 *   down.<i>.res.<j>.{norm1,conv1,temb,norm2,conv2,skip}
 *   down.<i>.attn.<j>.{norm,q,k,v,proj}
 *   down.<i>.down                       3x3 stride 2
 *   mid.res1, mid.attn, mid.res2
 *   up.<i>.res.<j>, up.<i>.attn.<j>, up.<i>.up   (up conv after nearest x2)
 *   norm_out, conv_out
 * each with .weight and .bias.  The label embedding is added to the time
 * embedding after the time MLP.
 */
#ifndef DM_UNET_H
#define DM_UNET_H

#include <stdint.h>

#include "core/error.h"
#include "models/net.h"
#include "nn/params.h"

typedef struct dm_unet dm_unet;

int dm_unet_init(dm_unet **u, const dm_net_config *cfg, dm_layout *L, dm_error *err);
void dm_unet_init_params(const dm_unet *u, float *params, uint64_t seed);
/* Plan activations for B samples; the gradient pool only when train (so
 * that inference does not pay for it). */
int dm_unet_plan(dm_unet *u, int B, int train, dm_error *err);
/* out: B x in_ch x H x W.  train: dropout keyed by (seed, drop_index). */
void dm_unet_forward(dm_unet *u, const float *p, const float *x, const float *t,
                     const int32_t *label, int B, float *out, int train, uint64_t seed,
                     uint64_t drop_index);
void dm_unet_backward(dm_unet *u, const float *p, float *g, const float *dout);
void dm_unet_free(dm_unet *u);
/* The precision of the convolutions (nn/gemm.h; DM_PREC_FP32 after init):
 * bf16 rounds their operands to bf16 and sums in fp32.  Parameters,
 * gradients, normalisation, attention and the loss stay fp32. */
void dm_unet_set_precision(dm_unet *u, int prec);

#endif

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
#include "core/kv.h"
#include "nn/params.h"

#define DM_UNET_MAX_LEVELS 8

/* The U-Net's sizes; classes and t_scale are the net's (models/net.h). */
typedef struct dm_unet_config {
	int in_ch, H, W;                  /* the input image */
	int ch, nmult, ch_mult[DM_UNET_MAX_LEVELS], res_blocks;
	int nattn, attn_res[DM_UNET_MAX_LEVELS]; /* resolutions with self-attention */
	int groups;                       /* GroupNorm groups */
	float dropout;                    /* in the ResBlocks */
	int classes;                      /* 0 = unconditional */
	float t_scale;                    /* t fed to the embedding = t * t_scale */
} dm_unet_config;

/* unet-s of MODELS.md (1x28x28, ch 32, ch_mult 1,2,2, 2 ResBlocks,
 * attention at 7, 8 groups, no dropout); with medium, unet-m (3x32x32,
 * ch 64, ch_mult 1,2,2,2, attention at 16, 32 groups, dropout 0.1). */
void dm_unet_config_default(dm_unet_config *c, int medium);
/* Sizes in range, and the input shape against the levels and groups; 0 or
 * DM_ERR_ARG. */
int dm_unet_config_check(const dm_unet_config *c, dm_error *err);
/* The sizes' keys of a checkpoint header (in_ch H W ch ch_mult res_blocks
 * attn groups dropout shape), and back; 0, DM_ERR_NOMEM, DM_ERR_FORMAT. */
int dm_unet_config_to_kv(const dm_unet_config *c, dm_kv *kv, dm_error *err);
int dm_unet_config_from_kv(dm_unet_config *c, const dm_kv *kv, const char *name, dm_error *err);

typedef struct dm_unet dm_unet;

int dm_unet_init(dm_unet **u, const dm_unet_config *cfg, dm_layout *L, dm_error *err);
/* The same U-Net over clips of T >= 1 frames (unet3d.h; T = 0 is
 * dm_unet_init): input and output B x in_ch x T x H x W, swapped to
 * frame-major inside; every layer above runs per frame (cfg's H x W), the
 * time embedding is the clip's, and each ResBlock (after its spatial
 * attention, if any) and the middle attention are followed by a temporal
 * attention block <prefix>.tattn.<j> / mid.tattn {norm,q,k,v,proj, rel}
 * (nn/tattn.h) over the T frames at every position.  kt 3 makes every
 * 3x3 convolution a 3x3x3 one over (frame, H, W) (nn/conv3d.h; weights
 * Cout x Cin x 3 x 3 x 3, as torch's Conv3d), kt 1 keeps them per frame.
 * Plan, forward, backward and the rest are the functions below, B
 * counting clips. */
int dm_unet_init_video(dm_unet **u, const dm_unet_config *cfg, int T, int kt, dm_layout *L,
                       dm_error *err);
void dm_unet_init_params(const dm_unet *u, float *params, uint64_t seed);
/* Plan activations for B samples; the gradient pool only when train (so
 * that inference does not pay for it). */
int dm_unet_plan(dm_unet *u, int B, int train, dm_error *err);
/* out: B x in_ch x H x W.  train 1: dropout keyed by (seed, drop_index)
 * and the activations backward needs; 2: the activations only (no dropout). */
void dm_unet_forward(dm_unet *u, const float *p, const float *x, const float *t,
                     const int32_t *label, int B, float *out, int train, uint64_t seed,
                     uint64_t drop_index);
void dm_unet_backward(dm_unet *u, const float *p, float *g, const float *dout);
void dm_unet_free(dm_unet *u);
/* With on, backward also writes the gradient with respect to the input x
 * (B x in_ch x H x W), read with dm_unet_input_grad until the next
 * backward; off (after init) training skips it. */
void dm_unet_want_input_grad(dm_unet *u, int on);
const float *dm_unet_input_grad(const dm_unet *u);
/* The precision of the convolutions (nn/gemm.h; DM_PREC_FP32 after init):
 * bf16 rounds their operands to bf16 and sums in fp32.  Parameters,
 * gradients, normalisation, attention and the loss stay fp32. */
void dm_unet_set_precision(dm_unet *u, int prec);

#endif

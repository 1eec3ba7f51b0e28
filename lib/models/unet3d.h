/* unet3d.h - the space-time factorised U-Net of Ho et al. 2022 ("Video
 * Diffusion Models", §3), for clips (or volumes as stacks of slices).
 *
 * The U-Net of unet.h with every layer applied to each of a clip's T
 * frames (convolutions, GroupNorm, ResBlocks, spatial attention at the
 * resolutions asked for), the time embedding shared by the clip's frames,
 * and after every ResBlock (after its spatial attention, if any) and after
 * the middle attention, a temporal attention block: GroupNorm, 1x1 q k v,
 * attention over the T frames at every position with a learned relative
 * frame-position bias (nn/tattn.h), 1x1 proj, residual.  Input and output
 * are B x in_ch x T x H x W.  Parameter names are unet.h's plus
 *   down.<i>.tattn.<j>, mid.tattn, up.<i>.tattn.<j>   .{norm,q,k,v,proj}.{weight,bias}
 *                                                      and .rel (2T-1)
 * as the PyTorch twin (tests/ref/models.py, UNet3D) names them.  The
 * network itself is a dm_unet (unet.h: plan, forward, backward, input
 * gradient, precision), built by dm_unet3d_init.
 */
#ifndef DM_UNET3D_H
#define DM_UNET3D_H

#include "core/error.h"
#include "core/kv.h"
#include "nn/params.h"

#include "models/unet.h"

typedef struct dm_unet3d_config {
	int T;            /* frames (or slices) of a sample */
	dm_unet_config s; /* each frame's sizes: in_ch, H, W, ch, ch_mult, attn, ... */
	int kt;           /* 1: 3x3 convolutions per frame (Ho et al.); 3: 3x3x3 ones */
} dm_unet3d_config;

/* unet3d-s: 1 x 8 x 32 x 32 clips, ch 32, ch_mult 1,2,2, 1 ResBlock a
 * level, spatial attention at 8, 8 groups, no dropout. */
void dm_unet3d_config_default(dm_unet3d_config *c);
/* T in 1..1024, kt 1 or 3, and the frame sizes as unet's check; 0 or
 * DM_ERR_ARG. */
int dm_unet3d_config_check(const dm_unet3d_config *c, dm_error *err);
/* unet's header keys with sample_frames=T, kt= and shape=CxTxHxW (T= is the
 * schedule's), and back; 0, DM_ERR_NOMEM, DM_ERR_FORMAT. */
int dm_unet3d_config_to_kv(const dm_unet3d_config *c, dm_kv *kv, dm_error *err);
int dm_unet3d_config_from_kv(dm_unet3d_config *c, const dm_kv *kv, const char *name,
                             dm_error *err);
/* The network (its parameters added to L); classes and t_scale are
 * c->s's.  0, DM_ERR_NOMEM. */
int dm_unet3d_init(dm_unet **u, const dm_unet3d_config *c, dm_layout *L, dm_error *err);

#endif

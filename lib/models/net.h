/* net.h - a network behind one config (mlp or unet, MODELS.md, or the
 * classifier of classifier.h that dm trains for its own metrics): its
 * parameter layout, initialisation, forward and backward.  Activations are
 * planned once per batch size by the model (mlp.h, unet.h).
 */
#ifndef DM_NET_H
#define DM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"
#include "nn/params.h"

#include "models/classifier.h"
#include "models/mlp.h"
#include "models/unet.h"
#include "models/unet3d.h"

enum { DM_NET_MLP = 1, DM_NET_UNET = 2, DM_NET_CLASSIFIER = 3, DM_NET_UNET3D = 4 };
#define DM_NET_MAX_LEVELS DM_UNET_MAX_LEVELS

/* Which network, what it is conditioned on, and its sizes: each model owns
 * its config (mlp.h, unet.h, classifier.h); the one of `kind` is used.
 * classes and t_scale are copied into the mlp's or unet's at init. */
typedef struct dm_net_config {
	int kind;       /* DM_NET_MLP, DM_NET_UNET, DM_NET_CLASSIFIER or DM_NET_UNET3D */
	int classes;    /* 0 = unconditional; label == classes is the null label */
	float t_scale;  /* t fed to the embedding = t * t_scale (1, or 999) */
	dm_mlp_config mlp;
	dm_unet_config unet;
	dm_classifier_config cls;
	dm_unet3d_config unet3d;
} dm_net_config;

/* Fill cfg for a named model: "mlp-2d", "unet-s", "unet-m", "unet3d-s",
 * "classifier-fmnist", or the bare topologies "mlp", "unet", "unet3d" and
 * "classifier" (defaults of mlp-2d / unet-s / unet3d-s / classifier-fmnist,
 * to be changed by explicit sizes).  0 or DM_ERR_ARG. */
int dm_net_config_named(dm_net_config *cfg, const char *name, dm_error *err);
/* Sizes asked for on top of a named model (dm-train --hidden, --ch, ...);
 * a negative number or NULL list is "not given". */
typedef struct dm_net_sizes {
	int hidden, layers, temb;            /* mlp */
	int ch, res_blocks, groups;          /* unet, unet3d, classifier */
	const char *ch_mult, *attn;          /* "1,2,2"; "16,8" or "none" */
	float dropout;                       /* unet, unet3d */
	int kt;                              /* unet3d: 3 for 3x3x3 convolutions */
	int classes;                         /* conditional classes; a classifier's outputs */
} dm_net_sizes;
/* All not given. */
void dm_net_sizes_none(dm_net_sizes *s);
/* Fit cfg (from dm_net_config_named) to samples of shape dims[0..rank-1]
 * (an mlp takes their count as dim; a unet or classifier needs C x H x W,
 * a unet3d C x T x H x W)
 * and apply the sizes given.  A size of the other kind of network, a bad
 * list or a wrong sample rank is DM_ERR_ARG with a sentence naming it. */
int dm_net_config_fit(dm_net_config *cfg, const dm_net_sizes *s, const int64_t *dims, int rank,
                      dm_error *err);
/* Check sizes (and for unet the input shape against levels and groups). */
int dm_net_config_check(const dm_net_config *cfg, dm_error *err);
/* Write / read the config keys of the checkpoint header. */
int dm_net_config_to_kv(const dm_net_config *cfg, dm_kv *kv, dm_error *err);
int dm_net_config_from_kv(dm_net_config *cfg, const dm_kv *kv, const char *name, dm_error *err);
/* Parse a list "1,2,2" (or "none") into v (at most max values, each
 * 1..100000); returns the count or -1. */
int dm_net_parse_list(const char *s, int *v, int max);

/* For the models' own config keys: a list as "1,2,2"; an integer key in
 * 0..2^30 (DM_ERR_FORMAT naming the file and key); the image sizes unet
 * and classifier share (in_ch H W ch ch_mult res_blocks groups; to_kv
 * returns nonzero when out of memory). */
void dm_net_list_str(char *buf, size_t n, const int *v, int k);
int dm_net_kv_int(const dm_kv *kv, const char *key, const char *name, int *out, dm_error *err);
int dm_net_image_to_kv(dm_kv *kv, int in_ch, int H, int W, int ch, const char *ch_mult,
                       int res_blocks, int groups);
int dm_net_image_from_kv(const dm_kv *kv, const char *name, int *in_ch, int *H, int *W, int *ch,
                         int *ch_mult, int *nmult, int *res_blocks, int *groups, dm_error *err);
/* The shape of one sample: dims[0] = dim (returns 1), C, H, W (3), or
 * C, T, H, W (4, unet3d). */
int dm_net_sample_shape(const dm_net_config *cfg, int64_t *dims);
/* Number of values per sample (dim, in_ch*H*W, or in_ch*T*H*W). */
size_t dm_net_sample_size(const dm_net_config *cfg);
/* Number of output values per sample: the sample size, or a classifier's
 * logits (outputs). */
size_t dm_net_output_size(const dm_net_config *cfg);

typedef struct dm_net {
	dm_net_config cfg;
	dm_layout layout;
	struct dm_mlp *mlp;
	struct dm_unet *unet;    /* unet or unet3d */
	struct dm_classifier *cls;
	float *vjp_g;            /* dm_net_vjp's parameter gradients (scratch) */
} dm_net;

/* Build the layout and the model (no batch plan yet). */
int dm_net_init(dm_net *net, const dm_net_config *cfg, dm_error *err);
void dm_net_free(dm_net *net);
/* The precision of the network's products (nn/gemm.h): DM_PREC_BF16 makes a
 * unet's convolutions take bf16 operands with fp32 sums (dm_unet_set_
 * precision); the weights, their gradients and everything else stay fp32,
 * and so does the checkpoint.  mlp and classifier stay fp32 (today). */
void dm_net_set_precision(dm_net *net, int prec);
/* PyTorch-default initialisation of the whole block from seed. */
void dm_net_init_params(const dm_net *net, float *params, uint64_t seed);
/* Forward for B samples (out: B x dm_net_output_size).  train != 0 applies dropout with masks keyed by
 * (seed, drop_index) and keeps what backward needs.  label may be NULL
 * (null label for class-conditional models).  A classifier ignores t
 * and label (t may be NULL) and keeps x until backward.  Plans buffers for B on
 * first use or when B changes. */
int dm_net_forward(dm_net *net, const float *params, const float *x, const float *t,
                   const int32_t *label, int B, float *out, int train, uint64_t seed,
                   uint64_t drop_index, dm_error *err);
/* Backward of the last training forward: grads += d loss / d params. */
void dm_net_backward(dm_net *net, const float *params, float *grads, const float *dout);

/* The vector-Jacobian product with respect to the input: out = f(x, t,
 * label) (B x dm_net_output_size, without dropout) and dx = v^T d out /
 * d x (B x dm_net_sample_size), v given like out.  It runs the training
 * forward and backward; the parameter gradients go to a scratch block the
 * net keeps (allocated on first use).  A classifier ignores t and label
 * (t may be NULL).  0 or DM_ERR_NOMEM. */
int dm_net_vjp(dm_net *net, const float *params, const float *x, const float *t,
               const int32_t *label, int B, const float *v, float *out, float *dx,
               dm_error *err);

#endif

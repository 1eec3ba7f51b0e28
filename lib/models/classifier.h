/* classifier.h - a small convolutional image classifier, dm's own feature
 * network for Frechet distances (eval/features.h) and its test accuracy.
 *
 * Topology (widths w_i = ch * ch_mult[i], every conv 3x3 with padding 1):
 *   h = conv.0(x)                                 in_ch -> w_0, stride 1
 *   then res_blocks times: h = conv(SiLU(GN(h)))  w_0 -> w_0, stride 1
 *   for each level i >= 1:
 *     h = conv(SiLU(GN(h)))                       w_{i-1} -> w_i, stride 2
 *     then res_blocks times: conv(SiLU(GN(h)))    w_i -> w_i, stride 1
 *   h = SiLU(GN(h)) (norm_out), global average pool over H x W
 *   f = SiLU(Linear(w_last -> feat)(h))           the features (penultimate)
 *   logits = Linear(feat -> outputs)(f)
 * GroupNorm with `groups` groups, eps 1e-5.  Parameter names:
 * conv.<l>.{weight,bias}, norm.<l>.{weight,bias} (the GN before conv l,
 * l >= 1), norm_out, feat, head.  The network ignores label.
 *
 * Noise-conditioned (temb > 0, dm-train --temb N: the guide of dm-denoise
 * --classifier): e = SiLU(time.lin1(sinusoid(t * t_scale, ch))), temb
 * wide, and every conv's output gets the per-channel bias temb.<l>(e)
 * (a Linear temb -> its width), as a unet's ResBlocks do.  temb == 0: t is
 * ignored.
 *
 * Named: classifier-fmnist (1x28x28, ch 32, ch_mult 1,2,4, res_blocks 0,
 * groups 8, feat 128, 10 outputs).
 */
#ifndef DM_CLASSIFIER_H
#define DM_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"
#include "nn/params.h"

#define DM_CLS_MAX_CONVS 64
#define DM_CLS_MAX_LEVELS 8

/* The classifier's sizes. */
typedef struct dm_classifier_config {
	int in_ch, H, W;                  /* the input image */
	int ch, nmult, ch_mult[DM_CLS_MAX_LEVELS];
	int res_blocks;                   /* extra stride-1 convs per level */
	int groups;                       /* GroupNorm groups */
	int feat;                         /* width of the feature (penultimate) layer */
	int outputs;                      /* logits: the number of classes it tells apart */
	int temb;                         /* time-embedding width; 0 = t ignored */
	float t_scale;                    /* t fed to the embedding = t * t_scale (from the net) */
} dm_classifier_config;

/* classifier-fmnist (above). */
void dm_classifier_config_default(dm_classifier_config *c);
/* Sizes in range; 0 or DM_ERR_ARG. */
int dm_classifier_config_check(const dm_classifier_config *c, dm_error *err);
/* The sizes' keys of a checkpoint header (in_ch H W ch ch_mult res_blocks
 * groups feat outputs shape), and back; 0, DM_ERR_NOMEM, DM_ERR_FORMAT. */
int dm_classifier_config_to_kv(const dm_classifier_config *c, dm_kv *kv, dm_error *err);
int dm_classifier_config_from_kv(dm_classifier_config *c, const dm_kv *kv, const char *name,
                                 dm_error *err);

typedef struct dm_classifier {
	dm_classifier_config cfg;
	int nconv;
	struct {
		int cin, cout, h, w, stride, ho, wo; /* input h x w, output ho x wo */
		size_t w_off, b_off, nw_off, nb_off; /* conv weight, bias; GN before it (l >= 1) */
	} cv[DM_CLS_MAX_CONVS];
	size_t now_off, nob_off, fw_off, fb_off, hw_off, hb_off;
	size_t tw_off, tb_off, ew_off[DM_CLS_MAX_CONVS], eb_off[DM_CLS_MAX_CONVS]; /* temb > 0 */
	int C, HW; /* channels and positions after the last conv */
	size_t ws;
	/* plan for B samples */
	int B;
	float *buf, *wsbuf;
	float *y[DM_CLS_MAX_CONVS];    /* conv outputs */
	float *a[DM_CLS_MAX_CONVS];    /* their inputs a[l] = SiLU(GN(y[l-1])), l >= 1 */
	float *mean[DM_CLS_MAX_CONVS + 1], *rstd[DM_CLS_MAX_CONVS + 1]; /* [nconv]: norm_out */
	float *aout, *pool, *fpre, *feat;
	float *dy, *da, *dpool, *dfeat, *dfpre; /* gradient scratch (train) */
	float *tsc, *sinv, *epre, *emb, *proj, *demb, *depre, *dproj; /* temb > 0 */
	const float *x;                         /* the input of the last forward */
	float *dx;              /* when set, backward writes d/dx there (B x in_ch x H x W) */
} dm_classifier;

/* Add the parameters to L (cfg checked by dm_classifier_config_check). */
int dm_classifier_init(dm_classifier *m, const dm_classifier_config *cfg, dm_layout *L,
                       dm_error *err);
void dm_classifier_init_params(const dm_classifier *m, float *params, uint64_t seed);
int dm_classifier_plan(dm_classifier *m, int B, dm_error *err);
/* logits: B x outputs.  Keeps the activations (and a pointer to x, which
 * must stay valid until backward) for backward; the features of sample b
 * are then m->feat + b * feat.  t (B values) is read only when temb > 0,
 * and may then not be NULL. */
void dm_classifier_forward(dm_classifier *m, const float *p, const float *x, const float *t,
                           int B, float *logits);
/* g += gradient of the parameters for dlogits (B x outputs). */
void dm_classifier_backward(dm_classifier *m, const float *p, float *g, const float *dlogits);
void dm_classifier_free(dm_classifier *m);

/* Softmax cross-entropy of logits (B x K) against labels in [0, K), with
 * per-sample weights w (NULL = 1):
 *   loss = (1/B) sum_b w_b (logsumexp(z_b) - z_b[label_b])
 * in double, in order.  *correct (may be NULL) gets the number of samples
 * whose largest logit is their label (ties: the first).
 * Backward: dlogits += dloss * w_b / B * (softmax(z_b) - onehot(label_b)). */
double dm_xent_forward(const float *logits, const int32_t *label, const float *w, int B, int K,
                       int *correct);
void dm_xent_backward(float *dlogits, const float *logits, const int32_t *label, const float *w,
                      int B, int K, float dloss);

#endif

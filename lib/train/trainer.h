/* train.h - the training side of a model: the network behind one config,
 * its parameter block, AdamW/EMA state, and checkpoints.
 *
 * Memory layout (as llm.c): all parameters of a network live in ONE
 * contiguous float array, described by a table of named tensors (dm_layout)
 * built once from the config; the gradients, the two Adam moments and the
 * EMA weights are arrays of the same length and layout.  AdamW, clipping,
 * EMA, checkpointing and an all-reduce are each one loop over one array.
 * Activations are planned once per batch size by the model (mlp.h, unet.h).
 *
 * Parameter names are those of the PyTorch twin's state_dict
 * (tests/ref/models.py), so weights move between the two by name.
 *
 * Checkpoint (a dm stream, dm-stream(5)):
 *   header: tool=dm-train, format=dm-checkpoint, checkpoint_version=1,
 *           dm_version, model=mlp|unet and its sizes (dim hidden layers temb
 *           | in_ch H W ch ch_mult res_blocks attn groups dropout), classes,
 *           t_scale, shape (one sample, e.g. 2 or 1x28x28), params (count),
 *           step, samples, the training options (lr betas weight_decay eps
 *           warmup lr_decay decay_steps clip_grad ema label_dropout
 *           grad_accum batch seed; batch is the GLOBAL micro-batch,
 *           nranks * o.batch, so that the checkpoint does not depend on the
 *           rank count), and every key of the training stream's
 *           header (schedule=, T=, predict=, ...) that is not one of these.
 *   frame 1, tag kind=weights: one f32 tensor per parameter, by name
 *   frame 2, tag kind=ema:     the EMA weights, same names and shapes
 *   frame 3, tag kind=adam_m, frame 4, tag kind=adam_v: the Adam moments
 *   frame 5, tag kind=state:   i64 tensors step, samples and seed (the RNG
 *           is counter-based: (seed, step, samples) is its whole state).
 * Loading checks every tensor's name, dtype and shape against the layout
 * the header's config implies, and the stream CRCs.
 */
#ifndef DM_TRAIN_H
#define DM_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/stream.h"

/* ---- parameter layout ------------------------------------------------- */

typedef struct dm_param {
	char name[96];
	int rank;
	int64_t dims[4];
	size_t off, n; /* offset into the block and element count */
} dm_param;

typedef struct dm_layout {
	dm_param *p;
	int n, cap;
	size_t total; /* floats in the block */
	int oom;      /* set when an add failed; checked once after building */
} dm_layout;

/* Append a tensor; returns its offset in the block (0 and oom set on
 * allocation failure).  Unused trailing dims are 0. */
size_t dm_layout_add(dm_layout *L, const char *name, int rank, int64_t d0, int64_t d1, int64_t d2,
                     int64_t d3);
void dm_layout_free(dm_layout *L);
/* Index of the tensor called name, or -1. */
int dm_layout_find(const dm_layout *L, const char *name);

/* ---- network config --------------------------------------------------- */

enum { DM_NET_MLP = 1, DM_NET_UNET = 2 };
#define DM_NET_MAX_LEVELS 8

typedef struct dm_net_config {
	int kind;       /* DM_NET_MLP or DM_NET_UNET */
	int classes;    /* 0 = unconditional; label == classes is the null label */
	float t_scale;  /* t fed to the embedding = t * t_scale (1, or 999) */
	/* mlp */
	int dim, hidden, layers, temb;
	/* unet */
	int in_ch, H, W, ch, nmult, ch_mult[DM_NET_MAX_LEVELS], res_blocks;
	int nattn, attn_res[DM_NET_MAX_LEVELS], groups;
	float dropout;
} dm_net_config;

/* Fill cfg for a named model: "mlp-2d", "unet-s", "unet-m", or the bare
 * topologies "mlp" and "unet" (defaults of mlp-2d / unet-s, to be changed
 * by explicit sizes).  0 or DM_ERR_ARG. */
int dm_net_config_named(dm_net_config *cfg, const char *name, dm_error *err);
/* Check sizes (and for unet the input shape against levels and groups). */
int dm_net_config_check(const dm_net_config *cfg, dm_error *err);
/* Write / read the config keys of the checkpoint header. */
int dm_net_config_to_kv(const dm_net_config *cfg, dm_kv *kv, dm_error *err);
int dm_net_config_from_kv(dm_net_config *cfg, const dm_kv *kv, const char *name, dm_error *err);
/* Parse a list "1,2,2" (or "none") into v (at most max values, each
 * 1..100000); returns the count or -1. */
int dm_net_parse_list(const char *s, int *v, int max);
/* Number of values per sample (dim, or in_ch*H*W). */
size_t dm_net_sample_size(const dm_net_config *cfg);

struct dm_mlp;
struct dm_unet;

typedef struct dm_net {
	dm_net_config cfg;
	dm_layout layout;
	struct dm_mlp *mlp;
	struct dm_unet *unet;
} dm_net;

/* Build the layout and the model (no batch plan yet). */
int dm_net_init(dm_net *net, const dm_net_config *cfg, dm_error *err);
void dm_net_free(dm_net *net);
/* PyTorch-default initialisation of the whole block from seed. */
void dm_net_init_params(const dm_net *net, float *params, uint64_t seed);
/* Forward for B samples.  train != 0 applies dropout with masks keyed by
 * (seed, drop_index) and keeps what backward needs.  label may be NULL
 * (null label for class-conditional models).  Plans buffers for B on
 * first use or when B changes. */
int dm_net_forward(dm_net *net, const float *params, const float *x, const float *t,
                   const int32_t *label, int B, float *out, int train, uint64_t seed,
                   uint64_t drop_index, dm_error *err);
/* Backward of the last training forward: grads += d loss / d params. */
void dm_net_backward(dm_net *net, const float *params, float *grads, const float *dout);

/* ---- trainer ---------------------------------------------------------- */

enum { DM_LR_NONE = 0, DM_LR_COSINE = 1 };

typedef struct dm_train_opts {
	float lr, beta1, beta2, eps, weight_decay;
	float clip;          /* max grad norm, 0 = off */
	float ema;           /* EMA decay D, 0 = EMA equals the weights; after
	                      * step s the decay used is min(D, (1+s)/(10+s)) */
	float label_dropout; /* probability of the null label in training */
	long warmup;         /* linear warm-up steps */
	int lr_decay;        /* DM_LR_NONE or DM_LR_COSINE */
	long decay_steps;    /* cosine horizon (steps) */
	int grad_accum;      /* micro-batches per step */
	int batch;           /* micro-batch size */
	uint64_t seed;
} dm_train_opts;

void dm_train_opts_default(dm_train_opts *o);

typedef struct dm_trainer {
	dm_net net;
	dm_train_opts o;
	size_t P;
	float *block;            /* 5 P floats: w, g, m, v, ema */
	float *w, *g, *m, *v, *ema;
	long step;               /* optimiser steps done */
	uint64_t samples;        /* training samples consumed */
	int accum;               /* micro-batches accumulated into g so far */
	double loss_acc;         /* their summed loss */
	float *out, *dout;       /* B x sample buffers */
	int32_t *lab;
	int B;
	dm_kv meta;              /* extra header keys (schedule, ...) */
	/* Data parallelism (dist.h): this trainer is rank `rank` of `nranks`
	 * (0 of 1 after init and load; the caller sets them), each rank
	 * training on its own micro-batches of o.batch samples, so that one
	 * step sees a global micro-batch of nranks * o.batch samples.  The
	 * loss gradient is normalised by that global size, `samples` counts
	 * global samples, and the caller sums g over ranks between
	 * dm_trainer_micro and dm_trainer_apply. */
	int rank, nranks;
} dm_trainer;

/* New model: layout, block zeroed, weights initialised from o->seed, EMA
 * = weights.  meta (may be NULL) is copied into the checkpoint header
 * (training-stream keys such as the schedule). */
int dm_trainer_init(dm_trainer *tr, const dm_net_config *cfg, const dm_train_opts *o,
                    const dm_kv *meta, dm_error *err);
void dm_trainer_free(dm_trainer *tr);

/* One micro-batch: forward, weighted MSE, backward into g.  x, target: B
 * samples, t, w (NULL = 1): B, label: B or NULL.  Label dropout replaces
 * labels by the null label with probability label_dropout, keyed by the
 * global sample index (sample b of rank R is global sample
 * samples + R + nranks * b, as `dm-load --shard R/N` deals them out).
 * g receives the gradient of the sum of the weighted per-sample losses
 * divided by nranks * B * grad_accum, so that the sum over ranks is the
 * gradient of the global mean.  Dropout masks are keyed by (step, micro-
 * batch, rank): deterministic, but with --dropout > 0 not those of a
 * 1-rank run.  *loss gets this micro-batch's loss.  A non-finite
 * loss returns DM_ERR_ARG with a message naming the step, and leaves the
 * weights untouched. */
int dm_trainer_micro(dm_trainer *tr, const float *x, const float *t, const float *target,
                     const float *w, const int32_t *label, int B, double *loss, dm_error *err);
/* After grad_accum micro-batches: clip, AdamW, EMA (with warm-up), step++.
 * Returns the learning rate used; *gnorm the gradient norm before clipping. */
float dm_trainer_apply(dm_trainer *tr, double *gnorm);
/* Learning rate at step (0-based): warm-up then constant or cosine. */
float dm_trainer_lr(const dm_train_opts *o, long step);

/* Checkpoint write (atomic: temporary, fsync, rename) and read. */
int dm_trainer_save(const dm_trainer *tr, const char *path, dm_error *err);
/* Resume: rebuild tr from the checkpoint at path (config, options, all
 * state).  o.batch is the checkpoint's global batch; a caller running N
 * ranks divides it by N. */
int dm_trainer_load(dm_trainer *tr, const char *path, dm_error *err);

/* Read a checkpoint's header and build its net; fill params from the
 * "weights" or "ema" frame (use_ema).  For inference (model.c).  *meta is
 * initialised and filled with the header. */
int dm_checkpoint_load_net(const char *path, int use_ema, dm_net *net, float **params,
                           dm_kv *meta, dm_error *err);

#endif

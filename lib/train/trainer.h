/* trainer.h - training one network: AdamW/EMA state over the parameter
 * block (nn/params.h), micro-batches, and the checkpoint that saves and
 * resumes all of it (its frames: models/checkpoint.h).
 */
#ifndef DM_TRAINER_H
#define DM_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/stream.h"
#include "models/net.h"

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

/* The reference setting of MODELS.md (for benchmarks against the PyTorch
 * twin): AdamW lr 2e-4, betas 0.9/0.999, weight decay 0, batch 128, EMA
 * 0.999, no warm-up or decay; gradient clipping at norm 1 (the reference
 * has none: benchmarks set clip 0, as dm-train --reference does). */
void dm_train_opts_default(dm_train_opts *o);
/* Training defaults for a network kind (DM_NET_*), chosen by measurement so
 * that an untuned run gives good results (dm-train(1) has the tables):
 *   mlp:        lr 2e-3, batch 256, EMA 0.999 (every toy set within 2x the
 *               two-sample floor in 10000 steps at dm-load --scale 2.5;
 *               the reference setting is 1.1-3x there)
 *   unet:       lr 1e-3, batch 64, warm-up 200, EMA 0.999 (the README's
 *               Fashion-MNIST run)
 *   classifier: lr 2e-3, batch 128, warm-up 50, cosine decay, EMA 0.995
 * Other fields as dm_train_opts_default. */
void dm_train_opts_for_net(dm_train_opts *o, int kind);
/* The benchmark setting: dm_train_opts_default without gradient clipping
 * (dm-train --reference). */
void dm_train_opts_reference(dm_train_opts *o);

/* Which fields of a dm_train_opts a caller gave (a command line's options),
 * so that the others keep the per-model defaults or a checkpoint's values. */
enum {
	DM_TO_LR = 1 << 0, DM_TO_BETAS = 1 << 1, DM_TO_WD = 1 << 2, DM_TO_WARMUP = 1 << 3,
	DM_TO_DECAY = 1 << 4, DM_TO_DECAYSTEPS = 1 << 5, DM_TO_CLIP = 1 << 6, DM_TO_EMA = 1 << 7,
	DM_TO_LABELDROP = 1 << 8, DM_TO_ACCUM = 1 << 9, DM_TO_BATCH = 1 << 10,
};
/* Copy the fields of src that `given` names into dst. */
void dm_train_opts_merge(dm_train_opts *dst, const dm_train_opts *src, unsigned given);
/* Check the values (lr > 0, betas and EMA in [0, 1), clip, weight decay >=
 * 0, label dropout in [0, 1]) and finish a run of `steps` steps (0 = until
 * the input ends): a cosine decay without a horizon takes `steps`; the
 * default decay (not in `given`) is dropped when there is no horizon, an
 * asked-for one is an error.  0 or DM_ERR_ARG naming the option. */
int dm_train_opts_check(dm_train_opts *o, long steps, unsigned given, dm_error *err);

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

/* One micro-batch: forward, weighted MSE (a classifier: weighted softmax
 * cross-entropy against label, which must then be given, each in
 * [0, outputs); target and t are not read), backward into g.  x, target: B
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
/* A fresh trainer (step 0, zero Adam moments, EMA = weights, the model's
 * default training options) holding the weights of the safetensors file
 * at path, e.g. a PyTorch twin's state_dict: its "__metadata__" must carry
 * the model's configuration keys (as dm_checkpoint_export writes them), and
 * its tensors must be exactly the layout's, f32 and finite. */
int dm_trainer_from_weights(dm_trainer *tr, const char *path, dm_error *err);
#endif

/* model.h - a trained network as the samplers see it: load a checkpoint,
 * predict for a batch.  The training side (parameters, gradients, AdamW,
 * checkpoint writing) lives in train/trainer.h (and the checkpoint
 * format in models/checkpoint.h); this is the inference contract
 * that dm-denoise builds on.
 *
 * A checkpoint is a dm stream (see dm-stream(5)) whose header metadata holds
 * the model config (model=unet|mlp and its sizes), the schedule exactly as
 * dm-noise wrote it (schedule=..., T=..., predict=eps|x0|v ...), the data
 * shape, the number of classes, the training step and the dm version.
 */
#ifndef DM_MODEL_H
#define DM_MODEL_H

#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"

typedef struct dm_model dm_model;

/* Load a checkpoint for inference.  use_ema selects the EMA weights (the
 * default for sampling) or the raw ones.  Errors name the path. */
int dm_model_load(const char *path, int use_ema, dm_model **m, dm_error *err);
void dm_model_free(dm_model *m);

/* The checkpoint header (model config, schedule, predict, shape, step). */
const dm_kv *dm_model_meta(const dm_model *m);
/* Shape of one sample (e.g. {1,28,28} or {2}) and its rank. */
int dm_model_sample_shape(const dm_model *m, int64_t *dims);
/* Number of classes for class-conditional models (0 = unconditional).
 * Label value == classes means "no label" (the unconditional branch). */
int dm_model_classes(const dm_model *m);
/* The precision of the network's products (dm_net_set_precision, net.h);
 * the loaded weights stay fp32. */
void dm_model_set_precision(dm_model *m, int prec);

/* Network output for a batch: x is B samples, t has B timesteps in the
 * schedule's convention (see schedule.h), label is NULL or B labels.  out
 * gets B samples of the model's parametrisation (eps, x0 or v, as
 * dm_model_meta's "predict").  Buffers for a batch size are planned on the
 * first call and reused; thread-count independent results. */
int dm_model_predict(dm_model *m, const float *x, const float *t, const int32_t *label, int B,
                     float *out, dm_error *err);

/* The input VJP of the prediction (dm_net_vjp): out as dm_model_predict,
 * dx = v^T d out / d x. */
int dm_model_vjp(dm_model *m, const float *x, const float *t, const int32_t *label, int B,
                 const float *v, float *out, float *dx, dm_error *err);

/* Is m a classifier (model=classifier)?  Its number of classes, else 0. */
int dm_model_classifier_classes(const dm_model *m);

/* Classifier guidance's gradient (Dhariwal & Nichol 2021), ctx a
 * classifier dm_model: grad (B x D) = d/dx log softmax(logits(x))[label_b]
 * = (onehot(label_b) - softmax)^T d logits / d x, through dm_net_vjp.  t
 * is passed on (today's classifier ignores it).  0, DM_ERR_ARG for a label
 * out of range, DM_ERR_NOMEM. */
int dm_model_class_grad(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                        float *grad, dm_error *err);

#endif

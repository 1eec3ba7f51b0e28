/* checkpoint.h - the frames of a checkpoint stream, and loading a net from one.
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
#ifndef DM_CHECKPOINT_H
#define DM_CHECKPOINT_H

#include <stdio.h>

#include "core/error.h"
#include "io/stream.h"
#include "models/net.h"

/* Write one frame tagged kind=KIND holding every tensor of L from blk. */
int dm_checkpoint_write_block(dm_writer *w, const dm_layout *L, const char *kind, const float *blk,
                              dm_error *err);
/* Check that frame f holds exactly L's tensors (name, f32, shape; no more,
 * no fewer) with finite values, and copy them into blk (NULL: check only).
 * want names the frame in errors ("weights", ...). */
int dm_checkpoint_take(const dm_frame *f, const dm_layout *L, const char *want, float *blk,
                       const char *path, dm_error *err);
/* The schedule keys of a model's header (schedule, predict, T, ...) must
 * rebuild a schedule (or be absent altogether): 0 or DM_ERR_FORMAT. */
int dm_checkpoint_check_schedule(const dm_kv *meta, const char *path, dm_error *err);
/* Read the next frame of r, which must be tagged kind=want.  With a layout
 * L, check that the frame holds exactly L's tensors (name, f32, shape; no
 * more, no fewer) with finite values, and copy them into blk (NULL: check
 * only); with L NULL, check only the kind.  f is scratch (left holding the
 * frame).  path names the file in errors.  dm-train and dm-denoise read
 * every checkpoint through this, so they take and refuse the same ones. */
int dm_checkpoint_read_block(dm_reader *r, const dm_layout *L, const char *want, float *blk,
                             dm_frame *f, const char *path, dm_error *err);
/* Read the frames of a checkpoint after its header: weights, ema, adam_m,
 * adam_v (each checked by dm_checkpoint_read_block against L and copied
 * into blk[i] unless NULL), the state frame (state[] = step, samples,
 * seed; negative counts refused) and the end.  The one verdict on a
 * checkpoint's body. */
int dm_checkpoint_read_frames(dm_reader *r, const dm_layout *L, float *const blk[4],
                              int64_t state[3], const char *path, dm_error *err);
/* Open a checkpoint: check format=dm-checkpoint and read the net config of
 * its header.  *r is open on success, NULL on error. */
int dm_checkpoint_open(const char *path, dm_reader **r, dm_net_config *cfg, dm_error *err);

/* Read a checkpoint's header and build its net; fill params from the
 * "weights" or "ema" frame (use_ema).  For inference (model.c).  *meta is
 * initialised and filled with the header. */
int dm_checkpoint_load_net(const char *path, int use_ema, dm_net *net, float **params,
                           dm_kv *meta, dm_error *err);

/* Write the EMA (use_ema) or raw weights of the checkpoint at path to out
 * as safetensors (io/safetensors.h): one f32 tensor per parameter under
 * its PyTorch name, the checkpoint's header as "__metadata__" plus
 * weights=ema|raw.  outname names out in errors. */
int dm_checkpoint_export(const char *path, int use_ema, FILE *out, const char *outname,
                         dm_error *err);

#endif

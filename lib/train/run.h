/* run.h - a training run: starting it (a new model fitted to the input, or
 * a checkpoint resumed where its input left off) and its optimiser steps:
 * grad_accum micro-batches from the re-batched input (batcher.h), their
 * gradients summed over the ranks (dist.h), and the AdamW/EMA update
 * (trainer.h).  The ranks agree on whether to go on before the gradient
 * all-reduce, so that all stop at the same step and none waits for a rank
 * that left.
 *
 * `stop` (may be NULL) is a flag a signal handler sets: a read it cuts
 * short ends the input instead of failing.
 */
#ifndef DM_RUN_H
#define DM_RUN_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "train/batcher.h"
#include "train/dist.h"
#include "models/net.h"
#include "train/trainer.h"

/* One micro-batch of B samples of S values, planned once. */
typedef struct dm_batch {
	int B;
	size_t S;
	float *x, *t, *tg, *w;
	int32_t *lab;
} dm_batch;

int dm_batch_alloc(dm_batch *mb, int B, size_t S, dm_error *err);
void dm_batch_free(dm_batch *mb);
/* Fill mb from b: 1, 0 when the input ended (or a read was cut short while
 * *stop is set: the caller's signal handler asked to stop), or a negative
 * dm error. */
int dm_batch_fill(dm_batch *mb, dm_batcher *b, const volatile sig_atomic_t *stop, dm_error *err);

/* A new model: the named one (models/net.h) fitted to the first frame's
 * samples with the sizes given; its training options the per-model
 * defaults (dm_train_opts_for_net; with `reference` the benchmark setting)
 * under the fields of o that `given` names (dm_train_opts_merge), checked
 * for a run of `steps` steps; a continuous-time schedule in the stream's
 * header embeds t as 999 t (MODELS.md).  The stream's header keys go into
 * the checkpoint.  b has read the first frame. */
int dm_run_new(dm_trainer *tr, dm_batcher *b, const char *model, const dm_net_sizes *sizes,
               const dm_train_opts *o, unsigned given, int reference, long steps,
               const volatile sig_atomic_t *stop, dm_error *err);
/* Resume: dm_trainer_load, then the `given` fields of o override the
 * checkpoint's options (checked), the checkpoint's global batch is split
 * over nranks unless o's batch is given, and the `samples` the checkpoint
 * already trained on are skipped (this rank's 1/nranks of them), so that
 * replaying the same deterministic pipeline continues where it stopped.
 * Refused (DM_ERR_ARG, naming the file): a checkpoint already past `steps`
 * (> 0), a global batch or a sample count that nranks does not divide,
 * input that ends while skipping or holds samples of another size. */
int dm_run_resume(dm_trainer *tr, dm_batcher *b, const char *path, const dm_train_opts *o,
                  unsigned given, int nranks, long steps, const volatile sig_atomic_t *stop,
                  dm_error *err);

/* Data parallelism: tell the trainer its rank in d, check that this rank
 * reads its own shard when b's stream header says which one it is
 * (DM_ERR_ARG otherwise), and start every rank from rank 0's state (they
 * built it the same way; this makes sure). */
int dm_run_join(dm_trainer *tr, const dm_batcher *b, dm_dist *d, dm_error *err);

/* What a step did. */
typedef struct dm_step_info {
	double loss;   /* mean loss over the ranks' micro-batches */
	double gnorm;  /* gradient norm before clipping */
	float lr;      /* learning rate used */
} dm_step_info;

/* One step: 1 done (*info filled), 0 when the input ended or *stop was set
 * on any rank (an unfinished step is undone: not counted in tr->samples
 * and not in the gradient), or a negative dm error: this rank's (err says
 * why), or DM_ERR_ARG "another rank failed" when only another rank did. */
int dm_train_step(dm_trainer *tr, dm_batcher *b, dm_batch *mb, dm_dist *d,
                  const volatile sig_atomic_t *stop, dm_step_info *info, dm_error *err);

/* The CSV log of dm-train --log: step,loss,lr,grad_norm,seconds, one line
 * per step, flushed as it goes (tail -f), so not atomic.  Opened for
 * appending with `append` (a resumed run), the header line written when
 * the file is empty.  DM_ERR_IO naming path. */
int dm_run_log_open(FILE **f, const char *path, int append, dm_error *err);
int dm_run_log_step(FILE *f, const char *path, long step, const dm_step_info *si, double seconds,
                    dm_error *err);

#endif

/* parity.h - the PyTorch parity dump (dm-train --dump-grads): one training
 * micro-batch, the network's output and loss, and every weight and its
 * gradient, as one frame of a dm stream, for tests/ref to recompute.
 */
#ifndef DM_PARITY_H
#define DM_PARITY_H

#include <stddef.h>

#include "core/error.h"
#include "train/trainer.h"

/* Write path (atomically): a header of tr's net config and one frame of x
 * and target (B x S), t and w (B), out (B x outputs), loss (f64), label
 * (i32, B; a conditional net only, from tr->lab), then param:NAME and
 * grad:NAME for each tensor of the layout, after a dm_trainer_micro on that
 * batch.  0 or the writer's error. */
int dm_parity_dump(const dm_trainer *tr, const char *path, const float *x, const float *t,
                   const float *target, const float *w, int B, size_t S, double loss,
                   dm_error *err);

#endif

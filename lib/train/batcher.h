/* batcher.h - re-batching a training stream: frames of any size in
 * (x = x_t, t, target, w, label as dm-noise --train writes them, or x and
 * label for a classifier), micro-batches of a fixed size out, in order,
 * across frame boundaries.
 *
 * The first frame fixes the sample shape; every later frame must have it.
 * Missing w reads as 1, a missing label as -1; without t or target (only
 * allowed for a classifier, labels_only) they read as 0.
 */
#ifndef DM_BATCHER_H
#define DM_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/stream.h"

typedef struct dm_batcher {
	dm_reader *r;               /* not owned */
	dm_frame f;
	int labels_only;            /* a classifier: frames of x and label */
	int started, has_label;     /* a frame was read; it had a label tensor */
	int rank;                   /* rank of one sample */
	int64_t dims[DM_MAX_RANK];  /* shape of one sample */
	size_t S;                   /* values per sample */
	float *x, *t, *tg, *w;      /* the current frame, converted */
	int32_t *lab;
	int n, pos;                 /* samples in it, next one */
	size_t cap;
} dm_batcher;

/* Read from r (which the caller keeps and closes after dm_batcher_free). */
void dm_batcher_init(dm_batcher *b, dm_reader *r, int labels_only);
void dm_batcher_free(dm_batcher *b);

/* Read the next frame: 1, 0 at the end of the stream, or a negative dm
 * error (the reader's, DM_ERR_FORMAT naming the stream and frame for a
 * missing tensor or a wrong shape, DM_ERR_NOMEM). */
int dm_batcher_next_frame(dm_batcher *b, dm_error *err);

/* Copy the next B samples into x (B x S), t, tg (B x S), w and lab (B
 * each), or skip them when x is NULL.  1, 0 when the input ended first,
 * or a negative dm error as dm_batcher_next_frame. */
int dm_batcher_fill(dm_batcher *b, int B, float *x, float *t, float *tg, float *w, int32_t *lab,
                    dm_error *err);

/* Skip the next n samples (in pieces, so any n): 1, 0 when the input
 * ended first, or a negative dm error. */
int dm_batcher_skip(dm_batcher *b, uint64_t n, dm_error *err);

#endif

/* samples.h - every sample of one tensor of a dm stream as one N x D array
 * (first axis = samples, the rest flattened): what the scoring tools
 * compare.
 */
#ifndef DM_SAMPLES_H
#define DM_SAMPLES_H

#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"

typedef struct dm_samples {
	float *p;       /* n x d, owned */
	int32_t *lab;   /* n labels (tensor label), when asked for */
	int64_t n, d;
	int rank;       /* the shape of one sample (of the first frame) */
	int64_t shape[7];
	dm_kv meta;     /* the stream's header, copied */
} dm_samples;

/* Read tensor `name` of every frame of the stream at path ("-" = stdin),
 * or of the last frame only (last), with the values of tensor label when
 * labels; keep the first max samples (0 = all) but check the whole stream.
 * Frames with no samples are skipped.  0, or a negative dm error naming
 * the stream and frame (no such tensor, samples of another size, no
 * labels, no samples at all, out of memory); s is then empty. */
int dm_samples_read(dm_samples *s, const char *path, const char *name, int last, int labels,
                    int64_t max, dm_error *err);
void dm_samples_free(dm_samples *s);

/* Clips (samples of C x T x H x W) as their frames: n*T samples of
 * C x H x W, clip by clip, frame by frame (labels repeated).  DM_ERR_ARG
 * for samples that are not clips. */
int dm_samples_frames(dm_samples *s, dm_error *err);

#endif

/* features.h - samples seen through a classifier that dm-train fitted
 * (models/classifier.h): the features of its penultimate layer, for
 * Frechet distances and KID in a space where distance means something to
 * the eye, and its predicted classes, for its test accuracy.
 */
#ifndef DM_FEATURES_H
#define DM_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "models/net.h"

typedef struct dm_featnet {
	dm_net net;
	float *params; /* the EMA weights */
	dm_kv meta;    /* the checkpoint header */
} dm_featnet;

/* Load the classifier checkpoint at path (its EMA weights).  Anything but
 * a classifier is DM_ERR_ARG; stream errors as the reader's.  Free with
 * dm_featnet_free (also after a failure). */
int dm_featnet_load(dm_featnet *f, const char *path, dm_error *err);
void dm_featnet_free(dm_featnet *f);
/* Values per input sample (in_ch * H * W) and per feature vector. */
size_t dm_featnet_input_size(const dm_featnet *f);
int dm_featnet_dim(const dm_featnet *f);

/* Map n samples x (n x input size): feat (n x dim, may be NULL) gets their
 * features, pred (n, may be NULL) their most likely class.  Runs in
 * batches of 256; results do not depend on n or the thread count. */
int dm_featnet_map(dm_featnet *f, const float *x, int64_t n, float *feat, int32_t *pred,
                   dm_error *err);

#endif

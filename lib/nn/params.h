/* params.h - the parameter layout of a network.
 *
 * Memory layout (as llm.c): all parameters of a network live in ONE
 * contiguous float array, described by a table of named tensors (dm_layout)
 * built once from the config; the gradients, the two Adam moments and the
 * EMA weights are arrays of the same length and layout.  AdamW, clipping,
 * EMA, checkpointing and an all-reduce are each one loop over one array.
 *
 * Parameter names are those of the PyTorch twin's state_dict
 * (tests/ref/models.py), so weights move between the two by name.
 */
#ifndef DM_PARAMS_H
#define DM_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define DM_PARAM_MAX_RANK 5

typedef struct dm_param {
	char name[96];
	int rank;
	int64_t dims[DM_PARAM_MAX_RANK];
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
/* The same for rank 1..DM_PARAM_MAX_RANK dims d (a 3-D convolution's
 * Cout x Cin x kt x kh x kw). */
size_t dm_layout_add_dims(dm_layout *L, const char *name, int rank, const int64_t *d);
void dm_layout_free(dm_layout *L);
/* Index of the tensor called name, or -1. */
int dm_layout_find(const dm_layout *L, const char *name);

#endif

/* npy.h - NumPy .npy files (format version 1.0 and 2.0), C order only. */
#ifndef DM_NPY_H
#define DM_NPY_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/tensor.h"

/* Read path into a new tensor called name in f.  Accepts little-endian
 * f32, f64, u8, i32, i64 (and f16, i8) in C order; rejects fortran order,
 * object/pickle arrays, big-endian and other dtypes with a clear error. */
int dm_npy_read(const char *path, dm_frame *f, const char *name, dm_error *err);

/* Write an .npy header of exactly DM_NPY_HEADER_BYTES bytes, so that a
 * writer that learns the first dimension only at the end can seek back and
 * write the header again with the final shape. */
#define DM_NPY_HEADER_BYTES 128
int dm_npy_write_header(FILE *f, const char *name, int dtype, int rank, const int64_t *dims,
                        dm_error *err);

/* Writing tensors of a stream as one array, concatenated along the first
 * axis (dm-encode -f npy): each tensor must have the first one's dtype and
 * dims but for the first axis (a rank-0 tensor counts as rank 1 of 1);
 * bf16 is written as f32.  The header is written again with the final
 * shape by dm_npy_writer_finish, so a destination that cannot seek (a
 * pipe) is staged in a temporary file first. */
typedef struct dm_npy_writer {
	FILE *f, *stage;   /* the destination; the stage (or NULL) */
	const char *name;  /* for messages, not owned */
	int started, dtype, rank;
	int64_t dims[DM_MAX_RANK];
} dm_npy_writer;

/* Write to f (not owned), staging when seekable is 0.  0 or DM_ERR_IO. */
int dm_npy_writer_open(dm_npy_writer *w, FILE *f, const char *name, int seekable,
                       dm_error *err);
/* Append t.  0, DM_ERR_ARG for a tensor unlike the first (a sentence naming
 * both), a write error (DM_ERR_EPIPE when the reader went away). */
int dm_npy_writer_add(dm_npy_writer *w, const dm_tensor *t, dm_error *err);
/* Write the final header (and the staged data): 0 or a write error.  The
 * writer is closed either way. */
int dm_npy_writer_finish(dm_npy_writer *w, dm_error *err);
/* Drop the stage (after an error); safe to call twice. */
void dm_npy_writer_abort(dm_npy_writer *w);

#endif

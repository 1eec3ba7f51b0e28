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

#endif

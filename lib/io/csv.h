/* csv.h - writing tensors as CSV text (dm-encode -f csv): one line per
 * entry of the first axis, its values comma-separated (floats in the
 * shortest form that reads back as the same value: %.9g, f64 %.17g;
 * integers as integers), optionally under a header line of column names
 * (NAME, or NAME_0,NAME_1,...).  Reading CSV is data/ (dm-load).
 */
#ifndef DM_CSV_H
#define DM_CSV_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct dm_csv_writer {
	FILE *f;           /* not owned */
	const char *name;  /* for messages, not owned */
	int header;        /* write the header line before the first rows */
	int started;
	int64_t cols;      /* values per row, fixed by the first tensor */
} dm_csv_writer;

void dm_csv_writer_init(dm_csv_writer *w, FILE *f, const char *name, int header);
/* Append the rows of t (a rank-0 tensor is one row of one value).  0,
 * DM_ERR_ARG when t has another number of values per row than the first
 * tensor, or a write error (DM_ERR_EPIPE when the reader went away). */
int dm_csv_writer_add(dm_csv_writer *w, const dm_tensor *t, dm_error *err);

#endif

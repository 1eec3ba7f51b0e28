/* table.h - a CSV log read back as columns of numbers: a header line of
 * column names, then rows of comma-separated numbers (what dm-train --log
 * writes: step,loss,lr,grad_norm,seconds).  For dm-plot; reading CSV data
 * sets into tensors is data/ (dm-load).
 *
 * Accepted: '\n' or "\r\n" line ends, blank lines (skipped), fields that
 * strtod reads in full ("nan" and "inf" too: a plot skips them), spaces
 * around a field.  Refused with DM_ERR_FORMAT naming the file and line: no
 * header, an empty or repeated column name, a row with another number of
 * fields than the header, a field that is not a number.
 */
#ifndef DM_TABLE_H
#define DM_TABLE_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

/* Limits: columns, and bytes in one line. */
#define DM_TABLE_MAX_COLS 1024
#define DM_TABLE_MAX_LINE (1 << 20)

typedef struct dm_table {
	int ncol;
	char **names;  /* ncol column names */
	int64_t nrow;
	double *v;     /* nrow x ncol, row-major */
} dm_table;

/* Read all of f (named name in messages) into a new table t, which the
 * caller frees with dm_table_free (also after an error).  0 ok, or
 * DM_ERR_FORMAT / DM_ERR_LIMIT / DM_ERR_IO / DM_ERR_NOMEM. */
int dm_table_read(dm_table *t, FILE *f, const char *name, dm_error *err);
/* Open path ("-" is stdin) and read it. */
int dm_table_read_path(dm_table *t, const char *path, dm_error *err);
void dm_table_free(dm_table *t);

/* Index of the column called col, or DM_ERR_ARG "NAME: no column 'COL'
 * (columns: a, b, c)" (name names the table in the message). */
int dm_table_col(const dm_table *t, const char *col, const char *name, dm_error *err);
/* Value of row r, column c. */
static inline double dm_table_at(const dm_table *t, int64_t r, int c)
{
	return t->v[r * t->ncol + c];
}

#endif

/* csv.c - tensors as CSV text; see csv.h. */
#include "io/csv.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

void dm_csv_writer_init(dm_csv_writer *w, FILE *f, const char *name, int header)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	w->name = name;
	w->header = header;
}

/* Values per row: numel / rows, also for an empty first axis. */
static int64_t row_size(const dm_tensor *t)
{
	int64_t rows = t->rank ? t->dims[0] : 1;
	if (rows)
		return dm_tensor_numel(t) / rows;
	int64_t cols = 1;
	for (int i = 1; i < t->rank; i++)
		cols *= t->dims[i];
	return t->rank > 1 ? cols : 0;
}

static void write_header(FILE *f, const char *name, int64_t cols)
{
	for (int64_t j = 0; j < cols; j++)
		if (cols == 1)
			fprintf(f, "%s", name);
		else
			fprintf(f, "%s%s_%" PRId64, j ? "," : "", name, j);
	fputc('\n', f);
}

int dm_csv_writer_add(dm_csv_writer *w, const dm_tensor *t, dm_error *err)
{
	int64_t rows = t->rank ? t->dims[0] : 1, cols = row_size(t);
	if (!w->started) {
		w->cols = cols;
		w->started = 1;
		if (w->header)
			write_header(w->f, t->name, cols);
	} else if (cols != w->cols) {
		return dm_error_set(err, DM_ERR_ARG, "tensor '%s' has %" PRId64 " values per row, the "
		                    "first had %" PRId64, t->name, cols, w->cols);
	}
	int is_int = t->dtype == DM_U8 || t->dtype == DM_I8 || t->dtype == DM_I32;
	const char *ffmt = t->dtype == DM_F64 ? "%.17g" : "%.9g";
	for (int64_t r = 0; r < rows; r++) {
		for (int64_t j = 0; j < cols; j++) {
			if (j)
				fputc(',', w->f);
			if (t->dtype == DM_I64) { /* not through a double: all 64 bits */
				int64_t iv;
				memcpy(&iv, (const char *)t->data + 8 * (r * cols + j), 8);
				fprintf(w->f, "%" PRId64, iv);
			} else if (is_int) {
				fprintf(w->f, "%.0f", dm_tensor_get(t, r * cols + j));
			} else {
				fprintf(w->f, ffmt, dm_tensor_get(t, r * cols + j));
			}
		}
		fputc('\n', w->f);
	}
	if (ferror(w->f))
		return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO,
		                    "%s: write error: %s", w->name, strerror(errno));
	return 0;
}

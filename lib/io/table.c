#include "io/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dm_table_free(dm_table *t)
{
	if (t->names)
		for (int i = 0; i < t->ncol; i++)
			free(t->names[i]);
	free(t->names);
	free(t->v);
	memset(t, 0, sizeof *t);
}

/* The next line of f into buf (without its end), or 0 at the end of the
 * file; DM_ERR_LIMIT for a line longer than DM_TABLE_MAX_LINE. */
static int next_line(FILE *f, char *buf, const char *name, long lineno, dm_error *err)
{
	if (!fgets(buf, DM_TABLE_MAX_LINE + 2, f)) {
		if (ferror(f))
			return dm_error_set(err, DM_ERR_IO, "%s: %s", name, strerror(errno));
		return 0;
	}
	size_t n = strlen(buf);
	if (n > DM_TABLE_MAX_LINE)
		return dm_error_set(err, DM_ERR_LIMIT, "%s: line %ld: longer than %d bytes", name,
		                    lineno, DM_TABLE_MAX_LINE);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	return 1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = 0;
	return s;
}

static int blank(const char *s)
{
	return *s == 0 || strspn(s, " \t") == strlen(s);
}

static int read_header(dm_table *t, char *line, const char *name, long lineno, dm_error *err)
{
	int n = 1;
	for (const char *p = line; *p; p++)
		n += *p == ',';
	if (n > DM_TABLE_MAX_COLS)
		return dm_error_set(err, DM_ERR_LIMIT, "%s: line %ld: more than %d columns", name, lineno,
		                    DM_TABLE_MAX_COLS);
	t->names = calloc((size_t)n, sizeof *t->names);
	if (!t->names)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
	char *p = line;
	for (int i = 0; i < n; i++) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = 0;
		char *s = trim(p);
		if (!*s)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: line %ld: column %d of the header has no name",
			                    name, lineno, i + 1);
		if (strspn(s, "+-.0123456789eE") == strlen(s))
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: line %ld: the header's column %d is the number '%s' (the first line must name the columns)",
			                    name, lineno, i + 1, s);
		for (int j = 0; j < i; j++)
			if (strcmp(t->names[j], s) == 0)
				return dm_error_set(err, DM_ERR_FORMAT, "%s: line %ld: column '%s' named twice",
				                    name, lineno, s);
		if (!(t->names[i] = strdup(s)))
			return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
		t->ncol = i + 1;
		p = comma ? comma + 1 : p + strlen(p);
	}
	return 0;
}

static int read_row(dm_table *t, char *line, int64_t *cap, const char *name, long lineno,
                    dm_error *err)
{
	if (t->nrow == *cap) {
		int64_t nc = *cap ? 2 * *cap : 256;
		double *v = realloc(t->v, (size_t)nc * (size_t)t->ncol * sizeof *v);
		if (!v)
			return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory at line %ld", name, lineno);
		t->v = v, *cap = nc;
	}
	double *row = t->v + t->nrow * t->ncol;
	char *p = line;
	for (int i = 0; i < t->ncol; i++) {
		char *comma = strchr(p, ',');
		if (!comma && i < t->ncol - 1)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: line %ld: %d fields, the header has %d",
			                    name, lineno, i + 1, t->ncol);
		if (comma)
			*comma = 0;
		if (comma && i == t->ncol - 1) {
			int n = i + 2;
			for (const char *q = comma + 1; *q; q++)
				n += *q == ',';
			return dm_error_set(err, DM_ERR_FORMAT, "%s: line %ld: %d fields, the header has %d",
			                    name, lineno, n, t->ncol);
		}
		char *s = trim(p), *end;
		errno = 0;
		row[i] = strtod(s, &end);
		if (!*s || *end)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: line %ld: column '%s': '%.40s' is not a number",
			                    name, lineno, t->names[i], s);
		p = comma ? comma + 1 : p + strlen(p);
	}
	t->nrow++;
	return 0;
}

int dm_table_read(dm_table *t, FILE *f, const char *name, dm_error *err)
{
	memset(t, 0, sizeof *t);
	char *buf = malloc(DM_TABLE_MAX_LINE + 2);
	if (!buf)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
	int64_t cap = 0;
	long lineno = 0;
	int rc, have_header = 0;
	while ((rc = next_line(f, buf, name, ++lineno, err)) > 0) {
		if (blank(buf))
			continue;
		rc = have_header ? read_row(t, buf, &cap, name, lineno, err)
		                 : read_header(t, buf, name, lineno, err);
		if (rc < 0)
			break;
		have_header = 1;
	}
	free(buf);
	if (rc < 0)
		return rc;
	if (!have_header)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: empty (no header line of column names)", name);
	return 0;
}

int dm_table_read_path(dm_table *t, const char *path, dm_error *err)
{
	memset(t, 0, sizeof *t);
	int std = strcmp(path, "-") == 0;
	FILE *f = std ? stdin : fopen(path, "r");
	if (!f)
		return dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s", path,
		                    strerror(errno));
	int rc = dm_table_read(t, f, path, err);
	if (!std)
		fclose(f);
	return rc;
}

int dm_table_col(const dm_table *t, const char *col, const char *name, dm_error *err)
{
	for (int i = 0; i < t->ncol; i++)
		if (strcmp(t->names[i], col) == 0)
			return i;
	char list[512] = "";
	size_t k = 0;
	for (int i = 0; i < t->ncol && k < sizeof list; i++)
		k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", t->names[i]);
	return dm_error_set(err, DM_ERR_ARG, "%s: no column '%s' (columns: %s)", name, col, list);
}

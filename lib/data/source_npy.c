/* data_npy.c - NPY arrays and CSV tables as data sets. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data.h"
#include "io/npy.h"

int dm_data_npy(dm_dataset *d, const char *path, dm_error *err)
{
	dm_frame f;
	dm_frame_init(&f);
	int rc = dm_npy_read(path, &f, "x", err);
	if (rc) {
		dm_frame_free(&f);
		return rc;
	}
	dm_tensor *t = dm_frame_get(&f, "x");
	if (t->rank < 1 || t->dims[0] < 1) {
		dm_frame_free(&f);
		return dm_error_set(err, DM_ERR_FORMAT, "%s: NPY array holds no samples", path);
	}
	d->source = strdup(path);
	d->n = d->cap = t->dims[0];
	if (t->dtype == DM_U8 && (t->rank == 3 || t->rank == 4)) {
		/* u8 images: N x H x W or N x C x H x W, values 0..255 */
		d->rank = 3;
		d->dims[0] = t->rank == 4 ? t->dims[1] : 1;
		d->dims[1] = t->dims[t->rank - 2];
		d->dims[2] = t->dims[t->rank - 1];
		d->dtype = DM_U8;
		d->div = 255.0f;
		d->unit = 1;
		d->data = t->data;
		t->data = NULL;
		dm_frame_free(&f);
		return 0;
	}
	/* anything else: f32 rows of the remaining shape, values as they are */
	d->rank = t->rank == 1 ? 1 : t->rank - 1;
	if (t->rank == 1)
		d->dims[0] = 1;
	for (int i = 1; i < t->rank; i++)
		d->dims[i - 1] = t->dims[i];
	d->dtype = DM_F32;
	int64_t numel = dm_tensor_numel(t);
	if (t->dtype != DM_F32 && (rc = dm_check_bytes((uint64_t)numel * sizeof(float), path,
	                                               "the NPY array as f32", err)) < 0) {
		dm_frame_free(&f);
		return rc;
	}
	if (t->dtype == DM_F32) {
		d->data = t->data;
		t->data = NULL;
	} else {
		d->data = malloc(sizeof(float) * (size_t)numel + 1);
		if (!d->data) {
			dm_frame_free(&f);
			return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
		}
		dm_tensor_to_f32(t, d->data);
	}
	dm_frame_free(&f);
	return 0;
}

/* ---- CSV ------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len, dm_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s", path,
		             strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		n += fread(buf + n, 1, cap - n - 1, f);
		if (n < cap - 1)
			break;
		char *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	int bad = ferror(f);
	fclose(f);
	if (!buf) {
		dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
		return NULL;
	}
	if (bad) {
		free(buf);
		dm_error_set(err, DM_ERR_IO, "%s: read error", path);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

/* Parse one field [s, e) as a number; 0 ok, -1 not a number, -2 a number
 * that is not a finite float (inf, nan, 1e999, 1e39: refused alike). */
static int parse_field(const char *s, const char *e, float *out)
{
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	if (s == e || e - s > 63)
		return -1;
	char tmp[64];
	memcpy(tmp, s, (size_t)(e - s));
	tmp[e - s] = 0;
	char *end;
	errno = 0;
	double v = strtod(tmp, &end);
	if (*end || end == tmp)
		return -1;
	/* underflow (1e-999) reads as the nearest float, 0; overflow does not */
	if (!isfinite(v) || !isfinite((float)v))
		return -2;
	*out = (float)v;
	return 0;
}

int dm_data_csv(dm_dataset *d, const char *path, dm_error *err)
{
	size_t len;
	char *buf = read_all(path, &len, err);
	if (!buf)
		return err->code;
	if (memchr(buf, 0, len)) {
		free(buf);
		return dm_error_set(err, DM_ERR_FORMAT, "%s: not a text file (NUL byte)", path);
	}
	d->source = strdup(path);
	d->rank = 1;
	d->dtype = DM_F32;
	int64_t cols = -1, rows = 0, cap = 0;
	float *v = NULL;
	int rc = 0;
	long line = 0;
	int seen_first = 0;
	for (char *p = buf; *p;) {
		char *eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		line++;
		char *next = *eol ? eol + 1 : eol;
		char *q = p;
		while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q == eol || *q == '#') {
			p = next;
			continue;
		}
		/* count fields */
		int64_t nf = 1;
		for (char *c = p; c < eol; c++)
			nf += *c == ',';
		int first = !seen_first;
		seen_first = 1;
		if (cols < 0)
			cols = nf;
		if (nf != cols) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: line %ld: %lld fields, expected %lld",
			                  path, line, (long long)nf, (long long)cols);
			break;
		}
		if (rows + 1 > cap) {
			/* start small: a line of many fields must not reserve 1024 rows */
			cap = cap ? cap * 2 : (cols < 65536 ? 65536 / cols : 1);
			float *nv = realloc(v, sizeof(float) * (size_t)(cap * cols));
			if (!nv) {
				rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
				break;
			}
			v = nv;
		}
		char *s = p;
		int64_t col = 0;
		int bad = 0;
		for (; col < cols; col++) {
			char *e = memchr(s, ',', (size_t)(eol - s));
			if (!e)
				e = eol;
			if ((bad = parse_field(s, e, v + rows * cols + col)) < 0)
				break;
			s = e + 1;
		}
		if (bad == -1 && first) { /* a header line */
			p = next;
			continue;
		}
		if (bad) {
			char *e = memchr(s, ',', (size_t)(eol - s));
			int flen = (int)((e ? e : eol) - s);
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: line %ld, column %lld: '%.*s' is %s",
			                  path, line, (long long)col + 1, flen > 40 ? 40 : flen, s,
			                  bad == -1 ? "not a number"
			                            : "not a finite number in float range");
			break;
		}
		rows++;
		p = next;
	}
	free(buf);
	if (!rc && rows == 0)
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: no rows of numbers", path);
	if (rc) {
		free(v);
		return rc;
	}
	d->dims[0] = cols;
	d->n = d->cap = rows;
	d->data = v;
	return 0;
}

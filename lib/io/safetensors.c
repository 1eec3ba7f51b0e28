/* safetensors.c - the safetensors weight format (io/safetensors.h). */
#include "io/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* the reference implementation's limit */

static const struct {
	const char *name;
	int dtype;
} st_dtypes[] = {
	{"F32", DM_F32}, {"F16", DM_F16}, {"BF16", DM_BF16}, {"F64", DM_F64},
	{"I64", DM_I64}, {"I32", DM_I32}, {"I8", DM_I8},     {"U8", DM_U8},
};
#define N_DTYPES (int)(sizeof st_dtypes / sizeof *st_dtypes)

static const char *st_name(int dtype)
{
	for (int i = 0; i < N_DTYPES; i++)
		if (st_dtypes[i].dtype == dtype)
			return st_dtypes[i].name;
	return NULL;
}

/* ---- writing ------------------------------------------------------------ */

typedef struct {
	char *p;
	size_t n, cap;
	int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t c = (b->n + n + 1) * 2;
		char *q = realloc(b->p, c);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q, b->cap = c;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void sb_string(sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			sb_put(b, e, 2);
		} else if (c < 0x20) {
			sb_printf(b, "\\u%04x", c);
		} else {
			sb_put(b, s, 1);
		}
	}
	sb_put(b, "\"", 1);
}

int dm_safetensors_write(FILE *f, const char *name, const dm_kv *meta, const dm_frame *fr,
                         dm_error *err)
{
	sbuf b = {0};
	sb_put(&b, "{", 1);
	int first = 1;
	if (meta && meta->n) {
		sb_put(&b, "\"__metadata__\":{", 16);
		for (int i = 0; i < meta->n; i++) {
			if (i)
				sb_put(&b, ",", 1);
			sb_string(&b, meta->key[i]);
			sb_put(&b, ":", 1);
			sb_string(&b, meta->val[i]);
		}
		sb_put(&b, "}", 1);
		first = 0;
	}
	uint64_t off = 0;
	for (int i = 0; i < fr->n; i++) {
		const dm_tensor *t = fr->t[i];
		const char *dt = st_name(t->dtype);
		if (!dt) {
			free(b.p);
			return dm_error_set(err, DM_ERR_ARG, "%s: tensor %s: safetensors has no %s", name,
			                    t->name, dm_dtype_name(t->dtype) ?: "such dtype");
		}
		if (!first)
			sb_put(&b, ",", 1);
		first = 0;
		sb_string(&b, t->name);
		sb_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", dt);
		for (int k = 0; k < t->rank; k++)
			sb_printf(&b, "%s%lld", k ? "," : "", (long long)t->dims[k]);
		uint64_t nb = dm_tensor_nbytes(t);
		sb_printf(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
		          (unsigned long long)(off + nb));
		off += nb;
	}
	sb_put(&b, "}", 1);
	while (!b.oom && b.n % 8)
		sb_put(&b, " ", 1);
	if (b.oom) {
		free(b.p);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
	}
	unsigned char len[8];
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)b.n >> (8 * i));
	int bad = fwrite(len, 1, 8, f) != 8 || fwrite(b.p, 1, b.n, f) != b.n;
	free(b.p);
	for (int i = 0; i < fr->n && !bad; i++) {
		size_t nb = (size_t)dm_tensor_nbytes(fr->t[i]);
		bad = nb && fwrite(fr->t[i]->data, 1, nb, f) != nb;
	}
	if (bad || fflush(f))
		return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO,
		                    "%s: write error: %s", name, strerror(errno));
	return 0;
}

/* ---- reading: the JSON header ------------------------------------------- */

typedef struct {
	const char *p, *end, *start, *path;
	dm_error *err;
} jp;

/* An error at the parser's position, as a byte offset in the file. */
static int jfail(jp *j, const char *what)
{
	return dm_error_set(j->err, DM_ERR_FORMAT, "%s: byte %ld: safetensors header: %s", j->path,
	                    8 + (long)(j->p - j->start), what);
}

static void jws(jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int jexpect(jp *j, char c)
{
	jws(j);
	if (j->p >= j->end || *j->p != c) {
		char m[32];
		snprintf(m, sizeof m, "expected '%c'", c);
		return jfail(j, m);
	}
	j->p++;
	return 0;
}

static void utf8(sbuf *b, unsigned long c)
{
	char o[4];
	size_t n;
	if (c < 0x80)
		o[0] = (char)c, n = 1;
	else if (c < 0x800)
		o[0] = (char)(0xC0 | c >> 6), o[1] = (char)(0x80 | (c & 63)), n = 2;
	else if (c < 0x10000)
		o[0] = (char)(0xE0 | c >> 12), o[1] = (char)(0x80 | (c >> 6 & 63)),
		o[2] = (char)(0x80 | (c & 63)), n = 3;
	else
		o[0] = (char)(0xF0 | c >> 18), o[1] = (char)(0x80 | (c >> 12 & 63)),
		o[2] = (char)(0x80 | (c >> 6 & 63)), o[3] = (char)(0x80 | (c & 63)), n = 4;
	sb_put(b, o, n);
}

/* A JSON string into *out (malloc'd, NUL-terminated; a \u0000 is refused). */
static int jstring(jp *j, char **out)
{
	*out = NULL;
	if (jexpect(j, '"') < 0)
		return j->err->code;
	sbuf b = {0};
	sb_put(&b, "", 0);
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		if (c < 0x20) {
			free(b.p);
			return jfail(j, "control character in a string");
		}
		if (c != '\\') {
			char ch = (char)c;
			sb_put(&b, &ch, 1);
			continue;
		}
		if (j->p >= j->end)
			break;
		char e = *j->p++, ch = 0;
		switch (e) {
		case '"': case '\\': case '/': ch = e; break;
		case 'b': ch = '\b'; break;
		case 'f': ch = '\f'; break;
		case 'n': ch = '\n'; break;
		case 'r': ch = '\r'; break;
		case 't': ch = '\t'; break;
		}
		if (ch) {
			sb_put(&b, &ch, 1);
			continue;
		}
		unsigned long u = 0;
		if (e != 'u' || j->end - j->p < 4 || sscanf(j->p, "%4lx", &u) != 1) {
			free(b.p);
			return jfail(j, "bad escape in a string");
		}
		j->p += 4;
		if (u >= 0xD800 && u < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
		    j->p[1] == 'u') {
			unsigned long lo = 0;
			if (sscanf(j->p + 2, "%4lx", &lo) == 1 && lo >= 0xDC00 && lo < 0xE000) {
				u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
				j->p += 6;
			}
		}
		if (u == 0) {
			free(b.p);
			return jfail(j, "NUL in a string");
		}
		utf8(&b, u);
	}
	if (j->p >= j->end) {
		free(b.p);
		return jfail(j, "unterminated string");
	}
	j->p++;
	if (b.oom) {
		free(b.p);
		return dm_error_set(j->err, DM_ERR_NOMEM, "%s: out of memory", j->path);
	}
	*out = b.p;
	return 0;
}

static int juint(jp *j, uint64_t *v)
{
	jws(j);
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return jfail(j, "expected a non-negative integer");
	uint64_t x = 0;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return jfail(j, "integer too large");
		x = x * 10 + (uint64_t)(*j->p++ - '0');
	}
	*v = x;
	return 0;
}

/* [u64, ...] of at most max values; *n the count. */
static int jarray(jp *j, uint64_t *v, int max, int *n)
{
	*n = 0;
	if (jexpect(j, '[') < 0)
		return j->err->code;
	jws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return 0;
	}
	for (;;) {
		if (*n == max)
			return jfail(j, "too many values in an array");
		if (juint(j, &v[(*n)++]) < 0)
			return j->err->code;
		jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		return jexpect(j, ']');
	}
}

typedef struct {
	char *name;
	int dtype, rank;
	int64_t dims[DM_MAX_RANK];
	uint64_t begin, end;
} st_entry;

static int jtensor(jp *j, st_entry *e)
{
	int have = 0;
	if (jexpect(j, '{') < 0)
		return j->err->code;
	for (;;) {
		char *k;
		if (jstring(j, &k) < 0 || jexpect(j, ':') < 0) {
			free(k);
			return j->err->code;
		}
		int rc = 0;
		if (!strcmp(k, "dtype")) {
			char *d;
			if ((rc = jstring(j, &d)) == 0) {
				e->dtype = 0;
				for (int i = 0; i < N_DTYPES; i++)
					if (!strcmp(d, st_dtypes[i].name))
						e->dtype = st_dtypes[i].dtype;
				if (!e->dtype) {
					char m[96];
					snprintf(m, sizeof m, "tensor %.40s: dtype %.16s is not one dm reads",
					         e->name, d);
					rc = jfail(j, m);
				}
				free(d);
			}
			have |= 1;
		} else if (!strcmp(k, "shape")) {
			uint64_t v[DM_MAX_RANK];
			if ((rc = jarray(j, v, DM_MAX_RANK, &e->rank)) == 0)
				for (int i = 0; i < e->rank; i++)
					e->dims[i] = v[i] > (uint64_t)DM_MAX_DIM ? DM_MAX_DIM + 1 : (int64_t)v[i];
			have |= 2;
		} else if (!strcmp(k, "data_offsets")) {
			uint64_t v[2];
			int n;
			if ((rc = jarray(j, v, 2, &n)) == 0 && n != 2)
				rc = jfail(j, "data_offsets needs 2 values");
			e->begin = v[0], e->end = v[1];
			have |= 4;
		} else {
			rc = jfail(j, "unknown key in a tensor entry");
		}
		free(k);
		if (rc < 0)
			return rc;
		jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (jexpect(j, '}') < 0)
			return j->err->code;
		break;
	}
	if (have != 7) {
		char m[96];
		snprintf(m, sizeof m, "tensor %.40s lacks dtype, shape or data_offsets", e->name);
		return jfail(j, m);
	}
	return 0;
}

static int jmeta(jp *j, dm_kv *meta)
{
	if (jexpect(j, '{') < 0)
		return j->err->code;
	jws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return 0;
	}
	for (;;) {
		char *k = NULL, *v = NULL;
		int rc = jstring(j, &k);
		if (rc == 0)
			rc = jexpect(j, ':');
		if (rc == 0)
			rc = jstring(j, &v);
		/* keys a dm header cannot hold (other tools' free-form ones) are
		 * left out; the values are kept as they are */
		if (rc == 0 && dm_kv_valid_key(k) && !strchr(v, '\n') && dm_kv_set(meta, k, v))
			rc = dm_error_set(j->err, DM_ERR_NOMEM, "%s: out of memory", j->path);
		free(k);
		free(v);
		if (rc < 0)
			return rc;
		jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		return jexpect(j, '}');
	}
}

static int cmp_begin(const void *a, const void *b)
{
	const st_entry *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static void free_entries(st_entry *e, int n)
{
	for (int i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

/* The header's tensors, checked against the buffer of bsize bytes. */
static int parse_header(jp *j, dm_kv *meta, st_entry **out, int *count, uint64_t bsize)
{
	st_entry *e = NULL;
	int n = 0, cap = 0, rc = 0;
	*out = NULL;
	*count = 0;
	if (jexpect(j, '{') < 0)
		return j->err->code;
	jws(j);
	int empty = j->p < j->end && *j->p == '}';
	if (empty)
		j->p++;
	while (!empty) {
		char *k;
		if ((rc = jstring(j, &k)) < 0 || (rc = jexpect(j, ':')) < 0) {
			free(k);
			break;
		}
		if (!strcmp(k, "__metadata__")) {
			free(k);
			if ((rc = jmeta(j, meta)) < 0)
				break;
		} else {
			if (n == DM_MAX_TENSORS) {
				free(k);
				rc = jfail(j, "more than 4096 tensors");
				break;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				st_entry *q = realloc(e, (size_t)cap * sizeof *e);
				if (!q) {
					free(k);
					rc = dm_error_set(j->err, DM_ERR_NOMEM, "%s: out of memory", j->path);
					break;
				}
				e = q;
			}
			memset(&e[n], 0, sizeof e[n]);
			e[n].name = k;
			if ((rc = jtensor(j, &e[n++])) < 0)
				break;
		}
		jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		rc = jexpect(j, '}');
		break;
	}
	if (rc == 0) {
		jws(j);
		if (j->p != j->end)
			rc = jfail(j, "bytes after the header's object");
	}
	/* every tensor: a name dm can hold, a legal shape, its exact byte count,
	 * and together the whole buffer without holes or overlaps */
	for (int i = 0; i < n && rc == 0; i++) {
		uint64_t nb;
		const char *why = dm_tensor_name_valid(e[i].name) ? NULL : "a name dm cannot hold";
		if (!why)
			why = dm_tensor_check_shape(e[i].dtype, e[i].rank, e[i].dims, &nb);
		if (!why && (e[i].end < e[i].begin || e[i].end - e[i].begin != nb))
			why = "data_offsets do not span its shape's bytes";
		if (why)
			rc = dm_error_set(j->err, DM_ERR_FORMAT, "%s: tensor %.60s: %s", j->path,
			                  e[i].name, why);
		else
			rc = dm_check_bytes(nb, j->path, e[i].name, j->err);
	}
	if (rc == 0 && n)
		qsort(e, (size_t)n, sizeof *e, cmp_begin);
	uint64_t at = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		if (e[i].begin != at)
			rc = dm_error_set(j->err, DM_ERR_FORMAT, "%s: tensor %.60s starts at byte %llu "
			                  "of the data, not %llu (a hole or an overlap)", j->path,
			                  e[i].name, (unsigned long long)e[i].begin,
			                  (unsigned long long)at);
		at = e[i].end;
	}
	if (rc == 0 && at != bsize)
		rc = dm_error_set(j->err, DM_ERR_FORMAT, "%s: the tensors cover %llu bytes of data, the "
		                  "file holds %llu", j->path, (unsigned long long)at,
		                  (unsigned long long)bsize);
	if (rc < 0) {
		free_entries(e, n);
		return rc;
	}
	*out = e;
	*count = n;
	return 0;
}

int dm_safetensors_sniff(const unsigned char *b, size_t n)
{
	if (n < 9 || b[8] != '{')
		return 0;
	uint64_t len = 0;
	for (int i = 7; i >= 0; i--)
		len = len << 8 | b[i];
	return len >= 2 && len <= ST_MAX_HEADER;
}

int dm_safetensors_read(const char *path, dm_kv *meta, dm_frame *fr, dm_error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s", path,
		                    strerror(errno));
	struct stat sb;
	uint64_t fsize = fstat(fileno(f), &sb) == 0 ? (uint64_t)sb.st_size : 0;
	unsigned char l8[8];
	int rc = 0;
	uint64_t hlen = 0;
	if (fread(l8, 1, 8, f) != 8)
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: not a safetensors file (shorter than 8 "
		                  "bytes)", path);
	for (int i = 7; i >= 0 && rc == 0; i--)
		hlen = hlen << 8 | l8[i];
	if (rc == 0 && (hlen > ST_MAX_HEADER || hlen + 8 > fsize))
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: safetensors header length %llu is more than "
		                  "the file holds (or over 100 MB)", path, (unsigned long long)hlen);
	char *h = NULL;
	if (rc == 0 && !(h = malloc(hlen ? hlen : 1)))
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	if (rc == 0 && fread(h, 1, hlen, f) != hlen)
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated safetensors header", path);
	st_entry *e = NULL;
	int n = 0;
	if (rc == 0) {
		jp j = {h, h + hlen, h, path, err};
		rc = parse_header(&j, meta, &e, &n, fsize - 8 - hlen);
	}
	free(h);
	for (int i = 0; i < n && rc == 0; i++) {
		dm_tensor *t = dm_frame_add(fr, e[i].name, e[i].dtype, e[i].rank, e[i].dims, err);
		if (!t)
			rc = err->code ? err->code : DM_ERR_NOMEM;
		else if (dm_tensor_nbytes(t) && fread(t->data, 1, (size_t)dm_tensor_nbytes(t), f) !=
		                                    (size_t)dm_tensor_nbytes(t))
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated tensor %s", path, e[i].name);
	}
	free_entries(e, n);
	fclose(f);
	return rc;
}

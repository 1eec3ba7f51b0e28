/* stream.c - the dm tensor stream (layout in man/man5/dm-stream.5). */
#include "io/stream.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "libdm stores tensor data in host order and assumes a little-endian host"
#endif

static const unsigned char MAGIC[8] = {0x89, 'D', 'M', 'S', 0x0D, 0x0A, 0x1A, 0x0A};
#define REC_FRAME 0x4D415246u /* "FRAM" */
#define REC_END 0x444E4544u   /* "DEND" */

/* ---- dtypes ---------------------------------------------------------- */

size_t dm_dtype_size(int dtype)
{
	switch (dtype) {
	case DM_F32: case DM_I32: return 4;
	case DM_F64: case DM_I64: return 8;
	case DM_F16: case DM_BF16: return 2;
	case DM_U8: case DM_I8: return 1;
	default: return 0;
	}
}

static const char *const DTYPE_NAMES[] = {
	NULL, "f32", "f64", "f16", "bf16", "u8", "i8", "i32", "i64",
};

const char *dm_dtype_name(int dtype)
{
	if (dtype < 1 || dtype > DM_I64)
		return NULL;
	return DTYPE_NAMES[dtype];
}

int dm_dtype_parse(const char *name)
{
	for (int i = 1; i <= DM_I64; i++)
		if (strcmp(name, DTYPE_NAMES[i]) == 0)
			return i;
	return 0;
}

float dm_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0) {
		if (man == 0) {
			bits = sign;
		} else { /* subnormal: renormalise */
			int e = -1;
			do { e++; man <<= 1; } while (!(man & 0x400));
			bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
		}
	} else if (exp == 31) {
		bits = sign | 0x7f800000u | (man << 13);
	} else {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	}
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t dm_f32_to_f16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t absx = x & 0x7fffffffu;
	if (absx >= 0x7f800000u) /* inf or nan */
		return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
	if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow */
		return (uint16_t)(sign | 0x7c00);
	if (absx < 0x38800000u) { /* below the smallest normal: subnormal */
		float a;
		memcpy(&a, &absx, 4);
		/* scale so that one half-subnormal ulp is 1, round to nearest even */
		float s = a * 16777216.0f; /* 2^24 */
		uint32_t m = (uint32_t)nearbyintf(s);
		return (uint16_t)(sign | m);
	}
	uint32_t mant = absx & 0x7fffff, exp = (absx >> 23) - 112;
	uint32_t h = (exp << 10) | (mant >> 13);
	uint32_t rest = mant & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

float dm_bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t dm_f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40);
	x += 0x7fff + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

/* ---- key=value lists ------------------------------------------------- */

void dm_kv_init(dm_kv *kv) { memset(kv, 0, sizeof *kv); }

void dm_kv_free(dm_kv *kv)
{
	for (int i = 0; i < kv->n; i++) {
		free(kv->key[i]);
		free(kv->val[i]);
	}
	free(kv->key);
	free(kv->val);
	dm_kv_init(kv);
}

int dm_kv_valid_key(const char *key)
{
	size_t n = strlen(key);
	if (n < 1 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int kv_find(const dm_kv *kv, const char *key)
{
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], key) == 0)
			return i;
	return -1;
}

int dm_kv_set(dm_kv *kv, const char *key, const char *val)
{
	if (!dm_kv_valid_key(key) || strchr(val, '\n'))
		return DM_ERR_ARG;
	char *v = strdup(val);
	if (!v)
		return DM_ERR_NOMEM;
	int i = kv_find(kv, key);
	if (i >= 0) {
		free(kv->val[i]);
		kv->val[i] = v;
		return 0;
	}
	if (kv->n == kv->cap) {
		int cap = kv->cap ? 2 * kv->cap : 8;
		char **k2 = realloc(kv->key, (size_t)cap * sizeof *k2);
		if (!k2) { free(v); return DM_ERR_NOMEM; }
		kv->key = k2;
		char **v2 = realloc(kv->val, (size_t)cap * sizeof *v2);
		if (!v2) { free(v); return DM_ERR_NOMEM; }
		kv->val = v2;
		kv->cap = cap;
	}
	char *k = strdup(key);
	if (!k) { free(v); return DM_ERR_NOMEM; }
	kv->key[kv->n] = k;
	kv->val[kv->n] = v;
	kv->n++;
	return 0;
}

int dm_kv_setf(dm_kv *kv, const char *key, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return dm_kv_set(kv, key, buf);
}

int dm_kv_del(dm_kv *kv, const char *key)
{
	int i = kv_find(kv, key);
	if (i < 0)
		return 0;
	free(kv->key[i]);
	free(kv->val[i]);
	memmove(kv->key + i, kv->key + i + 1, (size_t)(kv->n - i - 1) * sizeof(char *));
	memmove(kv->val + i, kv->val + i + 1, (size_t)(kv->n - i - 1) * sizeof(char *));
	kv->n--;
	return 1;
}

const char *dm_kv_get(const dm_kv *kv, const char *key)
{
	int i = kv_find(kv, key);
	return i < 0 ? NULL : kv->val[i];
}

double dm_kv_get_double(const dm_kv *kv, const char *key, double def)
{
	const char *v = dm_kv_get(kv, key);
	if (!v || !*v)
		return def;
	char *end;
	double d = strtod(v, &end);
	return *end ? def : d;
}

int dm_kv_copy(dm_kv *dst, const dm_kv *src)
{
	for (int i = 0; i < src->n; i++) {
		int rc = dm_kv_set(dst, src->key[i], src->val[i]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Serialise as "key=value\n"...; returns a malloc'd buffer. */
static char *kv_serialise(const dm_kv *kv, size_t *len)
{
	size_t n = 0;
	for (int i = 0; kv && i < kv->n; i++)
		n += strlen(kv->key[i]) + strlen(kv->val[i]) + 2;
	char *buf = malloc(n + 1), *p = buf;
	if (!buf)
		return NULL;
	for (int i = 0; kv && i < kv->n; i++)
		p += sprintf(p, "%s=%s\n", kv->key[i], kv->val[i]);
	*len = n;
	return buf;
}

/* Keys per list (metadata or tags): dm_kv_set searches linearly, so an
 * unbounded count of tiny keys in 1 MiB would cost minutes to parse. */
#define KV_MAX_KEYS 4096

/* Parse "key=value\n" lines; returns 0 or a message describing the fault. */
static const char *kv_parse(dm_kv *kv, const char *buf, size_t len)
{
	size_t i = 0;
	char key[65];
	while (i < len) {
		if (kv->n >= KV_MAX_KEYS)
			return "more than 4096 keys";
		const char *nl = memchr(buf + i, '\n', len - i);
		if (!nl)
			return "a key=value line lacks its final newline";
		size_t end = (size_t)(nl - buf);
		const char *eq = memchr(buf + i, '=', end - i);
		if (!eq)
			return "a key=value line has no '='";
		size_t klen = (size_t)(eq - (buf + i));
		if (klen < 1 || klen > 64)
			return "a key is empty or longer than 64 bytes";
		memcpy(key, buf + i, klen);
		key[klen] = '\0';
		if (!dm_kv_valid_key(key))
			return "a key has a character outside [A-Za-z0-9_.-]";
		if (memchr(eq + 1, '\0', end - (size_t)(eq + 1 - buf)))
			return "a value contains a NUL byte";
		size_t vlen = end - (size_t)(eq + 1 - buf);
		char *val = malloc(vlen + 1);
		if (!val)
			return "out of memory";
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
		int rc = dm_kv_set(kv, key, val);
		free(val);
		if (rc)
			return "out of memory";
		i = end + 1;
	}
	return NULL;
}

/* ---- tensors and frames ---------------------------------------------- */

int64_t dm_tensor_numel(const dm_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->rank; i++)
		n *= t->dims[i];
	return n;
}

size_t dm_tensor_nbytes(const dm_tensor *t)
{
	return (size_t)dm_tensor_numel(t) * dm_dtype_size(t->dtype);
}

double dm_tensor_get(const dm_tensor *t, int64_t i)
{
	const unsigned char *p = t->data;
	switch (t->dtype) {
	case DM_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
	case DM_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
	case DM_F16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return dm_f16_to_f32(v); }
	case DM_BF16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return dm_bf16_to_f32(v); }
	case DM_U8: return p[i];
	case DM_I8: return (int8_t)p[i];
	case DM_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
	case DM_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
	}
	return 0;
}

void dm_tensor_to_f32(const dm_tensor *t, float *out)
{
	int64_t n = dm_tensor_numel(t);
	if (t->dtype == DM_F32) {
		memcpy(out, t->data, (size_t)n * 4);
		return;
	}
	for (int64_t i = 0; i < n; i++)
		out[i] = (float)dm_tensor_get(t, i);
}

const char *dm_tensor_shape_str(const dm_tensor *t, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = '\0';
	if (t->rank == 0)
		snprintf(buf, n, "scalar");
	for (int i = 0; i < t->rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, i ? "x%lld" : "%lld", (long long)t->dims[i]);
	return buf;
}

void dm_tensor_free(dm_tensor *t)
{
	if (t) {
		free(t->data);
		free(t);
	}
}

void dm_frame_init(dm_frame *f)
{
	memset(f, 0, sizeof *f);
	dm_kv_init(&f->tags);
}

void dm_frame_free(dm_frame *f)
{
	for (int i = 0; i < f->n; i++)
		dm_tensor_free(f->t[i]);
	free(f->t);
	dm_kv_free(&f->tags);
	dm_frame_init(f);
}

void dm_frame_clear(dm_frame *f) { dm_frame_free(f); }

static int valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > DM_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

/* Checks dims and returns the decoded byte count in *nbytes. */
static const char *check_shape(int dtype, int rank, const int64_t *dims, uint64_t *nbytes)
{
	size_t es = dm_dtype_size(dtype);
	if (!es)
		return "unknown dtype";
	if (rank < 0 || rank > DM_MAX_RANK)
		return "rank outside 0..8";
	uint64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (dims[i] < 0 || dims[i] > DM_MAX_DIM)
			return "a dimension is negative or larger than 2^40";
		if (dims[i] && n > DM_MAX_TENSOR_BYTES / (uint64_t)dims[i])
			return "tensor larger than 16 GiB";
		n *= (uint64_t)dims[i];
	}
	if (n > DM_MAX_TENSOR_BYTES / es)
		return "tensor larger than 16 GiB";
	*nbytes = n * es;
	return NULL;
}

static int frame_put(dm_frame *f, dm_tensor *t, dm_error *err)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->t[i]->name, t->name) == 0) {
			dm_tensor_free(f->t[i]);
			f->t[i] = t;
			return 0;
		}
	if (f->n >= DM_MAX_TENSORS) {
		dm_tensor_free(t);
		return dm_error_set(err, DM_ERR_LIMIT, "more than %d tensors in a frame", DM_MAX_TENSORS);
	}
	if (f->n == f->cap) {
		int cap = f->cap ? 2 * f->cap : 8;
		dm_tensor **p = realloc(f->t, (size_t)cap * sizeof *p);
		if (!p) {
			dm_tensor_free(t);
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		}
		f->t = p;
		f->cap = cap;
	}
	f->t[f->n++] = t;
	return 0;
}

dm_tensor *dm_frame_add_owned(dm_frame *f, const char *name, int dtype, int rank,
                              const int64_t *dims, void *data, dm_error *err)
{
	uint64_t nbytes;
	const char *why = check_shape(dtype, rank, dims, &nbytes);
	if (why || !valid_name(name)) {
		free(data);
		dm_error_set(err, DM_ERR_ARG, "tensor '%s': %s", name,
		             why ? why : "invalid name (1..255 bytes, no control characters)");
		return NULL;
	}
	dm_tensor *t = calloc(1, sizeof *t);
	if (!t) {
		free(data);
		dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		return NULL;
	}
	snprintf(t->name, sizeof t->name, "%s", name);
	t->dtype = dtype;
	t->rank = rank;
	for (int i = 0; i < rank; i++)
		t->dims[i] = dims[i];
	t->data = data;
	if (frame_put(f, t, err))
		return NULL;
	return t;
}

dm_tensor *dm_frame_add(dm_frame *f, const char *name, int dtype, int rank,
                        const int64_t *dims, dm_error *err)
{
	uint64_t nbytes;
	const char *why = check_shape(dtype, rank, dims, &nbytes);
	if (why) {
		dm_error_set(err, DM_ERR_ARG, "tensor '%s': %s", name, why);
		return NULL;
	}
	void *data = calloc(1, nbytes ? (size_t)nbytes : 1);
	if (!data) {
		dm_error_set(err, DM_ERR_NOMEM, "out of memory for tensor '%s' (%llu bytes)",
		             name, (unsigned long long)nbytes);
		return NULL;
	}
	return dm_frame_add_owned(f, name, dtype, rank, dims, data, err);
}

dm_tensor *dm_frame_get(const dm_frame *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->t[i]->name, name) == 0)
			return f->t[i];
	return NULL;
}

dm_tensor *dm_frame_take(dm_frame *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->t[i]->name, name) == 0) {
			dm_tensor *t = f->t[i];
			memmove(f->t + i, f->t + i + 1, (size_t)(f->n - i - 1) * sizeof *f->t);
			f->n--;
			return t;
		}
	return NULL;
}

int dm_frame_remove(dm_frame *f, const char *name)
{
	dm_tensor *t = dm_frame_take(f, name);
	dm_tensor_free(t);
	return t != NULL;
}

int dm_frame_copy(dm_frame *dst, const dm_frame *src, dm_error *err)
{
	dm_frame_clear(dst);
	if (dm_kv_copy(&dst->tags, &src->tags))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	for (int i = 0; i < src->n; i++) {
		const dm_tensor *s = src->t[i];
		dm_tensor *d = dm_frame_add(dst, s->name, s->dtype, s->rank, s->dims, err);
		if (!d)
			return err ? err->code : DM_ERR_NOMEM;
		memcpy(d->data, s->data, dm_tensor_nbytes(s));
		d->compress = s->compress;
	}
	return 0;
}

int dm_frame_append(dm_frame *dst, const dm_frame *src, dm_error *err)
{
	if (dst->n == 0)
		return dm_frame_copy(dst, src, err);
	if (dst->n != src->n)
		return dm_error_set(err, DM_ERR_FORMAT, "frames to join hold %d and %d tensors", dst->n, src->n);
	for (int i = 0; i < src->n; i++) { /* check everything before changing anything */
		const dm_tensor *s = src->t[i], *d = dm_frame_get(dst, s->name);
		int same = d && d->dtype == s->dtype && d->rank == s->rank && s->rank >= 1;
		for (int k = 1; same && k < s->rank; k++)
			same = d->dims[k] == s->dims[k];
		if (!same)
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "tensor '%s' cannot be joined along its first axis (missing, or another dtype or shape)",
			                    s->name);
		if (d->dims[0] + s->dims[0] > DM_MAX_DIM ||
		    dm_tensor_nbytes(d) + dm_tensor_nbytes(s) > DM_MAX_TENSOR_BYTES)
			return dm_error_set(err, DM_ERR_LIMIT, "tensor '%s' would exceed 16 GiB", s->name);
	}
	for (int i = 0; i < src->n; i++) {
		const dm_tensor *s = src->t[i];
		dm_tensor *d = dm_frame_get(dst, s->name);
		size_t a = dm_tensor_nbytes(d), b = dm_tensor_nbytes(s);
		unsigned char *p = realloc(d->data, a + b ? a + b : 1);
		if (!p)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		memcpy(p + a, s->data, b);
		d->data = p;
		d->dims[0] += s->dims[0];
	}
	return 0;
}

/* ---- little-endian helpers ------------------------------------------- */

static void put_u16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t crc_update(uint32_t crc, const void *buf, uint64_t n)
{
	const unsigned char *p = buf;
	while (n > 0) { /* zlib's length is a uInt */
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		crc = (uint32_t)crc32(crc, p, k);
		p += k;
		n -= k;
	}
	return crc;
}

/* ---- reader ---------------------------------------------------------- */

struct dm_reader {
	FILE *f;
	int own;
	char *name;
	dm_kv meta;
	uint64_t off;
	uint64_t frames;
	uint32_t crc; /* running CRC of the current record */
	int ended;
};

static int rd_fail(dm_reader *r, dm_error *err, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int rd_fail(dm_reader *r, dm_error *err, uint64_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return dm_error_set(err, DM_ERR_FORMAT, "%s: byte %llu: %s", r->name,
	                    (unsigned long long)off, msg);
}

/* Read exactly n bytes; 1 ok, 0 clean EOF before any byte, <0 error. */
static int rd_exact(dm_reader *r, void *buf, size_t n, int eof_ok, dm_error *err)
{
	size_t got = fread(buf, 1, n, r->f);
	if (got == n) {
		r->crc = crc_update(r->crc, buf, n);
		r->off += n;
		return 1;
	}
	if (ferror(r->f))
		return dm_error_set(err, DM_ERR_IO, "%s: byte %llu: read error: %s", r->name,
		                    (unsigned long long)(r->off + got), strerror(errno));
	if (got == 0 && eof_ok)
		return 0;
	return rd_fail(r, err, r->off + got, "stream truncated (expected %zu more bytes)", n - got);
}

/* Read n payload bytes without allocating all of them up front: a header
 * that lies about a size on a short stream costs at most about twice the
 * bytes actually present. */
static int rd_payload(dm_reader *r, unsigned char **out, uint64_t n, dm_error *err)
{
	const uint64_t step = (uint64_t)1 << 20;
	uint64_t cap = n < step ? n : step, have = 0;
	unsigned char *buf = malloc(cap ? (size_t)cap : 1);
	if (!buf)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", r->name);
	while (have < n) {
		if (have == cap) {
			uint64_t c2 = cap * 2 < n ? cap * 2 : n;
			unsigned char *b2 = realloc(buf, (size_t)c2);
			if (!b2) {
				free(buf);
				return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", r->name);
			}
			buf = b2;
			cap = c2;
		}
		int rc = rd_exact(r, buf + have, (size_t)(cap - have), 0, err);
		if (rc <= 0) {
			free(buf);
			return rc < 0 ? rc : DM_ERR_FORMAT;
		}
		have = cap;
	}
	*out = buf;
	return 0;
}

static int rd_header(dm_reader *r, int eof_ok, dm_error *err)
{
	unsigned char h[16];
	uint64_t start = r->off;
	r->crc = 0;
	int rc = rd_exact(r, h, 8, eof_ok, err);
	if (rc <= 0)
		return rc;
	if (memcmp(h, MAGIC, 8) != 0)
		return rd_fail(r, err, start, "not a dm stream (bad magic)");
	r->crc = (uint32_t)crc32(0, Z_NULL, 0);
	if ((rc = rd_exact(r, h + 8, 8, 0, err)) < 0)
		return rc;
	uint32_t major = get_u16(h + 8), minor = get_u16(h + 10), mlen = get_u32(h + 12);
	if (major != DM_STREAM_MAJOR)
		return rd_fail(r, err, start + 8, "unsupported stream version %u.%u (this reader knows %d.x)",
		               major, minor, DM_STREAM_MAJOR);
	if (mlen > DM_MAX_KV_BYTES)
		return rd_fail(r, err, start + 12, "metadata length %u exceeds the limit of %u bytes",
		               mlen, DM_MAX_KV_BYTES);
	unsigned char *meta = NULL;
	if ((rc = rd_payload(r, &meta, mlen, err)) < 0)
		return rc;
	uint32_t want = r->crc;
	unsigned char c[4];
	if ((rc = rd_exact(r, c, 4, 0, err)) < 0) {
		free(meta);
		return rc;
	}
	if (get_u32(c) != want) {
		free(meta);
		return rd_fail(r, err, r->off - 4, "header CRC mismatch (stored %08x, computed %08x)",
		               get_u32(c), want);
	}
	const char *why = NULL;
	if (r->meta.n == 0) /* concatenated streams keep the first header's metadata */
		why = kv_parse(&r->meta, (const char *)meta, mlen);
	free(meta);
	if (why)
		return rd_fail(r, err, start + 16, "bad metadata: %s", why);
	return 1;
}

int dm_reader_open(dm_reader **rp, FILE *f, const char *name, dm_error *err)
{
	*rp = NULL;
	dm_reader *r = calloc(1, sizeof *r);
	if (!r)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	r->f = f;
	r->name = strdup(!name || strcmp(name, "-") == 0 ? "stdin" : name);
	dm_kv_init(&r->meta);
	if (!r->name) {
		free(r);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	int rc = rd_header(r, 1, err);
	if (rc == 0)
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: empty input (no dm stream header)", r->name);
	if (rc < 0) {
		dm_reader_close(r);
		return rc;
	}
	*rp = r;
	return 0;
}

int dm_reader_open_path(dm_reader **rp, const char *path, dm_error *err)
{
	*rp = NULL;
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return dm_error_set(err, DM_ERR_IO, "%s: %s", path, strerror(errno));
	int rc = dm_reader_open(rp, f, path, err);
	if (rc) {
		if (f != stdin)
			fclose(f);
		return rc;
	}
	(*rp)->own = f != stdin;
	return 0;
}

const dm_kv *dm_reader_meta(const dm_reader *r) { return &r->meta; }
uint64_t dm_reader_offset(const dm_reader *r) { return r->off; }
uint64_t dm_reader_frames(const dm_reader *r) { return r->frames; }
const char *dm_reader_name(const dm_reader *r) { return r->name; }

void dm_reader_close(dm_reader *r)
{
	if (!r)
		return;
	if (r->own)
		fclose(r->f);
	dm_kv_free(&r->meta);
	free(r->name);
	free(r);
}

static int rd_tensor(dm_reader *r, dm_frame *out, dm_error *err)
{
	unsigned char b[8];
	char name[DM_MAX_NAME + 1];
	uint64_t start = r->off;
	int rc;
	if ((rc = rd_exact(r, b, 1, 0, err)) < 0)
		return rc;
	size_t nlen = b[0];
	if (nlen == 0)
		return rd_fail(r, err, start, "empty tensor name");
	if ((rc = rd_exact(r, name, nlen, 0, err)) < 0)
		return rc;
	name[nlen] = '\0';
	if (memchr(name, '\0', nlen) || !valid_name(name))
		return rd_fail(r, err, start + 1, "tensor name has a control character");
	uint64_t foff = r->off;
	if ((rc = rd_exact(r, b, 4, 0, err)) < 0)
		return rc;
	int dtype = b[0], rank = b[1], comp = b[2];
	if (!dm_dtype_size(dtype))
		return rd_fail(r, err, foff, "tensor '%s': unknown dtype code %d", name, dtype);
	if (rank > DM_MAX_RANK)
		return rd_fail(r, err, foff + 1, "tensor '%s': rank %d exceeds the limit of %d", name, rank, DM_MAX_RANK);
	if (comp > 1)
		return rd_fail(r, err, foff + 2, "tensor '%s': unknown compression code %d", name, comp);
	if (b[3] != 0)
		return rd_fail(r, err, foff + 3, "tensor '%s': reserved byte is %d, not 0", name, b[3]);
	int64_t dims[DM_MAX_RANK];
	for (int i = 0; i < rank; i++) {
		if ((rc = rd_exact(r, b, 8, 0, err)) < 0)
			return rc;
		uint64_t d = get_u64(b);
		if (d > (uint64_t)DM_MAX_DIM)
			return rd_fail(r, err, r->off - 8, "tensor '%s': dimension %d is %llu, beyond the limit 2^40",
			               name, i, (unsigned long long)d);
		dims[i] = (int64_t)d;
	}
	uint64_t nbytes;
	const char *why = check_shape(dtype, rank, dims, &nbytes);
	if (why)
		return rd_fail(r, err, foff, "tensor '%s': %s", name, why);
	if ((rc = rd_exact(r, b, 8, 0, err)) < 0)
		return rc;
	uint64_t stored = get_u64(b);
	if (comp == 0 && stored != nbytes)
		return rd_fail(r, err, r->off - 8, "tensor '%s': payload is %llu bytes but its shape needs %llu",
		               name, (unsigned long long)stored, (unsigned long long)nbytes);
	/* zlib never expands beyond ~0.1% + 12 bytes; anything larger is a lie */
	if (comp == 1 && stored > nbytes + nbytes / 500 + 64)
		return rd_fail(r, err, r->off - 8, "tensor '%s': compressed payload of %llu bytes is larger than zlib can produce",
		               name, (unsigned long long)stored);
	/* deflate expands at most 1032:1; this bounds the allocation below by
	 * the bytes actually present, not by what the header claims */
	if (comp == 1 && nbytes / 1032 > stored)
		return rd_fail(r, err, r->off - 8, "tensor '%s': compressed payload of %llu bytes cannot hold %llu bytes (zlib expands at most 1032:1)",
		               name, (unsigned long long)stored, (unsigned long long)nbytes);
	uint64_t poff = r->off;
	unsigned char *payload = NULL;
	if ((rc = rd_payload(r, &payload, stored, err)) < 0)
		return rc;
	unsigned char *data = payload;
	if (comp == 1) {
		data = malloc(nbytes ? (size_t)nbytes : 1);
		if (!data) {
			free(payload);
			return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", r->name);
		}
		uLongf dlen = (uLongf)nbytes;
		int zrc = uncompress(data, &dlen, payload, (uLong)stored);
		free(payload);
		if (zrc != Z_OK || dlen != nbytes) {
			free(data);
			return rd_fail(r, err, poff, "tensor '%s': zlib payload is corrupt or has the wrong size", name);
		}
	}
	if (dm_frame_get(out, name)) {
		free(data);
		return rd_fail(r, err, start, "tensor '%s' appears twice in one frame", name);
	}
	dm_tensor *t = dm_frame_add_owned(out, name, dtype, rank, dims, data, err);
	if (!t)
		return err ? err->code : DM_ERR_NOMEM;
	t->compress = comp ? Z_DEFAULT_COMPRESSION : 0;
	return 0;
}

int dm_reader_next(dm_reader *r, dm_frame *out, dm_error *err)
{
	dm_frame_clear(out);
	if (r->ended)
		return 0;
	for (;;) {
		unsigned char h[12];
		uint64_t start = r->off;
		r->crc = (uint32_t)crc32(0, Z_NULL, 0);
		int rc = rd_exact(r, h, 4, 1, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return rd_fail(r, err, start, "stream truncated: end of input without an end record");
		uint32_t type = get_u32(h);
		if (type == REC_END) {
			if ((rc = rd_exact(r, h + 4, 8, 0, err)) < 0)
				return rc;
			uint32_t want = r->crc;
			unsigned char c[4];
			if ((rc = rd_exact(r, c, 4, 0, err)) < 0)
				return rc;
			if (get_u32(c) != want)
				return rd_fail(r, err, r->off - 4, "end record CRC mismatch");
			/* Another stream may follow (concatenated streams). */
			rc = rd_header(r, 1, err);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				r->ended = 1;
				return 0;
			}
			continue;
		}
		if (type != REC_FRAME)
			return rd_fail(r, err, start, "unknown record type 0x%08x", type);
		if ((rc = rd_exact(r, h + 4, 8, 0, err)) < 0)
			return rc;
		uint32_t tlen = get_u32(h + 4), nt = get_u32(h + 8);
		if (tlen > DM_MAX_KV_BYTES)
			return rd_fail(r, err, start + 4, "tags length %u exceeds the limit of %u bytes", tlen, DM_MAX_KV_BYTES);
		if (nt > DM_MAX_TENSORS)
			return rd_fail(r, err, start + 8, "%u tensors in a frame exceeds the limit of %d", nt, DM_MAX_TENSORS);
		unsigned char *tags = NULL;
		if ((rc = rd_payload(r, &tags, tlen, err)) < 0)
			return rc;
		const char *why = kv_parse(&out->tags, (const char *)tags, tlen);
		free(tags);
		if (why)
			return rd_fail(r, err, start + 12, "bad frame tags: %s", why);
		for (uint32_t i = 0; i < nt; i++)
			if ((rc = rd_tensor(r, out, err)) < 0) {
				dm_frame_clear(out);
				return rc;
			}
		uint32_t want = r->crc;
		unsigned char c[4];
		if ((rc = rd_exact(r, c, 4, 0, err)) < 0) {
			dm_frame_clear(out);
			return rc;
		}
		if (get_u32(c) != want) {
			dm_frame_clear(out);
			return rd_fail(r, err, r->off - 4, "frame %llu CRC mismatch (stored %08x, computed %08x)",
			               (unsigned long long)r->frames, get_u32(c), want);
		}
		r->frames++;
		return 1;
	}
}

/* ---- writer ---------------------------------------------------------- */

struct dm_writer {
	FILE *f;
	char *name;
	uint64_t frames;
	uint32_t crc;
};

static int wr(dm_writer *w, const void *buf, size_t n, dm_error *err)
{
	w->crc = crc_update(w->crc, buf, n);
	if (n && fwrite(buf, 1, n, w->f) != n) {
		if (errno == EPIPE)
			return dm_error_set(err, DM_ERR_EPIPE, "%s: broken pipe", w->name);
		return dm_error_set(err, DM_ERR_IO, "%s: write error: %s", w->name, strerror(errno));
	}
	return 0;
}

int dm_writer_open(dm_writer **wp, FILE *f, const char *name, const dm_kv *meta, dm_error *err)
{
	*wp = NULL;
	dm_writer *w = calloc(1, sizeof *w);
	if (!w)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	w->f = f;
	w->name = strdup(!name || strcmp(name, "-") == 0 ? "stdout" : name);
	size_t mlen = 0;
	char *m = kv_serialise(meta, &mlen);
	if (!w->name || !m) {
		free(m);
		free(w->name);
		free(w);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	if (mlen > DM_MAX_KV_BYTES || (meta && meta->n > KV_MAX_KEYS)) {
		free(m);
		free(w->name);
		free(w);
		return dm_error_set(err, DM_ERR_LIMIT, "stream metadata exceeds %u bytes or %d keys",
		                    DM_MAX_KV_BYTES, KV_MAX_KEYS);
	}
	unsigned char h[16];
	memcpy(h, MAGIC, 8);
	put_u16(h + 8, DM_STREAM_MAJOR);
	put_u16(h + 10, DM_STREAM_MINOR);
	put_u32(h + 12, (uint32_t)mlen);
	int rc = wr(w, h, 8, err);
	w->crc = (uint32_t)crc32(0, Z_NULL, 0);
	if (!rc)
		rc = wr(w, h + 8, 8, err);
	if (!rc)
		rc = wr(w, m, mlen, err);
	free(m);
	unsigned char c[4];
	put_u32(c, w->crc);
	if (!rc)
		rc = wr(w, c, 4, err);
	if (rc) {
		dm_writer_abort(w);
		return rc;
	}
	*wp = w;
	return 0;
}

static int wr_tensor(dm_writer *w, const dm_tensor *t, dm_error *err)
{
	unsigned char h[8];
	size_t nlen = strlen(t->name);
	uint64_t nbytes = dm_tensor_nbytes(t);
	const void *payload = t->data;
	unsigned char *z = NULL;
	uint64_t stored = nbytes;
	int comp = 0;
	if (t->compress && nbytes > 0 && nbytes < (1ull << 32)) {
		uLongf zlen = compressBound((uLong)nbytes);
		z = malloc(zlen);
		if (!z)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		int level = t->compress < 0 || t->compress > 9 ? Z_DEFAULT_COMPRESSION : t->compress;
		if (compress2(z, &zlen, t->data, (uLong)nbytes, level) == Z_OK && zlen < nbytes) {
			payload = z;
			stored = zlen;
			comp = 1;
		}
	}
	h[0] = (unsigned char)nlen;
	int rc = wr(w, h, 1, err);
	if (!rc)
		rc = wr(w, t->name, nlen, err);
	h[0] = (unsigned char)t->dtype;
	h[1] = (unsigned char)t->rank;
	h[2] = (unsigned char)comp;
	h[3] = 0;
	if (!rc)
		rc = wr(w, h, 4, err);
	for (int i = 0; i < t->rank && !rc; i++) {
		put_u64(h, (uint64_t)t->dims[i]);
		rc = wr(w, h, 8, err);
	}
	put_u64(h, stored);
	if (!rc)
		rc = wr(w, h, 8, err);
	if (!rc)
		rc = wr(w, payload, (size_t)stored, err);
	free(z);
	return rc;
}

int dm_writer_write(dm_writer *w, const dm_frame *f, dm_error *err)
{
	size_t tlen = 0;
	char *tags = kv_serialise(&f->tags, &tlen);
	if (!tags)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (tlen > DM_MAX_KV_BYTES || f->tags.n > KV_MAX_KEYS) {
		free(tags);
		return dm_error_set(err, DM_ERR_LIMIT, "frame tags exceed %u bytes or %d keys",
		                    DM_MAX_KV_BYTES, KV_MAX_KEYS);
	}
	unsigned char h[12];
	put_u32(h, REC_FRAME);
	put_u32(h + 4, (uint32_t)tlen);
	put_u32(h + 8, (uint32_t)f->n);
	w->crc = (uint32_t)crc32(0, Z_NULL, 0);
	int rc = wr(w, h, 12, err);
	if (!rc)
		rc = wr(w, tags, tlen, err);
	free(tags);
	for (int i = 0; i < f->n && !rc; i++)
		rc = wr_tensor(w, f->t[i], err);
	unsigned char c[4];
	put_u32(c, w->crc);
	if (!rc)
		rc = wr(w, c, 4, err);
	if (!rc)
		w->frames++;
	return rc;
}

uint64_t dm_writer_frames(const dm_writer *w) { return w->frames; }

int dm_writer_close(dm_writer *w, dm_error *err)
{
	unsigned char h[16];
	put_u32(h, REC_END);
	put_u64(h + 4, w->frames);
	w->crc = (uint32_t)crc32(0, Z_NULL, 0);
	int rc = wr(w, h, 12, err);
	put_u32(h + 12, w->crc);
	if (!rc)
		rc = wr(w, h + 12, 4, err);
	if (!rc && fflush(w->f) != 0)
		rc = errno == EPIPE ? dm_error_set(err, DM_ERR_EPIPE, "%s: broken pipe", w->name)
		                    : dm_error_set(err, DM_ERR_IO, "%s: write error: %s", w->name, strerror(errno));
	dm_writer_abort(w);
	return rc;
}

void dm_writer_abort(dm_writer *w)
{
	if (!w)
		return;
	free(w->name);
	free(w);
}

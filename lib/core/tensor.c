/* tensor.c - dtypes, tensors and frames (core/tensor.h). */
#include "core/tensor.h"

#include <math.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- tensors and frames ---------------------------------------------- */

int64_t dm_tensor_numel(const dm_tensor *t)
{
	/* a zero anywhere first: [2^40, 2^40, 0] is empty, not an overflow */
	for (int i = 0; i < t->rank; i++)
		if (t->dims[i] == 0)
			return 0;
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

int dm_tensor_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > DM_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

int dm_max_bytes(uint64_t *limit, const char **why)
{
	*limit = DM_DEFAULT_MAX_BYTES;
	*why = NULL;
	const char *e = getenv("DM_MAX_BYTES");
	if (!e || !*e)
		return 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(e, &end, 10);
	int shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10, end++;
	else if (*end == 'M')
		shift = 20, end++;
	else if (*end == 'G')
		shift = 30, end++;
	if (errno || end == e || *end || e[0] == '-' || v == 0 ||
	    v > (DM_MAX_TENSOR_BYTES >> shift)) {
		*why = "DM_MAX_BYTES must be a byte count 1..16G (optional suffix k, M or G)";
		return DM_ERR_ARG;
	}
	*limit = (uint64_t)v << shift;
	return 0;
}

int dm_check_bytes(uint64_t n, const char *name, const char *what, dm_error *err)
{
	uint64_t limit;
	const char *why;
	if (dm_max_bytes(&limit, &why) < 0)
		return dm_error_set(err, DM_ERR_ARG, "%s", why);
	if (n <= limit)
		return 0;
	return dm_error_set(err, DM_ERR_LIMIT, "%s: %s needs %llu bytes, over the limit of %llu "
	                    "bytes (set DM_MAX_BYTES to allow more)", name, what,
	                    (unsigned long long)n, (unsigned long long)limit);
}

const char *dm_tensor_check_shape(int dtype, int rank, const int64_t *dims, uint64_t *nbytes)
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
		if (dims[i] == 0)
			n = 0;
	}
	for (int i = 0; i < rank && n; i++) {
		if (n > DM_MAX_TENSOR_BYTES / (uint64_t)dims[i])
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
	const char *why = dm_tensor_check_shape(dtype, rank, dims, &nbytes);
	if (why || !dm_tensor_name_valid(name)) {
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
	const char *why = dm_tensor_check_shape(dtype, rank, dims, &nbytes);
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

dm_tensor *dm_frame_make_f32(dm_frame *f, const char *name, dm_error *err)
{
	dm_tensor *t = dm_frame_get(f, name);
	if (!t) {
		dm_error_set(err, DM_ERR_ARG, "frame has no tensor %s", name);
		return NULL;
	}
	if (t->dtype == DM_F32)
		return t;
	int64_t dims[DM_MAX_RANK];
	int rank = t->rank;
	memcpy(dims, t->dims, sizeof dims);
	float *buf = malloc((size_t)dm_tensor_numel(t) * sizeof *buf + 1);
	if (!buf) {
		dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		return NULL;
	}
	dm_tensor_to_f32(t, buf);
	return dm_frame_add_owned(f, name, DM_F32, rank, dims, buf, err);
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

int dm_frame_equal(const dm_frame *a, const dm_frame *b)
{
	if (a->n != b->n || a->tags.n != b->tags.n)
		return 0;
	for (int i = 0; i < a->n; i++) {
		const dm_tensor *x = a->t[i], *y = b->t[i];
		if (strcmp(x->name, y->name) || x->dtype != y->dtype || x->rank != y->rank)
			return 0;
		for (int k = 0; k < x->rank; k++)
			if (x->dims[k] != y->dims[k])
				return 0;
		if (memcmp(x->data, y->data, dm_tensor_nbytes(x)))
			return 0;
	}
	for (int i = 0; i < a->tags.n; i++) {
		const char *v = dm_kv_get(&b->tags, a->tags.key[i]);
		if (!v || strcmp(a->tags.val[i], v))
			return 0;
	}
	return 1;
}

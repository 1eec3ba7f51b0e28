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
	int have_meta;        /* the first header was read: its metadata is the stream's */
	uint64_t part_frames; /* frames since the last header (the end record counts them) */
	uint64_t pending;     /* bytes a payload still needs after the current read */
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
	return rd_fail(r, err, r->off + got, "stream truncated (%llu more bytes expected)",
	               (unsigned long long)(n - got + r->pending));
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
		r->pending = n - cap; /* a truncation reports the whole shortfall */
		int rc = rd_exact(r, buf + have, (size_t)(cap - have), 0, err);
		r->pending = 0;
		if (rc <= 0) {
			free(buf);
			return rc < 0 ? rc : DM_ERR_FORMAT;
		}
		have = cap;
	}
	*out = buf;
	return 0;
}

/* The header at the start of the input (after_end 0: no input at all is a
 * clean 0, the caller's "empty input") or after an end record (1: the
 * input may end there; anything but another header is stray bytes). */
static int rd_header(dm_reader *r, int after_end, dm_error *err)
{
	unsigned char h[16];
	uint64_t start = r->off;
	r->crc = 0;
	size_t got = fread(h, 1, 8, r->f);
	if (got < 8 && ferror(r->f))
		return dm_error_set(err, DM_ERR_IO, "%s: byte %llu: read error: %s", r->name,
		                    (unsigned long long)(start + got), strerror(errno));
	if (got == 0)
		return 0;
	r->off += got;
	if (after_end && (got < 8 || memcmp(h, MAGIC, 8) != 0))
		return got < 8 ? rd_fail(r, err, start, "%zu stray bytes after the end record (not "
		                         "another stream's header)", got)
		               : rd_fail(r, err, start, "stray bytes after the end record (not "
		                         "another stream's header: bad magic)");
	if (got < 8)
		return rd_fail(r, err, start + got, "stream truncated (%zu more bytes of magic "
		               "expected)", 8 - got);
	if (memcmp(h, MAGIC, 8) != 0)
		return rd_fail(r, err, start, "not a dm stream (bad magic)");
	int rc;
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
	/* concatenated streams keep the first header's metadata; later ones
	 * are checked all the same */
	dm_kv scratch;
	dm_kv_init(&scratch);
	const char *why = dm_kv_parse(r->have_meta ? &scratch : &r->meta, (const char *)meta, mlen);
	dm_kv_free(&scratch);
	free(meta);
	if (why)
		return rd_fail(r, err, start + 16, "bad metadata: %s", why);
	r->have_meta = 1;
	r->part_frames = 0;
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
	int rc = rd_header(r, 0, err);
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
	if (memchr(name, '\0', nlen) || !dm_tensor_name_valid(name))
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
	uint64_t nbytes, limit;
	const char *why = dm_tensor_check_shape(dtype, rank, dims, &nbytes);
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
	/* a legal size may still be more than this machine should spend on one
	 * input tensor; checked before the payload is read */
	if (dm_max_bytes(&limit, &why) < 0)
		return dm_error_set(err, DM_ERR_ARG, "%s", why);
	if (nbytes > limit)
		return rd_fail(r, err, foff, "tensor '%s' decodes to %llu bytes, over the limit of %llu "
		               "(set DM_MAX_BYTES to allow more)", name, (unsigned long long)nbytes,
		               (unsigned long long)limit);
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
		/* exactly one zlib stream filling S: bytes after its end are as
		 * corrupt as a short one */
		uLongf dlen = (uLongf)nbytes;
		uLong slen = (uLong)stored;
		int zrc = uncompress2(data, &dlen, payload, &slen);
		free(payload);
		if (zrc != Z_OK || dlen != nbytes || slen != stored) {
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
			if (get_u64(h + 4) != r->part_frames)
				return rd_fail(r, err, start + 4, "end record counts %llu frames, the stream "
				               "has %llu", (unsigned long long)get_u64(h + 4),
				               (unsigned long long)r->part_frames);
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
		const char *why = dm_kv_parse(&out->tags, (const char *)tags, tlen);
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
		r->part_frames++;
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
	char *m = dm_kv_serialise(meta, &mlen);
	if (!w->name || !m) {
		free(m);
		free(w->name);
		free(w);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	if (mlen > DM_MAX_KV_BYTES || (meta && meta->n > DM_KV_MAX_KEYS)) {
		free(m);
		free(w->name);
		free(w);
		return dm_error_set(err, DM_ERR_LIMIT, "stream metadata exceeds %u bytes or %d keys",
		                    DM_MAX_KV_BYTES, DM_KV_MAX_KEYS);
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
	char *tags = dm_kv_serialise(&f->tags, &tlen);
	if (!tags)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (tlen > DM_MAX_KV_BYTES || f->tags.n > DM_KV_MAX_KEYS) {
		free(tags);
		return dm_error_set(err, DM_ERR_LIMIT, "frame tags exceed %u bytes or %d keys",
		                    DM_MAX_KV_BYTES, DM_KV_MAX_KEYS);
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

int dm_reader_last(dm_reader *r, dm_frame *out, dm_error *err)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_frame_clear(out);
	int rc, got = 0;
	while ((rc = dm_reader_next(r, &f, err)) > 0) {
		dm_frame_free(out);
		*out = f;
		dm_frame_init(&f);
		got = 1;
	}
	dm_frame_free(&f);
	return rc < 0 ? rc : got;
}

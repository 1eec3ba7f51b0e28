/* test_stream_hostile.c - streams that lie.  Each stream here is built byte
 * by byte from dm-stream(5), independently of the writer in lib/io/stream.c,
 * and read in a forked child whose address space is capped (RLIMIT_AS) at
 * what it already uses plus CAP_MB, so a reader that believes a size field
 * and allocates it fails the test instead of passing by luck.  Every case
 * must return DM_ERR_FORMAT or DM_ERR_LIMIT with a message that names the
 * stream and the exact byte offset of the lying field. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "io/stream.h"
#include "harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* The reader may allocate its first 64 MiB payload chunk before it learns
 * that a stream is short (rd_payload); anything beyond that is a failure. */
#define CAP_MB 100

/* ---- a byte builder for streams --------------------------------------- */

typedef struct {
	unsigned char *p;
	size_t n, cap;
} bbuf;

static void b_bytes(bbuf *b, const void *src, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, src, n);
	b->n += n;
}

static void b_le(bbuf *b, uint64_t v, int size)
{
	unsigned char c[8];
	for (int i = 0; i < size; i++)
		c[i] = (unsigned char)(v >> (8 * i));
	b_bytes(b, c, (size_t)size);
}

static void b_u8(bbuf *b, unsigned v) { b_le(b, v, 1); }
static void b_u16(bbuf *b, unsigned v) { b_le(b, v, 2); }
static void b_u32(bbuf *b, uint32_t v) { b_le(b, v, 4); }
static void b_u64(bbuf *b, uint64_t v) { b_le(b, v, 8); }

/* Append the CRC-32 of the bytes from offset `from` to the end. */
static void b_crc(bbuf *b, size_t from)
{
	b_u32(b, (uint32_t)crc32(0, b->p + from, (uInt)(b->n - from)));
}

static const unsigned char MAGIC[8] = {0x89, 'D', 'M', 'S', 0x0D, 0x0A, 0x1A, 0x0A};

/* Header with version major.minor and metadata text; returns its length. */
static size_t b_header(bbuf *b, unsigned major, unsigned minor, const char *meta)
{
	size_t start = b->n;
	b_bytes(b, MAGIC, 8);
	b_u16(b, major);
	b_u16(b, minor);
	b_u32(b, (uint32_t)strlen(meta));
	b_bytes(b, meta, strlen(meta));
	b_crc(b, start + 8);
	return b->n - start;
}

/* "FRAM", tags length, tensor count, tags; returns the record's offset. */
static size_t b_frame(bbuf *b, const char *tags, uint32_t tlen, uint32_t nt)
{
	size_t start = b->n;
	b_bytes(b, "FRAM", 4);
	b_u32(b, tlen);
	b_u32(b, nt);
	b_bytes(b, tags, strlen(tags));
	return start;
}

/* A tensor descriptor up to and including the stored length; returns the
 * offset of its dtype byte. */
static size_t b_tensor(bbuf *b, const char *name, size_t nlen, int dtype, int rank,
                       int comp, int reserved, const uint64_t *dims, uint64_t stored)
{
	b_u8(b, (unsigned)nlen);
	b_bytes(b, name, nlen);
	size_t foff = b->n;
	b_u8(b, (unsigned)dtype);
	b_u8(b, (unsigned)rank);
	b_u8(b, (unsigned)comp);
	b_u8(b, (unsigned)reserved);
	for (int i = 0; i < rank; i++)
		b_u64(b, dims[i]);
	b_u64(b, stored);
	return foff;
}

static void b_end(bbuf *b, uint64_t frames)
{
	size_t start = b->n;
	b_bytes(b, "DEND", 4);
	b_u64(b, frames);
	b_crc(b, start);
}

/* A valid one-frame stream: meta "tool=t\n", tags "t=5\n", x f32 2x3
 * holding 0..5; the offsets of its parts are returned through o. */
struct layout {
	size_t frame, dtype, crc, end;
};

static void b_valid(bbuf *b, struct layout *o)
{
	b_header(b, 1, 0, "tool=t\n");
	size_t fr = b_frame(b, "t=5\n", 4, 1);
	uint64_t dims[2] = {2, 3};
	size_t foff = b_tensor(b, "x", 1, DM_F32, 2, 0, 0, dims, 24);
	for (int i = 0; i < 6; i++) {
		float v = (float)i;
		b_bytes(b, &v, 4);
	}
	size_t crc = b->n;
	b_crc(b, fr);
	size_t end = b->n;
	b_end(b, 1);
	if (o) {
		o->frame = fr;
		o->dtype = foff;
		o->crc = crc;
		o->end = end;
	}
}

/* ---- reading in a capped child ---------------------------------------- */

struct outcome {
	int rc;      /* last reader status; 99 when the child died */
	int frames;  /* frames read */
	char msg[768];
};

static void read_stream(const unsigned char *p, size_t n, struct outcome *o)
{
	FILE *m = fmemopen((void *)p, n ? n : 1, "rb");
	if (n == 0)
		fgetc(m); /* fmemopen refuses size 0: consume the one byte */
	dm_reader *r;
	dm_error err;
	dm_error_clear(&err);
	o->frames = 0;
	int rc = dm_reader_open(&r, m, "hostile", &err);
	if (rc == 0) {
		dm_frame f;
		dm_frame_init(&f);
		while ((rc = dm_reader_next(r, &f, &err)) == 1)
			o->frames++;
		dm_frame_free(&f);
		dm_reader_close(r);
	}
	fclose(m);
	o->rc = rc;
	snprintf(o->msg, sizeof o->msg, "%s", err.msg);
}

static long vm_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0;
	if (f) {
		if (fscanf(f, "%ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * sysconf(_SC_PAGESIZE);
}

static void read_capped(const bbuf *b, struct outcome *res)
{
	struct outcome *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	sh->rc = 99;
	snprintf(sh->msg, sizeof sh->msg, "reader died");
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20); /* a reader that takes forever is a failure too */
		long vm = vm_bytes();
		if (!UNDER_ASAN && vm > 0) { /* ASan reserves terabytes of shadow */
			struct rlimit rl = {(rlim_t)vm + ((rlim_t)CAP_MB << 20),
			                    (rlim_t)vm + ((rlim_t)CAP_MB << 20)};
			setrlimit(RLIMIT_AS, &rl);
		}
		read_stream(b->p, b->n, sh);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	*res = *sh;
	munmap(sh, sizeof *sh);
}

/* Read b; expect a format/limit error mentioning "byte <at>" and `what`. */
static int expect_error(const bbuf *b, long at, const char *what, int line)
{
	struct outcome o;
	read_capped(b, &o);
	char want[64];
	if (at >= 0)
		snprintf(want, sizeof want, "byte %ld:", at);
	else /* no byte was read at all */
		want[0] = '\0';
	if (o.rc != DM_ERR_FORMAT && o.rc != DM_ERR_LIMIT) {
		dm_test_fail(__FILE__, line, "rc %d (want FORMAT/LIMIT): %s", o.rc, o.msg);
		return 0;
	}
	if (strncmp(o.msg, "hostile: ", 9) || !strstr(o.msg, want) || !strstr(o.msg, what)) {
		dm_test_fail(__FILE__, line, "message lacks 'hostile: ', '%s' or '%s': %s",
		             want, what, o.msg);
		return 0;
	}
	return 1;
}

#define EXPECT_ERROR(b, at, what) do { if (!expect_error(b, at, what, __LINE__)) return; } while (0)

/* ---- the cases -------------------------------------------------------- */

TEST(stream_hostile_builder_is_valid)
{
	bbuf b = {0};
	b_valid(&b, NULL);
	struct outcome o;
	read_capped(&b, &o);
	CHECK_MSG(o.rc == 0 && o.frames == 1, "rc %d frames %d: %s", o.rc, o.frames, o.msg);
	/* a later minor version of the same major is read */
	bbuf c = {0};
	b_header(&c, 1, 7, "");
	b_end(&c, 0);
	read_capped(&c, &o);
	CHECK_MSG(o.rc == 0, "version 1.7: %s", o.msg);
	free(b.p);
	free(c.p);
}

TEST(stream_hostile_empty_and_bad_magic)
{
	bbuf b = {0};
	EXPECT_ERROR(&b, -1, "empty input");
	b_valid(&b, NULL);
	b.p[3] = 'X';
	EXPECT_ERROR(&b, 0, "bad magic");
	free(b.p);
}

TEST(stream_hostile_unknown_version)
{
	bbuf b = {0};
	b_header(&b, 2, 0, "");
	b_end(&b, 0);
	EXPECT_ERROR(&b, 8, "version 2.0");
	free(b.p);
	bbuf c = {0};
	b_header(&c, 0, 9, "");
	b_end(&c, 0);
	EXPECT_ERROR(&c, 8, "version 0.9");
	free(c.p);
}

TEST(stream_hostile_meta_length_4gib)
{
	bbuf b = {0};
	b_bytes(&b, MAGIC, 8);
	b_u16(&b, 1);
	b_u16(&b, 0);
	b_u32(&b, 0xffffffffu);
	b_bytes(&b, "tool=t\n", 7);
	EXPECT_ERROR(&b, 12, "metadata length");
	free(b.p);
}

TEST(stream_hostile_bad_metadata)
{
	bbuf b = {0};
	b_header(&b, 1, 0, "no equals sign\n");
	b_end(&b, 0);
	EXPECT_ERROR(&b, 16, "metadata");
	free(b.p);
}

TEST(stream_hostile_wrong_crcs)
{
	struct layout L;
	bbuf b = {0};
	b_valid(&b, &L);
	b.p[16] ^= 1; /* metadata byte: header CRC */
	EXPECT_ERROR(&b, 23, "header CRC");
	b.p[16] ^= 1;
	b.p[L.crc - 1] ^= 0x80; /* last payload byte: frame CRC */
	EXPECT_ERROR(&b, (long)L.crc, "CRC mismatch");
	b.p[L.crc - 1] ^= 0x80;
	b.p[L.end + 4] ^= 1; /* frame count: end CRC */
	EXPECT_ERROR(&b, (long)L.end + 12, "end record CRC");
	free(b.p);
}

TEST(stream_hostile_tags_length_4gib)
{
	bbuf b = {0};
	size_t h = b_header(&b, 1, 0, "");
	b_frame(&b, "t=5\n", 0xffffffffu, 0);
	EXPECT_ERROR(&b, (long)h + 4, "tags length 4294967295");
	free(b.p);
}

TEST(stream_hostile_ntensors_2_31)
{
	bbuf b = {0};
	size_t h = b_header(&b, 1, 0, "");
	b_frame(&b, "", 0, 0x80000000u);
	EXPECT_ERROR(&b, (long)h + 8, "2147483648 tensors");
	free(b.p);
}

TEST(stream_hostile_rank_200)
{
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	b_frame(&b, "", 0, 1);
	uint64_t dims[200];
	for (int i = 0; i < 200; i++)
		dims[i] = 1;
	size_t foff = b_tensor(&b, "x", 1, DM_F32, 200, 0, 0, dims, 4);
	EXPECT_ERROR(&b, (long)foff + 1, "rank 200");
	free(b.p);
}

TEST(stream_hostile_unknown_codes)
{
	uint64_t dims[1] = {1};
	int cases[3][3] = {{99, 0, 0}, {DM_F32, 2, 0}, {DM_F32, 0, 1}}; /* dtype, comp, reserved */
	const char *what[3] = {"unknown dtype code 99", "unknown compression code 2", "reserved byte"};
	for (int c = 0; c < 3; c++) {
		bbuf b = {0};
		b_header(&b, 1, 0, "");
		b_frame(&b, "", 0, 1);
		size_t foff = b_tensor(&b, "x", 1, cases[c][0], 1, cases[c][1], cases[c][2], dims, 4);
		b_u32(&b, 0);
		EXPECT_ERROR(&b, (long)foff + (c ? c + 1 : 0), what[c]);
		free(b.p);
	}
}

TEST(stream_hostile_huge_dims)
{
	/* one dimension of 2^63: rejected at the dimension itself */
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	b_frame(&b, "", 0, 1);
	uint64_t dims[2] = {4, (uint64_t)1 << 63};
	size_t foff = b_tensor(&b, "x", 1, DM_F32, 2, 0, 0, dims, 0);
	EXPECT_ERROR(&b, (long)foff + 4 + 8, "dimension 1");
	free(b.p);
	/* 2^40 x 2^40 x 2^40: each dimension legal, the product overflows u64 */
	bbuf c = {0};
	b_header(&c, 1, 0, "");
	b_frame(&c, "", 0, 1);
	uint64_t d3[3] = {(uint64_t)1 << 40, (uint64_t)1 << 40, (uint64_t)1 << 40};
	foff = b_tensor(&c, "x", 1, DM_F32, 3, 0, 0, d3, 0);
	EXPECT_ERROR(&c, (long)foff, "16 GiB");
	free(c.p);
	/* 2^32 x 2 f32 = 32 GiB: over the per-tensor limit */
	bbuf d = {0};
	b_header(&d, 1, 0, "");
	b_frame(&d, "", 0, 1);
	uint64_t d2[2] = {(uint64_t)1 << 32, 2};
	foff = b_tensor(&d, "x", 1, DM_F32, 2, 0, 0, d2, (uint64_t)1 << 35);
	EXPECT_ERROR(&d, (long)foff, "16 GiB");
	free(d.p);
}

TEST(stream_hostile_stored_length_lies)
{
	uint64_t dims[2] = {2, 3};
	/* uncompressed: stored must equal the shape's size */
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	b_frame(&b, "", 0, 1);
	size_t foff = b_tensor(&b, "x", 1, DM_F32, 2, 0, 0, dims, 25);
	EXPECT_ERROR(&b, (long)foff + 4 + 16, "payload is 25 bytes");
	free(b.p);
	/* compressed: larger than zlib could ever produce from 24 bytes */
	bbuf c = {0};
	b_header(&c, 1, 0, "");
	b_frame(&c, "", 0, 1);
	foff = b_tensor(&c, "x", 1, DM_F32, 2, 1, 0, dims, (uint64_t)1 << 60);
	EXPECT_ERROR(&c, (long)foff + 4 + 16, "larger than zlib");
	free(c.p);
}

TEST(stream_hostile_16gib_payload_on_short_stream)
{
	/* legal shape (exactly 16 GiB), honest stored length, 10 bytes present */
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	b_frame(&b, "", 0, 1);
	uint64_t dims[1] = {(uint64_t)1 << 32};
	size_t foff = b_tensor(&b, "x", 1, DM_F32, 1, 0, 0, dims, (uint64_t)1 << 34);
	b_bytes(&b, "0123456789", 10);
	/* allowed by DM_MAX_BYTES, so that the short payload is what fails; the
	 * message gives the whole shortfall, not a read chunk's remainder */
	setenv("DM_MAX_BYTES", "16G", 1);
	EXPECT_ERROR(&b, (long)foff + 4 + 8 + 8 + 10, "truncated (17179869174 more bytes expected)");
	unsetenv("DM_MAX_BYTES");
	/* by default such a tensor is over the limit, refused at its dtype */
	EXPECT_ERROR(&b, (long)foff, "over the limit of 536870912");
	setenv("DM_MAX_BYTES", "1k", 1);
	EXPECT_ERROR(&b, (long)foff, "over the limit of 1024");
	setenv("DM_MAX_BYTES", "lots", 1);
	struct outcome o;
	read_capped(&b, &o);
	CHECK_MSG(o.rc == DM_ERR_ARG && strstr(o.msg, "DM_MAX_BYTES"), "rc %d: %s", o.rc, o.msg);
	unsetenv("DM_MAX_BYTES");
	free(b.p);
}

TEST(stream_hostile_short_payload_reports_whole_shortfall)
{
	/* 3 MiB claimed, 5 bytes present: more than one read chunk short */
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	b_frame(&b, "", 0, 1);
	uint64_t dims[1] = {3u << 20};
	size_t foff = b_tensor(&b, "x", 1, DM_U8, 1, 0, 0, dims, 3u << 20);
	b_bytes(&b, "01234", 5);
	EXPECT_ERROR(&b, (long)foff + 4 + 8 + 8 + 5, "(3145723 more bytes expected)");
	free(b.p);
}

TEST(stream_hostile_zero_dimension_in_any_position)
{
	/* validity does not depend on the order of the dimensions */
	uint64_t orders[3][3] = {{0, 1ull << 40, 1ull << 40}, {1ull << 40, 0, 1ull << 40},
	                         {1ull << 40, 1ull << 40, 0}};
	for (int k = 0; k < 3; k++) {
		bbuf b = {0};
		b_header(&b, 1, 0, "");
		size_t fr = b_frame(&b, "", 0, 1);
		b_tensor(&b, "x", 1, DM_F32, 3, 0, 0, orders[k], 0);
		b_crc(&b, fr);
		b_end(&b, 1);
		struct outcome o;
		read_capped(&b, &o);
		CHECK_MSG(o.rc == 0 && o.frames == 1, "order %d: rc %d: %s", k, o.rc, o.msg);
		free(b.p);
	}
}

TEST(stream_hostile_zlib_exactness)
{
	/* bytes after the end of the zlib stream inside S are corrupt */
	unsigned char z[64];
	uLongf zlen = sizeof z;
	float v[6] = {1, 2, 3, 4, 5, 6};
	CHECK(compress2(z, &zlen, (const Bytef *)v, 24, 9) == Z_OK);
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	size_t fr = b_frame(&b, "", 0, 1);
	uint64_t dims[1] = {6};
	size_t foff = b_tensor(&b, "x", 1, DM_F32, 1, 1, 0, dims, zlen + 3);
	b_bytes(&b, z, zlen);
	b_bytes(&b, "xyz", 3);
	b_crc(&b, fr);
	b_end(&b, 1);
	EXPECT_ERROR(&b, (long)foff + 4 + 8 + 8, "zlib payload is corrupt");
	free(b.p);
	/* a compressed empty tensor: S must hold one complete zlib stream (8
	 * bytes for no data), so S = 0 is corrupt and S = 8 is valid */
	uLongf elen = sizeof z;
	CHECK(compress2(z, &elen, (const Bytef *)v, 0, 9) == Z_OK && elen == 8);
	uint64_t zero[1] = {0};
	for (int k = 0; k < 2; k++) {
		bbuf c = {0};
		b_header(&c, 1, 0, "");
		size_t f2 = b_frame(&c, "", 0, 1);
		size_t fo = b_tensor(&c, "x", 1, DM_F32, 1, 1, 0, zero, k ? elen : 0);
		if (k)
			b_bytes(&c, z, elen);
		b_crc(&c, f2);
		b_end(&c, 1);
		struct outcome o;
		if (k) {
			read_capped(&c, &o);
			CHECK_MSG(o.rc == 0 && o.frames == 1, "S=8: rc %d: %s", o.rc, o.msg);
		} else {
			EXPECT_ERROR(&c, (long)fo + 4 + 8 + 8, "zlib payload is corrupt");
		}
		free(c.p);
	}
}

TEST(stream_hostile_after_the_end)
{
	struct layout L;
	bbuf b = {0};
	b_valid(&b, &L);
	/* 5 stray bytes after a clean end are stray bytes, not truncation */
	b_bytes(&b, "abcde", 5);
	EXPECT_ERROR(&b, (long)L.end + 16, "5 stray bytes after the end record");
	free(b.p);
	/* an end record that miscounts its frames */
	bbuf c = {0};
	b_valid(&c, &L);
	c.n = L.end;
	b_end(&c, 2);
	EXPECT_ERROR(&c, (long)L.end + 4, "end record counts 2 frames, the stream has 1");
	free(c.p);
}

TEST(stream_hostile_compressed_size_bomb)
{
	/* A 16 GiB tensor claimed by an 11-byte zlib payload: deflate cannot
	 * expand more than ~1032:1, so the reader must reject it before it
	 * allocates the decoded size. */
	unsigned char z[64];
	uLongf zlen = sizeof z;
	float one = 1.0f;
	CHECK(compress2(z, &zlen, (const Bytef *)&one, 4, 9) == Z_OK);
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	size_t fr = b_frame(&b, "", 0, 1);
	uint64_t dims[1] = {(uint64_t)1 << 32};
	size_t foff = b_tensor(&b, "x", 1, DM_F32, 1, 1, 0, dims, zlen);
	b_bytes(&b, z, zlen);
	b_crc(&b, fr);
	b_end(&b, 1);
	EXPECT_ERROR(&b, (long)foff + 4 + 8, "zlib");
	free(b.p);
}

TEST(stream_hostile_corrupt_zlib)
{
	unsigned char z[64];
	uLongf zlen = sizeof z;
	float v[6] = {0};
	CHECK(compress2(z, &zlen, (const Bytef *)v, 24, 9) == Z_OK);
	z[2] ^= 0xff;
	bbuf b = {0};
	b_header(&b, 1, 0, "");
	size_t fr = b_frame(&b, "", 0, 1);
	uint64_t dims[2] = {2, 3};
	size_t foff = b_tensor(&b, "x", 1, DM_F32, 2, 1, 0, dims, zlen);
	b_bytes(&b, z, zlen);
	b_crc(&b, fr); /* the CRC is right: zlib itself must notice */
	b_end(&b, 1);
	EXPECT_ERROR(&b, (long)foff + 4 + 24, "zlib payload is corrupt");
	free(b.p);
}

TEST(stream_hostile_names)
{
	uint64_t dims[1] = {1};
	/* empty name */
	bbuf b = {0};
	size_t h = b_header(&b, 1, 0, "");
	b_frame(&b, "", 0, 1);
	b_tensor(&b, "", 0, DM_F32, 1, 0, 0, dims, 4);
	EXPECT_ERROR(&b, (long)h + 12, "empty tensor name");
	free(b.p);
	/* control characters, including a NUL hidden inside the name */
	const char *bad[2] = {"a\tb", "a\0b"};
	for (int i = 0; i < 2; i++) {
		bbuf c = {0};
		h = b_header(&c, 1, 0, "");
		size_t fr = b_frame(&c, "", 0, 1);
		b_tensor(&c, bad[i], 3, DM_F32, 1, 0, 0, dims, 4);
		b_u32(&c, 0);
		b_crc(&c, fr);
		b_end(&c, 1);
		EXPECT_ERROR(&c, (long)h + 13, "control character");
		free(c.p);
	}
	/* the same name twice in one frame */
	bbuf d = {0};
	h = b_header(&d, 1, 0, "");
	size_t fr = b_frame(&d, "", 0, 2);
	size_t t2 = 0;
	for (int i = 0; i < 2; i++) {
		t2 = d.n;
		b_tensor(&d, "x", 1, DM_F32, 1, 0, 0, dims, 4);
		b_u32(&d, 0);
	}
	b_crc(&d, fr);
	b_end(&d, 1);
	EXPECT_ERROR(&d, (long)t2, "appears twice");
	free(d.p);
}

TEST(stream_hostile_records)
{
	struct layout L;
	bbuf b = {0};
	b_valid(&b, &L);
	/* unknown record type where a frame should start */
	memcpy(b.p + L.frame, "FRAX", 4);
	EXPECT_ERROR(&b, (long)L.frame, "unknown record type");
	memcpy(b.p + L.frame, "FRAM", 4);
	/* no end record: truncated, not a clean end */
	bbuf c = {0};
	b_bytes(&c, b.p, L.end);
	EXPECT_ERROR(&c, (long)L.end, "without an end record");
	/* half an end record */
	b_bytes(&c, b.p + L.end, 6);
	EXPECT_ERROR(&c, (long)L.end + 6, "truncated");
	/* garbage after the end record */
	b_bytes(&b, "GARBAGE!", 8);
	EXPECT_ERROR(&b, (long)L.end + 16, "bad magic");
	free(b.p);
	free(c.p);
}

TEST(stream_hostile_concatenated_streams_are_one)
{
	bbuf b = {0};
	b_valid(&b, NULL);
	b_valid(&b, NULL);
	struct outcome o;
	read_capped(&b, &o);
	CHECK_MSG(o.rc == 0 && o.frames == 2, "rc %d frames %d: %s", o.rc, o.frames, o.msg);
	free(b.p);
	/* the first header's metadata is the stream's, even when it is empty;
	 * later metadata is checked (a bad key is an error) but not adopted */
	bbuf c = {0};
	b_header(&c, 1, 0, "");
	b_end(&c, 0);
	b_header(&c, 1, 0, "tool=later\n");
	b_end(&c, 0);
	FILE *m = fmemopen(c.p, c.n, "rb");
	dm_reader *r;
	dm_error err;
	CHECK(dm_reader_open(&r, m, "cat", &err) == 0);
	dm_frame f;
	dm_frame_init(&f);
	CHECK(dm_reader_next(r, &f, &err) == 0);
	CHECK_MSG(dm_reader_meta(r)->n == 0, "later metadata adopted: %d keys", dm_reader_meta(r)->n);
	dm_frame_free(&f);
	dm_reader_close(r);
	fclose(m);
	free(c.p);
	bbuf d = {0};
	b_header(&d, 1, 0, "");
	b_end(&d, 0);
	size_t h2 = d.n;
	b_header(&d, 1, 0, "bad key=1\n");
	b_end(&d, 0);
	EXPECT_ERROR(&d, (long)h2 + 16, "metadata");
	free(d.p);
}

/* Key=value lists are searched linearly for repeated keys; 1 MiB of short
 * distinct keys (~200000) took minutes.  The reader caps a list at 4096
 * keys, so the quadratic search stays in milliseconds. */
static char *many_keys(int n)
{
	char *m = malloc((size_t)n * 12 + 1), *p = m;
	for (int i = 0; i < n; i++)
		p += sprintf(p, "k%x=\n", i);
	return m;
}

TEST(stream_hostile_too_many_keys)
{
	char *ok = many_keys(4096), *bad = many_keys(100000);
	bbuf b = {0};
	b_header(&b, 1, 0, ok);
	b_end(&b, 0);
	struct outcome o;
	read_capped(&b, &o);
	CHECK_MSG(o.rc == 0, "4096 keys: %s", o.msg);
	bbuf c = {0};
	b_header(&c, 1, 0, bad);
	b_end(&c, 0);
	EXPECT_ERROR(&c, 16, "keys");
	bbuf d = {0};
	size_t h = b_header(&d, 1, 0, "");
	b_frame(&d, bad, (uint32_t)strlen(bad), 0);
	b_crc(&d, h);
	EXPECT_ERROR(&d, (long)h + 12, "keys");
	free(ok);
	free(bad);
	free(b.p);
	free(c.p);
	free(d.p);
}

/* fuzz_stream.c - libFuzzer target for the stream reader (make fuzz).
 *
 * Feeds arbitrary bytes through fmemopen to dm_reader_open/dm_reader_next.
 * Beyond "no crash, no leak, no UB" (ASan/UBSan) and "no huge allocation"
 * (-malloc_limit_mb in fuzz.mk) it checks two properties:
 *   - every failure is DM_ERR_FORMAT/LIMIT/NOMEM with a message that starts
 *     with the stream name and, past the header, names a byte offset;
 *   - whatever the reader accepts, the writer writes back, and the copy
 *     reads back to the same frames (tensor bytes, shapes, tags).
 * Mutated bytes almost always break a CRC, which would stop the reader at
 * the first record; so each input is also fed a second time with every CRC
 * it can locate recomputed (repair_crcs), which lets the fuzzer reach the
 * field checks and the zlib path behind them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "io/stream.h"

#define MAX_FRAMES 64

static void require(int cond, const char *what, const dm_error *err)
{
	if (!cond) {
		fprintf(stderr, "fuzz_stream: property violated: %s (%s)\n", what,
		        err ? err->msg : "");
		abort();
	}
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_crc(uint8_t *p, size_t from, size_t to)
{
	uint32_t c = (uint32_t)crc32(0, p + from, (uInt)(to - from));
	for (int i = 0; i < 4; i++)
		p[to + (size_t)i] = (uint8_t)(c >> (8 * i));
}

/* Walk the records of p as dm-stream(5) lays them out and overwrite each
 * CRC field with the right value; stop at the first field that runs past
 * the end.  Sizes are taken at face value (bounded by n). */
static void repair_crcs(uint8_t *p, size_t n)
{
	size_t o = 0;
	while (o + 16 <= n && memcmp(p + o, "\x89" "DMS", 4) == 0) {
		size_t m = (size_t)le(p + o + 12, 4);
		if (m > n || o + 16 + m + 4 > n)
			return;
		put_crc(p, o + 8, o + 16 + m);
		o += 20 + m;
		while (o + 4 <= n && memcmp(p + o, "FRAM", 4) == 0) {
			size_t start = o;
			if (o + 12 > n)
				return;
			uint64_t tl = le(p + o + 4, 4), nt = le(p + o + 8, 4);
			if (tl > n - o - 12)
				return;
			o += 12 + tl;
			for (uint64_t t = 0; t < nt; t++) {
				if (o + 1 > n || o + 1 + p[o] + 4 > n)
					return;
				o += 1 + p[o];
				size_t rank = p[o + 1];
				o += 4;
				if (rank > 8 || o + 8 * rank + 8 > n)
					return;
				o += 8 * rank;
				uint64_t st = le(p + o, 8);
				o += 8;
				if (st > n - o)
					return;
				o += st;
			}
			if (o + 4 > n)
				return;
			put_crc(p, start, o);
			o += 4;
		}
		if (o + 16 > n || memcmp(p + o, "DEND", 4) != 0)
			return;
		put_crc(p, o, o + 12);
		o += 16;
	}
}

static void run_one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_one(data, size);
	uint8_t *fixed = malloc(size ? size : 1);
	memcpy(fixed, data, size);
	repair_crcs(fixed, size);
	if (memcmp(fixed, data, size) != 0)
		run_one(fixed, size);
	free(fixed);
	return 0;
}

static void run_one(const uint8_t *data, size_t size)
{
	if (size == 0)
		return; /* fmemopen refuses an empty buffer */
	FILE *f = fmemopen((void *)data, size, "rb");
	if (!f)
		return;
	dm_reader *r;
	dm_error err;
	int rc = dm_reader_open(&r, f, "fuzz", &err);
	if (rc < 0) {
		require(rc == DM_ERR_FORMAT || rc == DM_ERR_LIMIT || rc == DM_ERR_NOMEM,
		        "open error code", &err);
		require(strncmp(err.msg, "fuzz: ", 6) == 0, "open error names the stream", &err);
		fclose(f);
		return;
	}

	/* a copy of everything accepted, written by the writer */
	char *copy = NULL;
	size_t copy_len = 0;
	FILE *out = open_memstream(&copy, &copy_len);
	dm_writer *w = NULL;
	require(dm_writer_open(&w, out, "copy", dm_reader_meta(r), &err) == 0, "rewrite header", &err);

	dm_frame fr[MAX_FRAMES];
	int n = 0;
	for (; n < MAX_FRAMES; n++) {
		dm_frame_init(&fr[n]);
		rc = dm_reader_next(r, &fr[n], &err);
		if (rc != 1) {
			dm_frame_free(&fr[n]);
			break;
		}
		for (int i = 0; i < fr[n].n; i++) { /* touch every element */
			dm_tensor *t = fr[n].t[i];
			char shape[256];
			dm_tensor_shape_str(t, shape, sizeof shape);
			int64_t numel = dm_tensor_numel(t);
			volatile double sum = 0;
			for (int64_t k = 0; k < numel && k < 4096; k++)
				sum += dm_tensor_get(t, k);
			t->compress = (int)(numel & 1) * 6; /* exercise both writer paths */
		}
		require(dm_writer_write(w, &fr[n], &err) == 0, "rewrite frame", &err);
	}
	if (rc < 0) {
		require(rc == DM_ERR_FORMAT || rc == DM_ERR_LIMIT || rc == DM_ERR_NOMEM,
		        "frame error code", &err);
		require(strncmp(err.msg, "fuzz: ", 6) == 0, "frame error names the stream", &err);
		require(rc == DM_ERR_NOMEM || strstr(err.msg, ": byte ") != NULL,
		        "frame error names the byte", &err);
	}
	dm_reader_close(r);
	fclose(f);
	require(dm_writer_close(w, &err) == 0, "rewrite end", &err);
	fclose(out);

	/* the copy must read back to the same frames */
	FILE *g = fmemopen(copy, copy_len, "rb");
	require(dm_reader_open(&r, g, "copy", &err) == 0, "reopen copy", &err);
	dm_frame back;
	dm_frame_init(&back);
	for (int i = 0; i < n; i++) {
		require(dm_reader_next(r, &back, &err) == 1, "copy has the frame", &err);
		require(dm_frame_equal(&fr[i], &back), "copy frame equals the original", NULL);
		dm_frame_free(&fr[i]);
	}
	require(dm_reader_next(r, &back, &err) == 0, "copy ends cleanly", &err);
	dm_frame_free(&back);
	dm_reader_close(r);
	fclose(g);
	free(copy);
}

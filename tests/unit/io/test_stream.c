#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/stream.h"
#include "harness.h"

/* Write frames with every dtype and ranks 0..8 through a real pipe (via a
 * forked writer), read them back, and compare bytes. */
static void fill_frame(dm_frame *f, int seed, int compress)
{
	dm_error err;
	dm_kv_setf(&f->tags, "t", "%d", seed);
	for (int dt = DM_F32; dt <= DM_I64; dt++) {
		for (int rank = 0; rank <= DM_MAX_RANK; rank += (rank < 3 ? 1 : 5)) {
			int64_t dims[DM_MAX_RANK];
			for (int i = 0; i < rank; i++)
				dims[i] = 1 + (i + seed + dt) % 3;
			char name[32];
			snprintf(name, sizeof name, "%s_r%d", dm_dtype_name(dt), rank);
			dm_tensor *t = dm_frame_add(f, name, dt, rank, dims, &err);
			unsigned char *p = t->data;
			size_t n = dm_tensor_nbytes(t);
			for (size_t i = 0; i < n; i++)
				p[i] = (unsigned char)(compress ? (i / 7) : (i * 31 + (size_t)seed));
			t->compress = compress;
		}
	}
}

static void roundtrip(int compress)
{
	int fd[2];
	CHECK(pipe(fd) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		FILE *out = fdopen(fd[1], "wb");
		dm_writer *w;
		dm_kv meta;
		dm_kv_init(&meta);
		dm_kv_set(&meta, "tool", "test");
		if (dm_writer_open(&w, out, "pipe", &meta, NULL))
			_exit(2);
		for (int s = 0; s < 5; s++) {
			dm_frame f;
			dm_frame_init(&f);
			fill_frame(&f, s, compress);
			if (dm_writer_write(w, &f, NULL))
				_exit(3);
			dm_frame_free(&f);
		}
		if (dm_writer_close(w, NULL))
			_exit(4);
		dm_kv_free(&meta);
		fclose(out);
		_exit(0);
	}
	close(fd[1]);
	FILE *in = fdopen(fd[0], "rb");
	dm_reader *r;
	dm_error err;
	int rc = dm_reader_open(&r, in, "pipe", &err);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(strcmp(dm_kv_get(dm_reader_meta(r), "tool"), "test") == 0);
	dm_frame got, want;
	dm_frame_init(&got);
	dm_frame_init(&want);
	int s = 0;
	while ((rc = dm_reader_next(r, &got, &err)) == 1) {
		fill_frame(&want, s, compress);
		CHECK_MSG(dm_frame_equal(&got, &want), "frame %d differs", s);
		dm_frame_clear(&want);
		s++;
	}
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(s == 5);
	dm_frame_free(&got);
	dm_frame_free(&want);
	dm_reader_close(r);
	fclose(in);
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(stream_roundtrip_pipe) { roundtrip(0); }
TEST(stream_roundtrip_pipe_zlib) { roundtrip(6); }

/* A stream in memory, for the hostile-input tests. */
static unsigned char *small_stream(size_t *len, int compress)
{
	char *buf = NULL;
	FILE *m = open_memstream(&buf, len);
	dm_writer *w;
	dm_kv meta;
	dm_kv_init(&meta);
	dm_kv_set(&meta, "tool", "t");
	dm_writer_open(&w, m, "mem", &meta, NULL);
	dm_frame f;
	dm_frame_init(&f);
	int64_t dims[2] = {2, 3};
	dm_tensor *t = dm_frame_add(&f, "x", DM_F32, 2, dims, NULL);
	t->compress = compress;
	dm_writer_write(w, &f, NULL);
	dm_writer_close(w, NULL);
	dm_frame_free(&f);
	dm_kv_free(&meta);
	fclose(m);
	return (unsigned char *)buf;
}

static int read_all(const unsigned char *buf, size_t len, dm_error *err)
{
	FILE *m = fmemopen((void *)buf, len, "rb");
	dm_reader *r;
	int rc = dm_reader_open(&r, m, "mem", err);
	if (rc == 0) {
		dm_frame f;
		dm_frame_init(&f);
		while ((rc = dm_reader_next(r, &f, err)) == 1)
			;
		dm_frame_free(&f);
		dm_reader_close(r);
	}
	fclose(m);
	return rc;
}

TEST(stream_truncation_detected_everywhere)
{
	size_t len;
	unsigned char *buf = small_stream(&len, 0);
	dm_error err;
	CHECK(read_all(buf, len, &err) == 0);
	for (size_t cut = 0; cut < len; cut++) {
		int rc = read_all(buf, cut, &err);
		CHECK_MSG(rc == DM_ERR_FORMAT, "cut at %zu: rc %d", cut, rc);
		CHECK_MSG(strstr(err.msg, "mem: "), "%s", err.msg);
	}
	free(buf);
}

TEST(stream_every_bit_flip_detected)
{
	size_t len;
	unsigned char *buf = small_stream(&len, 1);
	dm_error err;
	for (size_t i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			buf[i] ^= (unsigned char)(1 << b);
			int rc = read_all(buf, len, &err);
			CHECK_MSG(rc < 0, "flip of bit %d of byte %zu went unnoticed", b, i);
			buf[i] ^= (unsigned char)(1 << b);
		}
	free(buf);
}

TEST(stream_f16_bf16_conversions)
{
	/* exact values survive; halfway cases round to even */
	float vals[] = {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f};
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
		CHECK_NEAR(dm_f16_to_f32(dm_f32_to_f16(vals[i])), vals[i], 0);
	CHECK(dm_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);           /* tie -> even */
	CHECK(dm_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);           /* tie -> even */
	CHECK(dm_f32_to_f16(70000.0f) == 0x7c00);
	CHECK(dm_f32_to_bf16(1.0f) == 0x3f80);
	CHECK_NEAR(dm_bf16_to_f32(dm_f32_to_bf16(3.140625f)), 3.140625f, 0);
	/* every f16 value round-trips through f32 */
	for (uint32_t h = 0; h < 0x10000; h++) {
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
			continue; /* NaN payloads */
		CHECK_MSG(dm_f32_to_f16(dm_f16_to_f32((uint16_t)h)) == h, "f16 %04x", h);
	}
}

TEST(stream_kv_rules)
{
	dm_kv kv;
	dm_kv_init(&kv);
	CHECK(dm_kv_set(&kv, "schedule", "linear") == 0);
	CHECK(dm_kv_set(&kv, "bad key", "x") == DM_ERR_ARG);
	CHECK(dm_kv_set(&kv, "k", "two\nlines") == DM_ERR_ARG);
	CHECK(dm_kv_set(&kv, "schedule", "cosine") == 0);
	CHECK(kv.n == 1 && strcmp(dm_kv_get(&kv, "schedule"), "cosine") == 0);
	CHECK(dm_kv_setf(&kv, "T", "%d", 1000) == 0);
	CHECK_NEAR(dm_kv_get_double(&kv, "T", 0), 1000, 0);
	dm_kv_free(&kv);
}

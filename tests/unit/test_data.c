/* test_data.c - PNG and NPY I/O and the dm-load readers (lib/data.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/image.h"
#include "../../lib/npy.h"
#include "harness.h"

static char *tmp_path(char *buf, size_t n, const char *leaf)
{
	snprintf(buf, n, "/tmp/dm-test-data-%d-%s", (int)getpid(), leaf);
	return buf;
}

static int write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(p, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

static void png_round_trip(int c)
{
	char path[256];
	tmp_path(path, sizeof path, "rt.png");
	int w = 5, h = 3;
	uint8_t pix[5 * 3 * 4];
	for (int i = 0; i < w * h * c; i++)
		pix[i] = (uint8_t)(i * 37 + 11);
	FILE *f = fopen(path, "wb");
	dm_error err;
	CHECK(f);
	CHECK(dm_png_write(f, path, w, h, c, pix, &err) == 0);
	fclose(f);
	int rw, rh, rc;
	float *data;
	CHECK_MSG(dm_png_read(path, &rw, &rh, &rc, &data, &err) == 0, "%s", err.msg);
	unlink(path);
	CHECK(rw == w && rh == h && rc == c);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < c; k++) {
				float v = data[(k * h + y) * w + x];
				CHECK_NEAR(v * 255.0f, pix[(y * w + x) * c + k], 1e-3);
			}
	free(data);
}

TEST(image_png_round_trip_gray) { png_round_trip(1); }
TEST(image_png_round_trip_gray_alpha) { png_round_trip(2); }
TEST(image_png_round_trip_rgb) { png_round_trip(3); }
TEST(image_png_round_trip_rgba) { png_round_trip(4); }

TEST(image_png_not_png)
{
	char path[256];
	tmp_path(path, sizeof path, "bad.png");
	CHECK(write_bytes(path, "hello, this is text\n", 20) == 0);
	int w, h, c;
	float *data;
	dm_error err;
	int rc = dm_png_read(path, &w, &h, &c, &data, &err);
	unlink(path);
	CHECK(rc < 0);
	CHECK(strstr(err.msg, "not a PNG") && strstr(err.msg, path));
}

TEST(image_png_truncated)
{
	char path[256];
	tmp_path(path, sizeof path, "trunc.png");
	uint8_t pix[64 * 64];
	for (int i = 0; i < 64 * 64; i++)
		pix[i] = (uint8_t)(i * 7919 >> 3);
	FILE *f = fopen(path, "wb");
	dm_error err;
	CHECK(dm_png_write(f, path, 64, 64, 1, pix, &err) == 0);
	long n = ftell(f);
	fclose(f);
	CHECK(truncate(path, n / 2) == 0);
	int w, h, c;
	float *data;
	int rc = dm_png_read(path, &w, &h, &c, &data, &err);
	unlink(path);
	CHECK(rc < 0);
	CHECK(strstr(err.msg, path));
}

TEST(npy_round_trip)
{
	char path[256];
	tmp_path(path, sizeof path, "rt.npy");
	int64_t dims[3] = {2, 3, 4};
	float v[24];
	for (int i = 0; i < 24; i++)
		v[i] = (float)i * 0.5f - 3.0f;
	FILE *f = fopen(path, "wb");
	dm_error err;
	CHECK(dm_npy_write_header(f, path, DM_F32, 3, dims, &err) == 0);
	CHECK(ftell(f) == DM_NPY_HEADER_BYTES);
	fwrite(v, sizeof v, 1, f);
	fclose(f);
	dm_frame fr;
	dm_frame_init(&fr);
	int rc = dm_npy_read(path, &fr, "x", &err);
	unlink(path);
	CHECK_MSG(rc == 0, "%s", err.msg);
	dm_tensor *t = dm_frame_get(&fr, "x");
	CHECK(t && t->dtype == DM_F32 && t->rank == 3 && t->dims[0] == 2 && t->dims[2] == 4);
	CHECK(memcmp(t->data, v, sizeof v) == 0);
	dm_frame_free(&fr);
}

static int npy_bad(const char *dict, const char *want)
{
	char path[256], buf[256];
	tmp_path(path, sizeof path, "bad.npy");
	size_t dl = strlen(dict);
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (char)dl;
	buf[9] = 0;
	memcpy(buf + 10, dict, dl);
	memset(buf + 10 + dl, 0, 32);
	write_bytes(path, buf, 10 + dl + 32);
	dm_frame fr;
	dm_frame_init(&fr);
	dm_error err;
	int rc = dm_npy_read(path, &fr, "x", &err);
	unlink(path);
	dm_frame_free(&fr);
	if (rc >= 0)
		return 0;
	return strstr(err.msg, want) && strstr(err.msg, path);
}

TEST(npy_hostile)
{
	CHECK(npy_bad("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", "fortran"));
	CHECK(npy_bad("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }\n", "pickle"));
	CHECK(npy_bad("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", "big-endian"));
	CHECK(npy_bad("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", "not supported"));
	CHECK(npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }\n",
	              "more data"));
	CHECK(npy_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }\n", "more data"));
}

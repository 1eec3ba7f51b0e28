/* test_data.c - PNG and NPY I/O and the dm-load readers (lib/data/data.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>
#include <zlib.h>

#include "data/data.h"
#include "io/image.h"
#include "io/npy.h"
#include "harness.h"

static int open_spec(dm_dataset *d, const char *spec, int64_t n, uint64_t seed, dm_error *err)
{
	dm_data_opts o;
	dm_data_opts_default(&o);
	if (n)
		o.n = n;
	o.seed = seed;
	return dm_data_open(d, spec, &o, err);
}

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

/* A 16-bit PNG written with libpng directly (dm_png_write is 8-bit). */
static int write_png16(const char *path, int w, int h, int color_type, int ch,
                       const uint16_t *v)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		fclose(f);
		return -1;
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 16, color_type,
	             PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	uint8_t row[64 * 4 * 2];
	for (int y = 0; y < h; y++) {
		for (int i = 0; i < w * ch; i++) {
			uint16_t s = v[y * w * ch + i];
			row[2 * i] = (uint8_t)(s >> 8);
			row[2 * i + 1] = (uint8_t)s;
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return fclose(f);
}

TEST(image_png_16bit_rgb)
{
	char path[256];
	tmp_path(path, sizeof path, "16.png");
	uint16_t v[4 * 2 * 3];
	for (int i = 0; i < 24; i++)
		v[i] = (uint16_t)(i * 2731 + 17);
	CHECK(write_png16(path, 4, 2, PNG_COLOR_TYPE_RGB, 3, v) == 0);
	int w, h, c;
	float *data;
	dm_error err;
	int rc = dm_png_read(path, &w, &h, &c, &data, &err);
	unlink(path);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(w == 4 && h == 2 && c == 3);
	for (int i = 0; i < 8; i++)
		for (int k = 0; k < 3; k++)
			CHECK_NEAR(data[k * 8 + i] * 65535.0, v[i * 3 + k], 0.02);
	free(data);
}

TEST(image_png_palette)
{
	char path[256];
	tmp_path(path, sizeof path, "pal.png");
	FILE *f = fopen(path, "wb");
	CHECK(f);
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	png_init_io(png, f);
	png_set_IHDR(png, info, 3, 1, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE,
	             PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_color pal[2] = {{10, 20, 30}, {200, 100, 0}};
	png_set_PLTE(png, info, pal, 2);
	png_write_info(png, info);
	uint8_t row[3] = {0, 1, 0};
	png_write_row(png, row);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	fclose(f);
	int w, h, c;
	float *data;
	dm_error err;
	int rc = dm_png_read(path, &w, &h, &c, &data, &err);
	unlink(path);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(w == 3 && h == 1 && c == 3);
	CHECK_NEAR(data[0] * 255, 10, 1e-3);   /* R of pixel 0 */
	CHECK_NEAR(data[1] * 255, 200, 1e-3);  /* R of pixel 1 */
	CHECK_NEAR(data[3 + 1] * 255, 100, 1e-3); /* G of pixel 1 */
	CHECK_NEAR(data[6 + 2] * 255, 30, 1e-3);  /* B of pixel 2 */
	free(data);
}

/* Write an IDX file (gzip when gz), u8, rank 1 or 3. */
static int write_idx(const char *path, int gz, int rank, const int *dims, const uint8_t *v,
                     size_t nv, size_t cut)
{
	uint8_t h[16] = {0, 0, 8, (uint8_t)rank};
	for (int i = 0; i < rank; i++) {
		h[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
		h[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
		h[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
		h[7 + 4 * i] = (uint8_t)dims[i];
	}
	size_t hl = 4 + 4 * (size_t)rank;
	uint8_t buf[4096];
	memcpy(buf, h, hl);
	memcpy(buf + hl, v, nv);
	size_t total = hl + nv - cut;
	if (!gz)
		return write_bytes(path, buf, total);
	gzFile g = gzopen(path, "wb");
	if (!g)
		return -1;
	int ok = gzwrite(g, buf, (unsigned)total) == (int)total;
	return gzclose(g) == Z_OK && ok ? 0 : -1;
}

static void idx_case(int gz)
{
	char dir[256], ip[300], lp[300];
	tmp_path(dir, sizeof dir, gz ? "idxgz" : "idx");
	mkdir(dir, 0700);
	snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte%s", dir, gz ? ".gz" : "");
	snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte%s", dir, gz ? ".gz" : "");
	uint8_t px[3 * 2 * 4], lab[3] = {7, 0, 9};
	for (int i = 0; i < 24; i++)
		px[i] = (uint8_t)(i * 11);
	CHECK(write_idx(ip, gz, 3, (int[]){3, 2, 4}, px, 24, 0) == 0);
	CHECK(write_idx(lp, gz, 1, (int[]){3}, lab, 3, 0) == 0);
	dm_dataset d;
	dm_dataset_init(&d);
	dm_error err;
	int rc = open_spec(&d, ip, 0, 0, &err);
	unlink(ip);
	unlink(lp);
	rmdir(dir);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(d.n == 3 && d.rank == 3 && d.dims[0] == 1 && d.dims[1] == 2 && d.dims[2] == 4);
	CHECK(d.label && d.label[0] == 7 && d.label[2] == 9);
	float s[8];
	dm_dataset_get(&d, 2, s);
	CHECK_NEAR(s[5], (16 + 5) * 11 / 255.0, 1e-6);
	dm_dataset_free(&d);
}

TEST(data_idx_plain) { idx_case(0); }
TEST(data_idx_gzip) { idx_case(1); }

static int idx_error(int gz, int rank, const int *dims, size_t nv, size_t cut, int bad_magic,
                     const char *want)
{
	char path[256];
	tmp_path(path, sizeof path, "bad-idx");
	uint8_t v[256] = {0};
	write_idx(path, gz, rank, dims, v, nv, cut);
	if (bad_magic) {
		FILE *f = fopen(path, "r+b");
		fputc(0x42, f);
		fclose(f);
	}
	dm_dataset d;
	dm_dataset_init(&d);
	dm_error err;
	int rc = dm_data_idx(&d, path, &err);
	unlink(path);
	dm_dataset_free(&d);
	return rc < 0 && strstr(err.msg, path) && strstr(err.msg, want);
}

TEST(data_idx_hostile)
{
	CHECK(idx_error(0, 3, (int[]){2, 2, 2}, 8, 0, 1, "not an IDX"));
	CHECK(idx_error(0, 3, (int[]){2, 2, 2}, 8, 3, 0, "claims"));
	CHECK(idx_error(1, 3, (int[]){2, 2, 2}, 8, 3, 0, "truncated"));
	CHECK(idx_error(0, 3, (int[]){0x7fffffff, 0x7fffffff, 0x7fffffff}, 8, 0, 0, "claims"));
	CHECK(idx_error(1, 3, (int[]){60000, 28, 28}, 8, 0, 0, "claims"));
	CHECK(idx_error(0, 1, (int[]){8}, 8, 0, 0, "labels file"));
}

TEST(data_fashion_mnist_missing)
{
	setenv("DM_FASHION_MNIST_DIR", "/nonexistent-dm-test", 1);
	dm_dataset d;
	dm_dataset_init(&d);
	dm_error err;
	int rc = open_spec(&d, "fashion-mnist:test", 0, 0, &err);
	unsetenv("DM_FASHION_MNIST_DIR");
	dm_dataset_free(&d);
	CHECK(rc == DM_ERR_MISSING && strstr(err.msg, "DM_FASHION_MNIST_DIR"));
}

TEST(data_csv)
{
	char path[256];
	tmp_path(path, sizeof path, "t.csv");
	const char *text = "a, b ,c\n1,2,3\n\n# comment\n-4.5, 5e1 ,6\r\n";
	CHECK(write_bytes(path, text, strlen(text)) == 0);
	dm_dataset d;
	dm_dataset_init(&d);
	dm_error err;
	int rc = open_spec(&d, path, 0, 0, &err);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(d.n == 2 && d.rank == 1 && d.dims[0] == 3 && !d.unit);
	float s[3];
	dm_dataset_get(&d, 1, s);
	CHECK(s[0] == -4.5f && s[1] == 50.0f && s[2] == 6.0f);
	dm_dataset_free(&d);
	const char *bad = "1,2\n3,x4\n";
	write_bytes(path, bad, strlen(bad));
	dm_dataset_init(&d);
	rc = open_spec(&d, path, 0, 0, &err);
	dm_dataset_free(&d);
	CHECK(rc < 0 && strstr(err.msg, "line 2, column 2") && strstr(err.msg, "x4"));
	const char *ragged = "1,2\n3\n";
	write_bytes(path, ragged, strlen(ragged));
	dm_dataset_init(&d);
	rc = open_spec(&d, path, 0, 0, &err);
	dm_dataset_free(&d);
	unlink(path);
	CHECK(rc < 0 && strstr(err.msg, "line 2"));
}

TEST(data_npy_u8_images)
{
	char path[256];
	tmp_path(path, sizeof path, "img.npy");
	FILE *f = fopen(path, "wb");
	dm_error err;
	CHECK(dm_npy_write_header(f, path, DM_U8, 3, (int64_t[]){2, 2, 3}, &err) == 0);
	uint8_t v[12] = {0, 255, 51, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	fwrite(v, 1, 12, f);
	fclose(f);
	dm_dataset d;
	dm_dataset_init(&d);
	int rc = open_spec(&d, path, 0, 0, &err);
	unlink(path);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(d.n == 2 && dm_dataset_is_image(&d) && d.dims[0] == 1 && d.dims[2] == 3 && d.unit);
	float s[6];
	dm_dataset_get(&d, 0, s);
	CHECK_NEAR(s[1], 1.0, 1e-7);
	CHECK_NEAR(s[2], 0.2, 1e-7);
	dm_dataset_free(&d);
}

TEST(data_toy)
{
	static const char *names[] = {"swissroll", "moons", "8gaussians", "checkerboard", "circles"};
	for (int k = 0; k < 5; k++) {
		dm_dataset a, b;
		dm_dataset_init(&a);
		dm_dataset_init(&b);
		dm_error err;
		char spec[64];
		snprintf(spec, sizeof spec, "toy:%s", names[k]);
		CHECK_MSG(open_spec(&a, spec, 2000, 5, &err) == 0, "%s", err.msg);
		CHECK(open_spec(&b, spec, 100, 5, &err) == 0);
		CHECK(a.n == 2000 && a.rank == 1 && a.dims[0] == 2);
		/* point i does not depend on n */
		CHECK(memcmp(a.data, b.data, 100 * 2 * sizeof(float)) == 0);
		double s2 = 0, mx = 0;
		const float *p = a.data;
		for (int i = 0; i < 4000; i++) {
			s2 += p[i] * p[i];
			mx = fabs(p[i]) > mx ? fabs(p[i]) : mx;
		}
		double rms = sqrt(s2 / 4000);
		CHECK_MSG(rms > 0.3 && rms < 1.2 && mx < 2.0, "%s: rms %g max %g", names[k], rms, mx);
		dm_dataset_free(&a);
		dm_dataset_free(&b);
	}
	dm_dataset d;
	dm_dataset_init(&d);
	dm_error err;
	CHECK(open_spec(&d, "toy:spiral", 10, 0, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "toy:spiral"));
	dm_dataset_free(&d);
}

TEST(data_permutation)
{
	int64_t p[1000], q[1000], r[1000];
	dm_data_permutation(3, 0, 1000, p);
	dm_data_permutation(3, 0, 1000, q);
	dm_data_permutation(3, 1, 1000, r);
	CHECK(memcmp(p, q, sizeof p) == 0);
	CHECK(memcmp(p, r, sizeof p) != 0);
	char seen[1000] = {0};
	int fixed = 0;
	for (int i = 0; i < 1000; i++) {
		CHECK(p[i] >= 0 && p[i] < 1000 && !seen[p[i]]);
		seen[p[i]] = 1;
		fixed += p[i] == i;
	}
	CHECK(fixed < 10);
}

/* Run the loader over a toy set; collect x[:,0] of every sample. */
static int run_loader(const dm_dataset *d, dm_loader_opts *o, float *got, int max, int *frames)
{
	dm_loader *l;
	dm_error err;
	if (dm_loader_open(&l, d, o, &err))
		return -1;
	dm_frame f;
	dm_frame_init(&f);
	int n = 0;
	*frames = 0;
	while (dm_loader_next(l, &f, &err) == 1) {
		dm_tensor *x = dm_frame_get(&f, "x");
		for (int64_t i = 0; i < x->dims[0] && n < max; i++)
			got[n++] = ((float *)x->data)[i * 2];
		(*frames)++;
	}
	dm_frame_free(&f);
	dm_loader_close(l);
	return n;
}

TEST(data_loader_shuffle_shard)
{
	dm_dataset d;
	dm_dataset_init(&d);
	dm_error err;
	CHECK(dm_data_toy(&d, "moons", 50, 1, &err) == 0);
	dm_loader_opts o;
	dm_loader_opts_default(&o);
	o.batch = 8;
	o.epochs = 2;
	o.shuffle = 1;
	o.seed = 9;
	float all[100], again[100], part[3][100];
	int fr;
	CHECK(run_loader(&d, &o, all, 100, &fr) == 100 && fr == 13);
	CHECK(run_loader(&d, &o, again, 100, &fr) == 100);
	CHECK(memcmp(all, again, sizeof all) == 0);
	/* each epoch is a permutation: same multiset as the data */
	float sum0 = 0, sum1 = 0, sumd = 0;
	for (int i = 0; i < 50; i++) {
		sum0 += all[i];
		sum1 += all[50 + i];
		sumd += ((float *)d.data)[2 * i];
	}
	CHECK_NEAR(sum0, sumd, 1e-4);
	CHECK_NEAR(sum1, sumd, 1e-4);
	CHECK(memcmp(all, all + 50, 50 * sizeof(float)) != 0);
	/* shards 0/3, 1/3, 2/3 interleave back into the whole */
	int n[3];
	for (int r = 0; r < 3; r++) {
		o.shard_r = r;
		o.shard_n = 3;
		n[r] = run_loader(&d, &o, part[r], 100, &fr);
	}
	CHECK(n[0] == 34 && n[1] == 33 && n[2] == 33);
	for (int p = 0; p < 100; p++)
		CHECK(all[p] == part[p % 3][p / 3]);
	dm_dataset_free(&d);
}

TEST(data_loader_flip_range)
{
	dm_dataset d;
	dm_dataset_init(&d);
	d.source = strdup("test");
	d.rank = 3;
	d.dims[0] = 1;
	d.dims[1] = 1;
	d.dims[2] = 3;
	d.n = 64;
	d.dtype = DM_U8;
	d.div = 255.0f;
	d.unit = 1;
	uint8_t *px = malloc(64 * 3);
	for (int i = 0; i < 64; i++) {
		px[3 * i] = 0;
		px[3 * i + 1] = 51;
		px[3 * i + 2] = 255;
	}
	d.data = px;
	dm_loader_opts o;
	dm_loader_opts_default(&o);
	o.flip = 1;
	dm_loader *l;
	dm_error err;
	CHECK(dm_loader_open(&l, &d, &o, &err) == 0);
	dm_frame f;
	dm_frame_init(&f);
	CHECK(dm_loader_next(l, &f, &err) == 1);
	float *x = dm_frame_get(&f, "x")->data;
	int flipped = 0;
	for (int i = 0; i < 64; i++) {
		CHECK_NEAR(x[3 * i + 1], -0.6, 1e-6);
		flipped += x[3 * i] == 1.0f;
		CHECK(x[3 * i] == (x[3 * i] == 1.0f ? 1.0f : -1.0f));
		CHECK(x[3 * i + 2] == -x[3 * i]);
	}
	CHECK(flipped > 16 && flipped < 48);
	CHECK(dm_loader_next(l, &f, &err) == 0);
	dm_frame_free(&f);
	dm_loader_close(l);
	dm_dataset_free(&d);
}

TEST(data_png_folder_sizes)
{
	char dir[256], a[300], b[300];
	tmp_path(dir, sizeof dir, "pngdir");
	mkdir(dir, 0700);
	snprintf(a, sizeof a, "%s/a.png", dir);
	snprintf(b, sizeof b, "%s/b.png", dir);
	uint8_t pix[4 * 4 * 3] = {0};
	dm_error err;
	FILE *f = fopen(a, "wb");
	CHECK(dm_png_write(f, a, 4, 4, 1, pix, &err) == 0);
	fclose(f);
	f = fopen(b, "wb");
	CHECK(dm_png_write(f, b, 4, 4, 1, pix, &err) == 0);
	fclose(f);
	dm_dataset d;
	dm_dataset_init(&d);
	int rc = open_spec(&d, dir, 0, 0, &err);
	dm_dataset_free(&d);
	CHECK_MSG(rc == 0 && 1, "%s", err.msg);
	f = fopen(b, "wb");
	CHECK(dm_png_write(f, b, 4, 3, 1, pix, &err) == 0);
	fclose(f);
	dm_dataset_init(&d);
	rc = open_spec(&d, dir, 0, 0, &err);
	dm_dataset_free(&d);
	unlink(a);
	unlink(b);
	rmdir(dir);
	CHECK(rc < 0 && strstr(err.msg, b) && strstr(err.msg, "4x3"));
}

TEST(image_png_16bit_gray_alpha)
{
	char path[256];
	tmp_path(path, sizeof path, "16ga.png");
	uint16_t v[3 * 2 * 2];
	for (int i = 0; i < 12; i++)
		v[i] = (uint16_t)(65535 - i * 4099);
	CHECK(write_png16(path, 3, 2, PNG_COLOR_TYPE_GRAY_ALPHA, 2, v) == 0);
	int w, h, c;
	float *data;
	dm_error err;
	int rc = dm_png_read(path, &w, &h, &c, &data, &err);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(w == 3 && h == 2 && c == 2);
	for (int i = 0; i < 6; i++)
		for (int k = 0; k < 2; k++)
			CHECK_NEAR(data[k * 6 + i] * 65535.0, v[i * 2 + k], 0.02);
	free(data);
	/* gray only, through the data-set reader: u16 / 65535 -> [-1, 1] */
	CHECK(write_png16(path, 3, 2, PNG_COLOR_TYPE_GRAY, 1, v) == 0);
	dm_dataset d;
	dm_dataset_init(&d);
	rc = open_spec(&d, path, 0, 0, &err);
	unlink(path);
	CHECK_MSG(rc == 0, "%s", err.msg);
	CHECK(d.n == 1 && d.dims[0] == 1 && d.dims[1] == 2 && d.dims[2] == 3 && d.unit);
	float s[6];
	dm_dataset_get(&d, 0, s);
	CHECK_NEAR(s[0], 1.0, 1e-7);
	CHECK_NEAR(s[5], v[5] / 65535.0, 1e-6);
	dm_dataset_free(&d);
}

/* test_safetensors.c - safetensors out and back, and headers that lie,
 * each refused with a sentence naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "harness.h"

static char *tmpfile_path(void)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/dm-test-st-XXXXXX");
	int fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	return path;
}

/* A file of the given JSON header (padded as written) and data bytes. */
static void put_file(const char *path, const char *json, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	uint64_t len = strlen(json);
	unsigned char l8[8];
	for (int i = 0; i < 8; i++)
		l8[i] = (unsigned char)(len >> (8 * i));
	fwrite(l8, 1, 8, f);
	fwrite(json, 1, len, f);
	if (n)
		fwrite(data, 1, n, f);
	fclose(f);
}

TEST(safetensors_roundtrip)
{
	char *path = tmpfile_path();
	dm_frame f, g;
	dm_frame_init(&f);
	dm_frame_init(&g);
	dm_error err;
	int64_t d2[2] = {2, 3}, d1[1] = {4};
	dm_tensor *a = dm_frame_add(&f, "a.weight", DM_F32, 2, d2, &err);
	dm_tensor *b = dm_frame_add(&f, "b", DM_I64, 1, d1, &err);
	for (int i = 0; i < 6; i++)
		((float *)a->data)[i] = (float)i - 2.5f;
	for (int i = 0; i < 4; i++)
		((int64_t *)b->data)[i] = ((int64_t)1 << 40) + i;
	dm_kv meta, back;
	dm_kv_init(&meta);
	dm_kv_init(&back);
	dm_kv_set(&meta, "model", "mlp");
	dm_kv_set(&meta, "quote", "a \"b\" \\ c\td");
	FILE *out = fopen(path, "wb");
	CHECK(dm_safetensors_write(out, path, &meta, &f, &err) == 0);
	fclose(out);
	CHECK_MSG(dm_safetensors_read(path, &back, &g, &err) == 0, "%s", err.msg);
	CHECK(!strcmp(dm_kv_get(&back, "model"), "mlp"));
	CHECK(!strcmp(dm_kv_get(&back, "quote"), "a \"b\" \\ c\td"));
	CHECK(g.n == 2);
	const dm_tensor *a2 = dm_frame_get(&g, "a.weight"), *b2 = dm_frame_get(&g, "b");
	CHECK(a2 && a2->dtype == DM_F32 && a2->rank == 2 && a2->dims[0] == 2 && a2->dims[1] == 3);
	CHECK(!memcmp(a2->data, a->data, 24));
	CHECK(b2 && b2->dtype == DM_I64 && !memcmp(b2->data, b->data, 32));
	/* the header is padded to a multiple of 8, as the reference writes it */
	FILE *in = fopen(path, "rb");
	unsigned char l8[8];
	CHECK(fread(l8, 1, 8, in) == 8);
	fclose(in);
	CHECK(l8[0] % 8 == 0);
	dm_frame_free(&f);
	dm_frame_free(&g);
	dm_kv_free(&meta);
	dm_kv_free(&back);
	unlink(path);
}

/* The file must be refused with a message naming it and containing what. */
static void refused(const char *json, const void *data, size_t n, const char *what, int line)
{
	char *path = tmpfile_path();
	put_file(path, json, data, n);
	dm_kv meta;
	dm_frame g;
	dm_kv_init(&meta);
	dm_frame_init(&g);
	dm_error err;
	dm_error_clear(&err);
	int rc = dm_safetensors_read(path, &meta, &g, &err);
	if (rc >= 0 || !strstr(err.msg, path) || !strstr(err.msg, what))
		dm_test_fail(__FILE__, line, "rc %d, message '%s' (wanted '%s')", rc, err.msg, what);
	dm_kv_free(&meta);
	dm_frame_free(&g);
	unlink(path);
}
#define REFUSED(j, d, n, w) refused(j, d, n, w, __LINE__)

TEST(safetensors_hostile)
{
	float v[4] = {1, 2, 3, 4};
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", v, 4,
	        "the tensors cover 8 bytes of data, the file holds 4");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", v, 12,
	        "data_offsets do not span");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", v, 8,
	        "starts at byte 4 of the data, not 0");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	        "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", v, 8,
	        "hole or an overlap");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", v, 16,
	        "cover 4 bytes of data, the file holds 16");
	REFUSED("{\"x\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", v, 4,
	        "dtype Q4 is not one dm reads");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", v, 0, "lacks dtype, shape or data_offsets");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1}}", v, 4,
	        "unknown key");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]} trailing", v, 4,
	        "expected '}'");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", v, 4,
	        "bytes after the header's object");
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},", v, 4, "byte ");
	/* a legal header claiming 1 GiB on a 16-byte file: the data is not there */
	REFUSED("{\"x\":{\"dtype\":\"F32\",\"shape\":[268435456],\"data_offsets\":[0,1073741824]}}",
	        v, 16, "over the limit");
	/* a header length beyond the file */
	char *path = tmpfile_path();
	FILE *f = fopen(path, "wb");
	unsigned char l8[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	fwrite(l8, 1, 8, f);
	fwrite("{}", 1, 2, f);
	fclose(f);
	dm_kv meta;
	dm_frame g;
	dm_kv_init(&meta);
	dm_frame_init(&g);
	dm_error err;
	CHECK(dm_safetensors_read(path, &meta, &g, &err) == DM_ERR_FORMAT &&
	      strstr(err.msg, "header length 4294967295"));
	dm_kv_free(&meta);
	dm_frame_free(&g);
	unlink(path);
}

TEST(safetensors_empty_and_metadata_only)
{
	char *path = tmpfile_path();
	put_file(path, "{\"__metadata__\":{\"format\":\"pt\",\"bad key\":\"x\"}}", NULL, 0);
	dm_kv meta;
	dm_frame g;
	dm_kv_init(&meta);
	dm_frame_init(&g);
	dm_error err;
	CHECK_MSG(dm_safetensors_read(path, &meta, &g, &err) == 0, "%s", err.msg);
	/* a key a dm header cannot hold is left out, the rest kept */
	CHECK(g.n == 0 && meta.n == 1 && !strcmp(dm_kv_get(&meta, "format"), "pt"));
	dm_kv_free(&meta);
	dm_frame_free(&g);
	unlink(path);
}

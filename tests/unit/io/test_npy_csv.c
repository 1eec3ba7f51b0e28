#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/csv.h"
#include "io/npy.h"
#include "harness.h"

static dm_tensor *tensor(dm_frame *f, const char *name, int dtype, int rank, int64_t d0,
                         int64_t d1, float base)
{
	dm_error err;
	int64_t dims[2] = {d0, d1};
	dm_tensor *t = dm_frame_add(f, name, dtype, rank, dims, &err);
	for (int64_t i = 0; t && i < dm_tensor_numel(t); i++) {
		if (dtype == DM_F32)
			((float *)t->data)[i] = base + (float)i / 4;
		else if (dtype == DM_I64)
			((int64_t *)t->data)[i] = ((int64_t)1 << 60) + i;
	}
	return t;
}

/* Two frames of 2x3 and 3x3 read back as one 5x3 array, staged or not. */
TEST(npy_writer_concatenates)
{
	char path[] = "/tmp/dm-test-npy-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	dm_frame f;
	dm_frame_init(&f);
	dm_tensor *a = tensor(&f, "a", DM_F32, 2, 2, 3, 0);
	dm_tensor *b = tensor(&f, "b", DM_F32, 2, 3, 3, 1.5f);
	dm_tensor *c = tensor(&f, "c", DM_F32, 2, 1, 4, 0);
	dm_error err;
	for (int seekable = 0; seekable < 2; seekable++) {
		FILE *out = fopen(path, "w+b");
		CHECK(out != NULL);
		dm_npy_writer w;
		CHECK(dm_npy_writer_open(&w, out, path, seekable, &err) == 0);
		CHECK(dm_npy_writer_add(&w, a, &err) == 0 && dm_npy_writer_add(&w, b, &err) == 0);
		CHECK(dm_npy_writer_add(&w, c, &err) == DM_ERR_ARG && strstr(err.msg, "'c'"));
		CHECK(dm_npy_writer_finish(&w, &err) == 0);
		fclose(out);
		dm_frame g;
		dm_frame_init(&g);
		CHECK(dm_npy_read(path, &g, "x", &err) == 0);
		const dm_tensor *x = dm_frame_get(&g, "x");
		CHECK(x && x->rank == 2 && x->dims[0] == 5 && x->dims[1] == 3);
		CHECK(!memcmp(x->data, a->data, 24) && !memcmp((char *)x->data + 24, b->data, 36));
		dm_frame_free(&g);
	}
	dm_frame_free(&f);
	unlink(path);
}

TEST(csv_writer_rows)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	CHECK(m != NULL);
	dm_frame f;
	dm_frame_init(&f);
	dm_tensor *a = tensor(&f, "x", DM_F32, 2, 2, 2, -1);
	dm_tensor *l = tensor(&f, "n", DM_I64, 2, 1, 2, 0);
	dm_tensor *c = tensor(&f, "c", DM_F32, 2, 1, 3, 0);
	dm_csv_writer w;
	dm_error err;
	dm_csv_writer_init(&w, m, "mem", 1);
	CHECK(dm_csv_writer_add(&w, a, &err) == 0);
	CHECK(dm_csv_writer_add(&w, l, &err) == 0); /* 64-bit integers exactly */
	CHECK(dm_csv_writer_add(&w, c, &err) == DM_ERR_ARG && strstr(err.msg, "3 values per row"));
	fclose(m);
	CHECK(!strcmp(buf, "x_0,x_1\n-1,-0.75\n-0.5,-0.25\n1152921504606846976,1152921504606846977\n"));
	free(buf);
	dm_frame_free(&f);
}

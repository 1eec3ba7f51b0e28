/* fuzz_seed.c - write a few small valid streams into a directory, the seed
 * corpus of fuzz_stream (every dtype, ranks 0..8, tags, compression, an
 * empty frame, concatenated streams).  Usage: fuzz_seed DIR */
#include <stdlib.h>
#include <string.h>

#include "io/stream.h"

static void frame_with(dm_frame *f, int dtype, int rank, int compress, int seed)
{
	int64_t dims[DM_MAX_RANK];
	for (int i = 0; i < rank; i++)
		dims[i] = 1 + (i + seed) % 3;
	char name[16];
	snprintf(name, sizeof name, "%s", seed % 2 ? "x" : "label");
	dm_tensor *t = dm_frame_add(f, name, dtype, rank, dims, NULL);
	unsigned char *p = t->data;
	for (size_t i = 0; i < dm_tensor_nbytes(t); i++)
		p[i] = (unsigned char)(compress ? i / 16 : i * 37 + (size_t)seed);
	t->compress = compress;
	dm_kv_setf(&f->tags, "t", "%d", seed);
}

static int write_seed(const char *dir, int k, int frames, int compress, int concat)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/seed%02d.dms", dir, k);
	FILE *out = fopen(path, "wb");
	if (!out)
		return 1;
	for (int c = 0; c <= concat; c++) {
		dm_kv meta;
		dm_kv_init(&meta);
		dm_kv_set(&meta, "tool", "fuzz_seed");
		if (k % 2)
			dm_kv_set(&meta, "schedule", "linear");
		dm_writer *w;
		if (dm_writer_open(&w, out, path, &meta, NULL))
			return 1;
		for (int i = 0; i < frames; i++) {
			dm_frame f;
			dm_frame_init(&f);
			if (i != 1) /* frame 1 is empty */
				frame_with(&f, 1 + (k + i) % DM_I64, (k * 3 + i) % (DM_MAX_RANK + 1), compress, k + i);
			if (dm_writer_write(w, &f, NULL))
				return 1;
			dm_frame_free(&f);
		}
		if (dm_writer_close(w, NULL))
			return 1;
		dm_kv_free(&meta);
	}
	return fclose(out) != 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seed DIR\n");
		return 2;
	}
	int bad = 0;
	for (int k = 0; k < 12; k++)
		bad |= write_seed(argv[1], k, 1 + k % 3, k % 3 == 0 ? 6 : 0, k == 5);
	return bad;
}

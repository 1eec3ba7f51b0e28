#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/stream.h"
#include "train/batcher.h"
#include "harness.h"

/* A stream of frames of n[k] samples of 3 values: x = sample index, t =
 * 10 x index, target = -x, label = index % 4 (w only in the first frame). */
static FILE *stream(const int *n, int frames, int with_target)
{
	FILE *m = tmpfile();
	dm_error err;
	dm_kv meta;
	dm_kv_init(&meta);
	dm_writer *w;
	if (!m || dm_writer_open(&w, m, "mem", &meta, &err) < 0)
		return NULL;
	int idx = 0;
	for (int k = 0; k < frames; k++) {
		dm_frame f;
		dm_frame_init(&f);
		int64_t d2[2] = {n[k], 3}, d1[1] = {n[k]};
		dm_tensor *x = dm_frame_add(&f, "x", DM_F32, 2, d2, &err);
		dm_tensor *t = dm_frame_add(&f, "t", DM_F32, 1, d1, &err);
		dm_tensor *tg = with_target ? dm_frame_add(&f, "target", DM_F32, 2, d2, &err) : NULL;
		dm_tensor *l = dm_frame_add(&f, "label", DM_I32, 1, d1, &err);
		dm_tensor *wt = k == 0 ? dm_frame_add(&f, "w", DM_F32, 1, d1, &err) : NULL;
		for (int i = 0; i < n[k]; i++, idx++) {
			for (int j = 0; j < 3; j++) {
				((float *)x->data)[i * 3 + j] = (float)idx;
				if (tg)
					((float *)tg->data)[i * 3 + j] = (float)-idx;
			}
			((float *)t->data)[i] = 10.0f * idx;
			((int32_t *)l->data)[i] = idx % 4;
			if (wt)
				((float *)wt->data)[i] = 0.5f;
		}
		dm_writer_write(w, &f, &err);
		dm_frame_free(&f);
	}
	dm_writer_close(w, &err);
	dm_kv_free(&meta);
	rewind(m);
	return m;
}

TEST(batcher_rebatches_across_frames)
{
	int n[3] = {5, 2, 6}; /* 13 samples: batches of 4 give 3 and stop */
	FILE *in = stream(n, 3, 1);
	CHECK(in != NULL);
	dm_reader *r;
	dm_error err;
	CHECK(dm_reader_open(&r, in, "mem", &err) == 0);
	dm_batcher b;
	dm_batcher_init(&b, r, 0);
	float x[12], t[4], tg[12], w[4];
	int32_t lab[4];
	CHECK(dm_batcher_fill(&b, 1, NULL, NULL, NULL, NULL, NULL, &err) == 1); /* skip sample 0 */
	for (int k = 0; k < 3; k++) {
		CHECK(dm_batcher_fill(&b, 4, x, t, tg, w, lab, &err) == 1);
		for (int i = 0; i < 4; i++) {
			int idx = 1 + 4 * k + i;
			CHECK(x[i * 3 + 2] == idx && tg[i * 3] == -idx && t[i] == 10.0f * idx);
			CHECK(lab[i] == idx % 4 && w[i] == (idx < 5 ? 0.5f : 1.0f));
		}
	}
	CHECK(b.S == 3 && b.rank == 1 && b.has_label);
	int rc = dm_batcher_fill(&b, 4, x, t, tg, w, lab, &err);
	CHECK_MSG(rc == 0, "rc %d: %s", rc, rc < 0 ? err.msg : "");
	dm_batcher_free(&b);
	dm_reader_close(r);
	fclose(in);
}

TEST(batcher_errors)
{
	int n[1] = {3};
	FILE *in = stream(n, 1, 0); /* no target */
	CHECK(in != NULL);
	dm_reader *r;
	dm_error err;
	CHECK(dm_reader_open(&r, in, "mem", &err) == 0);
	dm_batcher b;
	dm_batcher_init(&b, r, 0);
	CHECK(dm_batcher_next_frame(&b, &err) == DM_ERR_FORMAT);
	CHECK(strstr(err.msg, "'target'") != NULL);
	dm_batcher_free(&b);
	dm_reader_close(r);
	/* a classifier reads the same frames: x and label are enough */
	rewind(in);
	CHECK(dm_reader_open(&r, in, "mem", &err) == 0);
	dm_batcher_init(&b, r, 1);
	float x[9], t[3], tg[9], w[3];
	int32_t lab[3];
	CHECK(dm_batcher_fill(&b, 3, x, t, tg, w, lab, &err) == 1);
	CHECK(lab[2] == 2 && tg[4] == 0 && x[8] == 2);
	dm_batcher_free(&b);
	dm_reader_close(r);
	fclose(in);
}

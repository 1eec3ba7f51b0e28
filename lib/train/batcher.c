/* batcher.c - re-batching a training stream; see batcher.h. */
#include "train/batcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dm_batcher_init(dm_batcher *b, dm_reader *r, int labels_only)
{
	memset(b, 0, sizeof *b);
	b->r = r;
	b->labels_only = labels_only;
	dm_frame_init(&b->f);
}

static void release(dm_batcher *b)
{
	free(b->x), free(b->t), free(b->tg), free(b->w), free(b->lab);
	b->x = b->t = b->tg = b->w = NULL;
	b->lab = NULL;
	b->cap = 0;
}

void dm_batcher_free(dm_batcher *b)
{
	release(b);
	dm_frame_free(&b->f);
}

static int grow(dm_batcher *b, int n, dm_error *err)
{
	if ((size_t)n <= b->cap)
		return 0;
	release(b);
	b->x = malloc((size_t)n * b->S * sizeof(float));
	b->tg = malloc((size_t)n * b->S * sizeof(float));
	b->t = malloc((size_t)n * sizeof(float));
	b->w = malloc((size_t)n * sizeof(float));
	b->lab = malloc((size_t)n * sizeof(int32_t));
	if (b->x && b->tg && b->t && b->w && b->lab) {
		b->cap = (size_t)n;
		return 0;
	}
	release(b);
	return dm_error_set(err, DM_ERR_NOMEM, "out of memory for a frame of %d samples", n);
}

static int need(const dm_frame *f, const char *name, const char *src, const dm_tensor **t,
                dm_error *err)
{
	if ((*t = dm_frame_get(f, name)))
		return 0;
	return dm_error_set(err, DM_ERR_FORMAT,
	                    "%s: frame has no '%s' tensor; is this a `dm-noise --train` stream?",
	                    src, name);
}

/* The first frame fixes the sample shape; later frames must match it. */
static int check_shape(dm_batcher *b, const dm_tensor *x, const char *src, dm_error *err)
{
	char s1[128], s2[128];
	unsigned long long fr = (unsigned long long)dm_reader_frames(b->r);
	if (x->rank < 2 || x->dims[0] < 1)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu: x has shape %s; need N x "
		                    "(sample shape)", src, fr, dm_tensor_shape_str(x, s1, sizeof s1));
	if (!b->started) {
		b->rank = x->rank - 1;
		b->S = 1;
		for (int i = 0; i < b->rank; i++)
			b->S *= (size_t)(b->dims[i] = x->dims[i + 1]);
		b->started = 1;
		return 0;
	}
	int same = x->rank - 1 == b->rank;
	for (int i = 0; same && i < b->rank; i++)
		same = x->dims[i + 1] == b->dims[i];
	if (same)
		return 0;
	size_t o = 0;
	s2[0] = 0;
	for (int i = 0; i < b->rank && o < sizeof s2; i++)
		o += (size_t)snprintf(s2 + o, sizeof s2 - o, i ? "x%lld" : "%lld", (long long)b->dims[i]);
	return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu: x has shape %s but the first "
	                    "frame's samples are %s", src, fr, dm_tensor_shape_str(x, s1, sizeof s1),
	                    s2);
}

int dm_batcher_next_frame(dm_batcher *b, dm_error *err)
{
	int rc = dm_reader_next(b->r, &b->f, err);
	if (rc <= 0)
		return rc;
	const char *src = dm_reader_name(b->r);
	const dm_tensor *x, *t = NULL, *tg = NULL, *lab = NULL, *w = dm_frame_get(&b->f, "w");
	if ((rc = need(&b->f, "x", src, &x, err)) < 0)
		return rc;
	if (b->labels_only) {
		t = dm_frame_get(&b->f, "t");
		rc = need(&b->f, "label", src, &lab, err);
	} else {
		lab = dm_frame_get(&b->f, "label");
		if ((rc = need(&b->f, "t", src, &t, err)) == 0)
			rc = need(&b->f, "target", src, &tg, err);
	}
	if (rc < 0)
		return rc;
	int first = !b->started;
	if ((rc = check_shape(b, x, src, err)) < 0)
		return rc;
	if (first)
		b->has_label = lab != NULL;
	int n = (int)x->dims[0];
	if ((tg && dm_tensor_numel(tg) != dm_tensor_numel(x)) || (t && dm_tensor_numel(t) != n) ||
	    (w && dm_tensor_numel(w) != n) || (lab && dm_tensor_numel(lab) != n))
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu: t, target, w or label do not "
		                    "match x's %d samples", src,
		                    (unsigned long long)dm_reader_frames(b->r), n);
	if ((rc = grow(b, n, err)) < 0)
		return rc;
	dm_tensor_to_f32(x, b->x);
	if (tg)
		dm_tensor_to_f32(tg, b->tg);
	else
		memset(b->tg, 0, (size_t)n * b->S * sizeof(float));
	if (t)
		dm_tensor_to_f32(t, b->t);
	else
		memset(b->t, 0, (size_t)n * sizeof(float));
	for (int i = 0; i < n; i++) {
		b->w[i] = w ? (float)dm_tensor_get(w, i) : 1.0f;
		b->lab[i] = lab ? (int32_t)dm_tensor_get(lab, i) : -1;
	}
	b->n = n;
	b->pos = 0;
	return 1;
}

int dm_batcher_fill(dm_batcher *b, int B, float *x, float *t, float *tg, float *w, int32_t *lab,
                    dm_error *err)
{
	for (int i = 0; i < B;) {
		if (b->pos == b->n) {
			int rc = dm_batcher_next_frame(b, err);
			if (rc <= 0)
				return rc;
			continue;
		}
		int k = b->n - b->pos < B - i ? b->n - b->pos : B - i;
		if (x) {
			size_t S = b->S;
			memcpy(x + (size_t)i * S, b->x + (size_t)b->pos * S, (size_t)k * S * sizeof *x);
			memcpy(tg + (size_t)i * S, b->tg + (size_t)b->pos * S, (size_t)k * S * sizeof *tg);
			memcpy(t + i, b->t + b->pos, (size_t)k * sizeof *t);
			memcpy(w + i, b->w + b->pos, (size_t)k * sizeof *w);
			memcpy(lab + i, b->lab + b->pos, (size_t)k * sizeof *lab);
		}
		b->pos += k;
		i += k;
	}
	return 1;
}

int dm_batcher_skip(dm_batcher *b, uint64_t n, dm_error *err)
{
	while (n > 0) {
		int k = n > (1u << 20) ? 1 << 20 : (int)n;
		int rc = dm_batcher_fill(b, k, NULL, NULL, NULL, NULL, NULL, err);
		if (rc <= 0)
			return rc;
		n -= (uint64_t)k;
	}
	return 1;
}

#include "diffusion/trajectory.h"

#include <inttypes.h>
#include <string.h>

static int add_like(dm_frame *f, const char *name, const dm_tensor *like, const float *data,
                    dm_error *err)
{
	dm_tensor *t = dm_frame_add(f, name, DM_F32, like->rank, like->dims, err);
	if (!t)
		return err->code ? err->code : DM_ERR_NOMEM;
	memcpy(t->data, data, dm_tensor_nbytes(t));
	return 0;
}

int dm_trajectory_emit(void *ctx, int step, double t, const float *x, const float *x0, int B,
                       int64_t D, dm_error *err)
{
	dm_trajectory *e = ctx;
	dm_frame f;
	dm_frame_init(&f);
	int rc = add_like(&f, "x", e->shape, e->x0_only ? x0 : x, err);
	if (rc == 0 && !e->x0_only)
		rc = add_like(&f, "x0", e->shape, x0, err);
	if (rc == 0) {
		dm_kv_setf(&f.tags, "index", "%" PRIu64, e->index0);
		dm_kv_setf(&f.tags, "t", "%.9g", t);
		dm_kv_setf(&f.tags, "step", "%d", step);
		rc = dm_writer_write(e->w, &f, err);
	}
	dm_frame_free(&f);
	(void)B;
	(void)D;
	return rc;
}

int dm_trajectory_final(dm_frame *f, const dm_tensor *shape, const float *xs, uint64_t index0,
                        double t_end, double nfe, dm_error *err)
{
	dm_frame_remove(f, "y");
	dm_tensor *nx = dm_frame_add(f, "x", DM_F32, shape->rank, shape->dims, err);
	if (!nx)
		return err->code ? err->code : DM_ERR_NOMEM;
	memcpy(nx->data, xs, dm_tensor_nbytes(nx));
	dm_frame_remove(f, "t");
	dm_kv_setf(&f->tags, "index", "%" PRIu64, index0);
	dm_kv_setf(&f->tags, "t", "%.9g", t_end);
	dm_kv_del(&f->tags, "sigma");
	dm_kv_set(&f->tags, "final", "1");
	dm_kv_setf(&f->tags, "nfe", "%.6g", nfe);
	return 0;
}

int dm_trajectory_meta(dm_kv *meta, const dm_kv *in, const char *sampler, uint64_t seed,
                       const char *model, const dm_schedule *s, int encoded, dm_error *err)
{
	if (strchr(model, '\n'))
		return dm_error_set(err, DM_ERR_ARG, "model name '%s' has a newline: it cannot go in a stream header",
		                    model);
	int bad = dm_kv_copy(meta, in) < 0;
	bad |= dm_kv_set(meta, "tool", "dm-denoise") < 0;
	bad |= dm_kv_set(meta, "sampler", sampler) < 0;
	bad |= dm_kv_setf(meta, "seed", "%" PRIu64, seed) < 0;
	bad |= dm_kv_set(meta, "denoiser", model) < 0; /* model= is a network family (a checkpoint's) */
	if (bad)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for the stream header");
	int rc = dm_schedule_to_kv(s, meta, err);
	if (rc)
		return rc;
	if (encoded && dm_kv_set(meta, "encoded", "1") < 0)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for the stream header");
	return 0;
}

int dm_trajectory_label(dm_frame *f, int B, int K, dm_error *err)
{
	int64_t n = B;
	dm_tensor *t = dm_frame_add(f, "label", DM_I32, 1, &n, err);
	if (!t)
		return err->code;
	for (int b = 0; b < B; b++)
		((int32_t *)t->data)[b] = K;
	return 0;
}

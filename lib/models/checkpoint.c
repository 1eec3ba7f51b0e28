/* checkpoint.c - the frames of a checkpoint stream (models/checkpoint.h). */
#include "models/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dm_checkpoint_write_block(dm_writer *w, const dm_layout *L, const char *kind, const float *blk,
                              dm_error *err)
{
	dm_frame f;
	dm_frame_init(&f);
	int rc = dm_kv_set(&f.tags, "kind", kind) ? DM_ERR_NOMEM : 0;
	for (int i = 0; i < L->n && rc == 0; i++) {
		const dm_param *p = &L->p[i];
		dm_tensor *t = dm_frame_add(&f, p->name, DM_F32, p->rank, p->dims, err);
		if (!t)
			rc = err->code ? err->code : DM_ERR_NOMEM;
		else
			memcpy(t->data, blk + p->off, p->n * sizeof(float));
	}
	if (rc == 0)
		rc = dm_writer_write(w, &f, err);
	dm_frame_free(&f);
	return rc;
}

int dm_checkpoint_read_block(dm_reader *r, const dm_layout *L, const char *want, float *blk,
                             dm_frame *f, const char *path, dm_error *err)
{
	int rc = dm_reader_next(r, f, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: checkpoint ends before its %s frame",
		                    path, want);
	const char *kind = dm_kv_get(&f->tags, "kind");
	if (!kind || strcmp(kind, want))
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu is kind=%s, expected kind=%s",
		                    path, (unsigned long long)dm_reader_frames(r), kind ? kind : "(none)",
		                    want);
	if (!blk)
		return 0;
	if (f->n != L->n)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "%s: %s frame has %d tensors, the model config needs %d", path, want,
		                    f->n, L->n);
	for (int i = 0; i < L->n; i++) {
		const dm_param *p = &L->p[i];
		const dm_tensor *t = dm_frame_get(f, p->name);
		if (!t)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: %s frame lacks tensor %s", path, want,
			                    p->name);
		int ok = t->dtype == DM_F32 && t->rank == p->rank;
		for (int k = 0; ok && k < p->rank; k++)
			ok = t->dims[k] == p->dims[k];
		if (!ok) {
			char got[128];
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: tensor %s in the %s frame is %s %s, the config needs f32 "
			                    "of %zu values in shape %lldx%lld...",
			                    path, p->name, want, dm_dtype_name(t->dtype) ?: "?",
			                    dm_tensor_shape_str(t, got, sizeof got), p->n,
			                    (long long)p->dims[0], (long long)(p->rank > 1 ? p->dims[1] : 1));
		}
		memcpy(blk + p->off, t->data, p->n * sizeof(float));
	}
	return 0;
}

int dm_checkpoint_open(const char *path, dm_reader **r, dm_net_config *cfg, dm_error *err)
{
	int rc = dm_reader_open_path(r, path, err);
	if (rc < 0)
		return rc;
	const dm_kv *meta = dm_reader_meta(*r);
	const char *fmt = dm_kv_get(meta, "format");
	if (!fmt || strcmp(fmt, "dm-checkpoint")) {
		dm_reader_close(*r);
		*r = NULL;
		return dm_error_set(err, DM_ERR_FORMAT, "%s: not a dm-train checkpoint (no "
		                    "format=dm-checkpoint in its header)", path);
	}
	if ((rc = dm_net_config_from_kv(cfg, meta, path, err)) < 0) {
		dm_reader_close(*r);
		*r = NULL;
	}
	return rc;
}

int dm_checkpoint_load_net(const char *path, int use_ema, dm_net *net, float **params,
                           dm_kv *meta, dm_error *err)
{
	dm_reader *r;
	dm_net_config cfg;
	dm_frame f;
	dm_kv_init(meta);
	memset(net, 0, sizeof *net);
	*params = NULL;
	int rc = dm_checkpoint_open(path, &r, &cfg, err);
	if (rc < 0)
		return rc;
	dm_frame_init(&f);
	if ((rc = dm_kv_copy(meta, dm_reader_meta(r))) < 0)
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = dm_net_init(net, &cfg, err);
	float *p = NULL;
	if (rc == 0 && !(p = malloc(net->layout.total * sizeof(float))))
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	if (rc == 0)
		rc = dm_checkpoint_read_block(r, &net->layout, "weights", use_ema ? NULL : p, &f, path, err);
	if (rc == 0 && use_ema)
		rc = dm_checkpoint_read_block(r, &net->layout, "ema", p, &f, path, err);
	dm_frame_free(&f);
	dm_reader_close(r);
	if (rc < 0) {
		free(p);
		dm_net_free(net);
		dm_kv_free(meta);
		return rc;
	}
	*params = p;
	return 0;
}

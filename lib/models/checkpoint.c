/* checkpoint.c - the frames of a checkpoint stream (models/checkpoint.h). */
#include "models/checkpoint.h"

#include "diffusion/schedule.h"
#include "io/safetensors.h"

#include <math.h>
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

/* "256" or "32x1x3x3": the shape of p as the error messages write it. */
static const char *param_shape(const dm_param *p, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	for (int i = 0; i < p->rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "x" : "", (long long)p->dims[i]);
	return buf;
}

int dm_checkpoint_take(const dm_frame *f, const dm_layout *L, const char *want, float *blk,
                       const char *path, dm_error *err)
{
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
			char got[128], need[128];
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: tensor %s in the %s frame is %s %s, the config needs f32 %s",
			                    path, p->name, want, dm_dtype_name(t->dtype) ?: "?",
			                    dm_tensor_shape_str(t, got, sizeof got),
			                    param_shape(p, need, sizeof need));
		}
		/* a NaN or infinity in a stored model would sample garbage with
		 * exit status 0; no trained model holds one (training stops on a
		 * non-finite loss), so it is damage */
		const float *v = t->data;
		for (size_t k = 0; k < p->n; k++)
			if (!isfinite(v[k]))
				return dm_error_set(err, DM_ERR_FORMAT,
				                    "%s: tensor %s in the %s frame holds %g at element %zu "
				                    "(a checkpoint's values must be finite)",
				                    path, p->name, want, (double)v[k], k);
		if (blk)
			memcpy(blk + p->off, t->data, p->n * sizeof(float));
	}
	return 0;
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
	return L ? dm_checkpoint_take(f, L, want, blk, path, err) : 0;
}

static int state_i64(const dm_frame *f, const char *name, int64_t *v, const char *path,
                     dm_error *err)
{
	const dm_tensor *t = dm_frame_get(f, name);
	if (!t || t->dtype != DM_I64 || dm_tensor_numel(t) != 1)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: state frame lacks an i64 %s", path, name);
	memcpy(v, t->data, 8);
	return 0;
}

int dm_checkpoint_read_frames(dm_reader *r, const dm_layout *L, float *const blk[4],
                              int64_t state[3], const char *path, dm_error *err)
{
	static const char *const kinds[4] = {"weights", "ema", "adam_m", "adam_v"};
	dm_frame f;
	dm_frame_init(&f);
	int rc = 0;
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = dm_checkpoint_read_block(r, L, kinds[i], blk[i], &f, path, err);
	if (rc == 0)
		rc = dm_checkpoint_read_block(r, NULL, "state", NULL, &f, path, err);
	if (rc == 0 && !(rc = state_i64(&f, "step", &state[0], path, err)) &&
	    !(rc = state_i64(&f, "samples", &state[1], path, err)))
		rc = state_i64(&f, "seed", &state[2], path, err);
	if (rc == 0 && (state[0] < 0 || state[1] < 0))
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: negative step or sample count", path);
	if (rc == 0) {
		int k = dm_reader_next(r, &f, err);
		if (k < 0)
			rc = k;
		else if (k > 0)
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: unexpected frame after the state frame",
			                  path);
	}
	dm_frame_free(&f);
	return rc;
}

/* The schedule a checkpoint was trained under must be one dm-denoise can
 * rebuild, or --resume would train on and write back keys no sampler
 * takes (schedule=nope predict=banana T=0). */
int dm_checkpoint_check_schedule(const dm_kv *meta, const char *path, dm_error *err)
{
	if (!dm_kv_get(meta, "schedule")) {
		static const char *const dep[] = {"predict", "T", "zero_snr", NULL};
		for (int i = 0; dep[i]; i++)
			if (dm_kv_get(meta, dep[i]))
				return dm_error_set(err, DM_ERR_FORMAT, "%s: header has %s= but no schedule=",
				                    path, dep[i]);
		return 0;
	}
	dm_schedule s;
	dm_error e;
	int rc = dm_schedule_from_kv(meta, &s, &e);
	dm_schedule_free(&s);
	return rc < 0 ? dm_error_set(err, DM_ERR_FORMAT, "%s: %s", path, e.msg) : 0;
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
	if ((rc = dm_checkpoint_check_schedule(meta, path, err)) < 0 ||
	    (rc = dm_net_config_from_kv(cfg, meta, path, err)) < 0) {
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
	dm_kv_init(meta);
	memset(net, 0, sizeof *net);
	*params = NULL;
	int rc = dm_checkpoint_open(path, &r, &cfg, err);
	if (rc < 0)
		return rc;
	if ((rc = dm_kv_copy(meta, dm_reader_meta(r))) < 0)
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = dm_net_init(net, &cfg, err);
	float *p = NULL;
	if (rc == 0 && !(p = malloc(net->layout.total * sizeof(float))))
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	/* every frame is checked, the one wanted kept: dm-train --resume would
	 * refuse what this refuses */
	float *blk[4] = {use_ema ? NULL : p, use_ema ? p : NULL, NULL, NULL};
	int64_t state[3];
	if (rc == 0)
		rc = dm_checkpoint_read_frames(r, &net->layout, blk, state, path, err);
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

int dm_checkpoint_export(const char *path, int use_ema, FILE *out, const char *outname,
                         dm_error *err)
{
	dm_net net;
	float *p;
	dm_kv meta;
	int rc = dm_checkpoint_load_net(path, use_ema, &net, &p, &meta, err);
	if (rc < 0)
		return rc;
	dm_frame f;
	dm_frame_init(&f);
	const dm_layout *L = &net.layout;
	for (int i = 0; i < L->n && rc == 0; i++) {
		dm_tensor *t = dm_frame_add(&f, L->p[i].name, DM_F32, L->p[i].rank, L->p[i].dims, err);
		if (!t)
			rc = err->code ? err->code : DM_ERR_NOMEM;
		else
			memcpy(t->data, p + L->p[i].off, L->p[i].n * sizeof(float));
	}
	/* the header travels as the metadata, so the file alone rebuilds the
	 * model (dm-weights, dm-denoise) */
	if (rc == 0 && dm_kv_set(&meta, "weights", use_ema ? "ema" : "raw"))
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (rc == 0)
		rc = dm_safetensors_write(out, outname, &meta, &f, err);
	dm_frame_free(&f);
	dm_kv_free(&meta);
	dm_net_free(&net);
	free(p);
	return rc;
}

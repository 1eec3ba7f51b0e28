#include "train/parity.h"

#include <stdio.h>
#include <string.h>

#include "core/outfile.h"
#include "io/stream.h"

static int add(dm_frame *f, const char *name, int dtype, int rank, const int64_t *dims,
               const void *src, dm_error *err)
{
	dm_tensor *t = dm_frame_add(f, name, dtype, rank, dims, err);
	if (!t)
		return err->code ? err->code : DM_ERR_NOMEM;
	memcpy(t->data, src, dm_tensor_nbytes(t));
	return 0;
}

static int batch_frame(const dm_trainer *tr, dm_frame *f, const float *x, const float *t,
                       const float *tg, const float *w, int B, size_t S, double loss,
                       dm_error *err)
{
	int64_t d2[2] = {B, (int64_t)S}, d1[1] = {B}, one[1] = {1};
	int64_t dout[2] = {B, (int64_t)dm_net_output_size(&tr->net.cfg)};
	int rc = add(f, "x", DM_F32, 2, d2, x, err);
	if (!rc) rc = add(f, "t", DM_F32, 1, d1, t, err);
	if (!rc) rc = add(f, "target", DM_F32, 2, d2, tg, err);
	if (!rc) rc = add(f, "w", DM_F32, 1, d1, w, err);
	if (!rc) rc = add(f, "out", DM_F32, 2, dout, tr->out, err);
	if (!rc) rc = add(f, "loss", DM_F64, 1, one, &loss, err);
	/* the labels the network saw (after label dropout), or a classifier's */
	if (!rc && (tr->net.cfg.classes > 0 || tr->net.cfg.kind == DM_NET_CLASSIFIER))
		rc = add(f, "label", DM_I32, 1, d1, tr->lab, err);
	const dm_layout *L = &tr->net.layout;
	for (int i = 0; !rc && i < L->n; i++) {
		char name[128];
		snprintf(name, sizeof name, "param:%s", L->p[i].name);
		rc = add(f, name, DM_F32, L->p[i].rank, L->p[i].dims, tr->w + L->p[i].off, err);
		snprintf(name, sizeof name, "grad:%s", L->p[i].name);
		if (!rc)
			rc = add(f, name, DM_F32, L->p[i].rank, L->p[i].dims, tr->g + L->p[i].off, err);
	}
	return rc;
}

int dm_parity_dump(const dm_trainer *tr, const char *path, const float *x, const float *t,
                   const float *target, const float *w, int B, size_t S, double loss,
                   dm_error *err)
{
	dm_kv kv;
	dm_frame f;
	dm_outfile o;
	dm_writer *wr = NULL;
	dm_kv_init(&kv);
	dm_frame_init(&f);
	int rc = dm_net_config_to_kv(&tr->net.cfg, &kv, err);
	if (!rc)
		rc = batch_frame(tr, &f, x, t, target, w, B, S, loss, err);
	if (!rc && !(rc = dm_outfile_open(&o, path, err))) {
		rc = dm_writer_open(&wr, o.f, path, &kv, err);
		if (!rc)
			rc = dm_writer_write(wr, &f, err);
		if (!rc) {
			rc = dm_writer_close(wr, err);
			wr = NULL;
		}
		if (wr)
			dm_writer_abort(wr);
		if (!rc)
			rc = dm_outfile_commit(&o, err);
		else
			dm_outfile_abort(&o);
	}
	dm_frame_free(&f);
	dm_kv_free(&kv);
	return rc;
}

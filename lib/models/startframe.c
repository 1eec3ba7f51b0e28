/* startframe.c - dm-denoise's input frames as the sampler's inputs (see
 * startframe.h). */
#include "models/startframe.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion/start.h"

void dm_startframe_init(dm_startframe *st) { memset(st, 0, sizeof *st); }

void dm_startframe_end(dm_startframe *st, dm_sampler_opts *so)
{
	free(st->xs), free(st->y), free(st->labels);
	st->xs = st->y = NULL;
	st->labels = NULL;
	so->y = NULL;
}

void dm_startframe_free(dm_startframe *st)
{
	free(st->xs), free(st->y), free(st->labels), free(st->mask);
	dm_startframe_init(st);
}

/* --given: still images become clips of the model's frame count; the mask
 * of the given frames, once.  x is the frame's start (B x D values). */
static int given(dm_startframe *st, const dm_startframe_opts *o, const dm_denoiser *m,
                 const char *name, uint64_t frame_no, dm_error *err)
{
	dm_tensor *s = &st->shape;
	int64_t C, T, HW;
	if (s->rank == 4 && m->net && m->rank == 4 && m->shape[0] == s->dims[1] &&
	    m->shape[2] == s->dims[2] && m->shape[3] == s->dims[3]) { /* stills */
		C = m->shape[0], T = m->shape[1], HW = m->shape[2] * m->shape[3];
		float *clips;
		int rc = dm_start_stills(st->xs, st->B, C, T, HW, &clips, err);
		if (rc < 0)
			return rc;
		free(st->xs);
		st->xs = clips;
		s->rank = 5;
		s->dims[4] = s->dims[3], s->dims[3] = s->dims[2], s->dims[2] = T;
		st->D = C * T * HW;
	} else if (s->rank == 5) {
		C = s->dims[1], T = s->dims[2], HW = s->dims[3] * s->dims[4];
	} else {
		return dm_error_set(err, DM_ERR_ARG, "%s: frame %" PRIu64 ": --given needs clips (N x C "
		                    "x T x H x W) or still images for a model of clips", name, frame_no);
	}
	if (!st->mask) {
		int rc = dm_start_given_mask(o->given, C, T, HW, &st->mask, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int dm_startframe_begin(dm_startframe *st, const dm_startframe_opts *o, dm_denoiser *m,
                        dm_sampler_opts *so, const dm_frame *f, const char *name,
                        uint64_t frame_no, uint64_t index0, dm_error *err)
{
	const dm_tensor *x = dm_frame_get(f, "x");
	int rc;
	if (!x || x->rank < 2)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %" PRIu64 " has no tensor x of N "
		                    "samples", name, frame_no);
	st->B = (int)x->dims[0];
	st->D = dm_tensor_numel(x) / (st->B > 0 ? st->B : 1);
	if (st->B <= 0)
		return 0;
	/* the samples' shape: x's, or the model's when x is a low-resolution
	 * or gray measurement to restore */
	st->shape = *x;
	st->shape.data = NULL;
	int restore = o->rs && o->rs->kind;
	if (m->net) {
		int64_t d = dm_denoiser_values(m);
		if (d != st->D && restore && !dm_frame_get(f, "y")) {
			rc = dm_restore_measurement(o->rs, m->shape, m->rank, x, &st->xs, st->shape.dims,
			                            err);
			if (rc < 0)
				return rc;
			if (rc)
				st->D = d;
		}
		int stills = o->given && x->rank == 4 && m->rank == 4 &&
		             x->dims[1] * x->dims[2] * x->dims[3] * m->shape[1] == d;
		if (d != st->D && !stills)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: samples of %" PRId64 " values, but "
			                    "the model wants %" PRId64, name, st->D, d);
	}
	if (!st->xs) {
		if (!(st->xs = malloc((size_t)st->B * st->D * sizeof(float))))
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		dm_tensor_to_f32(x, st->xs);
	}
	if (o->given && (rc = given(st, o, m, name, frame_no, err)) < 0)
		return rc;
	m->g.D = st->D;
	const dm_tensor *s = &st->shape;
	so->C = s->rank == 4 ? (int)s->dims[1] : 1;
	so->H = s->rank == 4 ? (int)s->dims[2] : 1;
	so->W = s->rank == 4 ? (int)s->dims[3] : (int)st->D;
	/* labels: --label, else the stream's */
	if (dm_start_labels(dm_frame_get(f, "label"), o->label, m->classes, st->B, &st->labels, err) < 0)
		return dm_error_set(err, err->code, "%s: frame %" PRIu64 ": %s", name, frame_no,
		                    err->msg);
	if (so->guidance != 1 && !st->labels)
		return dm_error_set(err, DM_ERR_ARG, "--guidance needs labels (--label L or a label "
		                    "tensor)");
	/* restorations: the input is the known image unless y is given */
	if (o->mask || restore || o->given) {
		double top = so->from_t >= 0 ? so->from_t : dm_schedule_t_max(&m->s);
		if (dm_start_known(&m->s, top, dm_frame_get(f, "y"), st->xs, st->B, st->D, so->seed,
		                   index0, &st->y, err) < 0)
			return dm_error_set(err, err->code, "%s: %s", name, err->msg);
		so->y = st->y;
		so->restore = restore ? o->rs->kind : 0;
		so->sr_factor = restore ? o->rs->sr_factor : 0;
		if (!st->mask && (o->mask || (restore && o->rs->mask)) &&
		    (rc = dm_restore_load_mask(o->mask ? o->mask : o->rs->mask, so->C, so->H, so->W,
		                               &st->mask, err)) < 0)
			return rc;
		if (o->mask || o->given)
			so->mask = st->mask;
		else
			so->restore_mask = st->mask;
	} else if (o->sdedit) {
		if ((rc = dm_sampler_diffuse(&m->s, so->from_t, st->xs, st->B, st->D, so->seed, index0,
		                             err)) < 0)
			return rc;
	} else if (o->from_sigma >= 0) {
		double a = dm_schedule_alpha(&m->s, so->from_t);
		for (size_t i = 0; i < (size_t)st->B * st->D; i++)
			st->xs[i] = (float)(a * st->xs[i]);
	}
	/* a frame of dm-noise --t T says where it is: start there */
	if (o->from_t < 0 && !o->mask && !restore && !o->given && !so->encode)
		so->from_t = dm_start_t(&f->tags, &m->s);
	return 1;
}

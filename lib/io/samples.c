/* samples.c - one tensor of a stream as an N x D array (see samples.h). */
#include "io/samples.h"

#include <stdlib.h>
#include <string.h>

#include "io/stream.h"

void dm_samples_free(dm_samples *s)
{
	free(s->p), free(s->lab);
	dm_kv_free(&s->meta);
	memset(s, 0, sizeof *s);
}

/* Append frame f's k samples of d values (and labels). */
static int append(dm_samples *s, const dm_tensor *t, const dm_tensor *lt, int64_t k, int64_t d)
{
	float *np = realloc(s->p, (size_t)(s->n + k) * (size_t)d * sizeof *np);
	if (!np)
		return -1;
	s->p = np;
	if (lt) {
		int32_t *nl = realloc(s->lab, (size_t)(s->n + k) * sizeof *nl);
		if (!nl)
			return -1;
		s->lab = nl;
		for (int64_t i = 0; i < k; i++)
			s->lab[s->n + i] = (int32_t)dm_tensor_get(lt, i);
	}
	dm_tensor_to_f32(t, s->p + s->n * d);
	s->n += k;
	return 0;
}

int dm_samples_read(dm_samples *s, const char *path, const char *name, int last, int labels,
                    int64_t max, dm_error *err)
{
	dm_reader *r;
	dm_frame f;
	memset(s, 0, sizeof *s);
	dm_kv_init(&s->meta);
	int rc = dm_reader_open_path(&r, path, err);
	if (rc < 0)
		return rc;
	if (dm_kv_copy(&s->meta, dm_reader_meta(r)))
		rc = dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	const char *sname = dm_reader_name(r);
	dm_frame_init(&f);
	s->d = -1;
	while (rc >= 0 && (rc = dm_reader_next(r, &f, err)) > 0) {
		unsigned long long fr = (unsigned long long)dm_reader_frames(r) - 1;
		dm_tensor *t = dm_frame_get(&f, name);
		if (!t) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu has no tensor %s", sname, fr,
			                  name);
			break;
		}
		if (t->rank < 1 || t->dims[0] < 1)
			continue;
		int64_t d = dm_tensor_numel(t) / t->dims[0], k = t->dims[0];
		if (s->d >= 0 && d != s->d) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu: samples of %lld values after "
			                  "samples of %lld", sname, fr, (long long)d, (long long)s->d);
			break;
		}
		dm_tensor *lt = labels ? dm_frame_get(&f, "label") : NULL;
		if (labels && (!lt || dm_tensor_numel(lt) != k)) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: frame %llu has no tensor label of %lld "
			                  "values (labelled data, e.g. dm-load fashion-mnist:test)", sname,
			                  fr, (long long)k);
			break;
		}
		if (s->d < 0) {
			s->rank = t->rank - 1 < 7 ? t->rank - 1 : 7;
			for (int i = 0; i < s->rank; i++)
				s->shape[i] = t->dims[i + 1];
		}
		s->d = d;
		if (last)
			s->n = 0;
		if (max > 0 && !last && s->n >= max)
			continue; /* read on: the rest of the stream is still checked */
		if (append(s, t, lt, k, d) < 0) {
			rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory for %lld samples", sname,
			                  (long long)(s->n + k));
			break;
		}
	}
	if (rc == 0 && s->n == 0)
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: no samples in tensor %s", sname, name);
	if (rc == 0 && max > 0 && s->n > max)
		s->n = max;
	dm_frame_free(&f);
	dm_reader_close(r);
	if (rc < 0)
		dm_samples_free(s);
	return rc < 0 ? rc : 0;
}

int dm_samples_frames(dm_samples *s, dm_error *err)
{
	if (s->rank != 4)
		return dm_error_set(err, DM_ERR_ARG, "samples of rank %d are not clips (C x T x H x W)",
		                    s->rank);
	int64_t C = s->shape[0], T = s->shape[1], HW = s->shape[2] * s->shape[3];
	float *p = malloc(sizeof(float) * (size_t)(s->n * s->d));
	int32_t *lab = s->lab ? malloc(sizeof(int32_t) * (size_t)(s->n * T)) : NULL;
	if (!p || (s->lab && !lab)) {
		free(p), free(lab);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	for (int64_t i = 0; i < s->n; i++)
		for (int64_t t = 0; t < T; t++) {
			for (int64_t c = 0; c < C; c++)
				memcpy(p + ((i * T + t) * C + c) * HW, s->p + i * s->d + (c * T + t) * HW,
				       sizeof(float) * (size_t)HW);
			if (lab)
				lab[i * T + t] = s->lab[i];
		}
	free(s->p), free(s->lab);
	s->p = p, s->lab = lab;
	s->n *= T, s->d = C * HW;
	s->rank = 3;
	s->shape[1] = s->shape[2], s->shape[2] = s->shape[3];
	return 0;
}

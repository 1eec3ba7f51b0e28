#include "diffusion/start.h"

#include <stdlib.h>
#include <string.h>

#include "diffusion/sampler.h"

int dm_start_labels(const dm_tensor *lt, int fixed, int classes, int B, int32_t **labels,
                    dm_error *err)
{
	*labels = NULL;
	if (fixed < 0 && !(lt && classes > 0))
		return 0;
	if (fixed < 0 && dm_tensor_numel(lt) < 1)
		return dm_error_set(err, DM_ERR_ARG, "tensor label is empty");
	int32_t *l = malloc((size_t)B * sizeof *l + 1);
	if (!l)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	for (int b = 0; b < B; b++)
		l[b] = fixed >= 0 ? fixed : (int32_t)dm_tensor_get(lt, b < dm_tensor_numel(lt) ? b : 0);
	*labels = l;
	return 0;
}

double dm_start_t(const dm_kv *tags, const dm_schedule *s)
{
	const char *tv = dm_kv_get(tags, "t");
	if (!tv)
		return -1;
	char *end;
	double t = strtod(tv, &end);
	return end != tv && !*end && t > dm_schedule_t_min(s) ? t : -1;
}

int dm_start_known(const dm_schedule *s, double top, const dm_tensor *yt, float *x, int B,
                   int64_t D, uint64_t seed, uint64_t index0, float **y, dm_error *err)
{
	size_t n = (size_t)B * (size_t)D;
	*y = NULL;
	if (yt && dm_tensor_numel(yt) != (int64_t)n)
		return dm_error_set(err, DM_ERR_ARG, "tensor y does not have the shape of x");
	float *k = malloc(n * sizeof *k + 1);
	if (!k)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	if (yt) {
		dm_tensor_to_f32(yt, k);
	} else {
		memcpy(k, x, n * sizeof *k);
		int rc = dm_sampler_diffuse(s, top, x, B, D, seed, index0, err);
		if (rc < 0) {
			free(k);
			return rc;
		}
	}
	*y = k;
	return 0;
}

int dm_start_given_parse(const char *spec, int *first, dm_error *err)
{
	char *end;
	long k = strncmp(spec, "first:", 6) == 0 ? strtol(spec + 6, &end, 10) : 0;
	if (k < 1 || k > 100000 || *end)
		return dm_error_set(err, DM_ERR_ARG, "--given: '%s' is not first:K with K >= 1", spec);
	*first = (int)k;
	return 0;
}

int dm_start_given_mask(int first, int64_t C, int64_t T, int64_t HW, float **mask,
                        dm_error *err)
{
	*mask = NULL;
	if (first >= T)
		return dm_error_set(err, DM_ERR_ARG, "--given first:%d leaves nothing to sample in "
		                    "clips of %lld frames", first, (long long)T);
	float *m = malloc(sizeof(float) * (size_t)(C * T * HW));
	if (!m)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	for (int64_t c = 0; c < C; c++)
		for (int64_t t = 0; t < T; t++)
			for (int64_t q = 0; q < HW; q++)
				m[(c * T + t) * HW + q] = t < first ? 1.0f : 0.0f;
	*mask = m;
	return 0;
}

int dm_start_stills(const float *x, int B, int64_t C, int64_t T, int64_t HW, float **clips,
                    dm_error *err)
{
	float *p = malloc(sizeof(float) * (size_t)B * (size_t)(C * T * HW));
	if (!(*clips = p))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	for (int64_t bc = 0; bc < (int64_t)B * C; bc++)
		for (int64_t t = 0; t < T; t++)
			memcpy(p + (bc * T + t) * HW, x + bc * HW, sizeof(float) * (size_t)HW);
	return 0;
}

/* restore.c - setting up restorations; see restore.h. */
#include "diffusion/restore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion/sampler.h"
#include "io/image.h"

int dm_restore_parse(const char *spec, dm_restore_spec *r, dm_error *err)
{
	memset(r, 0, sizeof *r);
	r->sr_factor = 1;
	int rc = dm_degrade_parse(spec, &r->deg, err);
	if (rc <= 0) {
		r->kind = rc == 0 ? DM_RESTORE_DEGRADE : DM_RESTORE_NONE;
		return rc;
	}
	if (!strncmp(spec, "mask:", 5) && spec[5]) {
		r->kind = DM_RESTORE_MASK;
		r->mask = spec + 5;
		return 0;
	}
	if (!strcmp(spec, "gray")) {
		r->kind = DM_RESTORE_GRAY;
		return 0;
	}
	if (!strncmp(spec, "sr:", 3)) {
		char *end;
		errno = 0;
		long k = strtol(spec + 3, &end, 10);
		if (errno || end == spec + 3 || *end || k < 1 || k > 65536)
			return dm_error_set(err, DM_ERR_ARG, "--restore %s: K must be an integer in "
			                    "1..65536", spec);
		r->kind = DM_RESTORE_SR;
		r->sr_factor = (int)k;
		return 0;
	}
	return dm_error_set(err, DM_ERR_ARG, "--restore: want sr:K, gray, mask:FILE, "
	                    "lowlight:GAIN:GAMMA or blur:SIGMA, not '%s'",
	                    spec);
}

int dm_restore_load_mask(const char *path, int C, int H, int W, float **mask, dm_error *err)
{
	int w, h, c;
	float *px;
	*mask = NULL;
	int rc = dm_png_read(path, &w, &h, &c, &px, err);
	if (rc < 0)
		return rc;
	if (w != W || h != H) {
		free(px);
		return dm_error_set(err, DM_ERR_ARG, "%s: mask is %dx%d but the samples are %dx%d",
		                    path, w, h, W, H);
	}
	float *m = malloc((size_t)C * H * W * sizeof(float));
	if (!m) {
		free(px);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	}
	int cc = c >= 3 ? 3 : 1;
	for (int64_t p = 0; p < (int64_t)H * W; p++) {
		double v = 0;
		for (int k = 0; k < cc; k++)
			v += px[(int64_t)k * H * W + p];
		v /= cc;
		for (int k = 0; k < C; k++)
			m[(int64_t)k * H * W + p] = v >= 0.5f ? 1.0f : 0.0f;
	}
	free(px);
	*mask = m;
	return 0;
}

int dm_restore_fits(const dm_restore_spec *r, int64_t C, int64_t H, int64_t W, int64_t c,
                    int64_t h, int64_t w)
{
	int64_t K = r->sr_factor;
	if (r->kind == DM_RESTORE_SR)
		return c == C && h * K == H && w * K == W;
	if (r->kind == DM_RESTORE_GRAY)
		return c == 1 && C == 3 && h == H && w == W;
	return 0;
}

void dm_restore_expand(const dm_restore_spec *r, const float *y, int64_t B, int64_t c, int64_t h,
                       int64_t w, int64_t C, int64_t H, int64_t W, float *full)
{
	int sr = r->kind == DM_RESTORE_SR;
	int64_t K = r->sr_factor;
	for (int64_t b = 0; b < B; b++)
		for (int64_t k = 0; k < C; k++)
			for (int64_t i = 0; i < H; i++)
				for (int64_t j = 0; j < W; j++)
					full[((b * C + k) * H + i) * W + j] =
						sr ? y[((b * c + k) * h + i / K) * w + j / K] : y[(b * h + i) * w + j];
}

int dm_restore_measurement(const dm_restore_spec *r, const int64_t *shape, int rank,
                           const dm_tensor *x, float **full, int64_t *dims, dm_error *err)
{
	*full = NULL;
	if (rank != 3 || x->rank != 4)
		return 0;
	int64_t C = shape[0], H = shape[1], W = shape[2], B = x->dims[0];
	int64_t c = x->dims[1], h = x->dims[2], w = x->dims[3];
	if (!dm_restore_fits(r, C, H, W, c, h, w))
		return 0;
	float *in = malloc((size_t)dm_tensor_numel(x) * sizeof(float) + 1);
	float *out = malloc((size_t)(B * C * H * W) * sizeof(float) + 1);
	if (!in || !out) {
		free(in);
		free(out);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	dm_tensor_to_f32(x, in);
	dm_restore_expand(r, in, B, c, h, w, C, H, W, out);
	free(in);
	dims[1] = C, dims[2] = H, dims[3] = W;
	*full = out;
	return 1;
}

int dm_restore_dps_options(dm_restore_spec *r, const char *gdp, dm_sampler_opts *so,
                           dm_error *err)
{
	so->degrade = r->kind == DM_RESTORE_DEGRADE ? &r->deg : NULL;
	so->gdp = 0;
	if (gdp && !so->degrade)
		return dm_error_set(err, DM_ERR_ARG, "--gdp needs --restore lowlight:GAIN:GAMMA");
	if (gdp) {
		int m = dm_degrade_param_mask(&r->deg, gdp, err);
		if (m < 0)
			return m;
		so->gdp = m;
	}
	return 0;
}

int dm_restore_dps_setup(dm_restore_spec *r, dm_sampler_opts *so, int B, int C, int H, int W,
                         double lo, double hi, dm_error *err)
{
	dm_degrade_layout(&r->deg, C, H, W, lo, hi);
	so->degrade = &r->deg;
	so->theta = NULL;
	free(r->theta);
	r->theta = NULL;
	if (!so->gdp)
		return 0;
	double *th = malloc((size_t)B * DM_DEGRADE_MAXP * sizeof *th + 1);
	if (!th)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	for (int b = 0; b < B; b++)
		memcpy(th + (size_t)b * DM_DEGRADE_MAXP, r->deg.theta, sizeof r->deg.theta);
	r->theta = so->theta = th;
	return 0;
}

int dm_restore_dps_finish(dm_restore_spec *r, dm_frame *f, int B, dm_error *err)
{
	if (!r->theta)
		return 0;
	const dm_degrade *d = &r->deg;
	int64_t dims[2] = {B, d->np};
	dm_tensor *t = dm_frame_add(f, "gdp", DM_F32, 2, dims, err);
	for (int b = 0; t && b < B; b++)
		for (int p = 0; p < d->np; p++)
			((float *)t->data)[b * d->np + p] = (float)r->theta[(size_t)b * DM_DEGRADE_MAXP + p];
	free(r->theta);
	r->theta = NULL;
	return t ? 0 : err->code;
}

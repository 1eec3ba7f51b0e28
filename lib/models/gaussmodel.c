/* gaussmodel.c - the exact denoiser for Gaussian data (see gaussmodel.h). */
#include "models/gaussmodel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dm_gaussmodel_parse(const char *spec, dm_gaussmodel *g, dm_error *err)
{
	memset(g, 0, sizeof *g);
	g->predict = DM_PREDICT_EPS;
	if (strncmp(spec, "gaussian:", 9))
		return dm_error_set(err, DM_ERR_ARG, "%s: not a gaussian:MEAN:STD model", spec);
	const char *p = spec + 9;
	char *end;
	g->mean = strtod(p, &end);
	if (end == p || *end != ':')
		return dm_error_set(err, DM_ERR_ARG, "%s: expected gaussian:MEAN:STD", spec);
	p = end + 1;
	g->std = strtod(p, &end);
	if (end == p || !(g->std > 0) || !isfinite(g->std) || !isfinite(g->mean))
		return dm_error_set(err, DM_ERR_ARG,
		                    "%s: expected gaussian:MEAN:STD with finite MEAN and STD > 0", spec);
	if (*end == ':') {
		g->predict = dm_predict_parse(end + 1);
		if (!g->predict)
			return dm_error_set(err, DM_ERR_ARG, "%s: parametrisation must be eps, x0 or v",
			                    spec);
	} else if (*end) {
		return dm_error_set(err, DM_ERR_ARG, "%s: expected gaussian:MEAN:STD", spec);
	}
	return 0;
}

int dm_gaussmodel_predict(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                          float *out, dm_error *err)
{
	const dm_gaussmodel *g = ctx;
	int64_t D = g->D;
	double d2 = g->std * g->std;
	double *as = malloc(2 * (size_t)(B > 0 ? B : 1) * sizeof(double));
	if (!as)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	for (int b = 0; b < B; b++) { /* rows mostly share t: look it up once */
		int same = b > 0 && t[b] == t[b - 1];
		as[2 * b] = same ? as[2 * b - 2] : dm_schedule_alpha(g->sched, t[b]);
		as[2 * b + 1] = same ? as[2 * b - 1] : dm_schedule_sigma(g->sched, t[b]);
	}
#pragma omp parallel for schedule(static) if ((size_t)B * g->D > 32768)
	for (int b = 0; b < B; b++) {
		double a = as[2 * b], s = as[2 * b + 1];
		double m = g->mean;
		if (label && label[b] >= 0 && label[b] < g->classes)
			m += g->shift * label[b];
		double k = a * d2 / (a * a * d2 + s * s);
		const float *xb = x + (size_t)b * D;
		float *ob = out + (size_t)b * D;
		for (int64_t j = 0; j < D; j++) {
			double x0 = m + k * (xb[j] - a * m);
			double e = s > 0 ? (xb[j] - a * x0) / s : 0;
			double v = g->predict == DM_PREDICT_X0 ? x0
			           : g->predict == DM_PREDICT_V ? a * e - s * x0
			                                        : e;
			ob[j] = (float)v;
		}
	}
	free(as);
	return 0;
}

int dm_gaussmodel_vjp(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                      const float *v, float *out, float *dx, dm_error *err)
{
	const dm_gaussmodel *g = ctx;
	int rc = dm_gaussmodel_predict(ctx, x, t, label, B, out, err);
	if (rc < 0)
		return rc;
	double d2 = g->std * g->std;
	for (int b = 0; b < B; b++) {
		double a = dm_schedule_alpha(g->sched, t[b]), s = dm_schedule_sigma(g->sched, t[b]);
		double k = a * d2 / (a * a * d2 + s * s), e = s > 0 ? (1 - a * k) / s : 0;
		double c = g->predict == DM_PREDICT_X0 ? k : g->predict == DM_PREDICT_V ? a * e - s * k : e;
		for (int64_t j = 0; j < g->D; j++)
			dx[(size_t)b * g->D + j] = (float)(c * v[(size_t)b * g->D + j]);
	}
	return 0;
}

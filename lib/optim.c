/* optim.c - AdamW, gradient clipping and EMA (optim.h). */
#include "optim.h"

#include <math.h>

void dm_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr,
                   double beta1, double beta2, double eps, double weight_decay, long t)
{
	/* torch: param.mul_(1 - lr*wd); exp_avg.lerp_(g, 1 - beta1);
	 * exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2);
	 * denom = (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps);
	 * param.addcdiv_(exp_avg, denom, value=-lr/bc1). */
	double bc1 = 1.0 - pow(beta1, (double)t);
	double bc2 = 1.0 - pow(beta2, (double)t);
	float step_size = (float)(lr / bc1);
	float bc2_sqrt = (float)sqrt(bc2);
	float decay = (float)(1.0 - lr * weight_decay);
	float one_b1 = (float)(1.0 - beta1), b2 = (float)beta2, one_b2 = (float)(1.0 - beta2);
	float feps = (float)eps;
#pragma omp parallel for simd schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++) {
		float g = grad[i];
		float p = param[i] * decay;
		float mi = m[i] + one_b1 * (g - m[i]); /* lerp, as torch */
		float vi = v[i] * b2 + one_b2 * g * g;
		float denom = sqrtf(vi) / bc2_sqrt + feps;
		param[i] = p - step_size * (mi / denom);
		m[i] = mi;
		v[i] = vi;
	}
}

/* A fixed partition of [0, n) into NPART blocks, each summed in double and
 * then added in block order: the same sum for any thread count. */
#define NPART 64

double dm_grad_norm(const float *grad, size_t n)
{
	double part[NPART];
	size_t step = (n + NPART - 1) / NPART;
#pragma omp parallel for schedule(static)
	for (int p = 0; p < NPART; p++) {
		size_t lo = (size_t)p * step, hi = lo + step < n ? lo + step : n;
		double s = 0;
		for (size_t i = lo; i < hi; i++)
			s += (double)grad[i] * grad[i];
		part[p] = s;
	}
	double s = 0;
	for (int p = 0; p < NPART; p++)
		s += part[p];
	return sqrt(s);
}

double dm_grad_clip(float *grad, size_t n, double max_norm)
{
	double norm = dm_grad_norm(grad, n);
	if (max_norm > 0) {
		double coef = max_norm / (norm + 1e-6);
		if (coef < 1.0) {
			float c = (float)coef;
#pragma omp parallel for schedule(static) if (n > 65536)
			for (size_t i = 0; i < n; i++)
				grad[i] *= c;
		}
	}
	return norm;
}

void dm_ema_update(float *ema, const float *w, size_t n, float decay)
{
	float a = 1.0f - decay;
#pragma omp parallel for simd schedule(static) if (n > 65536)
	for (size_t i = 0; i < n; i++)
		ema[i] += a * (w[i] - ema[i]);
}

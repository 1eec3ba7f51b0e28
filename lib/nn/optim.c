/* optim.c - AdamW, gradient clipping and EMA (optim.h). */
#include "nn/optim.h"

#include <math.h>

#include "core/cpu.h"
#include "nn/simd/layers_kernel.h"

/* Loops go parallel only above this many values: below it the OpenMP
 * fork/join costs more than the second thread saves.  No result depends
 * on the split. */
#define PAR_MIN 65536
#define CHUNK 16384

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
	if (dm_simd() >= DM_SIMD_AVX2) { /* the same arithmetic, 8 at a time */
		size_t nc = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
		for (size_t c = 0; c < nc; c++) {
			size_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
			dm_adamw_avx2(param + lo, grad + lo, m + lo, v + lo, len, step_size, bc2_sqrt,
			              decay, one_b1, b2, one_b2, feps);
		}
		return;
	}
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
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

/* A fixed partition of [0, n) into NPART blocks, each summed in double in
 * 8 lanes (element i of a block into lane i % 8, lanes then added in
 * order), the blocks added in order: the same sum for any thread count and
 * for both SIMD paths (a float squared is exact in double, so the AVX2
 * fused multiply-add rounds exactly as the scalar multiply and add). */
#define NPART 64

static double sumsq(const float *g, size_t n)
{
	if (dm_simd() >= DM_SIMD_AVX2)
		return dm_sumsq_avx2(g, n);
	double acc[8] = {0};
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			acc[j] += (double)g[i + j] * g[i + j];
	double s = 0;
	for (int j = 0; j < 8; j++)
		s += acc[j];
	for (; i < n; i++)
		s += (double)g[i] * g[i];
	return s;
}

double dm_grad_norm(const float *grad, size_t n)
{
	double part[NPART];
	size_t step = (n + NPART - 1) / NPART;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
	for (int p = 0; p < NPART; p++) {
		size_t lo = (size_t)p * step, hi = lo + step < n ? lo + step : n;
		part[p] = lo < hi ? sumsq(grad + lo, hi - lo) : 0.0;
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
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
			for (size_t i = 0; i < n; i++)
				grad[i] *= c;
		}
	}
	return norm;
}

void dm_ema_update(float *ema, const float *w, size_t n, float decay)
{
	float a = 1.0f - decay;
	if (dm_simd() >= DM_SIMD_AVX2) {
		size_t nc = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
		for (size_t c = 0; c < nc; c++) {
			size_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
			dm_ema_avx2(ema + lo, w + lo, len, a);
		}
		return;
	}
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		ema[i] += a * (w[i] - ema[i]);
}

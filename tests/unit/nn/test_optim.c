/* Tests of lib/nn/optim.c: AdamW against closed-form steps, clipping, EMA. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/optim.h"
#include "harness.h"

/* The first AdamW step with bias correction moves each weight by
 * lr * g / (|g| + eps) ~ lr * sign(g) (after the decoupled decay). */
TEST(optim_adamw_first_step)
{
	float p[4] = {1.0f, -2.0f, 0.5f, 3.0f}, g[4] = {0.3f, -5.0f, 1e-3f, -0.02f};
	float m[4] = {0}, v[4] = {0};
	double lr = 1e-2, eps = 1e-8, wd = 0.1;
	dm_adamw_step(p, g, m, v, 4, lr, 0.9, 0.999, eps, wd, 1);
	float p0[4] = {1.0f, -2.0f, 0.5f, 3.0f};
	for (int i = 0; i < 4; i++) {
		double want = p0[i] * (1.0 - 1e-2 * 0.1) - 1e-2 * g[i] / (fabs(g[i]) + 1e-8);
		CHECK_NEAR(p[i], want, 1e-6);
		CHECK_NEAR(m[i], 0.1 * g[i], 1e-8);
		double vw = 0.001 * (double)g[i] * g[i];
		CHECK_NEAR(v[i], vw, 1e-6 * vw);
	}
}

/* Three steps against the recurrence evaluated in double. */
TEST(optim_adamw_closed_form)
{
	enum { N = 17 };
	float p[N], m[N] = {0}, v[N] = {0};
	double pd[N], md[N] = {0}, vd[N] = {0};
	const double lr = 2e-3, b1 = 0.8, b2 = 0.95, eps = 1e-6, wd = 0.05;
	for (int i = 0; i < N; i++)
		pd[i] = p[i] = (float)(0.1 * i - 0.7);
	for (int t = 1; t <= 3; t++) {
		float g[N];
		for (int i = 0; i < N; i++)
			g[i] = (float)(sin(1.3 * i + t) * (i + 1) * 0.1);
		dm_adamw_step(p, g, m, v, N, lr, b1, b2, eps, wd,
		              t);
		for (int i = 0; i < N; i++) {
			pd[i] *= 1 - lr * wd;
			md[i] = b1 * md[i] + (1 - b1) * g[i];
			vd[i] = b2 * vd[i] + (1 - b2) * (double)g[i] * g[i];
			double mh = md[i] / (1 - pow(b1, t)), vh = vd[i] / (1 - pow(b2, t));
			pd[i] -= lr * mh / (sqrt(vh) + eps);
		}
	}
	for (int i = 0; i < N; i++) {
		CHECK_NEAR(p[i], pd[i], 1e-6);
		CHECK_NEAR(m[i], md[i], 1e-6);
		CHECK_NEAR(v[i], vd[i], 1e-7);
	}
}

TEST(optim_grad_clip)
{
	float g[3] = {3.0f, 0.0f, -4.0f};
	CHECK_NEAR(dm_grad_norm(g, 3), 5.0, 1e-12);
	CHECK_NEAR(dm_grad_clip(g, 3, 10.0), 5.0, 1e-12); /* below the limit: untouched */
	CHECK(g[0] == 3.0f && g[2] == -4.0f);
	CHECK_NEAR(dm_grad_clip(g, 3, 1.0), 5.0, 1e-12);
	CHECK_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
	CHECK_NEAR(g[2], -4.0 / (5.0 + 1e-6), 1e-7);
	CHECK(g[1] == 0.0f);
	CHECK_NEAR(dm_grad_clip(g, 3, 0.0), 1.0, 1e-6); /* max_norm 0: measure only */
	CHECK_NEAR(g[0], 0.6, 1e-6);
	CHECK(dm_grad_norm(g, 0) == 0.0);

	/* a long vector: double accumulation, and the same bits for 1 and 2 threads */
	size_t n = 1000003;
	float *big = malloc(n * sizeof(float));
	double want = 0;
	for (size_t i = 0; i < n; i++) {
		big[i] = (float)((double)(i % 1000) * 1e-3 - 0.5);
		want += (double)big[i] * big[i];
	}
	omp_set_num_threads(1);
	double n1 = dm_grad_norm(big, n);
	omp_set_num_threads(2);
	double n2 = dm_grad_norm(big, n);
	free(big);
	CHECK(memcmp(&n1, &n2, sizeof n1) == 0);
	CHECK_NEAR(n1, sqrt(want), 1e-9 * sqrt(want));
}

TEST(optim_ema)
{
	float ema[3] = {1.0f, 0.0f, -2.0f}, w[3] = {0.0f, 1.0f, -2.0f};
	dm_ema_update(ema, w, 3, 0.9f);
	CHECK_NEAR(ema[0], 0.9, 1e-7);
	CHECK_NEAR(ema[1], 0.1, 1e-7);
	CHECK(ema[2] == -2.0f);
	/* k updates towards a fixed w: ema - w = decay^k (ema0 - w) */
	for (int k = 1; k < 50; k++)
		dm_ema_update(ema, w, 3, 0.9f);
	CHECK_NEAR(ema[0], pow(0.9, 50), 1e-5);
	CHECK_NEAR(ema[1], 1.0 - pow(0.9, 50), 1e-5);
	dm_ema_update(ema, w, 3, 0.0f); /* decay 0 copies */
	CHECK(ema[0] == 0.0f && ema[1] == 1.0f);
}

/* AdamW, the EMA and the gradient norm give the same bits on every SIMD path (the
 * AVX2 loops do the scalar arithmetic eight at a time), at sizes across
 * the vector width and the parallel threshold. */
TEST(optim_paths_bit_identical)
{
	int keep = dm_simd();
	size_t sizes[] = {1, 7, 9, 33, 100003};
	for (int k = 0; k < 5; k++) {
		size_t n = sizes[k];
		float *ref[3] = {0};
		double refnorm = 0;
		for (int level = DM_SIMD_SCALAR; level <= DM_SIMD_AVX512; level++) {
			if (!dm_simd_supported(level)) {
				if (k == 0)
					fprintf(stderr, "    (path %s: not on this CPU, skipped)\n",
					        dm_simd_name(level));
				continue;
			}
			CHECK(dm_simd_force(level, NULL) == 0);
			float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float)),
			      *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
			for (size_t i = 0; i < n; i++) {
				p[i] = (float)sin((double)i * 0.37);
				g[i] = (float)cos((double)i * 1.1) * 1e-2f;
			}
			for (long t = 1; t <= 3; t++)
				dm_adamw_step(p, g, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, t);
			double norm = dm_grad_norm(g, n);
			dm_ema_update(m, p, n, 0.999f); /* the EMA too, kept in m */
			free(g);
			if (!ref[0]) {
				ref[0] = p, ref[1] = m, ref[2] = v, refnorm = norm;
				continue;
			}
			CHECK_MSG(!memcmp(p, ref[0], n * sizeof(float)) &&
			          !memcmp(m, ref[1], n * sizeof(float)) &&
			          !memcmp(v, ref[2], n * sizeof(float)) && norm == refnorm,
			          "path %s n %zu differs from scalar", dm_simd_name(level), n);
			free(p), free(m), free(v);
		}
		free(ref[0]), free(ref[1]), free(ref[2]);
	}
	dm_simd_force(keep, NULL);
}

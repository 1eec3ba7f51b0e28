/* test_gemm.c - dm_sgemm against the double-precision triple loop, every
 * SIMD path against scalar, 1 vs 2 threads bit-identical, DM_SIMD. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/gemm.h"
#include "harness.h"

static float frand(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *rand_buf(size_t n, unsigned seed)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = frand(&seed);
	return p;
}

/* C = alpha op(A) op(B) + beta C with leading dimensions padded by `pad`;
 * returns the largest error relative to sum |a||b| (+|c|). */
static double run_case(int ta, int tb, int m, int n, int k, float alpha, float beta, int pad,
                       unsigned seed)
{
	int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
	float *a = rand_buf((size_t)(ta ? k : m) * lda, seed);
	float *b = rand_buf((size_t)(tb ? n : k) * ldb, seed + 1);
	float *c = rand_buf((size_t)m * ldc, seed + 2);
	float *r = malloc((size_t)m * ldc * sizeof *r);
	if (beta == 0.0f) /* beta == 0 must not read C: NaNs must not leak */
		for (size_t i = 0; i < (size_t)m * ldc; i++)
			c[i] = NAN;
	memcpy(r, c, (size_t)m * ldc * sizeof *r);
	dm_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	dm_sgemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, ldc);
	double worst = 0;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < ldc; j++) {
			float x = c[(long)i * ldc + j], y = r[(long)i * ldc + j];
			if (j >= n) { /* padding must be untouched */
				if (memcmp(&x, &y, sizeof x))
					worst = 1e30;
				continue;
			}
			double e = fabs((double)x - y) / (k + 2.0);
			if (!(e <= worst))
				worst = isnan(e) ? 1e30 : e;
		}
	free(a), free(b), free(c), free(r);
	return worst;
}

static const int sizes[] = { 1, 3, 7, 17, 33, 130 };
#define NS (int)(sizeof sizes / sizeof *sizes)

static void all_cases(void)
{
	unsigned seed = 1;
	for (int ta = 0; ta < 2; ta++)
		for (int tb = 0; tb < 2; tb++)
			for (int im = 0; im < NS; im++)
				for (int in = 0; in < NS; in++)
					for (int ik = 0; ik < NS; ik += (im + in) % 2 + 1) {
						int m = sizes[im], n = sizes[in], k = sizes[ik];
						double e = run_case(ta, tb, m, n, k, 1.0f, 0.0f, (m + n) % 3,
						                    seed++);
						CHECK_MSG(e < 1e-6, "ta=%d tb=%d m=%d n=%d k=%d err %g", ta, tb,
						          m, n, k, e);
					}
	/* alpha/beta cases, K crossing the KC block (beta applied once) */
	const float ab[][2] = { { 1, 1 }, { 0.5f, -2 }, { -1.5f, 0 }, { 0, 0.5f }, { 0, 0 }, { 2, 1 } };
	for (int i = 0; i < 6; i++)
		for (int t = 0; t < 4; t++) {
			double e = run_case(t & 1, t >> 1, 37, 45, 700, ab[i][0], ab[i][1], 5, seed++);
			CHECK_MSG(e < 1e-6, "alpha=%g beta=%g t=%d err %g", ab[i][0], ab[i][1], t, e);
		}
	double e = run_case(0, 0, 5, 6, 0, 1.0f, 0.5f, 1, seed++); /* k == 0 */
	CHECK(e < 1e-6);
}

TEST(gemm_against_ref_scalar)
{
	int old = dm_simd();
	CHECK(dm_simd_force(DM_SIMD_SCALAR, NULL) == 0);
	all_cases();
	dm_simd_force(old, NULL);
}

TEST(gemm_against_ref_avx2)
{
	if (!dm_simd_supported(DM_SIMD_AVX2))
		SKIP("this CPU lacks AVX2+FMA");
	int old = dm_simd();
	CHECK(dm_simd_force(DM_SIMD_AVX2, NULL) == 0);
	all_cases();
	dm_simd_force(old, NULL);
}

TEST(gemm_against_ref_avx512)
{
	if (!dm_simd_supported(DM_SIMD_AVX512))
		SKIP("this CPU lacks AVX-512 (F, VL, BW, DQ)");
	int old = dm_simd();
	CHECK(dm_simd_force(DM_SIMD_AVX512, NULL) == 0);
	all_cases();
	dm_simd_force(old, NULL);
}

/* Each path against scalar on one mid-size product with every transpose. */
TEST(gemm_paths_match_scalar)
{
	int old = dm_simd(), m = 67, n = 133, k = 411;
	float *a = rand_buf((size_t)m * k, 7), *b = rand_buf((size_t)k * n, 8);
	float *c0 = malloc((size_t)m * n * 4), *c1 = malloc((size_t)m * n * 4);
	int ran = 0;
	for (int lvl = DM_SIMD_AVX2; lvl <= DM_SIMD_AVX512; lvl++) {
		if (!dm_simd_supported(lvl))
			continue; /* gemm_against_ref_<path> says it skipped */
		for (int t = 0; t < 4; t++) {
			int ta = t & 1, tb = t >> 1;
			dm_simd_force(DM_SIMD_SCALAR, NULL);
			dm_sgemm(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c0, n);
			dm_simd_force(lvl, NULL);
			dm_sgemm(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c1, n);
			for (int i = 0; i < m * n; i++)
				CHECK_MSG(fabsf(c0[i] - c1[i]) <= 1e-4f * (1 + fabsf(c0[i])),
				          "%s t=%d elem %d: %g vs %g", dm_simd_name(lvl), t, i, c1[i], c0[i]);
		}
		ran++;
	}
	dm_simd_force(old, NULL);
	free(a), free(b), free(c0), free(c1);
	CHECK(ran >= 1);
}

/* 1 vs 2 threads: bit-identical on every available path and shape class
 * (tall, wide, square; K crossing KC). */
TEST(gemm_threads_bit_identical)
{
	int old = dm_simd(), oldt = omp_get_max_threads();
	static const int shapes[][3] = { { 32, 784, 288 }, { 288, 784, 32 }, { 301, 157, 777 },
		                         { 1000, 9, 50 }, { 13, 1000, 1000 } };
	for (int lvl = DM_SIMD_SCALAR; lvl <= DM_SIMD_AVX512; lvl++) {
		if (!dm_simd_supported(lvl))
			continue;
		dm_simd_force(lvl, NULL);
		for (int s = 0; s < 5; s++) {
			int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
			float *a = rand_buf((size_t)m * k, 3), *b = rand_buf((size_t)k * n, 4);
			float *c1 = rand_buf((size_t)m * n, 5), *c2 = malloc((size_t)m * n * 4);
			memcpy(c2, c1, (size_t)m * n * 4);
			omp_set_num_threads(1);
			dm_sgemm(0, 1, m, n, k, 0.7f, a, k, b, k, 0.3f, c1, n);
			omp_set_num_threads(2);
			dm_sgemm(0, 1, m, n, k, 0.7f, a, k, b, k, 0.3f, c2, n);
			int same = !memcmp(c1, c2, (size_t)m * n * 4);
			free(a), free(b), free(c1), free(c2);
			CHECK_MSG(same, "%s %dx%dx%d differs between 1 and 2 threads",
			          dm_simd_name(lvl), m, n, k);
		}
	}
	omp_set_num_threads(oldt);
	dm_simd_force(old, NULL);
}

TEST(gemm_dm_simd_env)
{
	dm_error err;
	int old = dm_simd();
	const char *prev = getenv("DM_SIMD");
	char *saved = prev ? strdup(prev) : NULL;
	setenv("DM_SIMD", "scalar", 1);
	CHECK(dm_cpu_init(&err) == 0 && dm_simd() == DM_SIMD_SCALAR);
	setenv("DM_SIMD", "avx2", 1);
	if (dm_simd_supported(DM_SIMD_AVX2))
		CHECK(dm_cpu_init(&err) == 0 && dm_simd() == DM_SIMD_AVX2);
	setenv("DM_SIMD", "avx512", 1);
	if (dm_simd_supported(DM_SIMD_AVX512)) {
		CHECK(dm_cpu_init(&err) == 0 && dm_simd() == DM_SIMD_AVX512);
	} else {
		CHECK(dm_cpu_init(&err) == DM_ERR_ARG);
		CHECK_MSG(strstr(err.msg, "lacks") != NULL, "message: %s", err.msg);
	}
	setenv("DM_SIMD", "sse9", 1);
	CHECK(dm_cpu_init(&err) == DM_ERR_ARG);
	CHECK_MSG(strstr(err.msg, "DM_SIMD=sse9") && strstr(err.msg, "unknown"), "message: %s",
	          err.msg);
	if (saved)
		setenv("DM_SIMD", saved, 1);
	else
		unsetenv("DM_SIMD");
	free(saved);
	CHECK(!strcmp(dm_simd_name(DM_SIMD_AVX2), "avx2"));
	dm_simd_force(old, NULL);
}

/* The CPU family that picks the block sizes (cpu.h, gemm.c) is one of the
 * table's rows and agrees with the instructions the CPU reports; every
 * family row gives correct products on every path the CPU has. */
TEST(gemm_cpu_family_blocks)
{
	int f = dm_cpu_family();
	CHECK(f >= 0 && f < DM_CPU_NFAMILIES);
	CHECK(strcmp(dm_cpu_family_name(f), "unknown") != 0);
	CHECK(!strcmp(dm_cpu_family_name(DM_CPU_NFAMILIES), "unknown"));
	if (f != DM_CPU_GENERIC)
		CHECK_MSG(dm_simd_supported(DM_SIMD_AVX512), "family %s without AVX-512",
		          dm_cpu_family_name(f));
	int old = dm_simd();
	for (int lvl = DM_SIMD_SCALAR; lvl <= DM_SIMD_AVX512; lvl++) {
		if (!dm_simd_supported(lvl))
			continue;
		dm_simd_force(lvl, NULL);
		/* K across several kc slices and M, N across several blocks */
		double e = run_case(0, 0, 150, 3100, 420, 1.0f, 0.5f, 3, 99);
		CHECK_MSG(e < 1e-6, "%s family %s: err %g", dm_simd_name(lvl),
		          dm_cpu_family_name(f), e);
	}
	dm_simd_force(old, NULL);
}

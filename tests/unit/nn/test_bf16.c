/* test_bf16.c - bfloat16 rounding against hand-worked values and (where
 * the CPU has it) against vcvtneps2bf16; the bf16 GEMM of every path
 * against the double-precision loop on the rounded operands, the portable
 * kernel against AVX512-BF16 bit for bit, AMX within the fp32 bound, 1 vs
 * 2 threads, the callback forms, DM_SIMD=avx512bf16|amx.  A path is
 * skipped only where the cpuid bits say the CPU lacks it (or Linux refuses
 * the AMX tile data). */
#include <float.h>
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/bf16.h"
#include "nn/gemm.h"
#include "nn/simd/gemm_kernel.h"
#include "harness.h"

static float from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static uint32_t rnd32(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 32);
}

TEST(bf16_round_hand_values)
{
	static const struct { uint32_t in; uint16_t out; } v[] = {
		{ 0x3f800000u, 0x3f80 }, /* 1 */
		{ 0x3f808000u, 0x3f80 }, /* tie, even below */
		{ 0x3f818000u, 0x3f82 }, /* tie, even above */
		{ 0x3f808001u, 0x3f81 }, /* above the tie */
		{ 0xbf80ffffu, 0xbf81 }, /* negative, rounds away */
		{ 0x3f7fffffu, 0x3f80 }, /* carry into the exponent */
		{ 0x7f7fffffu, 0x7f80 }, /* FLT_MAX rounds to infinity */
		{ 0x7f7f7fffu, 0x7f7f }, /* the largest bf16 below it stays */
		{ 0x7f800000u, 0x7f80 }, /* +inf */
		{ 0xff800000u, 0xff80 }, /* -inf */
		{ 0x00000000u, 0x0000 }, { 0x80000000u, 0x8000 },
		{ 0x00400000u, 0x0000 }, /* denormal: flushed */
		{ 0x807fffffu, 0x8000 }, /* negative denormal: -0 */
		{ 0x00800000u, 0x0080 }, /* FLT_MIN stays */
		{ 0x7f800001u, 0x7fc0 }, /* signalling NaN: quiet, not inf */
		{ 0xff812345u, 0xffc1 }, /* sign and top payload kept */
		{ 0x7fc00000u, 0x7fc0 },
	};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		uint16_t h = dm_bf16_from_f32(from_bits(v[i].in));
		CHECK_MSG(h == v[i].out, "%08x -> %04x, expected %04x", v[i].in, h, v[i].out);
	}
	CHECK(dm_bf16_to_f32(0x3f80) == 1.0f);
	CHECK(dm_bf16_round(1.0f + 1.0f / 256) == 1.0f); /* tie to even */
}

__attribute__((target("avx512f,avx512bf16"))) static void hw_convert(const float *x, uint16_t *h)
{
	__m256bh r = _mm512_cvtneps_pbh(_mm512_loadu_ps(x));
	memcpy(h, &r, 32);
}

/* Every value class against the instruction: random bit patterns (all
 * exponents, NaNs, denormals), and values one ulp around each tie. */
TEST(bf16_round_matches_instruction)
{
	if (!dm_cpu_has_isa(DM_SIMD_AVX512BF16) || !dm_simd_supported(DM_SIMD_AVX512))
		SKIP("CPU lacks avx512_bf16");
	uint64_t s = 42;
	int bad = 0;
	for (int it = 0; it < 1 << 16; it++) {
		float x[16];
		uint16_t h[16];
		for (int i = 0; i < 16; i++) {
			uint32_t u = rnd32(&s);
			if (i >= 8) /* low halves 0x7ffe .. 0x8005: around the tie */
				u = (u & 0xffff0000u) | (0x7ffeu + (uint32_t)(i - 8));
			x[i] = from_bits(u);
		}
		hw_convert(x, h);
		for (int i = 0; i < 16; i++)
			if (h[i] != dm_bf16_from_f32(x[i]) && bad++ < 5) {
				uint32_t u;
				memcpy(&u, &x[i], 4);
				fprintf(stderr, "    %08x: hw %04x, dm %04x\n", u, h[i], dm_bf16_from_f32(x[i]));
			}
	}
	CHECK_MSG(bad == 0, "%d values round differently from vcvtneps2bf16", bad);
}

/* The rounding copy of conv.c's rounding route equals dm_bf16_round bit
 * for bit on random values, ties, denormals, infinities and NaNs, at every
 * length of a masked tail. */
TEST(bf16_round_copy_matches_portable)
{
	if (!dm_simd_supported(DM_SIMD_AVX512BF16))
		SKIP("CPU lacks avx512_bf16");
	uint64_t s = 7;
	enum { N = 1000 };
	float x[N], y[N];
	for (int i = 0; i < N; i++) {
		uint32_t u = rnd32(&s);
		if (i % 4 == 1)
			u = (u & 0xffff0000u) | 0x8000u; /* a tie */
		if (i % 16 == 2)
			u &= 0x807fffffu; /* a denormal */
		x[i] = from_bits(u);
	}
	x[3] = from_bits(0x7f800000u), x[5] = from_bits(0x7fa00001u), x[7] = from_bits(0xffc00000u);
	int bad = 0;
	for (int n = 0; n <= 40 && !bad; n++) { /* tails of every length, then all of it */
		memset(y, 0xee, sizeof y);
		dm_bf16_round_copy_avx512bf16(y, x, (size_t)n);
		for (int i = 0; i < N; i++) {
			float want = i < n ? dm_bf16_round(x[i]) : from_bits(0xeeeeeeeeu);
			bad += memcmp(&y[i], &want, 4) != 0;
		}
	}
	dm_bf16_round_copy_avx512bf16(y, x, N);
	for (int i = 0; i < N; i++) {
		float want = dm_bf16_round(x[i]);
		bad += memcmp(&y[i], &want, 4) != 0;
	}
	CHECK_MSG(bad == 0, "%d values differ from dm_bf16_round", bad);
}

static float frand(uint64_t *s)
{
	return (float)(rnd32(s) >> 8) / (float)(1 << 23) - 1.0f;
}

static float *rand_buf(size_t n, uint64_t seed)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++)
		p[i] = frand(&seed);
	return p;
}

/* Run one product on the current path; c_out gets C (m x ldc).  Returns
 * the largest |c - ref| / bound, where ref sums the rounded products in
 * double and bound = (k + 2) 2^-24 (sum |a b| + |beta c|) + 2^-24 |ref|,
 * the fp32 accumulation bound (Higham, Accuracy and Stability, eq. 3.5). */
static double bf16_case(int ta, int tb, int m, int n, int k, float alpha, float beta,
                        uint64_t seed, float *c_out)
{
	int lda = ta ? m + 1 : k + 3, ldb = tb ? k + 2 : n + 1, ldc = n + 5;
	float *a = rand_buf((size_t)(ta ? k : m) * lda, seed);
	float *b = rand_buf((size_t)(tb ? n : k) * ldb, seed + 1);
	float *c = rand_buf((size_t)m * ldc, seed + 2);
	float *r = malloc((size_t)m * ldc * sizeof *r);
	if (beta == 0.0f)
		for (size_t i = 0; i < (size_t)m * ldc; i++)
			c[i] = NAN;
	memcpy(r, c, (size_t)m * ldc * sizeof *r);
	dm_gemm_bf16(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	dm_gemm_bf16_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, ldc);
	double worst = 0;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < ldc; j++) {
			size_t at = (size_t)i * ldc + j;
			if (j >= n) {
				if (memcmp(&c[at], &r[at], sizeof c[at]))
					worst = 1e30;
				continue;
			}
			double mag = 0;
			for (int p = 0; p < k; p++) {
				float x = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
				float y = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
				mag += fabs((double)dm_bf16_round(x) * dm_bf16_round(y));
			}
			mag = fabs(alpha) * mag;
			double bound = (k + 2) * 0x1p-24 * mag + 0x1p-24 * fabs(r[at]) + 1e-30;
			double e = fabs((double)c[at] - r[at]) / bound;
			if (!(e <= worst))
				worst = isnan(e) ? 1e30 : e;
		}
	if (c_out)
		memcpy(c_out, c, (size_t)m * ldc * sizeof *c);
	free(a), free(b), free(c), free(r);
	return worst;
}

/* Can this bf16 path run here?  Skips (with the reason) only where the
 * cpuid bits lack it or Linux refused the AMX tiles. */
static int bf16_path_usable(int level, const char **why)
{
	if (level == DM_SIMD_SCALAR)
		return 1;
	if (!dm_cpu_has_isa(level) || !dm_simd_supported(DM_SIMD_AVX512)) {
		*why = level == DM_SIMD_AMX ? "CPU lacks amx" : "CPU lacks avx512_bf16";
		return 0;
	}
	if (level == DM_SIMD_AMX && !dm_cpu_has_isa(DM_SIMD_AVX512BF16)) {
		*why = "CPU lacks avx512_bf16";
		return 0;
	}
	if (!dm_simd_supported(level)) {
		*why = "Linux refused the AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM)";
		return 0;
	}
	return 1;
}

static const struct { int ta, tb, m, n, k; float alpha, beta; } shapes[] = {
	{ 0, 0, 1, 1, 1, 1.0f, 0.0f },     { 0, 0, 7, 13, 5, 1.0f, 0.0f },
	{ 0, 0, 33, 97, 67, 0.5f, 1.0f },  { 1, 0, 40, 50, 288, 1.0f, 0.5f },
	{ 0, 1, 65, 33, 300, 2.0f, 0.0f }, { 1, 1, 17, 130, 31, 1.0f, 1.0f },
	{ 0, 0, 70, 200, 600, 1.0f, 0.0f }, /* several K slices on every path */
};
#define NSHAPES (int)(sizeof shapes / sizeof *shapes)

static void check_path(int level)
{
	const char *why = "";
	if (!bf16_path_usable(level, &why)) {
		char msg[160];
		snprintf(msg, sizeof msg, "%s %s", dm_simd_name(level), why);
		SKIP(msg);
	}
	int old = dm_simd();
	CHECK(dm_simd_force(level, NULL) == 0); /* scalar: the portable bf16 kernel */
	CHECK(dm_simd_bf16() == level);
	for (int s = 0; s < NSHAPES; s++) {
		double e = bf16_case(shapes[s].ta, shapes[s].tb, shapes[s].m, shapes[s].n,
		                     shapes[s].k, shapes[s].alpha, shapes[s].beta, 7 + s, NULL);
		CHECK_MSG(e <= 1.0, "%s shape %d: error %.3g x the fp32 bound", dm_simd_name(level), s,
		          e);
	}
	dm_simd_force(old, NULL);
}

TEST(gemm_bf16_portable) { check_path(DM_SIMD_SCALAR); }
TEST(gemm_bf16_avx512bf16) { check_path(DM_SIMD_AVX512BF16); }
TEST(gemm_bf16_amx) { check_path(DM_SIMD_AMX); }

/* The portable kernel sums and rounds as vdpbf16ps does: bit-identical to
 * the avx512bf16 path on every shape.  AMX is held to the bound above; this
 * says whether it happens to agree too. */
TEST(gemm_bf16_portable_equals_avx512bf16)
{
	const char *why = "";
	if (!bf16_path_usable(DM_SIMD_AVX512BF16, &why)) {
		char msg[160];
		snprintf(msg, sizeof msg, "avx512bf16 %s", why);
		SKIP(msg);
	}
	int old = dm_simd(), amx = bf16_path_usable(DM_SIMD_AMX, &why), amx_same = 0;
	for (int s = 0; s < NSHAPES; s++) {
		size_t sz = (size_t)shapes[s].m * (shapes[s].n + 5);
		float *c0 = malloc(sz * sizeof *c0), *c1 = malloc(sz * sizeof *c1);
		dm_simd_force(DM_SIMD_AVX512, NULL);
		bf16_case(shapes[s].ta, shapes[s].tb, shapes[s].m, shapes[s].n, shapes[s].k,
		          shapes[s].alpha, shapes[s].beta, 7 + s, c0);
		dm_simd_force(DM_SIMD_AVX512BF16, NULL);
		bf16_case(shapes[s].ta, shapes[s].tb, shapes[s].m, shapes[s].n, shapes[s].k,
		          shapes[s].alpha, shapes[s].beta, 7 + s, c1);
		int same = !memcmp(c0, c1, sz * sizeof *c0);
		if (amx) {
			dm_simd_force(DM_SIMD_AMX, NULL);
			bf16_case(shapes[s].ta, shapes[s].tb, shapes[s].m, shapes[s].n, shapes[s].k,
			          shapes[s].alpha, shapes[s].beta, 7 + s, c1);
			amx_same += !memcmp(c0, c1, sz * sizeof *c0);
		}
		free(c0), free(c1);
		dm_simd_force(old, NULL);
		CHECK_MSG(same, "shape %d: avx512bf16 differs from the portable kernel", s);
	}
	if (amx)
		fprintf(stderr, "    (amx bit-identical to the portable kernel on %d of %d shapes)\n",
		        amx_same, NSHAPES);
}

/* 1 and 2 threads give the same bits on each path. */
TEST(gemm_bf16_threads)
{
	int old = dm_simd(), oldt = omp_get_max_threads();
	int m = 96, n = 300, k = 200, ldc = n;
	float *a = rand_buf((size_t)m * k, 1), *b = rand_buf((size_t)k * n, 2);
	float *c1 = malloc((size_t)m * n * sizeof *c1), *c2 = malloc((size_t)m * n * sizeof *c2);
	static const int levels[] = { DM_SIMD_SCALAR, DM_SIMD_AVX512BF16, DM_SIMD_AMX };
	int ok = 1;
	for (int li = 0; li < 3; li++) {
		const char *why;
		if (!bf16_path_usable(levels[li], &why))
			continue;
		dm_simd_force(levels[li], NULL);
		omp_set_num_threads(1);
		dm_gemm_bf16(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c1, ldc);
		omp_set_num_threads(2);
		dm_gemm_bf16(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c2, ldc);
		if (memcmp(c1, c2, (size_t)m * n * sizeof *c1)) {
			fprintf(stderr, "    %s: 1 and 2 threads differ\n", dm_simd_name(levels[li]));
			ok = 0;
		}
	}
	omp_set_num_threads(oldt);
	dm_simd_force(old, NULL);
	free(a), free(b), free(c1), free(c2);
	CHECK(ok);
}

/* The callback forms pack the same panels as the plain one. */
typedef struct mat { const float *p; int ld; } mat;
static void row_of(const void *ctx, int p, int j0, int n, float *out)
{
	const mat *M = ctx;
	memcpy(out, M->p + (size_t)p * M->ld + j0, (size_t)n * sizeof *out);
}
static void kvec_of(const void *ctx, int i, int p0, int kc, float *out)
{
	const mat *M = ctx;
	memcpy(out, M->p + (size_t)i * M->ld + p0, (size_t)kc * sizeof *out);
}

TEST(gemm_bf16_callbacks)
{
	int m = 40, n = 150, k = 77;
	float *a = rand_buf((size_t)m * k, 3), *b = rand_buf((size_t)k * n, 4);
	float *bt = malloc((size_t)n * k * sizeof *bt);
	for (int p = 0; p < k; p++)
		for (int j = 0; j < n; j++)
			bt[(size_t)j * k + p] = b[(size_t)p * n + j];
	float *c0 = malloc((size_t)m * n * sizeof *c0), *c1 = malloc((size_t)m * n * sizeof *c1);
	dm_gemm_bf16(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c0, n);
	mat B = { b, n }, A = { a, k }, BT = { bt, k };
	dm_gemm_bf16_brows(0, m, n, k, 1.0f, a, k, row_of, &B, 0.0f, c1, n, 0, 0);
	CHECK(!memcmp(c0, c1, (size_t)m * n * sizeof *c0));
	dm_gemm_bf16_kvec(m, n, k, 1.0f, kvec_of, &A, kvec_of, &BT, 0.0f, c1, n);
	CHECK(!memcmp(c0, c1, (size_t)m * n * sizeof *c0));
	/* columns in blocks of 50 (as a batch of images): C is 3 blocks of m x 50 */
	float *cb = malloc((size_t)m * n * sizeof *cb);
	dm_gemm_bf16_brows(0, m, n, k, 1.0f, a, k, row_of, &B, 0.0f, cb, 50, 50, (long)m * 50);
	int same = 1;
	for (int i = 0; i < m; i++)
		for (int j = 0; j < n; j++)
			same &= cb[(size_t)(j / 50) * m * 50 + (size_t)i * 50 + j % 50] == c0[(size_t)i * n + j];
	CHECK(same);
	free(a), free(b), free(bt), free(c0), free(c1), free(cb);
}

/* DM_SIMD names the bf16 paths; forcing one the CPU lacks says so. */
TEST(gemm_bf16_dm_simd_env)
{
	dm_error err;
	int old = dm_simd();
	const char *prev = getenv("DM_SIMD");
	char *saved = prev ? strdup(prev) : NULL;
	static const int levels[] = { DM_SIMD_AVX512BF16, DM_SIMD_AMX };
	for (int li = 0; li < 2; li++) {
		int l = levels[li];
		setenv("DM_SIMD", dm_simd_name(l), 1);
		if (dm_simd_supported(l)) {
			CHECK(dm_cpu_init(&err) == 0 && dm_simd() == l && dm_simd_bf16() == l);
		} else {
			CHECK(dm_cpu_init(&err) == DM_ERR_ARG);
			CHECK_MSG(strstr(err.msg, "lacks") != NULL, "message: %s", err.msg);
		}
	}
	setenv("DM_SIMD", "avx512", 1);
	if (dm_simd_supported(DM_SIMD_AVX512))
		CHECK(dm_cpu_init(&err) == 0 && dm_simd_bf16() == DM_SIMD_SCALAR);
	if (saved)
		setenv("DM_SIMD", saved, 1);
	else
		unsetenv("DM_SIMD");
	free(saved);
	dm_simd_force(old, NULL);
}

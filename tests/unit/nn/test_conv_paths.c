/* test_conv_paths.c - every SIMD path of dm_conv2d against the scalar path
 * (im2col + the portable GEMM), each path forced through DM_SIMD as a user
 * would, at shapes chosen to reach the edges of the direct kernels: output
 * channels that leave a partial row panel (AVX-512 tiles of 12, AVX2 of
 * 6), weight-gradient tiles 16, 32, 48 and 64 channels wide, strips that
 * straddle output rows and images narrower than a strip, stride 1 and 2,
 * padding 0, 1 and 2 (2 > kw - 1 for 1x1 and 3x3 turns the shared row
 * padding off), 1x1, and accumulation.  Each path gets a test of its own,
 * which says it skipped when the CPU lacks the instructions. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/conv.h"
#include "harness.h"

typedef struct pshape {
	int B, Cin, H, W, Cout, k, stride, pad;
} pshape;

static const pshape pshapes[] = {
	{ 2, 5, 9, 11, 13, 3, 1, 1 },  { 3, 4, 7, 7, 64, 3, 1, 1 },  { 2, 3, 14, 14, 32, 3, 1, 1 },
	{ 1, 6, 8, 5, 48, 3, 1, 0 },   { 2, 4, 9, 8, 16, 3, 2, 1 },  { 1, 3, 11, 10, 25, 3, 2, 0 },
	{ 2, 7, 6, 6, 24, 1, 1, 0 },   { 1, 9, 5, 7, 64, 1, 1, 0 },  { 2, 3, 5, 6, 12, 3, 1, 2 },
	{ 1, 2, 6, 6, 96, 3, 1, 1 },   { 1, 5, 4, 4, 1, 3, 1, 1 },   { 2, 33, 3, 3, 20, 3, 1, 1 },
	{ 1, 4, 6, 7, 32, 5, 1, 2 },   { 1, 3, 29, 30, 16, 3, 1, 1 }, { 2, 2, 5, 5, 8, 1, 2, 0 },
};
#define NP (int)(sizeof pshapes / sizeof *pshapes)

static float frand(unsigned *s)
{
	*s = *s * 1664525u + 1013904223u;
	return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

typedef struct passes {
	float *y, *dx, *dw, *db;
} passes;

/* forward, both backward passes (din overwritten then accumulated once more,
 * dweight and dbias accumulated onto a non-zero start) on the current path */
static void run(const pshape *s, const float *x, const float *w, const float *bias,
                const float *r, passes *o)
{
	int Ho = dm_conv2d_out_size(s->H, s->k, s->stride, s->pad);
	int Wo = dm_conv2d_out_size(s->W, s->k, s->stride, s->pad);
	size_t nx = (size_t)s->B * s->Cin * s->H * s->W, nw = (size_t)s->Cout * s->Cin * s->k * s->k;
	size_t ny = (size_t)s->B * s->Cout * Ho * Wo;
	float *ws = malloc(dm_conv2d_workspace(s->Cin, s->H, s->W, s->Cout, s->k, s->k, s->stride,
	                                       s->pad) * 4 + 4);
	o->y = malloc(ny * 4), o->dx = malloc(nx * 4), o->dw = malloc(nw * 4);
	o->db = malloc((size_t)s->Cout * 4);
	for (size_t i = 0; i < nw; i++)
		o->dw[i] = 0.25f;
	for (int i = 0; i < s->Cout; i++)
		o->db[i] = -0.5f;
	dm_conv2d_forward(o->y, x, w, bias, s->B, s->Cin, s->H, s->W, s->Cout, s->k, s->k,
	                  s->stride, s->pad, ws);
	dm_conv2d_backward_input(o->dx, r, w, s->B, s->Cin, s->H, s->W, s->Cout, s->k, s->k,
	                         s->stride, s->pad, 0, ws);
	dm_conv2d_backward_input(o->dx, r, w, s->B, s->Cin, s->H, s->W, s->Cout, s->k, s->k,
	                         s->stride, s->pad, 1, ws);
	dm_conv2d_backward_weight(o->dw, o->db, r, x, s->B, s->Cin, s->H, s->W, s->Cout, s->k,
	                          s->k, s->stride, s->pad, ws);
	free(ws);
}

static void free_passes(passes *o)
{
	free(o->y), free(o->dx), free(o->dw), free(o->db);
}

/* |a - b| within float rounding of a sum of n terms of size about 1 */
static int close(float a, float b, int n)
{
	return fabsf(a - b) <= 2e-6f * (float)n * (1.0f + fabsf(b));
}

static void compare_path(const char *name)
{
	const char *prev = getenv("DM_SIMD");
	char *saved = prev ? strdup(prev) : NULL;
	int old = dm_simd();
	dm_error err;
	for (int i = 0; i < NP && !dm_test_failed(); i++) {
		const pshape *s = &pshapes[i];
		int Ho = dm_conv2d_out_size(s->H, s->k, s->stride, s->pad);
		int Wo = dm_conv2d_out_size(s->W, s->k, s->stride, s->pad);
		size_t nx = (size_t)s->B * s->Cin * s->H * s->W;
		size_t nw = (size_t)s->Cout * s->Cin * s->k * s->k;
		size_t ny = (size_t)s->B * s->Cout * Ho * Wo;
		unsigned seed = 77u + (unsigned)i;
		float *x = malloc(nx * 4), *w = malloc(nw * 4), *bias = malloc((size_t)s->Cout * 4);
		float *r = malloc(ny * 4);
		for (size_t j = 0; j < nx; j++)
			x[j] = frand(&seed);
		for (size_t j = 0; j < nw; j++)
			w[j] = frand(&seed);
		for (int j = 0; j < s->Cout; j++)
			bias[j] = frand(&seed);
		for (size_t j = 0; j < ny; j++)
			r[j] = frand(&seed);
		passes ref, got;
		setenv("DM_SIMD", "scalar", 1);
		CHECK(dm_cpu_init(&err) == 0 && dm_simd() == DM_SIMD_SCALAR);
		run(s, x, w, bias, r, &ref);
		setenv("DM_SIMD", name, 1);
		CHECK_MSG(dm_cpu_init(&err) == 0, "DM_SIMD=%s: %s", name, err.msg);
		CHECK(!strcmp(dm_simd_name(dm_simd()), name));
		run(s, x, w, bias, r, &got);
		int kk = s->Cin * s->k * s->k, ok = 1;
		char what[128];
		snprintf(what, sizeof what, "%s: B%d Cin%d %dx%d Cout%d k%d s%d p%d", name, s->B,
		         s->Cin, s->H, s->W, s->Cout, s->k, s->stride, s->pad);
		for (size_t j = 0; j < ny && ok; j++)
			ok = close(got.y[j], ref.y[j], kk);
		CHECK_MSG(ok, "%s: forward differs from scalar", what);
		for (size_t j = 0; j < nx && ok; j++)
			ok = close(got.dx[j], ref.dx[j], 2 * s->Cout * s->k * s->k);
		CHECK_MSG(ok, "%s: input gradient differs from scalar", what);
		for (size_t j = 0; j < nw && ok; j++)
			ok = close(got.dw[j], ref.dw[j], s->B * Ho * Wo);
		CHECK_MSG(ok, "%s: weight gradient differs from scalar", what);
		for (int j = 0; j < s->Cout && ok; j++)
			ok = close(got.db[j], ref.db[j], s->B * Ho * Wo);
		CHECK_MSG(ok, "%s: bias gradient differs from scalar", what);
		free_passes(&ref), free_passes(&got);
		free(x), free(w), free(bias), free(r);
	}
	if (saved)
		setenv("DM_SIMD", saved, 1);
	else
		unsetenv("DM_SIMD");
	free(saved);
	dm_simd_force(old, NULL);
}

TEST(conv_paths_avx2_vs_scalar)
{
	if (!dm_simd_supported(DM_SIMD_AVX2))
		SKIP("this CPU lacks AVX2+FMA");
	compare_path("avx2");
}

TEST(conv_paths_avx512_vs_scalar)
{
	if (!dm_simd_supported(DM_SIMD_AVX512))
		SKIP("this CPU lacks AVX-512 (F, VL, BW, DQ)");
	compare_path("avx512");
}

/* The AVX-512 direct kernels split images between threads (forward, input
 * gradient) and taps (weight gradient): 1 and 2 threads bit-identical at a
 * shape with partial panels and strips. */
TEST(conv_paths_threads_bit_identical)
{
	int oldt = omp_get_max_threads();
	const pshape s = { 5, 24, 14, 14, 64, 3, 1, 1 };
	size_t nx = (size_t)s.B * s.Cin * s.H * s.W, nw = (size_t)s.Cout * s.Cin * 9;
	size_t ny = (size_t)s.B * s.Cout * s.H * s.W;
	float *x = malloc(nx * 4), *w = malloc(nw * 4), *bias = malloc((size_t)s.Cout * 4);
	float *r = malloc(ny * 4);
	unsigned seed = 5;
	for (size_t j = 0; j < nx; j++)
		x[j] = frand(&seed);
	for (size_t j = 0; j < nw; j++)
		w[j] = frand(&seed);
	for (int j = 0; j < s.Cout; j++)
		bias[j] = frand(&seed);
	for (size_t j = 0; j < ny; j++)
		r[j] = frand(&seed);
	passes p[2];
	for (int t = 0; t < 2; t++) {
		omp_set_num_threads(t + 1);
		run(&s, x, w, bias, r, &p[t]);
	}
	omp_set_num_threads(oldt);
	int same = !memcmp(p[0].y, p[1].y, ny * 4) && !memcmp(p[0].dx, p[1].dx, nx * 4) &&
	           !memcmp(p[0].dw, p[1].dw, nw * 4) && !memcmp(p[0].db, p[1].db, (size_t)s.Cout * 4);
	free_passes(&p[0]), free_passes(&p[1]);
	free(x), free(w), free(bias), free(r);
	CHECK_MSG(same, "%s: results differ between 1 and 2 threads", dm_simd_name(dm_simd()));
}

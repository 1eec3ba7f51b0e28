/* Tests of lib/nn/tattn.c: temporal attention and the axis swap.
 *
 * The independent computation is a plain double-precision forward written
 * here from the formula in tattn.h.  Gradients: the loss L = sum(r * out)
 * for a fixed random r, differentiated by central differences of the
 * double reference (h = 1e-5: truncation ~1e-10 times the third derivative,
 * rounding ~1e-16 / 1e-5), so the reference gradient is exact to ~1e-9 and
 * what remains is dm's float32 backward: |g_dm - g_fd| <= 1e-4 (1 + |g_fd|).
 * A wrong term misses that by orders of magnitude.  Gradient buffers start
 * at 0.5 (subtracted after) to check that backward accumulates.  Shapes
 * are odd (B 2, T 3, C 5, S 7) so no index can swap with another unnoticed. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/tattn.h"
#include "harness.h"

enum { B = 2, T = 3, C = 5, S = 7, N = B * T * C * S, NA = B * T * T * S, NR = 2 * T - 1 };

static uint64_t st = 777;
static double urand(void)
{
	st = st * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(st >> 11) / 9007199254740992.0;
}

#define IX(b, t, c, s) ((((size_t)(b) * T + (t)) * C + (c)) * S + (s))

/* the double reference: returns L = sum r * out */
static double ref_loss(const double *q, const double *k, const double *v, const double *rel,
                       const double *r, double *out)
{
	double L = 0;
	for (int b = 0; b < B; b++)
		for (int s = 0; s < S; s++)
			for (int t = 0; t < T; t++) {
				double lg[T], m = -1e300, z = 0;
				for (int u = 0; u < T; u++) {
					double d = 0;
					for (int c = 0; c < C; c++)
						d += q[IX(b, t, c, s)] * k[IX(b, u, c, s)];
					lg[u] = d / sqrt((double)C) + rel[u - t + T - 1];
					if (lg[u] > m)
						m = lg[u];
				}
				for (int u = 0; u < T; u++)
					z += (lg[u] = exp(lg[u] - m));
				for (int c = 0; c < C; c++) {
					double o = 0;
					for (int u = 0; u < T; u++)
						o += lg[u] / z * v[IX(b, u, c, s)];
					if (out)
						out[IX(b, t, c, s)] = o;
					L += r[IX(b, t, c, s)] * o;
				}
			}
	return L;
}

static void tofloat(float *f, const double *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		f[i] = (float)d[i];
}

TEST(tattn_forward_backward_match_double_reference_and_fd)
{
	static double q[N], k[N], v[N], rel[NR], r[N], ro[N];
	static float qf[N], kf[N], vf[N], relf[NR], rf[N], out[N], att[NA], scr[NA];
	static float dq[N], dk[N], dv[N], drel[NR];
	for (int i = 0; i < N; i++)
		q[i] = 2 * urand() - 1, k[i] = 2 * urand() - 1, v[i] = 2 * urand() - 1,
		r[i] = 2 * urand() - 1;
	for (int i = 0; i < NR; i++)
		rel[i] = 2 * urand() - 1;
	/* the reference runs on the float-rounded inputs */
	tofloat(qf, q, N), tofloat(kf, k, N), tofloat(vf, v, N), tofloat(relf, rel, NR);
	tofloat(rf, r, N);
	for (int i = 0; i < N; i++)
		q[i] = qf[i], k[i] = kf[i], v[i] = vf[i], r[i] = rf[i];
	for (int i = 0; i < NR; i++)
		rel[i] = relf[i];
	ref_loss(q, k, v, rel, r, ro);
	dm_tattn_forward(out, att, qf, kf, vf, relf, B, T, C, S);
	double worst = 0;
	for (int i = 0; i < N; i++)
		worst = fmax(worst, fabs(out[i] - ro[i]));
	CHECK_MSG(worst < 1e-6, "forward off by %.3g", worst);
	for (int i = 0; i < N; i++)
		dq[i] = dk[i] = dv[i] = 0.5f;
	for (int i = 0; i < NR; i++)
		drel[i] = 0.5f;
	dm_tattn_backward(dq, dk, dv, drel, scr, rf, qf, kf, vf, att, B, T, C, S);
	double *ins[4] = {q, k, v, rel};
	float *gs[4] = {dq, dk, dv, drel};
	const char *names[4] = {"q", "k", "v", "rel"};
	const double h = 1e-5;
	for (int which = 0; which < 4; which++) {
		int n = which == 3 ? NR : N, bad = 0;
		double w = 0;
		for (int i = 0; i < n; i++) {
			double *x = ins[which] + i, x0 = *x;
			*x = x0 + h;
			double lp = ref_loss(q, k, v, rel, r, NULL);
			*x = x0 - h;
			double lm = ref_loss(q, k, v, rel, r, NULL);
			*x = x0;
			double fd = (lp - lm) / (2 * h), g = gs[which][i] - 0.5;
			double e = fabs(g - fd) / (1e-4 * (1 + fabs(fd)));
			w = fmax(w, e);
			bad += e > 1;
		}
		CHECK_MSG(bad == 0, "d%s: %d of %d off, worst %.2f of tolerance", names[which], bad, n, w);
	}
	/* no bias is a zero bias */
	static float out0[N], att0[NA];
	static float zero[NR];
	dm_tattn_forward(out0, att0, qf, kf, vf, NULL, B, T, C, S);
	dm_tattn_forward(out, att, qf, kf, vf, zero, B, T, C, S);
	CHECK(memcmp(out0, out, sizeof out) == 0);
}

TEST(tattn_one_and_two_threads_bit_identical)
{
	static float q[N], k[N], v[N], rel[NR], r[N], out[2][N], att[2][NA], scr[NA];
	static float dq[2][N], dk[2][N], dv[2][N], drel[2][NR];
	for (int i = 0; i < N; i++)
		q[i] = (float)urand(), k[i] = (float)urand(), v[i] = (float)urand(),
		r[i] = (float)urand();
	for (int i = 0; i < NR; i++)
		rel[i] = (float)urand();
	int threads = omp_get_max_threads();
	for (int j = 0; j < 2; j++) {
		omp_set_num_threads(j + 1);
		dm_tattn_forward(out[j], att[j], q, k, v, rel, B, T, C, S);
		dm_tattn_backward(dq[j], dk[j], dv[j], drel[j], scr, r, q, k, v, att[j], B, T, C, S);
	}
	omp_set_num_threads(threads);
	CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
	CHECK(memcmp(dq[0], dq[1], sizeof dq[0]) == 0 && memcmp(dk[0], dk[1], sizeof dk[0]) == 0);
	CHECK(memcmp(dv[0], dv[1], sizeof dv[0]) == 0);
	CHECK(memcmp(drel[0], drel[1], sizeof drel[0]) == 0);
}

TEST(swap_axes_is_a_transpose_and_its_backward_accumulates)
{
	enum { b = 2, a1 = 3, a2 = 4, s = 5, n = b * a1 * a2 * s };
	float x[n], y[n], dx[n];
	for (int i = 0; i < n; i++)
		x[i] = (float)i, dx[i] = 1;
	dm_swap_axes_forward(y, x, b, a1, a2, s);
	int bad = 0;
	for (int bb = 0; bb < b; bb++)
		for (int i = 0; i < a1; i++)
			for (int j = 0; j < a2; j++)
				for (int p = 0; p < s; p++)
					bad += y[((bb * a2 + j) * a1 + i) * s + p] != x[((bb * a1 + i) * a2 + j) * s + p];
	CHECK(bad == 0);
	dm_swap_axes_backward(dx, y, b, a1, a2, s);
	for (int i = 0; i < n; i++)
		bad += dx[i] != x[i] + 1;
	CHECK(bad == 0);
}

/* tattn.c - temporal self-attention and the axis swap (tattn.h).
 *
 * Every loop runs over s innermost, where the frames' values lie
 * contiguous, so the T x T products per position vectorise across the
 * positions instead of striding through them. */
#include "nn/tattn.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* element (b, t, c, 0) of a B x T x C x S array; (b, t, u, 0) of B x T x T x S */
#define AT(p, b, t, c) \
	((p) + (((size_t)(b) * T + (size_t)(t)) * (size_t)C + (size_t)(c)) * (size_t)S)
#define ATT(p, b, t, u) \
	((p) + (((size_t)(b) * T + (size_t)(t)) * (size_t)T + (size_t)(u)) * (size_t)S)

/* Softmax over u of a[u*S + s] for each s, in place. */
static void softmax_over_frames(float *a, int T, int S)
{
	for (int s = 0; s < S; s++) {
		float m = a[s];
		for (int u = 1; u < T; u++)
			if (a[(size_t)u * S + s] > m)
				m = a[(size_t)u * S + s];
		double z = 0;
		for (int u = 0; u < T; u++) {
			float e = expf(a[(size_t)u * S + s] - m);
			a[(size_t)u * S + s] = e;
			z += e;
		}
		float iz = (float)(1.0 / z);
		for (int u = 0; u < T; u++)
			a[(size_t)u * S + s] *= iz;
	}
}

void dm_tattn_forward(float *out, float *att, const float *q, const float *k, const float *v,
                      const float *rel, int B, int T, int C, int S)
{
	float scale = (float)(1.0 / sqrt((double)C));
#pragma omp parallel for schedule(static)
	for (long bt = 0; bt < (long)B * T; bt++) {
		int b = (int)(bt / T), t = (int)(bt % T);
		for (int u = 0; u < T; u++) {
			float *L = ATT(att, b, t, u);
			memset(L, 0, (size_t)S * sizeof *L);
			for (int c = 0; c < C; c++) {
				const float *qa = AT(q, b, t, c), *ka = AT(k, b, u, c);
#pragma omp simd
				for (int s = 0; s < S; s++)
					L[s] += qa[s] * ka[s];
			}
			float r = rel ? rel[u - t + T - 1] : 0.0f;
#pragma omp simd
			for (int s = 0; s < S; s++)
				L[s] = L[s] * scale + r;
		}
		softmax_over_frames(ATT(att, b, t, 0), T, S);
		for (int c = 0; c < C; c++) {
			float *o = AT(out, b, t, c);
			memset(o, 0, (size_t)S * sizeof *o);
			for (int u = 0; u < T; u++) {
				const float *a = ATT(att, b, t, u), *va = AT(v, b, u, c);
#pragma omp simd
				for (int s = 0; s < S; s++)
					o[s] += a[s] * va[s];
			}
		}
	}
}

void dm_tattn_backward(float *dq, float *dk, float *dv, float *drel, float *scratch,
                       const float *dout, const float *q, const float *k, const float *v,
                       const float *att, int B, int T, int C, int S)
{
	float scale = (float)(1.0 / sqrt((double)C));
	/* dS = A * (dA - sum_u A dA), dA[t,u] = sum_c dout[t,c] v[u,c], and
	 * dq[t] += scale sum_u dS[t,u] k[u]: row t of each clip alone */
#pragma omp parallel for schedule(static)
	for (long bt = 0; bt < (long)B * T; bt++) {
		int b = (int)(bt / T), t = (int)(bt % T);
		for (int u = 0; u < T; u++) {
			float *D = ATT(scratch, b, t, u);
			memset(D, 0, (size_t)S * sizeof *D);
			for (int c = 0; c < C; c++) {
				const float *da = AT(dout, b, t, c), *va = AT(v, b, u, c);
#pragma omp simd
				for (int s = 0; s < S; s++)
					D[s] += da[s] * va[s];
			}
		}
		for (int s = 0; s < S; s++) {
			double r = 0;
			for (int u = 0; u < T; u++)
				r += (double)ATT(att, b, t, u)[s] * ATT(scratch, b, t, u)[s];
			float fr = (float)r;
			for (int u = 0; u < T; u++) {
				float *D = ATT(scratch, b, t, u) + s;
				*D = ATT(att, b, t, u)[s] * (*D - fr);
			}
		}
		if (dq)
			for (int c = 0; c < C; c++) {
				float *g = AT(dq, b, t, c);
				for (int u = 0; u < T; u++) {
					const float *D = ATT(scratch, b, t, u), *ka = AT(k, b, u, c);
#pragma omp simd
					for (int s = 0; s < S; s++)
						g[s] += scale * D[s] * ka[s];
				}
			}
	}
	/* dk[u] += scale sum_t dS[t,u] q[t], dv[u] += sum_t A[t,u] dout[t]:
	 * column u of each clip alone */
	if (dk || dv) {
#pragma omp parallel for schedule(static)
		for (long bu = 0; bu < (long)B * T; bu++) {
			int b = (int)(bu / T), u = (int)(bu % T);
			for (int c = 0; c < C; c++) {
				float *gk = dk ? AT(dk, b, u, c) : NULL, *gv = dv ? AT(dv, b, u, c) : NULL;
				for (int t = 0; t < T; t++) {
					const float *D = ATT(scratch, b, t, u), *a = ATT(att, b, t, u);
					const float *qa = AT(q, b, t, c), *da = AT(dout, b, t, c);
					if (gk) {
#pragma omp simd
						for (int s = 0; s < S; s++)
							gk[s] += scale * D[s] * qa[s];
					}
					if (gv) {
#pragma omp simd
						for (int s = 0; s < S; s++)
							gv[s] += a[s] * da[s];
					}
				}
			}
		}
	}
	/* drel[d] += sum over (b, t, s) of dS[t, t + d - (T-1)], per offset in order */
	if (drel) {
#pragma omp parallel for schedule(static)
		for (int d = 0; d < 2 * T - 1; d++) {
			double sum = 0;
			for (int b = 0; b < B; b++)
				for (int t = 0; t < T; t++) {
					int u = t + d - (T - 1);
					if (u < 0 || u >= T)
						continue;
					const float *D = ATT(scratch, b, t, u);
					for (int s = 0; s < S; s++)
						sum += D[s];
				}
			drel[d] += (float)sum;
		}
	}
}

void dm_swap_axes_forward(float *out, const float *x, int B, int A1, int A2, int S)
{
#pragma omp parallel for schedule(static)
	for (long bi = 0; bi < (long)B * A1; bi++) {
		long b = bi / A1, i = bi % A1;
		for (int j = 0; j < A2; j++)
			memcpy(out + ((size_t)(b * A2 + j) * (size_t)A1 + (size_t)i) * (size_t)S,
			       x + ((size_t)bi * (size_t)A2 + (size_t)j) * (size_t)S, (size_t)S * sizeof *x);
	}
}

void dm_swap_axes_backward(float *dx, const float *dout, int B, int A1, int A2, int S)
{
#pragma omp parallel for schedule(static)
	for (long bi = 0; bi < (long)B * A1; bi++) {
		long b = bi / A1, i = bi % A1;
		for (int j = 0; j < A2; j++) {
			float *d = dx + ((size_t)bi * (size_t)A2 + (size_t)j) * (size_t)S;
			const float *g = dout + ((size_t)(b * A2 + j) * (size_t)A1 + (size_t)i) * (size_t)S;
#pragma omp simd
			for (int s = 0; s < S; s++)
				d[s] += g[s];
		}
	}
}

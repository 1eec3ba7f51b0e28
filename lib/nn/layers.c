/* layers.c - forward and backward passes of the network layers (layers.h).
 *
 * Plain C that gcc vectorises at -O2; the heavy products go through
 * dm_sgemm.  Parallel loops split over independent outputs only, so no
 * floating-point sum depends on the thread count. */
#include "nn/layers.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/gemm.h"
#include "core/rng.h"
#include "nn/simd/layers_kernel.h"

/* FP exceptions are never inspected in dm; without this, gcc will not
 * if-convert the float compare-selects (clamps, dropout masks) inside
 * loops, and the loops stay scalar.  Results are unchanged: IEEE rounding
 * is still exact, only the trap flags are not modelled. */
#pragma GCC optimize("no-trapping-math")

/* ---- GroupNorm ------------------------------------------------------- */

/* exp(x) in plain C that gcc vectorises when inlined into a loop (libm's
 * expf is a call per element and dominated the fused GroupNorm+SiLU).
 * x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for exactness), a
 * degree-6 Taylor/minimax polynomial for e^r, and 2^n built in the exponent
 * bits.  Relative error below 2e-7 (~2 ulp) over the clamped range
 * [-87, 88]; outside it the result saturates (e^-87 ~ 1.6e-38, e^88 ~
 * 1.7e38), which is harmless for the sigmoid it feeds. */
static inline float fast_expf(float x)
{
	x = x < -87.0f ? -87.0f : x;
	x = x > 88.0f ? 88.0f : x;
	/* round to nearest by the 1.5 * 2^23 trick (no SSE4.1 needed) */
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = x - n * 0.693359375f;
	r = r - n * -2.12194440e-4f;
	float p = 1.0f / 720.0f;
	p = p * r + 1.0f / 120.0f;
	p = p * r + 1.0f / 24.0f;
	p = p * r + 1.0f / 6.0f;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	union { uint32_t u; float f; } scale = {(uint32_t)((int32_t)n + 127) << 23};
	return p * scale.f;
}

static inline float silu(float y) { return y / (1.0f + fast_expf(-y)); }

/* d silu(y) / dy = s (1 + y (1 - s)), s = sigmoid(y). */
static inline float silu_grad(float y)
{
	float s = 1.0f / (1.0f + fast_expf(-y));
	return s * (1.0f + y * (1.0f - s));
}

/* Sums of n floats in 16 float lanes, lanes added in double: vectorisable,
 * accurate enough for n up to ~1e5, and in a fixed order. */
static inline double lane_sum(const float *p, size_t n)
{
	float acc[16] = {0};
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		for (int j = 0; j < 16; j++)
			acc[j] += p[i + j];
	double s = 0;
	for (int j = 0; j < 16; j++)
		s += acc[j];
	for (; i < n; i++)
		s += p[i];
	return s;
}

static inline double lane_sqdev(const float *p, size_t n, float mu)
{
	float acc[16] = {0};
	size_t i = 0;
	for (; i + 16 <= n; i += 16)
		for (int j = 0; j < 16; j++) {
			float d = p[i + j] - mu;
			acc[j] += d * d;
		}
	double s = 0;
	for (int j = 0; j < 16; j++)
		s += acc[j];
	for (; i < n; i++) {
		double d = (double)p[i] - mu;
		s += d * d;
	}
	return s;
}

/* Two passes (mean, then squared deviations from it), each summed per
 * channel in float lanes and across channels in double. */
static void gn_stats(float *mean, float *rstd, const float *x, int B, int C, int HW, int G,
                     float eps)
{
	int cg = C / G, avx2 = dm_simd() >= DM_SIMD_AVX2;
	double n = (double)cg * HW;
#pragma omp parallel for schedule(static)
	for (long bg = 0; bg < (long)B * G; bg++) {
		const float *p = x + (size_t)bg * cg * HW; /* a group is contiguous in NCHW */
		double s = 0, ss = 0;
		for (int c = 0; c < cg; c++)
			s += avx2 ? dm_lane_sum_avx2(p + (size_t)c * HW, (size_t)HW)
			          : lane_sum(p + (size_t)c * HW, (size_t)HW);
		float mu = (float)(s / n);
		for (int c = 0; c < cg; c++)
			ss += avx2 ? dm_lane_sqdev_avx2(p + (size_t)c * HW, (size_t)HW, mu)
			           : lane_sqdev(p + (size_t)c * HW, (size_t)HW, mu);
		mean[bg] = mu;
		rstd[bg] = (float)(1.0 / sqrt(ss / n + (double)eps));
	}
}

static void gn_forward(float *out, float *mean, float *rstd, const float *x,
                       const float *weight, const float *bias, int B, int C, int HW, int G,
                       float eps, int fuse_silu)
{
	gn_stats(mean, rstd, x, B, C, HW, G, eps);
	int cg = C / G, avx2 = dm_simd() >= DM_SIMD_AVX2;
#pragma omp parallel for schedule(static)
	for (long bc = 0; bc < (long)B * C; bc++) {
		int c = (int)(bc % C);
		long bg = bc / C * G + c / cg;
		float a = rstd[bg] * weight[c];
		float s = bias[c] - mean[bg] * a;
		const float *xp = x + (size_t)bc * HW;
		float *op = out + (size_t)bc * HW;
		if (avx2) {
			dm_affine_silu_avx2(op, xp, HW, a, s, fuse_silu);
		} else if (fuse_silu) {
#pragma omp simd
			for (int i = 0; i < HW; i++)
				op[i] = silu(xp[i] * a + s);
		} else {
#pragma omp simd
			for (int i = 0; i < HW; i++)
				op[i] = xp[i] * a + s;
		}
	}
}

void dm_groupnorm_forward(float *out, float *mean, float *rstd, const float *x,
                          const float *weight, const float *bias, int B, int C, int HW, int G,
                          float eps)
{
	gn_forward(out, mean, rstd, x, weight, bias, B, C, HW, G, eps, 0);
}

void dm_groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *x,
                               const float *weight, const float *bias, int B, int C, int HW,
                               int G, float eps)
{
	gn_forward(out, mean, rstd, x, weight, bias, B, C, HW, G, eps, 1);
}

/* The gradient reaching the normalised value y = xhat * w + b: dout itself,
 * or, fused with SiLU, dout * silu'(y) with y recomputed. */
static inline float gn_dy(float dout, float xhat, float w, float b, int fuse_silu)
{
	return fuse_silu ? dout * silu_grad(xhat * w + b) : dout;
}

/* Backward of y = xhat w + b, xhat = (x - mean) rstd (Wu & He 2018):
 *   dw[c] += sum dy xhat,  db[c] += sum dy
 *   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dxhat = dy w
 * with the means over the group.  One group per parallel iteration, the
 * samples in order inside it: the parameter gradients of its channels are
 * then summed over the batch in a fixed order with no shared writes.  Pass
 * 1 computes dy once per element (the SiLU derivative is the costly part),
 * adds rstd * dxhat to dx and gathers the sums; pass 2 subtracts the mean
 * terms. */
#define GN_STACK 256

static inline __attribute__((always_inline)) void gn_backward_group(float *dx, float *dweight, float *dbias, const float *dout,
                              const float *x, const float *mean, const float *rstd,
                              const float *weight, const float *bias, int B, int C, int HW,
                              int G, int g, int fuse_silu, int avx2, double *sw, double *sb)
{
	int cg = C / G;
	double n = (double)cg * HW;
	for (int c = 0; c < cg; c++)
		sw[c] = sb[c] = 0;
	for (int b = 0; b < B; b++) {
		long bg = (long)b * G + g;
		float mu = mean[bg], rs = rstd[bg];
		size_t off = (size_t)bg * cg * HW;
		double m1 = 0, m2 = 0;
		for (int cc = 0; cc < cg; cc++) {
			int c = g * cg + cc;
			float w = weight[c], bb = fuse_silu ? bias[c] : 0.0f;
			const float *xp = x + off + (size_t)cc * HW, *dp = dout + off + (size_t)cc * HW;
			float *dxp = dx ? dx + off + (size_t)cc * HW : NULL;
			if (avx2) {
				double s1, s2;
				dm_gn_bwd_chan_avx2(dxp, xp, dp, HW, mu, rs, w, bb, fuse_silu, &s1, &s2);
				sb[cc] += s1;
				sw[cc] += s2;
				m1 += w * s1;
				m2 += w * s2;
				continue;
			}
			float a1[16] = {0}, a2[16] = {0};
			int i = 0;
			for (; i + 16 <= HW; i += 16) {
				float dyv[16];
#pragma omp simd
				for (int j = 0; j < 16; j++) {
					float xh = (xp[i + j] - mu) * rs;
					float dy = gn_dy(dp[i + j], xh, w, bb, fuse_silu);
					a1[j] += dy;
					a2[j] += dy * xh;
					dyv[j] = dy;
				}
				if (dxp)
#pragma omp simd
					for (int j = 0; j < 16; j++)
						dxp[i + j] += rs * (dyv[j] * w);
			}
			double s1 = 0, s2 = 0;
			for (int j = 0; j < 16; j++)
				s1 += a1[j], s2 += a2[j];
			for (; i < HW; i++) {
				float xh = (xp[i] - mu) * rs;
				float dy = gn_dy(dp[i], xh, w, bb, fuse_silu);
				s1 += dy;
				s2 += (double)dy * xh;
				if (dxp)
					dxp[i] += rs * (dy * w);
			}
			sb[cc] += s1;
			sw[cc] += s2;
			m1 += w * s1;
			m2 += w * s2;
		}
		if (!dx)
			continue;
		float fm1 = (float)(m1 / n), fm2 = (float)(m2 / n);
		float *dxp = dx + off;
		const float *xp = x + off;
#pragma omp simd
		for (size_t i = 0; i < (size_t)cg * HW; i++)
			dxp[i] -= rs * (fm1 + (xp[i] - mu) * rs * fm2);
	}
	for (int cc = 0; cc < cg; cc++) {
		if (dweight)
			dweight[g * cg + cc] += (float)sw[cc];
		if (dbias)
			dbias[g * cg + cc] += (float)sb[cc];
	}
}

static void gn_backward(float *dx, float *dweight, float *dbias, const float *dout,
                        const float *x, const float *mean, const float *rstd,
                        const float *weight, const float *bias, int B, int C, int HW, int G,
                        int fuse_silu)
{
	int cg = C / G, avx2 = dm_simd() >= DM_SIMD_AVX2;
#pragma omp parallel for schedule(static)
	for (int g = 0; g < G; g++) {
		double stack[2 * GN_STACK], *sw = stack;
		if (cg > GN_STACK) /* wide groups (G small, C large): rare */
			sw = malloc(2 * (size_t)cg * sizeof(double));
		if (!sw)
			continue; /* out of memory: no gradient rather than a crash */
		if (fuse_silu) /* two instances, each with its flag constant */
			gn_backward_group(dx, dweight, dbias, dout, x, mean, rstd, weight, bias, B, C,
			                  HW, G, g, 1, avx2, sw, sw + cg);
		else
			gn_backward_group(dx, dweight, dbias, dout, x, mean, rstd, weight, bias, B, C,
			                  HW, G, g, 0, avx2, sw, sw + cg);
		if (sw != stack)
			free(sw);
	}
}

void dm_groupnorm_backward(float *dx, float *dweight, float *dbias, const float *dout,
                           const float *x, const float *mean, const float *rstd,
                           const float *weight, int B, int C, int HW, int G)
{
	gn_backward(dx, dweight, dbias, dout, x, mean, rstd, weight, NULL, B, C, HW, G, 0);
}

void dm_groupnorm_silu_backward(float *dx, float *dweight, float *dbias, const float *dout,
                                const float *x, const float *mean, const float *rstd,
                                const float *weight, const float *bias, int B, int C, int HW,
                                int G)
{
	gn_backward(dx, dweight, dbias, dout, x, mean, rstd, weight, bias, B, C, HW, G, 1);
}

/* ---- SiLU -------------------------------------------------------------- */

/* Elementwise loops go parallel only above this many values: below it the
 * OpenMP fork/join costs more than the second thread saves.  The split
 * never changes a result (each value is computed alone). */
#define PAR_MIN 65536
#define CHUNK 16384

void dm_silu_forward(float *out, const float *x, size_t n)
{
	if (dm_simd() >= DM_SIMD_AVX2) {
		size_t nc = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
		for (size_t c = 0; c < nc; c++) {
			size_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
			dm_silu_fwd_avx2(out + lo, x + lo, len);
		}
		return;
	}
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		out[i] = silu(x[i]);
}

void dm_silu_backward(float *dx, const float *dout, const float *x, size_t n)
{
	if (dm_simd() >= DM_SIMD_AVX2) {
		size_t nc = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
		for (size_t c = 0; c < nc; c++) {
			size_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
			dm_silu_bwd_avx2(dx + lo, dout + lo, x + lo, len);
		}
		return;
	}
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
	for (size_t i = 0; i < n; i++)
		dx[i] += dout[i] * silu_grad(x[i]);
}

/* ---- Linear ------------------------------------------------------------ */

/* Row-wise passes over a B x N matrix split over threads by blocks of
 * columns, every block running down all rows in order: a column sum is
 * then the same serial sum whatever the blocks, so the block width may
 * follow the thread count (one block per thread, rows read contiguously
 * as far as possible) without changing any result. */
#define COLS 1024 /* widest block (its double sums live on the stack) */

static int col_blocks(int B, int N, int *width)
{
	int nt = (long)B * N > PAR_MIN ? omp_get_max_threads() : 1;
	int w = (N + nt - 1) / nt;
	w = (w + 7) / 8 * 8;
	w = w < 8 ? 8 : w > COLS ? COLS : w;
	*width = w;
	return (N + w - 1) / w;
}

static void bias_silu_block(float *pre, float *act, const float *b, int B, int N, int ld,
                            int avx2)
{
	if (avx2) {
		dm_bias_silu_avx2(pre, act, b, B, N, ld);
		return;
	}
	for (int r = 0; r < B; r++) {
		float *p = pre + (size_t)r * ld, *a = act + (size_t)r * ld;
		if (b)
#pragma omp simd
			for (int o = 0; o < N; o++)
				p[o] += b[o];
#pragma omp simd
		for (int o = 0; o < N; o++)
			a[o] = silu(p[o]);
	}
}

static void silu_grad_block(float *dpre, double *acc, const float *dact, const float *pre,
                            int B, int N, int ld, int avx2)
{
	if (avx2) {
		dm_silu_grad_rows_avx2(dpre, acc, dact, pre, B, N, ld);
		return;
	}
	for (int r = 0; r < B; r++) {
		size_t off = (size_t)r * ld;
#pragma omp simd
		for (int o = 0; o < N; o++)
			dpre[off + o] = dact[off + o] * silu_grad(pre[off + o]);
		if (acc)
			for (int o = 0; o < N; o++)
				acc[o] += dpre[off + o];
	}
}

static void colsum_block(double *acc, const float *d, int B, int N, int ld, int avx2)
{
	if (avx2) {
		dm_colsum_avx2(acc, d, B, N, ld);
		return;
	}
	for (int r = 0; r < B; r++)
		for (int o = 0; o < N; o++)
			acc[o] += d[(size_t)r * ld + o];
}

/* db[o] += sum over rows (in order, in double) of d[r, o]. */
static void bias_grad(float *db, const float *d, int B, int outf)
{
	int bw, avx2 = dm_simd() >= DM_SIMD_AVX2, nb = col_blocks(B, outf, &bw);
#pragma omp parallel for schedule(static) if (nb > 1)
	for (int k = 0; k < nb; k++) {
		int o0 = k * bw, w = outf - o0 < bw ? outf - o0 : bw;
		double acc[COLS];
		memset(acc, 0, (size_t)w * sizeof(double));
		colsum_block(acc, d + o0, B, w, outf, avx2);
		for (int o = 0; o < w; o++)
			db[o0 + o] += (float)acc[o];
	}
}

void dm_linear_forward(float *out, const float *x, const float *W, const float *b, int B,
                       int in, int outf)
{
	dm_sgemm(0, 1, B, outf, in, 1.0f, x, in, W, in, 0.0f, out, outf);
	if (!b)
		return;
	for (int r = 0; r < B; r++)
		for (int o = 0; o < outf; o++)
			out[(size_t)r * outf + o] += b[o];
}

void dm_linear_silu_forward(float *pre, float *act, const float *x, const float *W,
                            const float *b, int B, int in, int outf)
{
	dm_sgemm(0, 1, B, outf, in, 1.0f, x, in, W, in, 0.0f, pre, outf);
	int bw, avx2 = dm_simd() >= DM_SIMD_AVX2, nb = col_blocks(B, outf, &bw);
#pragma omp parallel for schedule(static) if (nb > 1)
	for (int k = 0; k < nb; k++) {
		int o0 = k * bw, w = outf - o0 < bw ? outf - o0 : bw;
		bias_silu_block(pre + o0, act + o0, b ? b + o0 : NULL, B, w, outf, avx2);
	}
}

void dm_silu_backward_bias(float *dpre, float *db, const float *dact, const float *pre, int B,
                           int outf)
{
	int bw, avx2 = dm_simd() >= DM_SIMD_AVX2, nb = col_blocks(B, outf, &bw);
#pragma omp parallel for schedule(static) if (nb > 1)
	for (int k = 0; k < nb; k++) {
		int o0 = k * bw, w = outf - o0 < bw ? outf - o0 : bw;
		double acc[COLS];
		memset(acc, 0, (size_t)w * sizeof(double));
		silu_grad_block(dpre + o0, db ? acc : NULL, dact + o0, pre + o0, B, w, outf, avx2);
		if (db)
			for (int o = 0; o < w; o++)
				db[o0 + o] += (float)acc[o];
	}
}

void dm_linear_backward(float *dx, float *dW, float *db, const float *dout, const float *x,
                        const float *W, int B, int in, int outf)
{
	if (dx) /* dx (B x in) += dout (B x outf) W (outf x in) */
		dm_sgemm(0, 0, B, in, outf, 1.0f, dout, outf, W, in, 1.0f, dx, in);
	if (dW) /* dW (outf x in) += dout^T x */
		dm_sgemm(1, 0, outf, in, B, 1.0f, dout, outf, x, in, 1.0f, dW, in);
	if (db)
		bias_grad(db, dout, B, outf);
}

/* ---- Attention --------------------------------------------------------- */

/* Row-wise softmax of an N x N block, in place (max subtracted; sum in
 * double).  Rows are independent, so the split over threads is free. */
static void softmax_rows(float *a, int N)
{
	int avx2 = dm_simd() >= DM_SIMD_AVX2;
#pragma omp parallel for schedule(static) if ((long)N * N > 16384)
	for (int i = 0; i < N; i++) {
		float *r = a + (size_t)i * N;
		if (avx2) {
			dm_softmax_row_avx2(r, N);
			continue;
		}
		float mx = r[0];
		for (int j = 1; j < N; j++)
			mx = r[j] > mx ? r[j] : mx;
		double s = 0;
		for (int j = 0; j < N; j++) {
			r[j] = expf(r[j] - mx);
			s += r[j];
		}
		float inv = (float)(1.0 / s);
		for (int j = 0; j < N; j++)
			r[j] *= inv;
	}
}

/* Attention over the batch: one sample per thread when there are several
 * samples (the products inside then run single-threaded, as dm_sgemm does
 * inside a parallel region), else the products themselves in parallel.
 * Samples are independent and dm_sgemm's results do not depend on its
 * thread count, so neither choice changes a bit. */
static int att_by_sample(int B)
{
	return B > 1 && omp_get_max_threads() > 1 && !omp_in_parallel();
}

static void att_forward_one(float *out, float *a, const float *q, const float *k,
                            const float *v, int C, int N, float scale)
{
	/* S (N x N) = q^T k / sqrt(C) */
	dm_sgemm(1, 0, N, N, C, scale, q, N, k, N, 0.0f, a, N);
	softmax_rows(a, N);
	/* out (C x N) = v (C x N) A^T */
	dm_sgemm(0, 1, C, N, N, 1.0f, v, N, a, N, 0.0f, out, N);
}

void dm_attention_forward(float *out, float *att, const float *q, const float *k,
                          const float *v, int B, int C, int N)
{
	float scale = (float)(1.0 / sqrt((double)C));
	size_t cn = (size_t)C * N, nn = (size_t)N * N;
#pragma omp parallel for schedule(static) if (att_by_sample(B))
	for (int b = 0; b < B; b++)
		att_forward_one(out + b * cn, att + b * nn, q + b * cn, k + b * cn, v + b * cn, C, N,
		                scale);
}

/* dS = A * (dA - rowsum(A * dA)) (softmax backward), in place over dA. */
static void softmax_rows_backward(float *da, const float *a, int N)
{
#pragma omp parallel for schedule(static) if ((long)N * N > 16384)
	for (int i = 0; i < N; i++) {
		float *d = da + (size_t)i * N;
		const float *r = a + (size_t)i * N;
		double s = 0;
		for (int j = 0; j < N; j++)
			s += (double)r[j] * d[j];
		float fs = (float)s;
		for (int j = 0; j < N; j++)
			d[j] = r[j] * (d[j] - fs);
	}
}

static void att_backward_one(float *dq, float *dk, float *dv, float *scratch,
                             const float *dob, const float *q, const float *k, const float *v,
                             const float *a, int C, int N, float scale)
{
	/* dv (C x N) += dout (C x N) A */
	if (dv)
		dm_sgemm(0, 0, C, N, N, 1.0f, dob, N, a, N, 1.0f, dv, N);
	if (!dq && !dk)
		return;
	/* dA (N x N) = dout^T v */
	dm_sgemm(1, 0, N, N, C, 1.0f, dob, N, v, N, 0.0f, scratch, N);
	softmax_rows_backward(scratch, a, N);
	/* dq (C x N) += k dS^T / sqrt(C);  dk (C x N) += q dS / sqrt(C) */
	if (dq)
		dm_sgemm(0, 1, C, N, N, scale, k, N, scratch, N, 1.0f, dq, N);
	if (dk)
		dm_sgemm(0, 0, C, N, N, scale, q, N, scratch, N, 1.0f, dk, N);
}

void dm_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                           const float *q, const float *k, const float *v, const float *att,
                           int B, int C, int N)
{
	float scale = (float)(1.0 / sqrt((double)C));
	size_t cn = (size_t)C * N, nn = (size_t)N * N;
	int nt = att_by_sample(B) ? omp_get_max_threads() : 1;
	/* thread 0 uses the caller's scratch, the others one block each */
	float *more = nt > 1 ? malloc((size_t)(nt - 1) * nn * sizeof(float)) : NULL;
	if (!more)
		nt = 1; /* out of memory: one sample at a time, same results */
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
	for (int b = 0; b < B; b++) {
		int t = omp_get_thread_num();
		float *scr = t == 0 ? scratch : more + (size_t)(t - 1) * nn;
		att_backward_one(dq ? dq + b * cn : NULL, dk ? dk + b * cn : NULL,
		                 dv ? dv + b * cn : NULL, scr, dout + b * cn, q + b * cn, k + b * cn,
		                 v + b * cn, att + b * nn, C, N, scale);
	}
	free(more);
}

/* ---- Upsampling -------------------------------------------------------- */

void dm_upsample2x_forward(float *out, const float *x, int B, int C, int H, int W)
{
	int W2 = 2 * W;
#pragma omp parallel for schedule(static)
	for (long bc = 0; bc < (long)B * C; bc++) {
		const float *xp = x + (size_t)bc * H * W;
		float *op = out + (size_t)bc * 4 * H * W;
		for (int y = 0; y < H; y++) {
			float *r0 = op + (size_t)(2 * y) * W2, *r1 = r0 + W2;
			for (int xx = 0; xx < W; xx++) {
				float val = xp[(size_t)y * W + xx];
				r0[2 * xx] = r0[2 * xx + 1] = val;
			}
			memcpy(r1, r0, sizeof(float) * (size_t)W2);
		}
	}
}

void dm_upsample2x_backward(float *dx, const float *dout, int B, int C, int H, int W)
{
	int W2 = 2 * W;
#pragma omp parallel for schedule(static)
	for (long bc = 0; bc < (long)B * C; bc++) {
		float *dxp = dx + (size_t)bc * H * W;
		const float *dp = dout + (size_t)bc * 4 * H * W;
		for (int y = 0; y < H; y++) {
			const float *r0 = dp + (size_t)(2 * y) * W2, *r1 = r0 + W2;
			for (int xx = 0; xx < W; xx++)
				dxp[(size_t)y * W + xx] +=
					(r0[2 * xx] + r0[2 * xx + 1]) + (r1[2 * xx] + r1[2 * xx + 1]);
		}
	}
}

/* ---- Concat / split ---------------------------------------------------- */

void dm_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb,
                       int HW)
{
	size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
	for (int s = 0; s < B; s++) {
		memcpy(out + s * (na + nb), a + s * na, na * sizeof(float));
		memcpy(out + s * (na + nb) + na, b + s * nb, nb * sizeof(float));
	}
}

static void add_to(float *d, const float *s, size_t n)
{
#pragma omp simd
	for (size_t i = 0; i < n; i++)
		d[i] += s[i];
}

void dm_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW)
{
	size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
#pragma omp parallel for schedule(static)
	for (int s = 0; s < B; s++) {
		if (da)
			add_to(da + s * na, dout + s * (na + nb), na);
		if (db)
			add_to(db + s * nb, dout + s * (na + nb) + na, nb);
	}
}

void dm_split_forward(float *a, float *b, const float *x, int B, int Ca, int Cb, int HW)
{
	size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
	for (int s = 0; s < B; s++) {
		memcpy(a + s * na, x + s * (na + nb), na * sizeof(float));
		memcpy(b + s * nb, x + s * (na + nb) + na, nb * sizeof(float));
	}
}

/* ---- Time embedding ---------------------------------------------------- */

void dm_timestep_embedding(float *out, const float *t, int B, int dim)
{
	int half = dim / 2;
	/* The twin: e = math.log(10000) / (half - 1) in Python (double), then
	 * exp(arange(half) * -e) in float32. */
	float e = half > 1 ? (float)(log(10000.0) / (double)(half - 1)) : 0.0f;
	for (int b = 0; b < B; b++) {
		float *o = out + (size_t)b * dim;
		for (int i = 0; i < half; i++) {
			float f = expf((float)i * -e);
			float arg = t[b] * f;
			o[i] = sinf(arg);
			o[half + i] = cosf(arg);
		}
		if (dim & 1)
			o[dim - 1] = 0.0f;
	}
}

/* ---- Weighted MSE ------------------------------------------------------ */

double dm_mse_forward(double *per_sample, const float *pred, const float *target,
                      const float *w, int B, size_t D)
{
	double loss = 0;
	for (int b = 0; b < B; b++) {
		const float *p = pred + (size_t)b * D, *q = target + (size_t)b * D;
		double s = 0;
		for (size_t i = 0; i < D; i++) {
			double d = (double)p[i] - q[i];
			s += d * d;
		}
		s /= (double)D;
		if (per_sample)
			per_sample[b] = s;
		loss += (w ? w[b] : 1.0) * s;
	}
	return loss / B;
}

void dm_mse_backward(float *dpred, const float *pred, const float *target, const float *w,
                     int B, size_t D, float dloss)
{
#pragma omp parallel for schedule(static)
	for (int b = 0; b < B; b++) {
		float g = (float)(2.0 * dloss * (w ? w[b] : 1.0) / ((double)B * (double)D));
		const float *p = pred + (size_t)b * D, *q = target + (size_t)b * D;
		float *dp = dpred + (size_t)b * D;
#pragma omp simd
		for (size_t i = 0; i < D; i++)
			dp[i] += g * (p[i] - q[i]);
	}
}

/* ---- Dropout ----------------------------------------------------------- */

#define DROP_CHUNK 1024

/* Mask chunks are fixed blocks of element numbers, so each element's
 * uniform is the same whoever computes it. */
static void dropout_apply(float *out, const float *in, size_t n, float p, uint64_t seed,
                          uint64_t index, int accumulate)
{
	float scale = 1.0f / (1.0f - p);
	long nchunk = (long)((n + DROP_CHUNK - 1) / DROP_CHUNK);
#pragma omp parallel for schedule(static)
	for (long ch = 0; ch < nchunk; ch++) {
		float u[DROP_CHUNK];
		size_t first = (size_t)ch * DROP_CHUNK;
		size_t m = n - first < DROP_CHUNK ? n - first : DROP_CHUNK;
		dm_rng_uniform(seed, DM_RNG_DROPOUT, index, first, u, m);
		for (size_t i = 0; i < m; i++) {
			float val = u[i] >= p ? in[first + i] * scale : 0.0f;
			if (accumulate)
				out[first + i] += val;
			else
				out[first + i] = val;
		}
	}
}

void dm_dropout_forward(float *out, const float *x, size_t n, float p, uint64_t seed,
                        uint64_t index)
{
	if (p <= 0.0f) {
		if (out != x)
			memcpy(out, x, n * sizeof(float));
	} else if (p >= 1.0f) {
		memset(out, 0, n * sizeof(float));
	} else {
		dropout_apply(out, x, n, p, seed, index, 0);
	}
}

void dm_dropout_backward(float *dx, const float *dout, size_t n, float p, uint64_t seed,
                         uint64_t index)
{
	if (p <= 0.0f)
		add_to(dx, dout, n);
	else if (p < 1.0f)
		dropout_apply(dx, dout, n, p, seed, index, 1);
}

/* ---- Channel bias ------------------------------------------------------ */

void dm_channel_bias_forward(float *x, const float *bias, int B, int C, int HW)
{
	dm_channel_bias_frames_forward(x, bias, B, 1, C, HW);
}

void dm_channel_bias_backward(float *dbias, const float *dout, int B, int C, int HW)
{
	dm_channel_bias_frames_backward(dbias, dout, B, 1, C, HW);
}

void dm_channel_bias_frames_forward(float *x, const float *bias, int B, int T, int C, int HW)
{
#pragma omp parallel for schedule(static)
	for (long fc = 0; fc < (long)B * T * C; fc++) {
		float v = bias[fc / ((long)T * C) * C + fc % C];
		float *p = x + (size_t)fc * HW;
#pragma omp simd
		for (int i = 0; i < HW; i++)
			p[i] += v;
	}
}

void dm_channel_bias_frames_backward(float *dbias, const float *dout, int B, int T, int C,
                                     int HW)
{
#pragma omp parallel for schedule(static)
	for (long bc = 0; bc < (long)B * C; bc++) {
		long b = bc / C, c = bc % C;
		double s = 0;
		for (int t = 0; t < T; t++) {
			const float *p = dout + (((size_t)b * T + t) * C + c) * HW;
			for (int i = 0; i < HW; i++)
				s += p[i];
		}
		dbias[bc] += (float)s;
	}
}

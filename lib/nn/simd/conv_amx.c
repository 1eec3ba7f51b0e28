/* conv_amx.c - 3x3 convolutions (stride 1, padding 1) and 1x1 ones in bf16
 * on AMX tiles
 * (tdpbf16ps: bf16 products summed in fp32), the three training passes,
 * without im2col (conv_kernel.h has the contract; conv.c chooses them).
 *
 * Every image is padded once into a zero-bordered copy, Hp x Wp = (H+2) x
 * (W+2) positions per channel laid out flat, L positions per channel with
 * a zero tail.  On that grid the output at flat position q = oh*Wp + ow
 * reads tap (i, j) of every channel at q + i*Wp + j, a constant shift, so
 * an AMX tile of 16 consecutive positions is one strided tile load from
 * the copy (no alignment needed).  Outputs are computed for Q positions
 * (H*Wp rounded up to a tile pair): the Wp - W columns per row that
 * straddle the padding, and the tail, are computed and dropped.
 *
 * Forward (and the input gradient, which is the forward pass of dout with
 * the weights transposed and flipped): C[o][q] over 32 output channels x
 * 32 positions in tiles 0-3, A = packed weights wa[tap][o][i] (16 rows of
 * o, 32 input channels), B = the input as pairs of channels, xq[i/2][pos]
 * [i%2] (16 channel pairs x 16 positions), 9 taps x Cin/32 steps (a 1x1
 * convolution is the centre tap alone, on the same grid).
 * Weight gradient: C[i][o] per tap, A = the input planar, xp[i][pos] (16
 * rows of i, 32 positions shifted by the tap), B = dout as pairs of
 * positions, dv[q/2][o][q%2] (zero off the image), summed over every
 * position of a chunk of images.
 *
 * Threads take whole images (forward) or whole chunks of images (weight
 * gradient; the chunks depend on B only, their sums added in order), so
 * results do not depend on the thread count.  The AMX unit sums each tile
 * product in its own order: results differ from the portable bf16 path
 * by rounding (tests/unit/nn/test_conv_bf16.c bounds them). */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/bf16.h"
#include "nn/par.h"
#include "nn/simd/conv_kernel.h"
#include "nn/simd/gemm_kernel.h"

typedef struct amx_geom {
	int H, W, Wp, Q; /* Q: output positions computed per image, a multiple of 32 */
	long L;          /* positions per channel of the padded copy */
	int taps;        /* 9 (3x3) or 1 (1x1: the centre of the same grid) */
	int toff[9];     /* the shift of each tap */
} amx_geom;

static amx_geom make_geom(int H, int W, int k)
{
	amx_geom g = { H, W, W + 2, 0, 0, k * k, { 0 } };
	g.Q = (H * g.Wp + 31) / 32 * 32;
	g.L = g.Q + 2L * g.Wp + 2; /* the last tile's farthest tap; >= (H+2)*Wp */
	g.L += g.L & 1;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			g.toff[i * 3 + j] = i * g.Wp + j;
	if (k == 1)
		g.toff[0] = g.Wp + 1;
	return g;
}

static void *grow(void **buf, size_t *cap, size_t bytes)
{
	if (bytes > *cap) {
		free(*buf);
		*buf = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
		*cap = *buf ? bytes : 0;
	}
	return *buf;
}

/* per thread: the padded copy, the output tile rows, dout as pairs */
static _Thread_local void *xbuf, *tbuf, *dbuf;
static _Thread_local size_t xcap, tcap, dcap;
/* the calling thread's: packed weights, the weight gradient's chunk sums */
static _Thread_local void *wbuf, *abuf;
static _Thread_local size_t wcap, acap;

/* ---- forward (and input gradient) ---- */

/* One image (C x H x W) into channel pairs on the padded grid. */
static void pack_pairs(uint16_t *xq, const float *x, int C, const amx_geom *g)
{
	size_t hw = (size_t)g->H * g->W;
	memset(xq, 0, (size_t)C * g->L * sizeof *xq);
	for (int c = 0; c < C; c += 2) {
		uint16_t *d = xq + (size_t)c * g->L;
		const float *r0 = x + c * hw, *r1 = r0 + hw;
		for (int y = 0; y < g->H; y++)
			dm_bf16_pairs_avx512bf16(d + 2 * ((size_t)(y + 1) * g->Wp + 1), r0 + (size_t)y * g->W,
			                         r1 + (size_t)y * g->W, g->W);
	}
}

/* 32 output channels from o0 x 32 positions from q0 into t (row stride Q). */
static void fwd_block(const uint16_t *wa, int Cin, int Cout, const uint16_t *xq,
                      const amx_geom *g, int o0, int q0, float *t)
{
	_tile_zero(0);
	_tile_zero(1);
	_tile_zero(2);
	_tile_zero(3);
	long wtap = (long)Cout * Cin, xs = g->L * 4, ws = (long)Cin * 2;
	for (int k = 0; k < g->taps; k++) {
		const uint16_t *w = wa + k * wtap + (size_t)o0 * Cin;
		const uint16_t *x = xq + 2 * ((long)q0 + g->toff[k]);
		for (int c = 0; c < Cin; c += 32) {
			_tile_loadd(4, w + c, ws);
			_tile_loadd(5, w + 16 * (size_t)Cin + c, ws);
			_tile_loadd(6, x + (size_t)c * g->L, xs);
			_tile_loadd(7, x + (size_t)c * g->L + 32, xs);
			_tile_dpbf16ps(0, 4, 6);
			_tile_dpbf16ps(1, 4, 7);
			_tile_dpbf16ps(2, 5, 6);
			_tile_dpbf16ps(3, 5, 7);
		}
	}
	float *c = t + (size_t)o0 * g->Q + q0;
	long cs = (long)g->Q * 4;
	_tile_stored(0, c, cs);
	_tile_stored(1, c + 16, cs);
	_tile_stored(2, c + 16 * (size_t)g->Q, cs);
	_tile_stored(3, c + 16 * (size_t)g->Q + 16, cs);
}

/* One output channel's rows from the padded-width grid: dst = src + bias,
 * or dst += src. */
static void store_rows(float *dst, const float *src, const amx_geom *g, float bias,
                       int accumulate)
{
	__m512 vb = _mm512_set1_ps(bias);
	for (int y = 0; y < g->H; y++, dst += g->W, src += g->Wp)
		for (int x = 0; x < g->W; x += 16) {
			__mmask16 m = (__mmask16)(g->W - x >= 16 ? 0xffff : (1u << (g->W - x)) - 1);
			__m512 v = _mm512_maskz_loadu_ps(m, src + x);
			v = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + x), v)
			               : _mm512_add_ps(v, vb);
			_mm512_mask_storeu_ps(dst + x, m, v);
		}
}

int dm_conv3_amx_forward(float *out, const float *in, const float *weight, const float *bias,
                         int B, int Cin, int H, int W, int Cout, int k, int transposed,
                         int accumulate)
{
	amx_geom g = make_geom(H, W, k);
	int kk = g.taps;
	size_t nw = (size_t)kk * Cout * Cin;
	uint16_t *wa = grow(&wbuf, &wcap, nw * sizeof *wa);
	if (!wa)
		return -1;
	/* wa[t][o][i]: forward W[o][i][t]; transposed W[i][o][kk-1-t] (W is
	 * then Cin x Cout x k x k in this call's names) */
	for (int o = 0; o < Cout; o++)
		for (int i = 0; i < Cin; i++)
			for (int t = 0; t < kk; t++) {
				float v = transposed ? weight[((size_t)i * Cout + o) * kk + kk - 1 - t]
				                     : weight[((size_t)o * Cin + i) * kk + t];
				wa[((size_t)t * Cout + o) * Cin + i] = dm_bf16_from_f32(v);
			}
	size_t hw = (size_t)H * W;
	int fail = 0;
#pragma omp parallel if (B > 1)
	{
		uint16_t *xq = grow(&xbuf, &xcap, (size_t)Cin * g.L * sizeof *xq);
		float *t = grow(&tbuf, &tcap, (size_t)Cout * g.Q * sizeof *t);
		if (dm_par_all_ok(&fail, xq && t)) {
			dm_amx_configure();
#pragma omp for schedule(static)
			for (int b = 0; b < B; b++) {
				pack_pairs(xq, in + (size_t)b * Cin * hw, Cin, &g);
				for (int o0 = 0; o0 < Cout; o0 += 32)
					for (int q0 = 0; q0 < g.Q; q0 += 32)
						fwd_block(wa, Cin, Cout, xq, &g, o0, q0, t);
				for (int o = 0; o < Cout; o++)
					store_rows(out + ((size_t)b * Cout + o) * hw, t + (size_t)o * g.Q, &g,
					           bias ? bias[o] : 0.0f, accumulate);
			}
		}
	}
	return fail ? -1 : 0;
}

/* ---- weight gradient ---- */

/* One image planar on the padded grid: xp[c][pos]. */
static void pack_planar(uint16_t *xp, const float *x, int C, const amx_geom *g)
{
	size_t hw = (size_t)g->H * g->W;
	memset(xp, 0, (size_t)C * g->L * sizeof *xp);
	for (int c = 0; c < C; c++)
		for (int y = 0; y < g->H; y++)
			dm_bf16_cvt_avx512bf16(xp + (size_t)c * g->L + (size_t)(y + 1) * g->Wp + 1,
			                       x + c * hw + (size_t)y * g->W, g->W);
}

/* A 16 x 16 block of 32-bit words transposed in registers: r[i] holds row
 * i on entry, column i on return. */
static void transpose16(__m512i r[16])
{
	__m512i t[16], u[16];
	for (int i = 0; i < 8; i++) {
		t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
	}
	/* u[4g + c], 128-bit lane l: rows 4g..4g+3 of column 4l + c */
	for (int g = 0; g < 4; g++) {
		u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
		u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
		u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
		u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
	}
	for (int c = 0; c < 4; c++) {
		__m512i x0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);
		__m512i x1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xee);
		__m512i y0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
		__m512i y1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xee);
		r[c] = _mm512_shuffle_i32x4(x0, y0, 0x88);
		r[4 + c] = _mm512_shuffle_i32x4(x0, y0, 0xdd);
		r[8 + c] = _mm512_shuffle_i32x4(x1, y1, 0x88);
		r[12 + c] = _mm512_shuffle_i32x4(x1, y1, 0xdd);
	}
}

/* dout of one image (C x H x W, C a multiple of 16) as pairs of output
 * positions: dv[q/2][o][q%2], q < Q, zero off the image.  rows is a
 * scratch of 16 x Q: 16 channels at a time on the padded-width grid, then
 * their pairs transposed in 16 x 16 blocks. */
static void pack_dout_pairs(uint16_t *dv, uint16_t *rows, const float *dy, int C,
                            const amx_geom *g)
{
	size_t hw = (size_t)g->H * g->W;
	memset(rows, 0, (size_t)16 * g->Q * sizeof *rows); /* the padding stays zero */
	uint32_t *d32 = (uint32_t *)(void *)dv;
	const uint32_t *r32 = (const uint32_t *)(const void *)rows;
	for (int o0 = 0; o0 < C; o0 += 16) {
		for (int i = 0; i < 16; i++)
			for (int y = 0; y < g->H; y++)
				dm_bf16_cvt_avx512bf16(rows + (size_t)i * g->Q + (size_t)y * g->Wp,
				                       dy + (o0 + i) * hw + (size_t)y * g->W, g->W);
		for (int p0 = 0; p0 < g->Q / 2; p0 += 16) {
			__m512i r[16];
			for (int i = 0; i < 16; i++)
				r[i] = _mm512_loadu_si512(r32 + (size_t)i * (g->Q / 2) + p0);
			transpose16(r);
			for (int j = 0; j < 16; j++)
				_mm512_storeu_si512(d32 + (size_t)(p0 + j) * C + o0, r[j]);
		}
	}
}

/* acc (Cin x Cout, one tap) rows i0.., columns o0.. += the tap's sums over
 * n images (packed one after another: xp Cin x L each, dv Q x Cout each),
 * the four tiles of sums loaded once for all of them. */
static void w_block(const uint16_t *xp, const uint16_t *dv, int n, const amx_geom *g, int Cin,
                    int Cout, int k, int i0, int o0, float *acc)
{
	float *c = acc + (size_t)i0 * Cout + o0;
	long cs = (long)Cout * 4, xs = g->L * 2, ds = (long)Cout * 4;
	_tile_loadd(0, c, cs);
	_tile_loadd(1, c + 16, cs);
	_tile_loadd(2, c + 16 * (size_t)Cout, cs);
	_tile_loadd(3, c + 16 * (size_t)Cout + 16, cs);
	for (int b = 0; b < n; b++) {
		const uint16_t *x = xp + ((size_t)b * Cin + i0) * g->L + g->toff[k];
		const uint16_t *d = dv + (size_t)b * g->Q * Cout + (size_t)o0 * 2;
		for (int q = 0; q < g->Q; q += 32) {
			_tile_loadd(4, x + q, xs);
			_tile_loadd(5, x + 16 * g->L + q, xs);
			_tile_loadd(6, d + (size_t)q * Cout, ds);
			_tile_loadd(7, d + (size_t)q * Cout + 32, ds);
			_tile_dpbf16ps(0, 4, 6);
			_tile_dpbf16ps(1, 4, 7);
			_tile_dpbf16ps(2, 5, 6);
			_tile_dpbf16ps(3, 5, 7);
		}
	}
	_tile_stored(0, c, cs);
	_tile_stored(1, c + 16, cs);
	_tile_stored(2, c + 16 * (size_t)Cout, cs);
	_tile_stored(3, c + 16 * (size_t)Cout + 16, cs);
}

enum { WCHUNKS = 8 };

int dm_conv3_amx_backward_weight(float *dweight, const float *dout, const float *in, int B,
                                 int Cin, int H, int W, int Cout, int k)
{
	amx_geom g = make_geom(H, W, k);
	int nch = B < WCHUNKS ? B : WCHUNKS, kk = g.taps;
	size_t per = (size_t)kk * Cin * Cout, hw = (size_t)H * W;
	float *acc = grow(&abuf, &acap, nch * per * sizeof *acc);
	if (!acc)
		return -1;
	memset(acc, 0, nch * per * sizeof *acc);
	/* a chunk's images go through in groups packed together (about 1 MiB,
	 * to stay in L2), the tiles of sums loaded once per group: the group
	 * size depends on the shape only, so the sums' order does not change
	 * with the thread count */
	size_t img = ((size_t)Cin * g.L + (size_t)g.Q * Cout) * sizeof(uint16_t);
	int grp = (int)((1u << 20) / img);
	grp = grp < 1 ? 1 : grp > (B + nch - 1) / nch ? (B + nch - 1) / nch : grp;
	int fail = 0;
#pragma omp parallel if (nch > 1)
	{
		uint16_t *xp = grow(&xbuf, &xcap, (size_t)grp * Cin * g.L * sizeof *xp);
		uint16_t *dv = grow(&dbuf, &dcap, (size_t)g.Q * (grp * (size_t)Cout + 16) * sizeof *dv);
		if (dm_par_all_ok(&fail, xp && dv)) {
			uint16_t *rows = dv + (size_t)grp * g.Q * Cout;
			dm_amx_configure();
#pragma omp for schedule(static)
			for (int ch = 0; ch < nch; ch++) {
				float *a = acc + ch * per;
				int b1 = B * (ch + 1) / nch;
				for (int b0 = B * ch / nch; b0 < b1; b0 += grp) {
					int n = b1 - b0 < grp ? b1 - b0 : grp;
					for (int j = 0; j < n; j++) {
						pack_planar(xp + (size_t)j * Cin * g.L, in + (size_t)(b0 + j) * Cin * hw,
						            Cin, &g);
						pack_dout_pairs(dv + (size_t)j * g.Q * Cout, rows,
						                dout + (size_t)(b0 + j) * Cout * hw, Cout, &g);
					}
					for (int t = 0; t < kk; t++)
						for (int i0 = 0; i0 < Cin; i0 += 32)
							for (int o0 = 0; o0 < Cout; o0 += 32)
								w_block(xp, dv, n, &g, Cin, Cout, t, i0, o0,
								        a + (size_t)t * Cin * Cout);
				}
			}
		}
	}
	if (fail)
		return -1;
	/* dW[o][i][k] += the chunks' sums in order */
#pragma omp parallel for schedule(static) if (per >= 65536)
	for (int o = 0; o < Cout; o++)
		for (int i = 0; i < Cin; i++)
			for (int t = 0; t < kk; t++) {
				size_t e = ((size_t)t * Cin + i) * Cout + o;
				float s = acc[e];
				for (int ch = 1; ch < nch; ch++)
					s += acc[ch * per + e];
				dweight[((size_t)o * Cin + i) * kk + t] += s;
			}
	return 0;
}

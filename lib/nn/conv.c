/* conv.c - 2-D convolution through im2col and dm_sgemm (see conv.h).
 *
 * With K9 = Cin*kh*kw rows and P = Ho*Wo positions:
 *   forward          out[Cout x B*P] = W[Cout x K9] * col[K9 x B*P] + bias
 *                    one implicit GEMM for the batch: col is produced row
 *                    by row as the GEMM packs it, never stored; per image b:
 *   backward input   dcol_b[K9 x P]   = W^T * dout_b,  din_b = col2im(dcol_b)
 *   backward weight  dW[Cout x K9]   += dout_b[Cout x P] * col_b^T, as one
 *                    GEMM with K over the whole batch, both operands
 *                    gathered as they are packed
 * 1x1 convolutions with
 * stride 1 and no padding use the activations as they are. */
#include "nn/conv.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/bf16.h"
#include "nn/gemm.h"
#include "nn/par.h"
#include "nn/simd/conv_kernel.h"
#include "nn/simd/gemm_kernel.h"

int dm_conv2d_out_size(int n, int k, int stride, int pad)
{
	return (n + 2 * pad - k) / stride + 1;
}

static int is_pointwise(int kh, int kw, int stride, int pad)
{
	return kh == 1 && kw == 1 && stride == 1 && pad == 0;
}

size_t dm_conv2d_workspace(int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                           int pad)
{
	if (is_pointwise(kh, kw, stride, pad))
		return 0;
	size_t ho = (size_t)dm_conv2d_out_size(H, kh, stride, pad);
	size_t wo = (size_t)dm_conv2d_out_size(W, kw, stride, pad);
	return (size_t)Cin * kh * kw * ho * wo;
}

typedef struct geom {
	int Cin, H, W, kh, kw, stride, pad, Ho, Wo;
} geom;

/* Work is split between threads so that no two threads ever add into the
 * same float and every GEMM runs serially inside its thread: the forward
 * pass splits output positions, the backward passes split input channels.
 * A serial dm_sgemm gives each element of C the same value whatever the
 * rectangle it is computed in (the sum over K follows the same order and
 * slicing), so the results do not depend on the split, hence not on the
 * thread count.  One parallel region per call, no barrier inside: this
 * matters on a loaded machine, where each barrier can cost a time slice. */
static void split(int n, int nt, int t, int align, int *lo, int *hi)
{
	int units = (n + align - 1) / align;
	*lo = (int)((long)units * t / nt) * align;
	*hi = (int)((long)units * (t + 1) / nt) * align;
	if (*hi > n)
		*hi = n;
	if (*lo > n)
		*lo = n;
}

static int threads_for(double flop)
{
	if (omp_in_parallel() || flop < 2e6)
		return 1;
	return omp_get_max_threads();
}

#include "nn/shortcopy.h"

static void valid_range(int n, int nout, int stride, int pad, int off, int *lo, int *hi)
{
	int l = pad - off > 0 ? (pad - off + stride - 1) / stride : 0;
	int h = n - 1 + pad - off >= 0 ? (n - 1 + pad - off) / stride + 1 : 0;
	*lo = l < nout ? l : nout;
	*hi = h < nout ? h : nout;
	if (*hi < *lo)
		*hi = *lo;
}

/* One output row's worth (ow in [w0, w1)) of one im2col row, given the
 * interior [lo, hi) from valid_range: zeros where the kernel tap falls in
 * the padding, a copy (stride 1) or a strided gather in between.  src
 * points at the input for ow = 0 (it may point outside the row). */
static inline void gather_row(int stride, const float *src, int lo, int hi, int w0, int w1,
                              float *dst)
{
	lo = lo < w0 ? w0 : lo > w1 ? w1 : lo;
	hi = hi > w1 ? w1 : hi < lo ? lo : hi;
	for (int ow = w0; ow < lo; ow++)
		*dst++ = 0.0f;
	if (stride == 1) {
		copy_f(dst, src + lo, hi - lo);
	} else {
		for (int ow = lo; ow < hi; ow++)
			dst[ow - lo] = src[(long)ow * stride];
	}
	dst += hi - lo;
	for (int ow = hi; ow < w1; ow++)
		*dst++ = 0.0f;
}

/* One row r = (c,i,j) of im2col over the output positions [q0, q1):
 * dst[q - q0] = in[c][oh*s-pad+i][ow*s-pad+j] (0 outside), q = oh*Wo+ow. */
static void im2col_row(const geom *g, const float *in, int r, int q0, int q1, float *dst)
{
	int c = r / (g->kh * g->kw), i = r / g->kw % g->kh, j = r % g->kw;
	const float *plane = in + (size_t)c * g->H * g->W;
	int lo, hi;
	valid_range(g->W, g->Wo, g->stride, g->pad, j, &lo, &hi);
	int oh = q0 / g->Wo, w0 = q0 % g->Wo;
	for (int q = q0; q < q1; oh++, w0 = 0) {
		int w1 = q1 - q < g->Wo - w0 ? w0 + (q1 - q) : g->Wo;
		int ih = oh * g->stride - g->pad + i;
		if (ih >= 0 && ih < g->H)
			gather_row(g->stride, plane + (long)ih * g->W - g->pad + j, lo, hi, w0, w1, dst);
		else
			for (int ow = w0; ow < w1; ow++)
				dst[ow - w0] = 0.0f;
		dst += w1 - w0;
		q += w1 - w0;
	}
}

/* im2col of the whole batch as the row source of an implicit GEMM
 * (dm_sgemm_brows): column j is output position j % P of image j / P. */
typedef struct im2col_src {
	const geom *g;
	const float *in; /* the batch */
} im2col_src;

static void im2col_brow(const void *ctx, int p, int j0, int n, float *out)
{
	const im2col_src *s = ctx;
	const geom *g = s->g;
	int P = g->Ho * g->Wo;
	while (n > 0) {
		int b = j0 / P, q = j0 % P, len = P - q < n ? P - q : n;
		im2col_row(g, s->in + (size_t)b * g->Cin * g->H * g->W, p, q, q + len, out);
		out += len, j0 += len, n -= len;
	}
}

/* The adjoint of im2col for the channels [c0, c1): din[c][ih][iw] += every
 * entry of col (rows (c,i,j), P columns) that im2col copied from it. */
static void col2im_add(const geom *g, const float *col, int c0, int c1, float *din)
{
	int P = g->Ho * g->Wo;
	for (int c = c0; c < c1; c++) {
		float *plane = din + (size_t)c * g->H * g->W;
		for (int i = 0; i < g->kh; i++)
			for (int j = 0; j < g->kw; j++) {
				const float *src = col + ((size_t)((c - c0) * g->kh + i) * g->kw + j) * P;
				int lo, hi;
				valid_range(g->W, g->Wo, g->stride, g->pad, j, &lo, &hi);
				for (int oh = 0; oh < g->Ho; oh++, src += g->Wo) {
					int ih = oh * g->stride - g->pad + i;
					if (ih < 0 || ih >= g->H)
						continue;
					float *dst = plane + (size_t)ih * g->W + (long)lo * g->stride - g->pad + j;
					if (g->stride == 1)
						add_f(dst, src + lo, hi - lo);
					else
						for (int ow = lo; ow < hi; ow++)
							dst[(long)(ow - lo) * g->stride] += src[ow];
				}
			}
	}
}

static geom make_geom(int Cin, int H, int W, int kh, int kw, int stride, int pad)
{
	geom g = { Cin, H, W, kh, kw, stride, pad, dm_conv2d_out_size(H, kh, stride, pad),
		   dm_conv2d_out_size(W, kw, stride, pad) };
	return g;
}

/* The weight gradient's operands along K = (image, position):
 * dout_kvec gives row o of dout over positions [p0, p0+kc) of the batch,
 * col_kvec row r of the batch's im2col over the same positions. */
typedef struct batch_src {
	const geom *g;
	const float *in, *dout;
	int Cout, P;
} batch_src;

static void dout_kvec(const void *ctx, int o, int p0, int kc, float *out)
{
	const batch_src *s = ctx;
	while (kc > 0) {
		int b = p0 / s->P, q = p0 % s->P, len = s->P - q < kc ? s->P - q : kc;
		copy_f(out, s->dout + ((size_t)b * s->Cout + o) * s->P + q, len);
		out += len, p0 += len, kc -= len;
	}
}

static void col_kvec(const void *ctx, int r, int p0, int kc, float *out)
{
	const batch_src *s = ctx;
	const geom *g = s->g;
	while (kc > 0) {
		int b = p0 / s->P, q = p0 % s->P, len = s->P - q < kc ? s->P - q : kc;
		im2col_row(g, s->in + (size_t)b * g->Cin * g->H * g->W, r, q, q + len, out);
		out += len, p0 += len, kc -= len;
	}
}


/* ---- direct forward pass (AVX2) -------------------------------------
 *
 * For stride 1 with "same" padding the im2col matrix need not be built:
 * in a zero-padded copy of an image (Hp x Wp per channel) laid out flat,
 * the input under tap (c, i, j) of the output at flat position
 * q = oh*Wp + ow is at q + c*Hp*Wp + i*Wp + j, so every im2col row is the
 * padded image shifted by a constant.  The micro-kernel reads 16 positions
 * of each shifted row straight from the padded copy (which sits in L2),
 * with the weights packed once per call; the Wp - Wo columns per output
 * row that straddle the padding are computed and dropped as the result is
 * copied out with the bias.  This replaces 9 gathered copies of every
 * input value by one padded copy (the im2col packing cost as much as the
 * FMAs at Cout = 32).  Threads take whole images: results do not depend on
 * the thread count. */
static _Thread_local float *dpad, *dtile, *dacc;
static _Thread_local size_t dpad_cap, dtile_cap, dacc_cap;

static float *dgrow(float **buf, size_t *cap, size_t n)
{
	if (n > *cap) {
		free(*buf);
		*buf = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
		*cap = *buf ? n : 0;
	}
	return *buf;
}

/* The direct routes: forward and weight gradient for stride 1 or 2 (any
 * padding), the input gradient for stride 1 with "same" padding. */
static int direct_ok(int kh, int kw, int stride, int pad)
{
	return dm_simd() >= DM_SIMD_AVX2 && (stride == 1 || stride == 2);
}

/* The micro-kernels of the chosen SIMD path (conv_kernel.h): the forward
 * tile mr x nr, and the weight-gradient tile (rows taps x width output
 * channels) for Cout output channels, width 0 when there is none. */
typedef struct conv_kern {
	int mr, nr;
	void (*fwd)(int rows, long K, const float *a, const float *b, const int *boff, float *c,
	            long ldc);
	/* the same storing into the output in place (NULL: through a tile) */
	void (*fwd_st)(int rows, long K, const float *a, const float *b, const int *boff,
	               float *c, long ldc, const dm_conv_store *st, const float *bias,
	               int accumulate);
} conv_kern;

static const conv_kern kern_avx2 = { DM_CONV_AVX2_MR, DM_CONV_AVX2_NR, dm_conv_ukernel_avx2,
	                             NULL };
static const conv_kern kern_avx512 = { DM_CONV_AVX512_MR, DM_CONV_AVX512_NR,
	                               dm_conv_ukernel_avx512, dm_conv_ukernel_avx512_st };

static const conv_kern *kern(void)
{
	return dm_simd() >= DM_SIMD_AVX512 ? &kern_avx512 : &kern_avx2;
}

/* AVX-512: 16*nv output channels per weight-gradient tile, nv = 4, 3, 2
 * or 1, the widest that divides Cout (wider tiles read each tap value for
 * more FMAs). */
static int convw_nv(int Cout)
{
	for (int nv = 4; nv > 1; nv--)
		if (Cout % (16 * nv) == 0)
			return nv;
	return 1;
}

static int convw_width(int Cout)
{
	if (Cout % 16)
		return 0;
	return dm_simd() >= DM_SIMD_AVX512 ? 16 * convw_nv(Cout) : DM_CONV_AVX2_NR;
}

static int convw_rows(int Cout)
{
	return dm_simd() >= DM_SIMD_AVX512 ? dm_convw_avx512_rows(convw_nv(Cout)) : DM_CONV_AVX2_MR;
}

static void convw_call(int width, int rows, long Q, const float *const *arow, const float *b,
                       float *c, long ldc)
{
	if (dm_simd() >= DM_SIMD_AVX512)
		dm_convw_ukernel_avx512(rows, width / 16, Q, arow, b, c, ldc);
	else
		dm_convw_ukernel_avx2(rows, Q, arow, b, c, ldc);
}

static int direct_same(int kh, int kw, int stride, int pad)
{
	return direct_ok(kh, kw, stride, pad) && stride == 1 && kh == kw && 2 * pad == kh - 1;
}

/* The layout of the padded copy: for stride s, the padded image is split
 * into s x s phase planes (rows y = s*r + a, columns x = s*t + b) of
 * Hq x Wq each, so that a strided convolution reads every tap row as a
 * plain shift too: tap (c, i, j) of output q = oh*Wq + ow lies at
 * plane (c, i%s, j%s), offset (i/s)*Wq + j/s + q.  For s = 1 this is the
 * padded image itself. */
static int shared_pad(const geom *g)
{
	return g->stride == 1 && g->pad <= g->kw - 1;
}

static void dgeo(const geom *g, int *Hq, int *Wq, size_t *plane, size_t *npad)
{
	int s = g->stride, Hp = g->H + 2 * g->pad, Wp = g->W + 2 * g->pad;
	*Hq = (Hp + s - 1) / s, *Wq = (Wp + s - 1) / s;
	/* Stride 1: the right padding of each row is the left padding of the
	 * next (rows W + pad apart), since a tap past the right edge reads
	 * column x - (W + pad) of the next row, one of its pad zeros.  That
	 * cuts the padding columns computed and dropped per output row from
	 * 2*pad to pad (at 7x7: 2 in 9 to 1 in 8). */
	if (shared_pad(g))
		*Wq = g->W + g->pad;
	*plane = (size_t)*Hq * *Wq;
	*npad = (size_t)g->Cin * s * s * *plane + (size_t)g->kw + (size_t)kern()->nr;
}

static void make_boff(const geom *g, int *boff)
{
	int Hq, Wq, s = g->stride, K9 = g->Cin * g->kh * g->kw;
	size_t plane, npad;
	dgeo(g, &Hq, &Wq, &plane, &npad);
	for (int p = 0; p < K9; p++) {
		int c = p / (g->kh * g->kw), i = p / g->kw % g->kh, j = p % g->kw;
		boff[p] = (int)((((size_t)c * s + i % s) * s + j % s) * plane) + i / s * Wq + j / s;
	}
}

/* The zero-padded copy of one image in the layout above, then zeros up to
 * npad floats. */
static void pad_image(const geom *g, const float *in, float *pb, size_t npad)
{
	int Hq, Wq, s = g->stride;
	size_t plane, np;
	dgeo(g, &Hq, &Wq, &plane, &np);
	if (s != 1) {
		float *d = pb;
		for (int c = 0; c < g->Cin; c++) {
			const float *sp = in + (size_t)c * g->H * g->W;
			for (int a = 0; a < s; a++)
				for (int b = 0; b < s; b++)
					for (int r = 0; r < Hq; r++, d += Wq) {
						int y = s * r + a - g->pad;
						/* columns t with x = s*t + b - pad inside [0, W) */
						int lo, hi;
						valid_range(g->W, Wq, s, g->pad, b, &lo, &hi);
						if (y < 0 || y >= g->H)
							lo = hi = Wq;
						for (int t = 0; t < lo; t++)
							d[t] = 0.0f;
						if (lo < hi) {
							const float *row = sp + (size_t)y * g->W;
							for (int t = lo; t < hi; t++)
								d[t] = row[(long)s * t + b - g->pad];
						}
						for (int t = hi > lo ? hi : lo; t < Wq; t++)
							d[t] = 0.0f;
					}
		}
		memset(d, 0, (npad - (size_t)(d - pb)) * sizeof *pb);
		return;
	}
	int Wp = Wq, sh = shared_pad(g);
	for (int c = 0; c < g->Cin; c++) {
		float *d = pb + c * plane;
		const float *sp = in + (size_t)c * g->H * g->W;
		memset(d, 0, (size_t)g->pad * Wp * sizeof *d);
		d += (size_t)g->pad * Wp;
		for (int h = 0; h < g->H; h++, d += Wp, sp += g->W) {
			for (int x = 0; x < g->pad; x++) {
				d[x] = 0.0f;
				if (!sh)
					d[Wp - 1 - x] = 0.0f;
			}
			copy_f(d + g->pad, sp, g->W);
		}
		memset(d, 0, (size_t)g->pad * Wp * sizeof *d);
	}
	memset(pb + g->Cin * plane, 0, (npad - g->Cin * plane) * sizeof *pb);
}

/* Where each strip's results go in the output (the fwd_st kernels): lane
 * l of zmm v of strip s is position q = s*nr + 16*v + l of the padded-width
 * grid, an output when its column is below Wo and its row below Ho. */
static void make_stores(const geom *g, int nr, int ns, dm_conv_store *st)
{
	int Hq, Wq;
	size_t plane, npad;
	dgeo(g, &Hq, &Wq, &plane, &npad);
	for (int s = 0; s < ns; s++)
		for (int v = 0; v < nr / 16; v++) {
			unsigned m = 0;
			int off = -1;
			for (int l = 0; l < 16; l++) {
				int q = s * nr + 16 * v + l, oh = q / Wq, ow = q % Wq;
				if (oh >= g->Ho || ow >= g->Wo)
					continue;
				m |= 1u << l;
				if (off < 0)
					off = oh * g->Wo + ow;
			}
			st[s].mask[v] = (unsigned short)m;
			st[s].off[v] = off < 0 ? 0 : off;
		}
}

/* Part `part` of `parts` of n floats at p, fetched towards L2: the next
 * image's input, a piece per strip of this one, so that its padded copy
 * reads from L2 rather than DRAM (the copy cost as much as 15% of a pass). */
static inline void prefetch_part(const float *p, size_t n, int part, int parts)
{
	if (!p)
		return;
	size_t lines = (n + 15) / 16, l0 = lines * part / parts, l1 = lines * (part + 1) / parts;
	for (size_t l = l0; l < l1; l++) {
		/* (gcc deletes a loop of nothing but __builtin_prefetch) */
#if defined(__x86_64__)
		__asm__ volatile("prefetcht1 %0" : : "m"(p[16 * l]));
#else
		__builtin_prefetch(p + 16 * l, 0, 2);
#endif
	}
}

/* One image: out (Cout x Ho x Wo) = conv(in) + bias; 0, or -1 out of memory.
 * next (or NULL) is the next image this thread will take. */
static int direct_image(const geom *g, int Cout, const float *apk, const int *boff,
                        const dm_conv_store *st, const float *bias, int accumulate,
                        const float *in, const float *next, float *out)
{
	const conv_kern *kn = kern();
	const int MR = kn->mr, NR = kn->nr;
	int Hq, Wp, K9 = g->Cin * g->kh * g->kw;
	size_t plane, npad;
	dgeo(g, &Hq, &Wp, &plane, &npad);
	int Q = g->Ho * Wp, ns = (Q + NR - 1) / NR, ldt = ns * NR;
	float *pb = dgrow(&dpad, &dpad_cap, npad);
	float *tb = kn->fwd_st ? pb : dgrow(&dtile, &dtile_cap, (size_t)Cout * ldt);
	if (!pb || !tb || !in)
		return pb && tb ? 0 : -1; /* (in == NULL: only make the buffers) */
	pad_image(g, in, pb, npad);
	if (kn->fwd_st) {
		long P = (long)g->Ho * g->Wo;
		size_t nin = (size_t)g->Cin * g->H * g->W;
		for (int s = 0; s < ns; s++) {
			prefetch_part(next, nin, s, ns);
			for (int m0 = 0; m0 < Cout; m0 += MR)
				kn->fwd_st(Cout - m0 < MR ? Cout - m0 : MR, K9, apk + (size_t)m0 * K9,
				           pb + (size_t)s * NR, boff, out + m0 * P, P, &st[s],
				           bias ? bias + m0 : NULL, accumulate);
		}
		return 0;
	}
	for (int s = 0; s < ns; s++)
		for (int m0 = 0; m0 < Cout; m0 += MR)
			kn->fwd(Cout - m0 < MR ? Cout - m0 : MR, K9, apk + (size_t)m0 * K9,
			        pb + (size_t)s * NR, boff, tb + (size_t)m0 * ldt + (size_t)s * NR, ldt);
	for (int o = 0; o < Cout; o++) {
		float bo = bias ? bias[o] : 0.0f;
		for (int oh = 0; oh < g->Ho; oh++) {
			const float *t = tb + (size_t)o * ldt + (size_t)oh * Wp;
			float *y = out + ((size_t)o * g->Ho + oh) * g->Wo;
			if (accumulate)
				add_f(y, t, g->Wo);
			else if (bias)
				for (int ow = 0; ow < g->Wo; ow++)
					y[ow] = t[ow] + bo;
			else
				copy_f(y, t, g->Wo);
		}
	}
	return 0;
}

/* Where W'[m][p] of the transposed kernel (see below) is in W (OIHW with
 * O = g->Cin, I = M): p = (o, i, j). */
static size_t tap_t(const geom *g, int M, int m, int p)
{
	int kk = g->kh * g->kw, o = p / kk, i = p / g->kw % g->kh, j = p % g->kw;
	return (((size_t)o * M + m) * g->kh + (g->kh - 1 - i)) * g->kw + (g->kw - 1 - j);
}

/* The batch; 0, or -1 when out of memory (out then is not complete).
 * transposed: the backward pass to the input, which for stride 1 and
 * "same" padding is the same kind of convolution of dout (g describes it:
 * Cout input channels) with the kernel flipped and its channels swapped:
 * W'[c][o][i][j] = W[o][c][kh-1-i][kw-1-j]; out (Cout = the forward Cin
 * channels) is then overwritten or, with accumulate, added to. */
static int direct_forward(float *out, const float *in, const float *weight, const float *bias,
                          int B, const geom *g, int Cout, int transposed, int accumulate)
{
	const int MR = kern()->mr;
	int K9 = g->Cin * g->kh * g->kw;
	int mp = (Cout + MR - 1) / MR;
	float *apk = aligned_alloc(64, ((size_t)mp * MR * K9 * sizeof(float) + 63) & ~(size_t)63);
	int *boff = malloc((size_t)K9 * sizeof *boff);
	int Hq, Wq, fail = 0;
	size_t plane, npad;
	dgeo(g, &Hq, &Wq, &plane, &npad);
	int nr = kern()->nr, ns = (g->Ho * Wq + nr - 1) / nr;
	dm_conv_store *st = malloc((size_t)ns * sizeof *st);
	if (!apk || !boff || !st) {
		free(apk), free(boff), free(st);
		return -1;
	}
	make_stores(g, nr, ns, st);
	/* weights as MR-row panels, K9 columns of MR floats each */
	for (int m0 = 0; m0 < mp * MR; m0 += MR)
		for (int p = 0; p < K9; p++)
			for (int i = 0; i < MR; i++)
				apk[(size_t)m0 * K9 + (size_t)p * MR + i] =
					m0 + i >= Cout ? 0.0f
					: transposed ? weight[tap_t(g, Cout, m0 + i, p)]
					: weight[(size_t)(m0 + i) * K9 + p];
	make_boff(g, boff);
	int nt = threads_for(2.0 * B * Cout * g->Ho * g->Wo * K9);
	if (nt > B)
		nt = B;
#pragma omp parallel num_threads(nt) if (nt > 1)
	{
		int b0, b1;
		split(B, omp_get_num_threads(), omp_get_thread_num(), 1, &b0, &b1);
		/* every thread's buffers first, so that out of memory leaves out
		 * untouched (the caller then takes the GEMM route) */
		int failed = !dm_par_all_ok(&fail, !(b0 < b1 && direct_image(g, Cout, apk, boff, st,
		                                        bias, accumulate, NULL, NULL, NULL) < 0));
		for (int b = b0; b < b1 && !failed; b++)
			direct_image(g, Cout, apk, boff, st, bias, accumulate,
			             in + (size_t)b * g->Cin * g->H * g->W,
			             b + 1 < b1 ? in + (size_t)(b + 1) * g->Cin * g->H * g->W : NULL,
			             out + (size_t)b * Cout * g->Ho * g->Wo);
	}
	free(apk), free(boff), free(st);
	return fail ? -1 : 0;
}

/* The AMX route of the bf16 passes (simd/conv_amx.c): 3x3 with stride 1
 * and "same" padding, or 1x1 with stride 1, channels in multiples of 32
 * (the others, and every other bf16 path, go through im2col and
 * dm_gemm_bf16). */
static int amx3_ok(int Cin, int Cout, int kh, int kw, int stride, int pad)
{
	return dm_simd_bf16() == DM_SIMD_AMX && kh == kw && stride == 1 &&
	       ((kh == 3 && pad == 1) || (kh == 1 && pad == 0)) && Cin % 32 == 0 && Cout % 32 == 0;
}

/* The other shapes with AMX (a channel count off the 32s, stride 2: the
 * first and last convolutions and the downsamplers of a unet): both
 * operands rounded to bf16 into scratch and the fp32 routes run on them.
 * The product of two bf16 numbers is exact in fp32, so this keeps the
 * contract of DM_PREC_BF16 (rounded operands, fp32 sums) at the speed of
 * the direct fp32 kernels, where im2col + dm_gemm_bf16 was 2-5x slower on
 * these shapes (the AMX GEMM's tiles are mostly empty at Cout = 1). */
static int bf16_by_rounding(int Cin, int Cout, int kh, int kw, int stride, int pad)
{
	return dm_simd_bf16() == DM_SIMD_AMX && !amx3_ok(Cin, Cout, kh, kw, stride, pad) &&
	       direct_ok(kh, kw, stride, pad);
}


static _Thread_local float *round_buf[2];
static _Thread_local size_t round_cap[2];

/* src rounded to bf16 (as floats) in scratch slot i, in chunks over the
 * threads; NULL when out of memory. */
static const float *rounded(int i, const float *src, size_t n)
{
	float *d = dgrow(&round_buf[i], &round_cap[i], n);
	if (!d)
		return NULL;
	size_t nc = (n + 65535) / 65536;
	int simd = dm_simd_bf16() >= DM_SIMD_AVX512BF16;
#pragma omp parallel for schedule(static) if (nc > 1)
	for (size_t c = 0; c < nc; c++) {
		size_t lo = c * 65536, len = n - lo < 65536 ? n - lo : 65536;
		if (simd)
			dm_bf16_round_copy_avx512bf16(d + lo, src + lo, len);
		else
			for (size_t j = lo; j < lo + len; j++)
				d[j] = dm_bf16_round(src[j]);
	}
	return d;
}

void dm_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                       int B, int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                       int pad, float *workspace)
{
	dm_conv2d_forward_prec(DM_PREC_FP32, out, in, weight, bias, B, Cin, H, W, Cout, kh, kw,
	                       stride, pad, workspace);
}

void dm_conv2d_forward_prec(int prec, float *out, const float *in, const float *weight,
                            const float *bias, int B, int Cin, int H, int W, int Cout, int kh,
                            int kw, int stride, int pad, float *workspace)
{
	geom g = make_geom(Cin, H, W, kh, kw, stride, pad);
	int K9 = Cin * kh * kw, P = g.Ho * g.Wo, fp32 = prec != DM_PREC_BF16;
	(void)workspace; /* the forward pass needs none: im2col is fused */
	if (!fp32 && bf16_by_rounding(Cin, Cout, kh, kw, stride, pad)) {
		const float *x = rounded(0, in, (size_t)B * Cin * H * W);
		const float *w = rounded(1, weight, (size_t)Cout * K9);
		if (x && w) {
			dm_conv2d_forward_prec(DM_PREC_FP32, out, x, w, bias, B, Cin, H, W, Cout, kh, kw,
			                       stride, pad, workspace);
			return;
		}
	}
	if (fp32 && direct_ok(kh, kw, stride, pad) &&
	    direct_forward(out, in, weight, bias, B, &g, Cout, 0, 0) == 0)
		return;
	if (!fp32 && amx3_ok(Cin, Cout, kh, kw, stride, pad) &&
	    dm_conv3_amx_forward(out, in, weight, bias, B, Cin, H, W, Cout, kh, 0, 0) == 0)
		return;
	if (bias) { /* the bias goes in first and the GEMM adds to it (beta = 1) */
#pragma omp parallel for schedule(static) if (threads_for(2.0 * B * Cout * P) > 1)
		for (int b = 0; b < B; b++)
			for (int o = 0; o < Cout; o++)
				for (int q = 0; q < P; q++)
					out[((size_t)b * Cout + o) * P + q] = bias[o];
	}
	float beta = bias ? 1.0f : 0.0f;
	/* One implicit GEMM over the whole batch: Cout x (B*P), K9 deep (for
	 * 1x1 convolutions too: the batch's channels are gathered the same
	 * way, which beats one GEMM per image). */
	im2col_src src = { &g, in };
	dm_gemm_prec_brows(prec, 0, Cout, B * P, K9, 1.0f, weight, K9, im2col_brow, &src, beta, out,
	                   P, P, (long)Cout * P);
}

void dm_conv2d_backward_input(float *din, const float *dout, const float *weight, int B,
                              int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                              int pad, int accumulate, float *workspace)
{
	dm_conv2d_backward_input_prec(DM_PREC_FP32, din, dout, weight, B, Cin, H, W, Cout, kh, kw,
	                              stride, pad, accumulate, workspace);
}

void dm_conv2d_backward_input_prec(int prec, float *din, const float *dout,
                                   const float *weight, int B, int Cin, int H, int W, int Cout,
                                   int kh, int kw, int stride, int pad, int accumulate,
                                   float *workspace)
{
	geom g = make_geom(Cin, H, W, kh, kw, stride, pad);
	int K9 = Cin * kh * kw, P = g.Ho * g.Wo, kk = kh * kw;
	int pw = is_pointwise(kh, kw, stride, pad), fp32 = prec != DM_PREC_BF16;
	if (!fp32 && bf16_by_rounding(Cin, Cout, kh, kw, stride, pad)) {
		const float *dy = rounded(0, dout, (size_t)B * Cout * P);
		const float *w = rounded(1, weight, (size_t)Cout * K9);
		if (dy && w) {
			dm_conv2d_backward_input_prec(DM_PREC_FP32, din, dy, w, B, Cin, H, W, Cout, kh, kw,
			                              stride, pad, accumulate, workspace);
			return;
		}
	}
	/* 1x1: a GEMM per image is as fast, or faster (AVX-512, 14x14 and
	 * 28x28: 62 against 51 GFLOP/s), except on images smaller than a GEMM
	 * tile's width (AVX-512, 7x7: 65 against 44) */
	if (fp32 && direct_same(kh, kw, stride, pad) &&
	    (!pw || (dm_simd() >= DM_SIMD_AVX512 && H * W <= 64))) {
		/* dout (B x Cout x H x W) convolved into din; out of memory
		 * returns before anything is written */
		geom gt = make_geom(Cout, g.Ho, g.Wo, kh, kw, 1, pad);
		if (direct_forward(din, dout, weight, NULL, B, &gt, Cin, 1, accumulate) == 0)
			return;
	}
	if (!fp32 && amx3_ok(Cin, Cout, kh, kw, stride, pad) &&
	    dm_conv3_amx_forward(din, dout, weight, NULL, B, Cout, H, W, Cin, kh, 1, accumulate) == 0)
		return;
	int nt = threads_for(2.0 * B * Cout * P * K9);
	if (nt > Cin)
		nt = Cin;
#pragma omp parallel num_threads(nt) if (nt > 1)
	{
		int c0, c1;
		split(Cin, omp_get_num_threads(), omp_get_thread_num(), 1, &c0, &c1);
		float *dcol = workspace + (size_t)c0 * kk * P; /* rows (c0..c1) x kk */
		for (int b = 0; b < B && c0 < c1; b++) {
			const float *dy = dout + (size_t)b * Cout * P;
			float *dx = din + (size_t)b * Cin * H * W;
			if (pw) {
				dm_gemm_prec(prec, 1, 0, c1 - c0, P, Cout, 1.0f, weight + c0, Cin, dy, P,
				             accumulate ? 1.0f : 0.0f, dx + (size_t)c0 * P, P);
				continue;
			}
			if (!accumulate)
				memset(dx + (size_t)c0 * H * W, 0, (size_t)(c1 - c0) * H * W * sizeof *dx);
			dm_gemm_prec(prec, 1, 0, (c1 - c0) * kk, P, Cout, 1.0f, weight + (size_t)c0 * kk,
			             K9, dy, P, 0.0f, dcol, P);
			col2im_add(&g, dcol, c0, c1, dx);
		}
	}
}


/* The weight gradient directly (stride 1 or 2, Cout a multiple of 16):
 * with dout laid out per image as dT[Cout/W][Q][W] on the padded-width
 * grid (W the kernel's tile width, Q = Ho*Wp positions, zeros in the
 * columns that straddle the padding), dW[o][p] += sum over q of
 * padded[boff[p] + q] * dT[q][o]: each row of taps is read in place from
 * the padded image, the sum over q runs in registers.
 *
 * The batch is cut into a number of chunks that depends on B alone; each
 * chunk's sum is taken over its images in order, and the chunks' sums are
 * added in order at the end.  Threads take whole chunks, so every image is
 * padded and transposed once whatever the thread count (splitting the
 * taps instead made each thread redo both for every image), and the result
 * does not depend on the thread count.  0, or -1 when out of memory before
 * anything was written. */
enum { WCHUNKS = 8 };

/* dout of one image (Cout x Ho x Wo) into dT, the padding columns left;
 * bacc[o] += its sum over positions, in order, in double (the bias
 * gradient, taken as dout passes by). */
static void pack_dout(const geom *g, int Cout, int NR, int Wp, const float *dy, float *dt,
                      double *bacc)
{
	int Q = g->Ho * Wp;
	if (dm_simd() >= DM_SIMD_AVX512) {
		dm_convw_pack_avx512(dt, bacc, dy, Cout, g->Ho, g->Wo, Wp, NR);
		return;
	}
	for (int o = 0; o < Cout; o++) {
		float *d = dt + (size_t)(o / NR) * Q * NR + o % NR;
		double s = bacc[o];
		for (int oh = 0; oh < g->Ho; oh++)
			for (int ow = 0; ow < g->Wo; ow++, dy++) {
				d[(size_t)(oh * Wp + ow) * NR] = *dy;
				s += *dy;
			}
		bacc[o] = s;
	}
}

static _Thread_local double *dbias_buf;
static _Thread_local size_t dbias_cap;

static int direct_weight(float *dweight, float *dbias, const float *dout, const float *in,
                         int B, const geom *g, int Cout)
{
	const int NR = convw_width(Cout), MR = convw_rows(Cout);
	int K9 = g->Cin * g->kh * g->kw, Hq, Wp;
	size_t plane, npad;
	dgeo(g, &Hq, &Wp, &plane, &npad);
	int Q = g->Ho * Wp, P = g->Ho * g->Wo, no = Cout / NR;
	int nch = B < WCHUNKS ? B : WCHUNKS;
	size_t nin = (size_t)g->Cin * g->H * g->W, wsz = (size_t)K9 * Cout;
	int *boff = malloc((size_t)K9 * sizeof *boff);
	/* the chunks' sums, in the calling thread's buffer (kept between calls:
	 * a fresh megabyte per call would be fresh pages to fault in) */
	float *part = dgrow(&dacc, &dacc_cap, (size_t)nch * wsz);
	double *bpart = NULL;
	if ((size_t)nch * Cout > dbias_cap) {
		free(dbias_buf);
		dbias_buf = malloc((size_t)nch * Cout * sizeof *dbias_buf);
		dbias_cap = dbias_buf ? (size_t)nch * Cout : 0;
	}
	bpart = dbias_buf;
	if (!boff || !part || !bpart) {
		free(boff);
		return -1;
	}
	make_boff(g, boff);
	int nt = threads_for(2.0 * B * Cout * P * K9), fail = 0;
	if (nt > nch)
		nt = nch;
#pragma omp parallel num_threads(nt) if (nt > 1)
	{
		int k0, k1;
		split(nch, omp_get_num_threads(), omp_get_thread_num(), 1, &k0, &k1);
		float *pb = NULL, *dt = NULL;
		if (k0 < k1) {
			pb = dgrow(&dpad, &dpad_cap, npad);
			dt = dgrow(&dtile, &dtile_cap, (size_t)Cout * Q);
		}
		int failed = !dm_par_all_ok(&fail, !(k0 < k1) || (pb && dt));
		if (k0 < k1 && !failed) {
			memset(dt, 0, (size_t)Cout * Q * sizeof *dt); /* the padding columns stay 0 */
			for (int k = k0; k < k1; k++) {
				float *acc = part + (size_t)k * wsz;
				double *bacc = bpart + (size_t)k * Cout;
				int b0 = (int)((long)B * k / nch), b1 = (int)((long)B * (k + 1) / nch);
				memset(acc, 0, wsz * sizeof *acc);
				for (int o = 0; o < Cout; o++)
					bacc[o] = 0.0;
				for (int b = b0; b < b1; b++) {
					pad_image(g, in + (size_t)b * nin, pb, npad);
					pack_dout(g, Cout, NR, Wp, dout + (size_t)b * Cout * P, dt, bacc);
					const float *next = b + 1 < b1 ? in + (size_t)(b + 1) * nin : NULL;
					for (int p = 0; p < K9; p += MR) {
						int rows = K9 - p < MR ? K9 - p : MR;
						const float *arow[32];
						prefetch_part(next, nin, p / MR, (K9 + MR - 1) / MR);
						for (int i = 0; i < rows; i++)
							arow[i] = pb + boff[p + i];
						for (int ob = 0; ob < no; ob++)
							convw_call(NR, rows, Q, arow, dt + (size_t)ob * Q * NR,
							           acc + (size_t)p * Cout + ob * NR, Cout);
					}
				}
			}
		}
	}
	if (!fail) {
		int nt2 = threads_for((double)wsz * nch * 100);
#pragma omp parallel for schedule(static) num_threads(nt2) if (nt2 > 1)
		for (int p = 0; p < K9; p++)
			for (int o = 0; o < Cout; o++) {
				float t = part[(size_t)p * Cout + o];
				for (int k = 1; k < nch; k++)
					t += part[(size_t)k * wsz + (size_t)p * Cout + o];
				dweight[(size_t)o * K9 + p] += t;
			}
		for (int o = 0; o < Cout && dbias; o++) {
			double t = bpart[o];
			for (int k = 1; k < nch; k++)
				t += bpart[(size_t)k * Cout + o];
			dbias[o] = (float)(dbias[o] + t);
		}
	}
	free(boff);
	return fail ? -1 : 0;
}

/* dbias[o] += the sum over the batch of dout[b][o][.], in double, in the
 * order (b, position) for every o; eight channels at a time, so that eight
 * independent additions are in flight rather than one chain. */
static void bias_grad(float *dbias, const float *dout, int B, int Cout, int P)
{
	int nb = (Cout + 7) / 8;
#pragma omp parallel for schedule(static) if (threads_for(2.0 * B * Cout * P) > 1)
	for (int ob = 0; ob < nb; ob++) {
		int o0 = ob * 8, n = Cout - o0 < 8 ? Cout - o0 : 8;
		double s[8] = { 0 };
		for (int b = 0; b < B; b++) {
			const float *dy = dout + ((size_t)b * Cout + o0) * P;
			if (n == 8) {
				for (int p = 0; p < P; p++)
#pragma GCC unroll 8
					for (int i = 0; i < 8; i++)
						s[i] += dy[(size_t)i * P + p];
			} else {
				for (int i = 0; i < n; i++)
					for (int p = 0; p < P; p++)
						s[i] += dy[(size_t)i * P + p];
			}
		}
		for (int i = 0; i < n; i++)
			dbias[o0 + i] = (float)(dbias[o0 + i] + s[i]);
	}
}

void dm_conv2d_backward_weight(float *dweight, float *dbias, const float *dout,
                               const float *in, int B, int Cin, int H, int W, int Cout,
                               int kh, int kw, int stride, int pad, float *workspace)
{
	dm_conv2d_backward_weight_prec(DM_PREC_FP32, dweight, dbias, dout, in, B, Cin, H, W, Cout,
	                               kh, kw, stride, pad, workspace);
}

void dm_conv2d_backward_weight_prec(int prec, float *dweight, float *dbias, const float *dout,
                                    const float *in, int B, int Cin, int H, int W, int Cout,
                                    int kh, int kw, int stride, int pad, float *workspace)
{
	geom g = make_geom(Cin, H, W, kh, kw, stride, pad);
	int K9 = Cin * kh * kw, P = g.Ho * g.Wo;
	(void)workspace; /* none needed: both operands are gathered as packed */
	if (prec == DM_PREC_BF16 && bf16_by_rounding(Cin, Cout, kh, kw, stride, pad)) {
		const float *dy = rounded(0, dout, (size_t)B * Cout * P);
		const float *x = rounded(1, in, (size_t)B * Cin * H * W);
		if (dy && x) {
			dm_conv2d_backward_weight_prec(DM_PREC_FP32, dweight, NULL, dy, x, B, Cin, H, W,
			                               Cout, kh, kw, stride, pad, workspace);
			if (dbias) /* of the unrounded dout, as on every bf16 route */
				bias_grad(dbias, dout, B, Cout, P);
			return;
		}
	}
	/* One GEMM whose K runs over every position of every image:
	 * dW[Cout x K9] += dout[Cout x B*P] * col[K9 x B*P]^T. */
	batch_src src = { &g, in, dout, Cout, P };
	/* (1x1: direct only with AVX-512, where it runs at twice the GEMM's
	 * rate, 55-60 against 27 GFLOP/s at 14x14 and 7x7) */
	if (prec != DM_PREC_BF16 && direct_ok(kh, kw, stride, pad) &&
	    (kh > 1 || dm_simd() >= DM_SIMD_AVX512) &&
	    convw_width(Cout) > 0 &&
	    direct_weight(dweight, dbias, dout, in, B, &g, Cout) == 0)
		return; /* (the bias gradient with it) */
	if (prec == DM_PREC_BF16 && amx3_ok(Cin, Cout, kh, kw, stride, pad) &&
	    dm_conv3_amx_backward_weight(dweight, dout, in, B, Cin, H, W, Cout, kh) == 0) {
		if (dbias)
			bias_grad(dbias, dout, B, Cout, P);
		return;
	}
	dm_gemm_prec_kvec(prec, Cout, K9, B * P, 1.0f, dout_kvec, &src, col_kvec, &src, 1.0f,
	                  dweight, K9);
	if (dbias)
		bias_grad(dbias, dout, B, Cout, P);
}

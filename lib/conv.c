/* conv.c - 2-D convolution through im2col and dm_sgemm (see conv.h).
 *
 * Per image b, with K9 = Cin*kh*kw rows and P = Ho*Wo positions:
 *   forward          out_b[Cout x P]  = W[Cout x K9] * col_b[K9 x P] + bias
 *   backward input   dcol_b[K9 x P]   = W^T * dout_b,  din_b = col2im(dcol_b)
 *   backward weight  dW[Cout x K9]   += dout_b[Cout x P] * colT_b[P x K9]
 * The weight gradient uses the transposed im2col (positions x K9) so that
 * the GEMM reads both operands without a transpose.  1x1 convolutions with
 * stride 1 and no padding use the activations as they are. */
#include "conv.h"

#include <omp.h>
#include <string.h>

#include "gemm.h"

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

/* Use threads for a loop only when not already inside a parallel region
 * (a caller may run convolutions of different images in parallel). */
#define PAR_IF (!omp_in_parallel())

/* col[(c,i,j) x (oh,ow)] = in[c][oh*s-pad+i][ow*s-pad+j], 0 outside. */
static void im2col(const geom *g, const float *in, float *col)
{
	int K9 = g->Cin * g->kh * g->kw, P = g->Ho * g->Wo;
#pragma omp parallel for schedule(static) if (PAR_IF)
	for (int r = 0; r < K9; r++) {
		int c = r / (g->kh * g->kw), i = r / g->kw % g->kh, j = r % g->kw;
		const float *plane = in + (size_t)c * g->H * g->W;
		float *dst = col + (size_t)r * P;
		for (int oh = 0; oh < g->Ho; oh++, dst += g->Wo) {
			int ih = oh * g->stride - g->pad + i;
			if (ih < 0 || ih >= g->H) {
				memset(dst, 0, (size_t)g->Wo * sizeof *dst);
				continue;
			}
			const float *src = plane + (size_t)ih * g->W;
			for (int ow = 0; ow < g->Wo; ow++) {
				int iw = ow * g->stride - g->pad + j;
				dst[ow] = iw >= 0 && iw < g->W ? src[iw] : 0.0f;
			}
		}
	}
}

/* colT[(oh,ow) x (c,i,j)]: the same matrix transposed. */
static void im2col_t(const geom *g, const float *in, float *colT)
{
	int K9 = g->Cin * g->kh * g->kw;
#pragma omp parallel for schedule(static) if (PAR_IF)
	for (int oh = 0; oh < g->Ho; oh++)
		for (int ow = 0; ow < g->Wo; ow++) {
			float *dst = colT + ((size_t)oh * g->Wo + ow) * K9;
			for (int c = 0; c < g->Cin; c++) {
				const float *plane = in + (size_t)c * g->H * g->W;
				for (int i = 0; i < g->kh; i++) {
					int ih = oh * g->stride - g->pad + i;
					for (int j = 0; j < g->kw; j++, dst++) {
						int iw = ow * g->stride - g->pad + j;
						*dst = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W
						               ? plane[(size_t)ih * g->W + iw]
						               : 0.0f;
					}
				}
			}
		}
}

/* The adjoint of im2col: din[c][ih][iw] += every col entry that copied it.
 * One thread per channel plane, each summed in a fixed order. */
static void col2im_add(const geom *g, const float *col, float *din)
{
	int P = g->Ho * g->Wo;
#pragma omp parallel for schedule(static) if (PAR_IF)
	for (int c = 0; c < g->Cin; c++) {
		float *plane = din + (size_t)c * g->H * g->W;
		for (int i = 0; i < g->kh; i++)
			for (int j = 0; j < g->kw; j++) {
				const float *src = col + ((size_t)(c * g->kh + i) * g->kw + j) * P;
				for (int oh = 0; oh < g->Ho; oh++, src += g->Wo) {
					int ih = oh * g->stride - g->pad + i;
					if (ih < 0 || ih >= g->H)
						continue;
					float *dst = plane + (size_t)ih * g->W;
					for (int ow = 0; ow < g->Wo; ow++) {
						int iw = ow * g->stride - g->pad + j;
						if (iw >= 0 && iw < g->W)
							dst[iw] += src[ow];
					}
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

void dm_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                       int B, int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                       int pad, float *workspace)
{
	geom g = make_geom(Cin, H, W, kh, kw, stride, pad);
	int K9 = Cin * kh * kw, P = g.Ho * g.Wo;
	int pw = is_pointwise(kh, kw, stride, pad);
	for (int b = 0; b < B; b++) {
		const float *x = in + (size_t)b * Cin * H * W;
		float *y = out + (size_t)b * Cout * P;
		if (!pw)
			im2col(&g, x, workspace);
		/* The bias goes in first and the GEMM adds to it (beta = 1). */
		if (bias) {
#pragma omp parallel for schedule(static) if (PAR_IF)
			for (int o = 0; o < Cout; o++)
				for (int p = 0; p < P; p++)
					y[(size_t)o * P + p] = bias[o];
		}
		dm_sgemm(0, 0, Cout, P, K9, 1.0f, weight, K9, pw ? x : workspace, P,
		         bias ? 1.0f : 0.0f, y, P);
	}
}

void dm_conv2d_backward_input(float *din, const float *dout, const float *weight, int B,
                              int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                              int pad, int accumulate, float *workspace)
{
	geom g = make_geom(Cin, H, W, kh, kw, stride, pad);
	int K9 = Cin * kh * kw, P = g.Ho * g.Wo;
	if (is_pointwise(kh, kw, stride, pad)) {
		for (int b = 0; b < B; b++)
			dm_sgemm(1, 0, Cin, P, Cout, 1.0f, weight, Cin, dout + (size_t)b * Cout * P, P,
			         accumulate ? 1.0f : 0.0f, din + (size_t)b * Cin * P, P);
		return;
	}
	if (!accumulate)
		memset(din, 0, (size_t)B * Cin * H * W * sizeof *din);
	for (int b = 0; b < B; b++) {
		dm_sgemm(1, 0, K9, P, Cout, 1.0f, weight, K9, dout + (size_t)b * Cout * P, P, 0.0f,
		         workspace, P);
		col2im_add(&g, workspace, din + (size_t)b * Cin * H * W);
	}
}

void dm_conv2d_backward_weight(float *dweight, float *dbias, const float *dout,
                               const float *in, int B, int Cin, int H, int W, int Cout,
                               int kh, int kw, int stride, int pad, float *workspace)
{
	geom g = make_geom(Cin, H, W, kh, kw, stride, pad);
	int K9 = Cin * kh * kw, P = g.Ho * g.Wo;
	int pw = is_pointwise(kh, kw, stride, pad);
	/* Images in order 0, 1, ...: the batch sum does not depend on threads. */
	for (int b = 0; b < B; b++) {
		const float *x = in + (size_t)b * Cin * H * W;
		const float *dy = dout + (size_t)b * Cout * P;
		if (pw) {
			dm_sgemm(0, 1, Cout, Cin, P, 1.0f, dy, P, x, P, 1.0f, dweight, Cin);
		} else {
			im2col_t(&g, x, workspace);
			dm_sgemm(0, 0, Cout, K9, P, 1.0f, dy, P, workspace, K9, 1.0f, dweight, K9);
		}
	}
	if (dbias) {
#pragma omp parallel for schedule(static) if (PAR_IF)
		for (int o = 0; o < Cout; o++) {
			double s = 0.0;
			for (int b = 0; b < B; b++) {
				const float *dy = dout + ((size_t)b * Cout + o) * P;
				for (int p = 0; p < P; p++)
					s += dy[p];
			}
			dbias[o] = (float)(dbias[o] + s);
		}
	}
}

/* conv3d.c - kt x k x k convolution over clips as kt shifted 2-D
 * convolutions (conv3d.h).  Offset d pairs output frame t with input frame
 * t + d - pt; within one clip the frames that pair are one contiguous run,
 * so each offset is one conv2d call per clip (the centre offset, which
 * pairs every frame, one call for the whole batch). */
#include "nn/conv3d.h"

#include <string.h>

#include "nn/conv.h"

size_t dm_conv3d_scratch(int T, int Cin, int Cout, int Ho, int Wo, int kh, int kw)
{
	size_t wk = (size_t)Cout * Cin * kh * kw;
	return 2 * wk + (size_t)(T > 1 ? T - 1 : 1) * Cout * Ho * Wo;
}

/* weight[:, :, d] into a Cout x Cin x kh x kw block, or back (adding) */
static void slice(float *w2, const float *w3, int Cout, int Cin, int kt, int khw, int d)
{
	for (size_t oi = 0; oi < (size_t)Cout * Cin; oi++)
		memcpy(w2 + oi * khw, w3 + (oi * kt + d) * khw, (size_t)khw * sizeof *w2);
}

static void unslice_add(float *w3, const float *w2, int Cout, int Cin, int kt, int khw, int d)
{
	for (size_t oi = 0; oi < (size_t)Cout * Cin; oi++)
		for (int j = 0; j < khw; j++)
			w3[(oi * kt + d) * khw + j] += w2[oi * khw + j];
}

/* For offset d: the first output frame, the first input frame, and how
 * many frames pair, within a clip of T. */
static int pairs(int T, int d, int pt, int *to, int *ti)
{
	int s = d - pt; /* input = output + s */
	*to = s < 0 ? -s : 0, *ti = s > 0 ? s : 0;
	return T - (s < 0 ? -s : s);
}

void dm_conv3d_forward(int prec, float *out, const float *in, const float *weight,
                       const float *bias, int B, int T, int Cin, int H, int W, int Cout, int kt,
                       int kh, int kw, int stride, int pad, float *workspace, float *scratch)
{
	int pt = (kt - 1) / 2, khw = kh * kw;
	int Ho = dm_conv2d_out_size(H, kh, stride, pad),
	    Wo = dm_conv2d_out_size(W, kw, stride, pad);
	size_t fi = (size_t)Cin * H * W, fo = (size_t)Cout * Ho * Wo;
	float *w2 = scratch, *tmp = scratch + 2 * (size_t)Cout * Cin * khw;
	slice(w2, weight, Cout, Cin, kt, khw, pt);
	dm_conv2d_forward_prec(prec, out, in, w2, bias, B * T, Cin, H, W, Cout, kh, kw, stride, pad,
	                       workspace);
	for (int d = 0; d < kt; d++) {
		int to, ti, n = pairs(T, d, pt, &to, &ti);
		if (d == pt || n < 1)
			continue;
		slice(w2, weight, Cout, Cin, kt, khw, d);
		for (int b = 0; b < B; b++) {
			dm_conv2d_forward_prec(prec, tmp, in + ((size_t)b * T + ti) * fi, w2, NULL,
			                       n, Cin, H, W, Cout, kh, kw, stride, pad, workspace);
			float *o = out + ((size_t)b * T + to) * fo;
			for (size_t j = 0; j < (size_t)n * fo; j++)
				o[j] += tmp[j];
		}
	}
}

void dm_conv3d_backward_input(int prec, float *din, const float *dout, const float *weight, int B,
                              int T, int Cin, int H, int W, int Cout, int kt, int kh, int kw,
                              int stride, int pad, int accumulate, float *workspace, float *scratch)
{
	int pt = (kt - 1) / 2, khw = kh * kw;
	int Ho = dm_conv2d_out_size(H, kh, stride, pad),
	    Wo = dm_conv2d_out_size(W, kw, stride, pad);
	size_t fi = (size_t)Cin * H * W, fo = (size_t)Cout * Ho * Wo;
	float *w2 = scratch;
	slice(w2, weight, Cout, Cin, kt, khw, pt);
	dm_conv2d_backward_input_prec(prec, din, dout, w2, B * T, Cin, H, W, Cout, kh, kw, stride,
	                              pad, accumulate, workspace);
	for (int d = 0; d < kt; d++) {
		int to, ti, n = pairs(T, d, pt, &to, &ti);
		if (d == pt || n < 1)
			continue;
		slice(w2, weight, Cout, Cin, kt, khw, d);
		for (int b = 0; b < B; b++)
			dm_conv2d_backward_input_prec(
			    prec, din + ((size_t)b * T + ti) * fi, dout + ((size_t)b * T + to) * fo,
			    w2, n, Cin, H, W, Cout, kh, kw, stride, pad, 1, workspace);
	}
}

void dm_conv3d_backward_weight(int prec, float *dweight, float *dbias, const float *dout,
                               const float *in, int B, int T, int Cin, int H, int W, int Cout,
                               int kt, int kh, int kw, int stride, int pad, float *workspace,
                               float *scratch)
{
	int pt = (kt - 1) / 2, khw = kh * kw;
	int Ho = dm_conv2d_out_size(H, kh, stride, pad),
	    Wo = dm_conv2d_out_size(W, kw, stride, pad);
	size_t fi = (size_t)Cin * H * W, fo = (size_t)Cout * Ho * Wo, wk = (size_t)Cout * Cin * khw;
	float *g2 = scratch + wk;
	for (int d = 0; d < kt; d++) {
		int to, ti, n = pairs(T, d, pt, &to, &ti);
		if (n < 1)
			continue;
		memset(g2, 0, wk * sizeof *g2);
		if (d == pt)
			dm_conv2d_backward_weight_prec(prec, g2, dbias, dout, in, B * T, Cin, H, W,
			                               Cout, kh, kw, stride, pad, workspace);
		else
			for (int b = 0; b < B; b++)
				dm_conv2d_backward_weight_prec(
				    prec, g2, NULL, dout + ((size_t)b * T + to) * fo,
				    in + ((size_t)b * T + ti) * fi, n, Cin, H, W, Cout, kh, kw,
				    stride, pad, workspace);
		unslice_add(dweight, g2, Cout, Cin, kt, khw, d);
	}
}

/* conv3d.h - 3-D convolution over the frames of clips (or the slices of
 * volumes), kt x k x k with zero padding (kt-1)/2 in time, built from the
 * 2-D convolution of conv.h: out[t] = bias + sum_d conv2d(in[t + d - pt],
 * weight[:, :, d]) over the frames t + d - pt inside the clip.  Stride and
 * padding in H and W are conv2d's; time has stride 1, so T is kept.
 *
 * Layouts: activations frame-major, B x T x C x H x W (the layout the
 * per-frame layers of unet3d run on); weight Cout x Cin x kt x kh x kw, as
 * torch.nn.Conv3d.weight; bias Cout.  Forward overwrites out; backward_input
 * overwrites or adds (accumulate) as conv.h; backward_weight accumulates.
 * workspace is conv2d's for the frame shape (dm_conv2d_workspace); scratch
 * is dm_conv3d_scratch floats.  prec is conv.h's (DM_PREC_FP32 or
 * DM_PREC_BF16).  Bit-identical for any thread count (conv.h;
 * the frame offsets are summed in a fixed order).
 */
#ifndef DM_CONV3D_H
#define DM_CONV3D_H

#include <stddef.h>

/* Floats of scratch for this shape (one kernel slice, its gradient, and
 * the output of one clip's shifted frames). */
size_t dm_conv3d_scratch(int T, int Cin, int Cout, int Ho, int Wo, int kh, int kw);

void dm_conv3d_forward(int prec, float *out, const float *in, const float *weight,
                       const float *bias, int B, int T, int Cin, int H, int W, int Cout, int kt,
                       int kh, int kw, int stride, int pad, float *workspace, float *scratch);
void dm_conv3d_backward_input(int prec, float *din, const float *dout, const float *weight, int B,
                              int T, int Cin, int H, int W, int Cout, int kt, int kh, int kw,
                              int stride, int pad, int accumulate, float *workspace,
                              float *scratch);
void dm_conv3d_backward_weight(int prec, float *dweight, float *dbias, const float *dout,
                               const float *in, int B, int T, int Cin, int H, int W, int Cout,
                               int kt, int kh, int kw, int stride, int pad, float *workspace,
                               float *scratch);

#endif

/* conv.h - 2-D convolution (cross-correlation, as PyTorch's Conv2d) with
 * its two backward passes, for the square kernels the models use (3x3 and
 * 1x1; any kh, kw works), stride 1 or 2 (any >= 1), zero padding.
 *
 * Layouts: activations NCHW (B x C x H x W, contiguous), weights OIHW
 * (Cout x Cin x kh x kw, contiguous, as torch.nn.Conv2d.weight), bias Cout.
 * The output is B x Cout x Ho x Wo with Ho = dm_conv2d_out_size(H, kh,
 * stride, pad), likewise Wo.
 *
 * Method: GEMM over the im2col matrix (Cin*kh*kw rows x Ho*Wo columns per
 * image).  The forward pass and the weight gradient are implicit GEMMs over
 * the whole batch (im2col gathered as the GEMM packs its panels, never
 * stored); the input gradient runs one GEMM per image into an im2col-sized
 * buffer and scatters it back (col2im), which is what the workspace is
 * for: dm_conv2d_workspace(...) floats, allocated once per shape and
 * reused every step (the size depends neither on B nor on the thread
 * count).  Pass it to all three functions (forward and backward_weight
 * accept NULL today); it may be NULL when the size is 0.  It is scratch:
 * its contents on return mean nothing, and two calls running at the same
 * time need two workspaces.
 *
 * Threads: OpenMP inside.  Every result is bit-identical for any thread
 * count: GEMM sums each element in one fixed order (see gemm.h), the input
 * gradient is split between threads by input channel so no two threads
 * add into the same float, and the bias gradient is a fixed-order double
 * sum.  Results depend on the SIMD path (cpu.h) only through rounding.
 *
 * Sizes are not validated here (these are inner-loop kernels): callers
 * pass positive sizes with Ho, Wo >= 1, and buffers that do not overlap.
 */
#ifndef DM_CONV_H
#define DM_CONV_H

#include <stddef.h>

/* Output extent along one axis: (n + 2*pad - k) / stride + 1. */
int dm_conv2d_out_size(int n, int k, int stride, int pad);

/* Floats of workspace that the three functions below need for this shape
 * (Cin*kh*kw*Ho*Wo; 0 for 1x1/stride 1/pad 0). */
size_t dm_conv2d_workspace(int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                           int pad);

/* out = conv(in, weight) + bias.  out is overwritten.  bias may be NULL
 * (no bias). */
void dm_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                       int B, int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                       int pad, float *workspace);

/* Gradient with respect to the input: din (B x Cin x H x W) is overwritten
 * when accumulate == 0, or ADDED TO (din += ...) when accumulate != 0 (for
 * inputs that also feed a skip connection). */
void dm_conv2d_backward_input(float *din, const float *dout, const float *weight, int B,
                              int Cin, int H, int W, int Cout, int kh, int kw, int stride,
                              int pad, int accumulate, float *workspace);

/* Gradients with respect to the weights and bias.  They ACCUMULATE:
 * dweight += dL/dweight (Cout x Cin x kh x kw), dbias += dL/dbias (Cout),
 * so that gradients add up over micro-batches; zero them at the start of a
 * step.  dbias may be NULL (no bias).  in is the forward input. */
void dm_conv2d_backward_weight(float *dweight, float *dbias, const float *dout,
                               const float *in, int B, int Cin, int H, int W, int Cout,
                               int kh, int kw, int stride, int pad, float *workspace);

/* The same three with a precision (nn/gemm.h): DM_PREC_FP32 is exactly the
 * functions above; DM_PREC_BF16 rounds the two operands of every product
 * (input or im2col, weights, output gradient) to bf16 and sums in fp32.
 * Routes: with AMX (cpu.h dm_simd_bf16), 3x3 stride-1 "same" and 1x1
 * stride-1 convolutions with channels in multiples of 32 run on the tiles
 * (nn/simd/conv_amx.c: no im2col, the AMX unit's own sum order), the other
 * shapes round both operands into scratch and take the fp32 routes (exact
 * products, so the same contract); without AMX, dm_gemm_bf16 on the im2col
 * form.  Every route is bit-identical for any thread count.  The bias and
 * its gradient stay fp32 (double sums). */
void dm_conv2d_forward_prec(int prec, float *out, const float *in, const float *weight,
                            const float *bias, int B, int Cin, int H, int W, int Cout, int kh,
                            int kw, int stride, int pad, float *workspace);
void dm_conv2d_backward_input_prec(int prec, float *din, const float *dout,
                                   const float *weight, int B, int Cin, int H, int W, int Cout,
                                   int kh, int kw, int stride, int pad, int accumulate,
                                   float *workspace);
void dm_conv2d_backward_weight_prec(int prec, float *dweight, float *dbias, const float *dout,
                                    const float *in, int B, int Cin, int H, int W, int Cout,
                                    int kh, int kw, int stride, int pad, float *workspace);

#endif

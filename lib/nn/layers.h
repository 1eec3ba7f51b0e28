/* layers.h - network layers, each a forward and a backward function.
 *
 * In the manner of llm.c: plain functions over flat float arrays with
 * explicit sizes, no graph, no hidden state.  A model's forward pass is a
 * list of these calls; its backward pass is the same list reversed.
 *
 * Conventions (all functions):
 *  - Images are NCHW: B samples, C channels, HW = H*W positions, stored
 *    x[(b*C + c)*HW + p].
 *  - Forward functions WRITE their outputs (out is overwritten), except
 *    dm_channel_bias_forward, which adds in place.
 *  - Backward functions ACCUMULATE (+=) into every gradient they produce,
 *    input gradients and parameter gradients alike, as llm.c does: the
 *    caller zeroes the gradient buffers once per step, and a tensor that
 *    feeds two layers (a residual, a skip) simply receives both.  A gradient
 *    pointer that is NULL is not computed (e.g. dx of the first layer).
 *  - Buffers must not overlap unless a function says so.
 *  - Sizes are ints; the caller guarantees they are >= 1 and that the
 *    products fit in size_t (models check their configuration once).
 *  - Threads: OpenMP over samples/channels/rows.  Every function here gives
 *    bit-identical results for any thread count: no reduction's order
 *    depends on the number of threads (parameter gradients are summed over
 *    the batch serially per channel), and the GEMMs used (gemm.h) promise
 *    the same.
 */
#ifndef DM_LAYERS_H
#define DM_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- GroupNorm (Wu & He 2018) ----------------------------------------
 * x, out: B x C x HW; C divisible by G.  weight, bias: C (affine).
 * Statistics over each (sample, group) of C/G * HW values in two passes
 * (mean, then biased variance about it), each summed per channel in float
 * lanes and across channels in double, as torch.nn.GroupNorm computes:
 *   out = (x - mean) * rstd * weight[c] + bias[c],  rstd = 1/sqrt(var + eps).
 * mean, rstd: B x G, written by forward and read by backward. */
void dm_groupnorm_forward(float *out, float *mean, float *rstd, const float *x,
                          const float *weight, const float *bias, int B, int C, int HW, int G,
                          float eps);
void dm_groupnorm_backward(float *dx, float *dweight, float *dbias, const float *dout,
                           const float *x, const float *mean, const float *rstd,
                           const float *weight, int B, int C, int HW, int G);

/* Fused GroupNorm + SiLU: out = silu(groupnorm(x)).  The backward pass
 * recomputes the normalised values from x, mean and rstd instead of keeping
 * the pre-activation, saving one activation-sized buffer per use. */
void dm_groupnorm_silu_forward(float *out, float *mean, float *rstd, const float *x,
                               const float *weight, const float *bias, int B, int C, int HW,
                               int G, float eps);
void dm_groupnorm_silu_backward(float *dx, float *dweight, float *dbias, const float *dout,
                                const float *x, const float *mean, const float *rstd,
                                const float *weight, const float *bias, int B, int C, int HW,
                                int G);

/* ---- SiLU: out = x * sigmoid(x), elementwise over n values. -----------
 * out may equal x (in place) in forward.  exp is a vectorisable polynomial
 * (relative error < 1e-6 against the exact value, saturating for
 * |x| > 87), used by the fused GroupNorm+SiLU too. */
void dm_silu_forward(float *out, const float *x, size_t n);
void dm_silu_backward(float *dx, const float *dout, const float *x, size_t n);

/* ---- Linear: out = x W^T + b (torch.nn.Linear) -------------------------
 * x: B x in, W: out x in (PyTorch layout), b: out (may be NULL),
 * out: B x outf.  Products through dm_sgemm.  Backward: dx += dout W,
 * dW += dout^T x, db += column sums of dout (summed over b in order). */
void dm_linear_forward(float *out, const float *x, const float *W, const float *b, int B,
                       int in, int outf);
void dm_linear_backward(float *dx, float *dW, float *db, const float *dout, const float *x,
                        const float *W, int B, int in, int outf);

/* Linear + SiLU in one pass over the output (an MLP's hidden layer):
 * pre = x W^T + b (the linear output, kept for backward) and act =
 * silu(pre), both written; b may be NULL.  pre is the same as
 * dm_linear_forward's output. */
void dm_linear_silu_forward(float *pre, float *act, const float *x, const float *W,
                            const float *b, int B, int in, int outf);
/* Its backward up to the linear layer's input: dpre = dact * silu'(pre),
 * WRITTEN (not accumulated), B x outf; and db += column sums of dpre (rows
 * in order, in double, as dm_linear_backward) when db is not NULL.  Then
 * dm_linear_backward(dx, dW, NULL, dpre, ...) finishes the layer. */
void dm_silu_backward_bias(float *dpre, float *db, const float *dact, const float *pre, int B,
                           int outf);

/* ---- Single-head softmax self-attention core over N = H*W positions ----
 * q, k, v, out: B x C x N.  att: B x N x N, written by forward (saved for
 * backward):
 *   att[b,i,j] = softmax_j( sum_c q[b,c,i] k[b,c,j] / sqrt(C) )
 *   out[b,c,i] = sum_j v[b,c,j] att[b,i,j]          (out = v att^T)
 * The 1x1 convolutions around it belong to the model.
 * Backward: scratch is N x N floats of workspace (contents undefined on
 * return); dq, dk, dv accumulate. */
void dm_attention_forward(float *out, float *att, const float *q, const float *k,
                          const float *v, int B, int C, int N);
void dm_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout,
                           const float *q, const float *k, const float *v, const float *att,
                           int B, int C, int N);

/* ---- Nearest-neighbour 2x upsampling ----------------------------------
 * x: B x C x H x W, out: B x C x 2H x 2W, out[.., y, x] = in[.., y/2, x/2].
 * Backward: dx += the sum of the four gradients each input fed. */
void dm_upsample2x_forward(float *out, const float *x, int B, int C, int H, int W);
void dm_upsample2x_backward(float *dx, const float *dout, int B, int C, int H, int W);

/* ---- Channel concatenation and split ------------------------------------
 * a: B x Ca x HW, b: B x Cb x HW, out: B x (Ca+Cb) x HW = cat((a, b), dim 1).
 * Backward = split: da += dout[:, :Ca], db += dout[:, Ca:] (either NULL to
 * skip).  dm_split_forward copies the two parts out (overwriting). */
void dm_concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb,
                       int HW);
void dm_concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW);
void dm_split_forward(float *a, float *b, const float *x, int B, int Ca, int Cb, int HW);

/* ---- Sinusoidal time embedding (MODELS.md; forward only) ---------------
 * t: B values (already the integer step, or 999*t for continuous t),
 * out: B x dim.  half = dim/2, freq_i = exp(-ln(10000) * i / (half - 1)),
 * out[b] = [sin(t*freq_0..half-1), cos(t*freq_0..half-1)], and a trailing 0
 * when dim is odd.  half == 1 uses freq_0 = 1.  Computed in float32 the way
 * the PyTorch twin does (float freq, float product), so the two agree to
 * sinf/cosf rounding. */
void dm_timestep_embedding(float *out, const float *t, int B, int dim);

/* ---- Per-sample-weighted MSE loss ---------------------------------------
 * pred, target: B x D; w: B weights (NULL = all 1).
 *   loss = (1/B) * sum_b w[b] * (1/D) * sum_d (pred[b,d] - target[b,d])^2
 * i.e. PyTorch's (w * ((pred - target)**2).mean(dim=(1, ...))).mean().
 * Sums in double, in a fixed order.  per_sample (B doubles, may be NULL)
 * receives the unweighted per-sample means.  Returns loss.
 * Backward: dpred += dloss * w[b] * 2 (pred - target) / (B * D). */
double dm_mse_forward(double *per_sample, const float *pred, const float *target,
                      const float *w, int B, size_t D);
void dm_mse_backward(float *dpred, const float *pred, const float *target, const float *w,
                     int B, size_t D, float dloss);

/* ---- Dropout (inverted, as torch.nn.Dropout in training mode) -----------
 * n values; element e is kept when u >= p, u = uniform number e of
 * (seed, DM_RNG_DROPOUT, index) from rng.h, and kept values are scaled by
 * 1/(1-p).  The caller folds step, layer (and anything else that must give
 * a fresh mask) into index; the mask never depends on the thread count.
 * p == 0 copies; p >= 1 zeroes.  Backward recomputes the mask from the same
 * (seed, index): dx += mask * dout / (1-p).  out may equal x. */
void dm_dropout_forward(float *out, const float *x, size_t n, float p, uint64_t seed,
                        uint64_t index);
void dm_dropout_backward(float *dx, const float *dout, size_t n, float p, uint64_t seed,
                         uint64_t index);

/* ---- Per-sample channel bias (time-embedding projection in ResBlocks) ----
 * x: B x C x HW, bias: B x C.  Forward, in place: x[b,c,:] += bias[b,c].
 * Backward: dbias[b,c] += sum_p dout[b,c,p] (the gradient to x is dout
 * itself, which the caller already holds). */
void dm_channel_bias_forward(float *x, const float *bias, int B, int C, int HW);
void dm_channel_bias_backward(float *dbias, const float *dout, int B, int C, int HW);
/* The same over clips of T frames, x: B x T x C x HW, each frame of clip b
 * given bias[b, :]; backward sums over the frames and positions. */
void dm_channel_bias_frames_forward(float *x, const float *bias, int B, int T, int C, int HW);
void dm_channel_bias_frames_backward(float *dbias, const float *dout, int B, int T, int C,
                                     int HW);

#endif

/* tattn.h - temporal self-attention over the frames of a clip (the
 * space-time factorised U-Net of Ho et al. 2022, "Video Diffusion Models",
 * §3: attention over the time axis at every spatial position), with a
 * learned relative frame-position bias, and the swap of two axes that
 * takes a clip between the stream's C x T x S and the frame-major T x C x S
 * the per-frame layers run on.
 *
 * Conventions as layers.h: forward writes, backward accumulates (+=), a
 * NULL gradient is not computed, and results are bit-identical for any
 * thread count (each output element is summed by one thread in a fixed
 * order; the bias gradient is summed per offset over (b, t, s) in order).
 */
#ifndef DM_TATTN_H
#define DM_TATTN_H

/* ---- Temporal attention ------------------------------------------------
 * q, k, v, out: B x T x C x S (B clips, T frames, C channels, S = H*W
 * positions).  rel: 2T-1 biases (NULL = none), rel[u - t + T-1] added to
 * the logit of frame t attending to frame u (a relative position term in
 * the manner of Shaw et al. 2018, one scalar per offset).  att: B x T x T x S,
 * written by forward and read by backward:
 *   att[b,t,u,s] = softmax_u( sum_c q[b,t,c,s] k[b,u,c,s] / sqrt(C)
 *                             + rel[u - t + T-1] )
 *   out[b,t,c,s] = sum_u att[b,t,u,s] v[b,u,c,s]
 * Backward: scratch is B x T x T x S floats (contents undefined on return);
 * dq, dk, dv (like q) and drel (2T-1) accumulate. */
void dm_tattn_forward(float *out, float *att, const float *q, const float *k, const float *v,
                      const float *rel, int B, int T, int C, int S);
void dm_tattn_backward(float *dq, float *dk, float *dv, float *drel, float *scratch,
                       const float *dout, const float *q, const float *k, const float *v,
                       const float *att, int B, int T, int C, int S);

/* ---- Axis swap ---------------------------------------------------------
 * x: B x A1 x A2 x S, out: B x A2 x A1 x S, out[b,j,i,s] = x[b,i,j,s].
 * Backward: dx[b,i,j,s] += dout[b,j,i,s]. */
void dm_swap_axes_forward(float *out, const float *x, int B, int A1, int A2, int S);
void dm_swap_axes_backward(float *dx, const float *dout, int B, int A1, int A2, int S);

#endif

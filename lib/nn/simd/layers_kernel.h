/* layers_kernel.h - the SIMD kernels under the elementwise layers and the
 * optimiser (internal to libdm; layers.c, mlp.c and optim.c dispatch on
 * dm_simd() and keep a scalar fallback for every one of them).
 *
 * SiLU kernels compute exp with the same degree-6 polynomial as the scalar
 * path but with fused multiply-adds, so the two paths may differ in the
 * last bit (both stay within 1e-6 relative of the exact SiLU).  The AdamW
 * kernel does exactly the scalar arithmetic (no FMA), so it is
 * bit-identical to the scalar path. */
#ifndef DM_LAYERS_KERNEL_H
#define DM_LAYERS_KERNEL_H

#include <stddef.h>

/* out[i] = silu(x[i]) (out may equal x). */
void dm_silu_fwd_avx2(float *out, const float *x, size_t n);
/* dx[i] += dout[i] * silu'(x[i]). */
void dm_silu_bwd_avx2(float *dx, const float *dout, const float *x, size_t n);
/* Rows r < B of N values (rows ld apart in every array): pre[r,o] += b[o] (b may be NULL), act = silu(pre). */
void dm_bias_silu_avx2(float *pre, float *act, const float *b, int B, int N, int ld);
/* dpre[r,o] = dact[r,o] * silu'(pre[r,o]) (written), and, when acc is not
 * NULL, acc[o] += dpre[r,o] in double, rows in order. */
void dm_silu_grad_rows_avx2(float *dpre, double *acc, const float *dact, const float *pre,
                            int B, int N, int ld);
/* acc[o] += d[r,o] in double over rows r = 0..B-1 in order. */
void dm_colsum_avx2(double *acc, const float *d, int B, int N, int ld);
/* op[i] = xp[i] * a + s, then silu when fuse (the GroupNorm affine). */
void dm_affine_silu_avx2(float *op, const float *xp, int n, float a, float s, int fuse);

/* AdamW over [lo, hi) as dm_adamw_step's scalar loop (bit-identical). */
void dm_adamw_avx2(float *param, const float *grad, float *m, float *v, size_t n,
                   float step_size, float bc2_sqrt, float decay, float one_b1, float b2,
                   float one_b2, float eps);
/* Sum of squares of n floats in double (4 lanes, then lanes in order). */
double dm_sumsq_avx2(const float *g, size_t n);

/* One channel of the GroupNorm(+SiLU) backward's first pass (layers.c). */
void dm_gn_bwd_chan_avx2(float *dxp, const float *xp, const float *dp, int HW, float mu,
                         float rs, float w, float bb, int fuse, double *s1, double *s2);

/* GroupNorm statistics: sum, and sum of squared deviations from mu, of n
 * floats (bit-identical to layers.c's scalar loops). */
double dm_lane_sum_avx2(const float *p, size_t n);
double dm_lane_sqdev_avx2(const float *p, size_t n, float mu);

/* Softmax of one row of N floats in place (max subtracted, sum in double). */
void dm_softmax_row_avx2(float *r, int N);

/* EMA over n floats as dm_ema_update's scalar loop (bit-identical). */
void dm_ema_avx2(float *ema, const float *w, size_t n, float a);

#endif

/* optim.h - AdamW, gradient-norm clipping and EMA over one parameter block.
 *
 * As llm.c: all parameters of a model live in one contiguous float array
 * (and so do their gradients and the two Adam moments), so each of these
 * is one loop over n floats.  Elementwise updates are trivially independent
 * of the thread count; the gradient norm is summed in double over a fixed
 * partition of the array, so it is bit-identical for any thread count too.
 */
#ifndef DM_OPTIM_H
#define DM_OPTIM_H

#include <stddef.h>

/* One AdamW step (Loshchilov & Hutter 2019), exactly the arithmetic of
 * torch.optim.AdamW (amsgrad off, maximize off), on n floats:
 *   param *= 1 - lr * weight_decay                (decoupled decay)
 *   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2
 *   param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * t is the step number counting from 1 (the first update has t = 1).
 * The hyperparameters are doubles as in Python: every scalar is formed in
 * double (1 - beta2, lr / (1 - beta1^t), ...) and rounded to float once,
 * as torch's single-tensor implementation does, so the float arithmetic
 * per element matches it.
 * m and v start zeroed and are updated in place. */
void dm_adamw_step(float *param, const float *grad, float *m, float *v, size_t n, double lr,
                   double beta1, double beta2, double eps, double weight_decay, long t);

/* The global L2 norm of grad (summed in double, fixed order). */
double dm_grad_norm(const float *grad, size_t n);

/* Clip as torch.nn.utils.clip_grad_norm_: when max_norm > 0 and the norm
 * exceeds it, scale grad by max_norm / (norm + 1e-6).  Returns the norm
 * before clipping.  max_norm <= 0 only measures. */
double dm_grad_clip(float *grad, size_t n, double max_norm);

/* Exponential moving average of the weights: ema = decay ema + (1-decay) w
 * (computed as ema + (1 - decay) (w - ema), as torch's lerp_). */
void dm_ema_update(float *ema, const float *w, size_t n, float decay);

#endif

/* layers_avx2.c - AVX2+FMA kernels for SiLU, the GroupNorm affine, the
 * bias column sums and AdamW (see layers_kernel.h). */
#include <immintrin.h>

#include "nn/simd/layers_kernel.h"

/* e^x, x clamped to [-87, 88]: x = n ln2 + r, |r| <= ln2/2, a degree-6
 * Taylor polynomial for e^r (relative error < 2e-7), 2^n in the exponent
 * bits.  NaN: the clamps return the bound, so NaN must be carried by the
 * caller's other operand (silu's numerator y does). */
static inline __m256 exp8(__m256 x)
{
	x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
	x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
	                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.0f / 720.0f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline __m256 silu8(__m256 y)
{
	__m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), y));
	return _mm256_div_ps(y, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* s (1 + y (1 - s)), s = 1 / (1 + e^-y) */
static inline __m256 silu_grad8(__m256 y)
{
	__m256 one = _mm256_set1_ps(1.0f);
	__m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), y))));
	return _mm256_mul_ps(s, _mm256_fmadd_ps(y, _mm256_sub_ps(one, s), one));
}

/* The tail of n % 8 values through a masked load/store. */
static inline __m256i tail_mask(size_t k)
{
	static const int m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
	return _mm256_loadu_si256((const __m256i *)(m + 8 - k));
}

void dm_silu_fwd_avx2(float *out, const float *x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, silu8(_mm256_loadu_ps(x + i)));
	if (i < n) {
		__m256i k = tail_mask(n - i);
		_mm256_maskstore_ps(out + i, k, silu8(_mm256_maskload_ps(x + i, k)));
	}
}

void dm_silu_bwd_avx2(float *dx, const float *dout, const float *x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 g = _mm256_mul_ps(_mm256_loadu_ps(dout + i), silu_grad8(_mm256_loadu_ps(x + i)));
		_mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), g));
	}
	if (i < n) {
		__m256i k = tail_mask(n - i);
		__m256 g = _mm256_mul_ps(_mm256_maskload_ps(dout + i, k),
		                         silu_grad8(_mm256_maskload_ps(x + i, k)));
		_mm256_maskstore_ps(dx + i, k, _mm256_add_ps(_mm256_maskload_ps(dx + i, k), g));
	}
}

void dm_bias_silu_avx2(float *pre, float *act, const float *b, int B, int N, int ld)
{
	for (int r = 0; r < B; r++) {
		float *p = pre + (size_t)r * ld, *a = act + (size_t)r * ld;
		int o = 0;
		for (; o + 8 <= N; o += 8) {
			__m256 y = _mm256_loadu_ps(p + o);
			if (b) {
				y = _mm256_add_ps(y, _mm256_loadu_ps(b + o));
				_mm256_storeu_ps(p + o, y);
			}
			_mm256_storeu_ps(a + o, silu8(y));
		}
		if (o < N) {
			__m256i k = tail_mask((size_t)(N - o));
			__m256 y = _mm256_maskload_ps(p + o, k);
			if (b) {
				y = _mm256_add_ps(y, _mm256_maskload_ps(b + o, k));
				_mm256_maskstore_ps(p + o, k, y);
			}
			_mm256_maskstore_ps(a + o, k, silu8(y));
		}
	}
}

static inline void acc_add(double *acc, __m256 v)
{
	_mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), _mm256_cvtps_pd(_mm256_castps256_ps128(v))));
	_mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))));
}

void dm_silu_grad_rows_avx2(float *dpre, double *acc, const float *dact, const float *pre,
                            int B, int N, int ld)
{
	for (int r = 0; r < B; r++) {
		size_t off = (size_t)r * ld;
		int o = 0;
		for (; o + 8 <= N; o += 8) {
			__m256 g = _mm256_mul_ps(_mm256_loadu_ps(dact + off + o),
			                         silu_grad8(_mm256_loadu_ps(pre + off + o)));
			_mm256_storeu_ps(dpre + off + o, g);
			if (acc)
				acc_add(acc + o, g);
		}
		for (; o < N; o++) {
			__m256 g = _mm256_mul_ps(_mm256_set1_ps(dact[off + o]),
			                         silu_grad8(_mm256_set1_ps(pre[off + o])));
			float f = _mm256_cvtss_f32(g);
			dpre[off + o] = f;
			if (acc)
				acc[o] += f;
		}
	}
}

void dm_colsum_avx2(double *acc, const float *d, int B, int N, int ld)
{
	for (int r = 0; r < B; r++) {
		const float *p = d + (size_t)r * ld;
		int o = 0;
		for (; o + 8 <= N; o += 8)
			acc_add(acc + o, _mm256_loadu_ps(p + o));
		for (; o < N; o++)
			acc[o] += p[o];
	}
}

void dm_affine_silu_avx2(float *op, const float *xp, int n, float a, float s, int fuse)
{
	__m256 va = _mm256_set1_ps(a), vs = _mm256_set1_ps(s);
	int i = 0;
	if (fuse) {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(op + i, silu8(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xp + i), va), vs)));
	} else {
		for (; i + 8 <= n; i += 8)
			_mm256_storeu_ps(op + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(xp + i), va), vs));
	}
	if (i < n) {
		__m256i k = tail_mask((size_t)(n - i));
		__m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_maskload_ps(xp + i, k), va), vs);
		_mm256_maskstore_ps(op + i, k, fuse ? silu8(y) : y);
	}
}

/* The scalar loop of optim.c, eight at a time, each operation rounded as
 * there (mul then add, never fused), so the results are identical. */
void dm_adamw_avx2(float *param, const float *grad, float *m, float *v, size_t n,
                   float step_size, float bc2_sqrt, float decay, float one_b1, float b2,
                   float one_b2, float eps)
{
	__m256 vss = _mm256_set1_ps(step_size), vbc = _mm256_set1_ps(bc2_sqrt),
	       vdec = _mm256_set1_ps(decay), vb1 = _mm256_set1_ps(one_b1), vb2 = _mm256_set1_ps(b2),
	       vob2 = _mm256_set1_ps(one_b2), veps = _mm256_set1_ps(eps);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 g = _mm256_loadu_ps(grad + i), mo = _mm256_loadu_ps(m + i),
		       vo = _mm256_loadu_ps(v + i);
		__m256 p = _mm256_mul_ps(_mm256_loadu_ps(param + i), vdec);
		__m256 mi = _mm256_add_ps(mo, _mm256_mul_ps(vb1, _mm256_sub_ps(g, mo)));
		__m256 vi = _mm256_add_ps(_mm256_mul_ps(vo, vb2), _mm256_mul_ps(_mm256_mul_ps(vob2, g), g));
		__m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc), veps);
		_mm256_storeu_ps(param + i, _mm256_sub_ps(p, _mm256_mul_ps(vss, _mm256_div_ps(mi, den))));
		_mm256_storeu_ps(m + i, mi);
		_mm256_storeu_ps(v + i, vi);
	}
	for (; i < n; i++) {
		float g = grad[i];
		float p = param[i] * decay;
		float mi = m[i] + one_b1 * (g - m[i]);
		float vi = v[i] * b2 + one_b2 * g * g;
		float denom = __builtin_sqrtf(vi) / bc2_sqrt + eps;
		param[i] = p - step_size * (mi / denom);
		m[i] = mi;
		v[i] = vi;
	}
}

double dm_sumsq_avx2(const float *g, size_t n)
{
	__m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 x = _mm256_loadu_ps(g + i);
		__m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)),
		        hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
		a0 = _mm256_fmadd_pd(lo, lo, a0);
		a1 = _mm256_fmadd_pd(hi, hi, a1);
	}
	double t[8];
	_mm256_storeu_pd(t, a0);
	_mm256_storeu_pd(t + 4, a1);
	double s = 0;
	for (int j = 0; j < 8; j++)
		s += t[j];
	for (; i < n; i++)
		s += (double)g[i] * g[i];
	return s;
}

/* One channel of the GroupNorm backward's first pass (layers.c,
 * gn_backward_group): xh = (x - mu) rs, dy = dout (times silu'(xh w + bb)
 * when fuse), dx += rs (dy w) when dx is not NULL, and the sums of dy and
 * dy xh in 16 float lanes (elements i and i + 16 in the same lane), the
 * lanes then added in double in order, the tail in double: the scalar
 * loop's order exactly. */
void dm_gn_bwd_chan_avx2(float *dxp, const float *xp, const float *dp, int HW, float mu,
                         float rs, float w, float bb, int fuse, double *s1, double *s2)
{
	__m256 vmu = _mm256_set1_ps(mu), vrs = _mm256_set1_ps(rs), vw = _mm256_set1_ps(w),
	       vb = _mm256_set1_ps(bb), vrw = _mm256_set1_ps(rs);
	__m256 a1l = _mm256_setzero_ps(), a1h = a1l, a2l = a1l, a2h = a1l;
	int i = 0;
	for (; i + 16 <= HW; i += 16) {
		__m256 xl = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xp + i), vmu), vrs);
		__m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xp + i + 8), vmu), vrs);
		__m256 dl = _mm256_loadu_ps(dp + i), dh = _mm256_loadu_ps(dp + i + 8);
		if (fuse) {
			dl = _mm256_mul_ps(dl, silu_grad8(_mm256_add_ps(_mm256_mul_ps(xl, vw), vb)));
			dh = _mm256_mul_ps(dh, silu_grad8(_mm256_add_ps(_mm256_mul_ps(xh, vw), vb)));
		}
		a1l = _mm256_add_ps(a1l, dl);
		a1h = _mm256_add_ps(a1h, dh);
		a2l = _mm256_add_ps(a2l, _mm256_mul_ps(dl, xl));
		a2h = _mm256_add_ps(a2h, _mm256_mul_ps(dh, xh));
		if (dxp) {
			_mm256_storeu_ps(dxp + i, _mm256_add_ps(_mm256_loadu_ps(dxp + i),
			                                        _mm256_mul_ps(vrw, _mm256_mul_ps(dl, vw))));
			_mm256_storeu_ps(dxp + i + 8, _mm256_add_ps(_mm256_loadu_ps(dxp + i + 8),
			                                            _mm256_mul_ps(vrw, _mm256_mul_ps(dh, vw))));
		}
	}
	float l1[16], l2[16];
	_mm256_storeu_ps(l1, a1l);
	_mm256_storeu_ps(l1 + 8, a1h);
	_mm256_storeu_ps(l2, a2l);
	_mm256_storeu_ps(l2 + 8, a2h);
	double t1 = 0, t2 = 0;
	for (int j = 0; j < 16; j++)
		t1 += l1[j], t2 += l2[j];
	for (; i < HW; i += 8) {
		int k = HW - i < 8 ? HW - i : 8;
		__m256i m = tail_mask((size_t)k);
		__m256 xv = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xp + i, m), vmu), vrs);
		__m256 dv = _mm256_maskload_ps(dp + i, m);
		if (fuse)
			dv = _mm256_mul_ps(dv, silu_grad8(_mm256_add_ps(_mm256_mul_ps(xv, vw), vb)));
		float xs[8], ds[8];
		_mm256_storeu_ps(xs, xv);
		_mm256_storeu_ps(ds, dv);
		for (int j = 0; j < k; j++) {
			t1 += ds[j];
			t2 += (double)ds[j] * xs[j];
			if (dxp)
				dxp[i + j] += rs * (ds[j] * w);
		}
	}
	*s1 = t1;
	*s2 = t2;
}

/* layers.c's lane_sum and lane_sqdev: 16 float lanes (two ymm), the lanes
 * added in double in order, the tail in double: the same arithmetic as
 * the scalar loops (no fused multiply-add), so bit-identical to them. */
double dm_lane_sum_avx2(const float *p, size_t n)
{
	__m256 a = _mm256_setzero_ps(), b = a;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
		b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
	}
	float l[16];
	_mm256_storeu_ps(l, a);
	_mm256_storeu_ps(l + 8, b);
	double s = 0;
	for (int j = 0; j < 16; j++)
		s += l[j];
	for (; i < n; i++)
		s += p[i];
	return s;
}

double dm_lane_sqdev_avx2(const float *p, size_t n, float mu)
{
	__m256 a = _mm256_setzero_ps(), b = a, m = _mm256_set1_ps(mu);
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(p + i), m);
		__m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 8), m);
		a = _mm256_add_ps(a, _mm256_mul_ps(d0, d0));
		b = _mm256_add_ps(b, _mm256_mul_ps(d1, d1));
	}
	float l[16];
	_mm256_storeu_ps(l, a);
	_mm256_storeu_ps(l + 8, b);
	double s = 0;
	for (int j = 0; j < 16; j++)
		s += l[j];
	for (; i < n; i++) {
		double d = (double)p[i] - mu;
		s += d * d;
	}
	return s;
}

/* One softmax row in place: max, e^(x - max) eight at a time (the
 * polynomial exp, < 2e-7 relative), the sum in double in order, scaled by
 * the rounded reciprocal, as layers.c's scalar loop. */
void dm_softmax_row_avx2(float *r, int N)
{
	float mx = r[0];
	int j = 0;
	if (N >= 8) {
		__m256 m = _mm256_loadu_ps(r);
		for (j = 8; j + 8 <= N; j += 8)
			m = _mm256_max_ps(m, _mm256_loadu_ps(r + j));
		float l[8];
		_mm256_storeu_ps(l, m);
		for (int i = 0; i < 8; i++)
			mx = l[i] > mx ? l[i] : mx;
	}
	for (; j < N; j++)
		mx = r[j] > mx ? r[j] : mx;
	__m256 vm = _mm256_set1_ps(mx);
	for (j = 0; j + 8 <= N; j += 8)
		_mm256_storeu_ps(r + j, exp8(_mm256_sub_ps(_mm256_loadu_ps(r + j), vm)));
	if (j < N) {
		__m256i k = tail_mask((size_t)(N - j));
		_mm256_maskstore_ps(r + j, k, exp8(_mm256_sub_ps(_mm256_maskload_ps(r + j, k), vm)));
	}
	double s = 0;
	for (j = 0; j < N; j++)
		s += r[j];
	__m256 inv = _mm256_set1_ps((float)(1.0 / s));
	for (j = 0; j + 8 <= N; j += 8)
		_mm256_storeu_ps(r + j, _mm256_mul_ps(_mm256_loadu_ps(r + j), inv));
	for (; j < N; j++)
		r[j] *= _mm256_cvtss_f32(inv);
}

/* ema += a (w - ema), as optim.c's scalar loop (no FMA: bit-identical). */
void dm_ema_avx2(float *ema, const float *w, size_t n, float a)
{
	__m256 va = _mm256_set1_ps(a);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 e = _mm256_loadu_ps(ema + i);
		_mm256_storeu_ps(ema + i, _mm256_add_ps(e, _mm256_mul_ps(va, _mm256_sub_ps(_mm256_loadu_ps(w + i), e))));
	}
	for (; i < n; i++)
		ema[i] += a * (w[i] - ema[i]);
}

/* conv_avx512.c - the AVX-512 direct-convolution micro-kernels (see
 * conv_kernel.h).
 *
 * Forward (and the input gradient, which conv.c runs as a forward pass of
 * the flipped kernel): rows x 32 outputs, output channels broadcast from
 * the packed weight panel, 32 positions as 2 zmm read straight from the
 * padded image.  12 x 32 = 24 accumulators + 2 for the input + 1 for the
 * broadcast fill 27 of the 32 registers; per tap that is 2 unaligned loads
 * (each usually split over two cache lines) and 12 broadcasts for 24 FMAs,
 * which leaves the two load ports room while both FMA ports stay busy.
 * 32 positions rather than 48: the padded-width strips of the unet shapes
 * (Q = 28*30, 14*16, 7*9 positions) waste 3%, 0% and 2% at 32, against 3%,
 * 7% and 52% at 48.
 *
 * Weight gradient: rows taps x 16*nv output channels, the tap values
 * broadcast from the padded image, dout read as nv aligned zmm per
 * position; rows * nv <= 24 accumulators (nv = 2: 12 rows; nv = 4: 6). */
#include <immintrin.h>

#include "nn/simd/conv_kernel.h"

#define MR DM_CONV_AVX512_MR
#define NR DM_CONV_AVX512_NR
#define NV (NR / 16)

static inline __attribute__((always_inline)) void
conv_rows(int rows, long K, const float *a, const float *b, const int *boff, float *c,
          long ldc)
{
	__m512 acc[MR][NV];
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			acc[i][v] = _mm512_setzero_ps();
	for (long p = 0; p < K; p++, a += MR) {
		const float *bp = b + boff[p];
		__m512 bv[NV];
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			bv[v] = _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 16
		for (int i = 0; i < rows; i++) {
			__m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
			for (int v = 0; v < NV; v++)
				acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
		}
	}
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			_mm512_storeu_ps(c + i * ldc + 16 * v, acc[i][v]);
}

void dm_conv_ukernel_avx512(int rows, long K, const float *a, const float *b, const int *boff,
                            float *c, long ldc)
{
	switch (rows) {
	case 1: conv_rows(1, K, a, b, boff, c, ldc); break;
	case 2: conv_rows(2, K, a, b, boff, c, ldc); break;
	case 3: conv_rows(3, K, a, b, boff, c, ldc); break;
	case 4: conv_rows(4, K, a, b, boff, c, ldc); break;
	case 5: conv_rows(5, K, a, b, boff, c, ldc); break;
	case 6: conv_rows(6, K, a, b, boff, c, ldc); break;
	case 7: conv_rows(7, K, a, b, boff, c, ldc); break;
	case 8: conv_rows(8, K, a, b, boff, c, ldc); break;
	case 9: conv_rows(9, K, a, b, boff, c, ldc); break;
	case 10: conv_rows(10, K, a, b, boff, c, ldc); break;
	case 11: conv_rows(11, K, a, b, boff, c, ldc); break;
	default: conv_rows(MR, K, a, b, boff, c, ldc); break;
	}
}

/* The same sums, stored straight into the output planes (see
 * conv_kernel.h): each zmm of 16 positions keeps the lanes that fall on an
 * output column (st->mask[v]), packed together (they are consecutive
 * outputs) and written at c + i*ldc + st->off[v], plus bias[i], or added
 * to what is there.  This replaces a pass over a scratch tile per image. */
static inline __attribute__((always_inline)) void
conv_rows_st(int rows, long K, const float *a, const float *b, const int *boff, float *c,
             long ldc, const dm_conv_store *st, const float *bias, int accumulate)
{
	__m512 acc[MR][NV];
#pragma GCC unroll 16
	for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			acc[i][v] = _mm512_setzero_ps();
	for (long p = 0; p < K; p++, a += MR) {
		const float *bp = b + boff[p];
		__m512 bv[NV];
#pragma GCC unroll 4
		for (int v = 0; v < NV; v++)
			bv[v] = _mm512_loadu_ps(bp + 16 * v);
#pragma GCC unroll 16
		for (int i = 0; i < rows; i++) {
			__m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
			for (int v = 0; v < NV; v++)
				acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
		}
	}
#pragma GCC unroll 4
	for (int v = 0; v < NV; v++) {
		__mmask16 m = st->mask[v];
		if (!m)
			continue;
		__mmask16 out = (__mmask16)((1u << __builtin_popcount(m)) - 1);
#pragma GCC unroll 16
		for (int i = 0; i < rows; i++) {
			float *d = c + i * ldc + st->off[v];
			__m512 r = _mm512_maskz_compress_ps(m, acc[i][v]);
			if (accumulate)
				r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(out, d));
			else if (bias)
				r = _mm512_add_ps(r, _mm512_set1_ps(bias[i]));
			_mm512_mask_storeu_ps(d, out, r);
		}
	}
}

void dm_conv_ukernel_avx512_st(int rows, long K, const float *a, const float *b, const int *boff,
                               float *c, long ldc, const dm_conv_store *st, const float *bias,
                               int accumulate)
{
#define ST(R) conv_rows_st(R, K, a, b, boff, c, ldc, st, bias, accumulate); break
	switch (rows) {
	case 1: ST(1);
	case 2: ST(2);
	case 3: ST(3);
	case 4: ST(4);
	case 5: ST(5);
	case 6: ST(6);
	case 7: ST(7);
	case 8: ST(8);
	case 9: ST(9);
	case 10: ST(10);
	case 11: ST(11);
	default: ST(MR);
	}
#undef ST
}

/* c[i][0 .. 16*nv) += sum over q < Q of arow[i][q] * b[q*16*nv + ...]. */
static inline __attribute__((always_inline)) void
convw_rows(int rows, int nv, long Q, const float *const *arow, const float *b, float *c,
           long ldc)
{
	__m512 acc[24];
	const float *ar[24];
#pragma GCC unroll 24
	for (int i = 0; i < rows; i++) {
		ar[i] = arow[i];
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			acc[i * nv + v] = _mm512_setzero_ps();
	}
	for (long q = 0; q < Q; q++, b += 16 * nv) {
		__m512 bv[4];
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++)
			bv[v] = _mm512_load_ps(b + 16 * v);
#pragma GCC unroll 24
		for (int i = 0; i < rows; i++) {
			__m512 ai = _mm512_set1_ps(ar[i][q]);
#pragma GCC unroll 4
			for (int v = 0; v < nv; v++)
				acc[i * nv + v] = _mm512_fmadd_ps(ai, bv[v], acc[i * nv + v]);
		}
	}
#pragma GCC unroll 24
	for (int i = 0; i < rows; i++)
#pragma GCC unroll 4
		for (int v = 0; v < nv; v++) {
			float *ci = c + i * ldc + 16 * v;
			_mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), acc[i * nv + v]));
		}
}

#define ROWS_CASES(NVV)                                                            \
	switch (rows) {                                                            \
	case 1: convw_rows(1, NVV, Q, arow, b, c, ldc); break;                      \
	case 2: convw_rows(2, NVV, Q, arow, b, c, ldc); break;                      \
	case 3: convw_rows(3, NVV, Q, arow, b, c, ldc); break;                      \
	case 4: convw_rows(4, NVV, Q, arow, b, c, ldc); break;                      \
	case 5: convw_rows(5, NVV, Q, arow, b, c, ldc); break;                      \
	case 6: convw_rows(6, NVV, Q, arow, b, c, ldc); break;                      \
	case 7: convw_rows(7, NVV, Q, arow, b, c, ldc); break;                      \
	case 8: convw_rows(8, NVV, Q, arow, b, c, ldc); break;                      \
	case 9: convw_rows(9, NVV, Q, arow, b, c, ldc); break;                      \
	case 10: convw_rows(10, NVV, Q, arow, b, c, ldc); break;                    \
	case 11: convw_rows(11, NVV, Q, arow, b, c, ldc); break;                    \
	default: convw_rows(12, NVV, Q, arow, b, c, ldc); break;                    \
	}

int dm_convw_avx512_rows(int nv)
{
	return nv >= 4 ? 6 : nv == 3 ? 8 : 12;
}

void dm_convw_ukernel_avx512(int rows, int nv, long Q, const float *const *arow, const float *b,
                             float *c, long ldc)
{
	if (nv >= 4) {
		switch (rows) {
		case 1: convw_rows(1, 4, Q, arow, b, c, ldc); break;
		case 2: convw_rows(2, 4, Q, arow, b, c, ldc); break;
		case 3: convw_rows(3, 4, Q, arow, b, c, ldc); break;
		case 4: convw_rows(4, 4, Q, arow, b, c, ldc); break;
		case 5: convw_rows(5, 4, Q, arow, b, c, ldc); break;
		default: convw_rows(6, 4, Q, arow, b, c, ldc); break;
		}
	} else if (nv == 3) {
		switch (rows) {
		case 1: convw_rows(1, 3, Q, arow, b, c, ldc); break;
		case 2: convw_rows(2, 3, Q, arow, b, c, ldc); break;
		case 3: convw_rows(3, 3, Q, arow, b, c, ldc); break;
		case 4: convw_rows(4, 3, Q, arow, b, c, ldc); break;
		case 5: convw_rows(5, 3, Q, arow, b, c, ldc); break;
		case 6: convw_rows(6, 3, Q, arow, b, c, ldc); break;
		case 7: convw_rows(7, 3, Q, arow, b, c, ldc); break;
		default: convw_rows(8, 3, Q, arow, b, c, ldc); break;
		}
	} else if (nv == 2) {
		ROWS_CASES(2)
	} else {
		ROWS_CASES(1)
	}
}

/* 16 channels at a time, gathered at each position (stride Ho*Wo). */
void dm_convw_pack_avx512(float *dt, double *bacc, const float *dy, int Cout, int Ho, int Wo,
                          int Wp, int nr)
{
	int P = Ho * Wo, Q = Ho * Wp;
	__m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
	                                                  3, 2, 1, 0),
	                                 _mm512_set1_epi32(P));
	for (int o = 0; o < Cout; o += 16) {
		const float *src = dy + (size_t)o * P;
		float *d = dt + (size_t)(o / nr) * Q * nr + o % nr;
		__m512d s0 = _mm512_loadu_pd(bacc + o), s1 = _mm512_loadu_pd(bacc + o + 8);
		for (int oh = 0; oh < Ho; oh++)
			for (int ow = 0; ow < Wo; ow++, src++) {
				__m512 v = _mm512_i32gather_ps(idx, src, 4);
				_mm512_storeu_ps(d + (size_t)(oh * Wp + ow) * nr, v);
				s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
				s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
			}
		_mm512_storeu_pd(bacc + o, s0);
		_mm512_storeu_pd(bacc + o + 8, s1);
	}
}

/* rng.c - Philox-4x32-10 (Salmon et al., SC'11) and the draws of rng.h.
 *
 * Layout of one draw: key = the 64-bit seed (lo, hi word); counter =
 *   ctr[0] = block & 0xffffffff
 *   ctr[1] = (block >> 32) & 0xffff | purpose << 16
 *   ctr[2], ctr[3] = index (lo, hi word)
 * where block = element / 4: each Philox block yields four 32-bit words,
 * words 4b..4b+3 of the element sequence of (seed, purpose, index).
 * So distinct (purpose < 65536, index, element < 2^50) never share a
 * counter, and element k is the same whatever first/n the caller asks for.
 *
 * Uniforms: word >> 8 scaled by 2^-24, in [0, 1).
 * Normals: element pair (2p, 2p+1) comes from words 2p, 2p+1 by Box-Muller
 *   u1 = (w_2p + 0.5) 2^-32 in (0, 1),  u2 = w_2p+1 2^-32,
 *   z_2p = r cos(2 pi u2), z_2p+1 = r sin(2 pi u2),  r = sqrt(-2 ln u1),
 * computed in double with branch-free polynomials (below) so that the loop
 * vectorises and the result does not depend on the libm in use.  |z| is
 * at most 6.77 (u1 >= 2^-33), a tail of probability 1.3e-11 left out.
 */
#include "core/rng.h"

/* The normals must be the same bits on every machine: no contraction of
 * a*b+c into FMA even if this file is ever built with -mfma/-march.  (The
 * one sqrt has an argument >= 0, so errno never matters.) */
#pragma GCC optimize("fp-contract=off", "no-math-errno")

#include <math.h>
#include <string.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void philox_round(uint32_t c[4], const uint32_t k[2])
{
	uint64_t p0 = (uint64_t)PHILOX_M0 * c[0];
	uint64_t p1 = (uint64_t)PHILOX_M1 * c[2];
	uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
	uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
	uint32_t n0 = hi1 ^ c[1] ^ k[0];
	uint32_t n2 = hi0 ^ c[3] ^ k[1];
	c[0] = n0;
	c[1] = lo1;
	c[2] = n2;
	c[3] = lo0;
}

void dm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
	uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
	uint32_t k[2] = {key[0], key[1]};
	for (int r = 0; r < 10; r++) {
		if (r) {
			k[0] += PHILOX_W0;
			k[1] += PHILOX_W1;
		}
		philox_round(c, k);
	}
	memcpy(out, c, sizeof c);
}

static inline void block_words(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t block,
                               uint32_t out[4])
{
	uint32_t ctr[4] = {(uint32_t)block,
	                   (uint32_t)((block >> 32) & 0xffffu) | (purpose << 16),
	                   (uint32_t)index, (uint32_t)(index >> 32)};
	uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
	dm_philox4x32_10(ctr, key, out);
}

/* nb whole blocks from block b0 into out (4 nb words): the same rounds as
 * dm_philox4x32_10, on 16 counters at a time laid out by word so that the
 * loops vectorise (integer arithmetic: identical results on every path). */
static void philox_blocks(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t b0,
                          uint32_t *out, size_t nb)
{
	enum { L = 16 };
	uint32_t c0[L], c1[L], c2[L], c3[L];
	for (size_t done = 0; done < nb; done += L) {
		size_t m = nb - done < L ? nb - done : L;
		uint64_t b = b0 + done;
#pragma omp simd
		for (size_t j = 0; j < L; j++) {
			uint64_t bj = b + j;
			c0[j] = (uint32_t)bj;
			c1[j] = (uint32_t)((bj >> 32) & 0xffffu) | (purpose << 16);
			c2[j] = (uint32_t)index;
			c3[j] = (uint32_t)(index >> 32);
		}
		uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
		for (int r = 0; r < 10; r++) {
			if (r) {
				k0 += PHILOX_W0;
				k1 += PHILOX_W1;
			}
#pragma omp simd
			for (size_t j = 0; j < L; j++) {
				uint64_t p0 = (uint64_t)PHILOX_M0 * c0[j];
				uint64_t p1 = (uint64_t)PHILOX_M1 * c2[j];
				uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[j] ^ k0;
				uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[j] ^ k1;
				c1[j] = (uint32_t)p1;
				c3[j] = (uint32_t)p0;
				c0[j] = n0;
				c2[j] = n2;
			}
		}
		uint32_t *o = out + 4 * done;
		for (size_t j = 0; j < m; j++) {
			o[4 * j] = c0[j];
			o[4 * j + 1] = c1[j];
			o[4 * j + 2] = c2[j];
			o[4 * j + 3] = c3[j];
		}
	}
}

/* Words first..first+n-1; whole blocks in the middle go straight to out. */
void dm_rng_u32(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t first, uint32_t *out,
                size_t n)
{
	uint32_t w[4];
	size_t i = 0;
	uint64_t e = first;
	while (i < n && (e & 3)) {
		block_words(seed, purpose, index, e >> 2, w);
		out[i++] = w[e & 3];
		e++;
	}
	size_t nb = (n - i) / 4;
	philox_blocks(seed, purpose, index, e >> 2, out + i, nb);
	i += 4 * nb;
	e += 4 * nb;
	if (i < n) {
		block_words(seed, purpose, index, e >> 2, w);
		for (int j = 0; i < n; j++)
			out[i++] = w[j];
	}
}

void dm_rng_uniform(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t first, float *out,
                    size_t n)
{
	uint32_t buf[256];
	while (n) {
		size_t m = n < 256 ? n : 256;
		dm_rng_u32(seed, purpose, index, first, buf, m);
		for (size_t i = 0; i < m; i++)
			out[i] = (float)(buf[i] >> 8) * (1.0f / 16777216.0f);
		out += m;
		first += m;
		n -= m;
	}
}

/* ln x for x in (0, 1], |error| < 1e-15: x = m 2^e with m in [sqrt(1/2),
 * sqrt(2)), ln m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.1716. */
static inline double bm_log(double x)
{
	uint64_t bits;
	memcpy(&bits, &x, sizeof bits);
	int64_t e = (int64_t)(bits >> 52) - 1023;
	bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	/* mantissa above sqrt(2)'s: halve m (integer ops keep the loop
	 * vectorisable) */
	int64_t big = (int64_t)((bits & 0x000fffffffffffffull) > 0x6a09e667f3bcdull);
	bits -= (uint64_t)big << 52;
	e += big;
	double m;
	memcpy(&m, &bits, sizeof m);
	double s = (m - 1.0) / (m + 1.0), s2 = s * s;
	double p = 1.0 / 19;
	p = p * s2 + 1.0 / 17;
	p = p * s2 + 1.0 / 15;
	p = p * s2 + 1.0 / 13;
	p = p * s2 + 1.0 / 11;
	p = p * s2 + 1.0 / 9;
	p = p * s2 + 1.0 / 7;
	p = p * s2 + 1.0 / 5;
	p = p * s2 + 1.0 / 3;
	p = p * s2 + 1.0;
	return 2.0 * s * p + (double)e * 0.69314718055994531;
}

/* cos and sin of 2 pi w/2^32: quadrant q = round(4 w/2^32) from the
 * integer, angle a = 2 pi (w/2^32 - q/4) in [-pi/4, pi/4], Taylor series
 * to a^16 / a^17. */
static inline void bm_sincos(uint32_t w, double *c, double *s)
{
	uint32_t qq = (uint32_t)(((uint64_t)w + (1u << 29)) >> 30); /* 0..4 */
	int q = (int)(qq & 3);
	double u = (double)w * (1.0 / 4294967296.0), qf = (double)qq;
	double a = 6.283185307179586 * (u - 0.25 * qf), a2 = a * a;
	double sp = -1.0 / 1307674368000.0;         /* -1/15! */
	sp = sp * a2 + 1.0 / 6227020800.0;          /* 1/13! */
	sp = sp * a2 - 1.0 / 39916800.0;
	sp = sp * a2 + 1.0 / 362880.0;
	sp = sp * a2 - 1.0 / 5040.0;
	sp = sp * a2 + 1.0 / 120.0;
	sp = sp * a2 - 1.0 / 6.0;
	double sn = a + a * a2 * sp;
	double cp = 1.0 / 20922789888000.0;         /* 1/16! */
	cp = cp * a2 - 1.0 / 87178291200.0;         /* -1/14! */
	cp = cp * a2 + 1.0 / 479001600.0;
	cp = cp * a2 - 1.0 / 3628800.0;
	cp = cp * a2 + 1.0 / 40320.0;
	cp = cp * a2 - 1.0 / 720.0;
	cp = cp * a2 + 1.0 / 24.0;
	cp = cp * a2 - 0.5;
	double cs = 1.0 + a2 * cp;
	/* rotate by q quarter turns; products with 0, 1 and -1 are exact */
	double odd = (double)(q & 1), even = 1.0 - odd, sign = 1.0 - (double)(q & 2);
	*c = sign * (even * cs - odd * sn);
	*s = sign * (even * sn + odd * cs);
}

static void normal_pairs(const uint32_t *w, float *z, size_t npairs)
{
#pragma omp simd
	for (size_t p = 0; p < npairs; p++) {
		double u1 = ((double)w[2 * p] + 0.5) * (1.0 / 4294967296.0);
		double r = sqrt(-2.0 * bm_log(u1));
		double c, s;
		bm_sincos(w[2 * p + 1], &c, &s);
		z[2 * p] = (float)(r * c);
		z[2 * p + 1] = (float)(r * s);
	}
}

void dm_rng_normal(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t first, float *out,
                   size_t n)
{
	uint32_t w[512];
	float z[512];
	while (n) {
		/* whole pairs covering elements first..first+m-1 */
		uint64_t p0 = first & ~(uint64_t)1;
		size_t m = n < 510 ? n : 510;
		size_t span = (size_t)(first - p0) + m;
		span += span & 1;
		dm_rng_u32(seed, purpose, index, p0, w, span);
		normal_pairs(w, z, span / 2);
		memcpy(out, z + (first - p0), m * sizeof *out);
		out += m;
		first += m;
		n -= m;
	}
}

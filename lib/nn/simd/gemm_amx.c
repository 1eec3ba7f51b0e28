/* gemm_amx.c - the AMX micro-kernel (see gemm_kernel.h): 32 x 32 of C as
 * 2 x 2 tiles of 16 x 16 fp32 (tmm0-3), A as two tiles of 16 rows x 32 bf16
 * (tmm4-5), B as two tiles of 16 pairs x 16 columns (tmm6-7): all eight
 * tiles, four tdpbf16ps of 16 x 16 x 32 per 32 k.
 *
 * The tile configuration is per thread (part of its XSAVE state): loaded on
 * a thread's first call and kept (dm_amx_configure: the direct 3x3
 * convolutions of conv_amx.c use the same eight 16 x 64-byte tiles).
 * The caller has the XTILEDATA permission (cpu.c asks for it before the
 * amx path can be chosen). */
#include <immintrin.h>
#include <string.h>

#include "nn/simd/gemm_kernel.h"

#define MR DM_GEMM_AMX_MR
#define NR DM_GEMM_AMX_NR

typedef struct tile_config {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
} tile_config;

static _Thread_local int configured;

void dm_amx_configure(void)
{
	if (configured)
		return;
	_Alignas(64) tile_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.palette = 1;
	for (int t = 0; t < 8; t++) {
		cfg.rows[t] = 16;
		cfg.colsb[t] = 64; /* 16 fp32, 32 bf16 or 16 bf16 pairs */
	}
	/* (inline asm that reads all of cfg: gcc 12 drops the stores of rows[]
	 * and colsb[] before _tile_loadconfig when this function is inlined or
	 * has an early return, leaving an empty configuration, and the first
	 * tile instruction faults) */
	__asm__ volatile("ldtilecfg %0" : : "m"(cfg));
	configured = 1;
}

void dm_gemm_ukernel_amx(long kp, const uint16_t *a, const uint16_t *b, float *c, long ldc,
                         float alpha, float beta)
{
	dm_amx_configure();
	_tile_zero(0);
	_tile_zero(1);
	_tile_zero(2);
	_tile_zero(3);
	for (long k0 = 0; k0 < kp; k0 += 32, a += MR * 32, b += 32 * NR) {
		/* A block: 32 rows of 64 bytes; B: 16 pair rows of NR pairs */
		_tile_loadd(4, a, 64);
		_tile_loadd(5, a + 16 * 32, 64);
		_tile_loadd(6, b, NR * 4);
		_tile_loadd(7, b + 32, NR * 4);
		_tile_dpbf16ps(0, 4, 6);
		_tile_dpbf16ps(1, 4, 7);
		_tile_dpbf16ps(2, 5, 6);
		_tile_dpbf16ps(3, 5, 7);
	}
	_Alignas(64) float t[MR * NR];
	_tile_stored(0, t, NR * 4);
	_tile_stored(1, t + 16, NR * 4);
	_tile_stored(2, t + 16 * NR, NR * 4);
	_tile_stored(3, t + 16 * NR + 16, NR * 4);
	__m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
	for (int i = 0; i < MR; i++) {
		float *ci = c + i * ldc;
		for (int v = 0; v < NR; v += 16) {
			__m512 r = _mm512_mul_ps(va, _mm512_load_ps(t + i * NR + v));
			if (beta != 0.0f)
				r = _mm512_add_ps(r, _mm512_mul_ps(vb, _mm512_loadu_ps(ci + v)));
			_mm512_storeu_ps(ci + v, r);
		}
	}
}

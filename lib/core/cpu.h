/* cpu.h - run-time choice of the SIMD path.
 *
 * The best path the CPU supports is chosen once (cpuid through
 * __builtin_cpu_supports and the cpuid bits); the environment variable
 * DM_SIMD=scalar|avx2|avx512|avx512bf16|amx forces one, and forcing a path
 * the CPU lacks is an error.
 *
 * The levels are ordered: each includes the ones below it.  avx512bf16 and
 * amx change only the bf16 products (nn/gemm.h, dm_gemm_bf16): their fp32
 * kernels are the avx512 ones.  Below avx512bf16 the bf16 products run on
 * the portable kernel, which rounds and sums exactly as vdpbf16ps does. */
#ifndef DM_CPU_H
#define DM_CPU_H

#include "core/error.h"

enum dm_simd {
	DM_SIMD_SCALAR = 0,
	DM_SIMD_AVX2 = 1,
	DM_SIMD_AVX512 = 2,     /* F, VL, BW, DQ */
	DM_SIMD_AVX512BF16 = 3, /* + AVX512_BF16 (vdpbf16ps) */
	DM_SIMD_AMX = 4,        /* + AMX-TILE, AMX-BF16 and the kernel's permission
	                           for tile data (arch_prctl ARCH_REQ_XCOMP_PERM) */
	DM_SIMD_NLEVELS
};

/* Choose the path (idempotent).  0 ok, DM_ERR_ARG when DM_SIMD names an
 * unknown path or one this CPU lacks (the message says which). */
int dm_cpu_init(dm_error *err);
/* The chosen path (calls dm_cpu_init on first use; falls back to the best
 * supported path if DM_SIMD is invalid). */
int dm_simd(void);
/* Force a path (tests); returns DM_ERR_ARG if the CPU lacks it. */
int dm_simd_force(int level, dm_error *err);
/* Does this CPU support the path?  For amx this asks Linux once for the
 * XTILEDATA permission (arch_prctl); a refusal makes amx unsupported. */
int dm_simd_supported(int level);
/* The cpuid bits alone (no OS check): does the CPU have avx512_bf16
 * (level DM_SIMD_AVX512BF16) or amx_tile + amx_bf16 (DM_SIMD_AMX)?  For the
 * tests, which must skip a path only where the CPU really lacks it. */
int dm_cpu_has_isa(int level);
/* The kernel of the bf16 products for the chosen path: DM_SIMD_AMX,
 * DM_SIMD_AVX512BF16, or DM_SIMD_SCALAR (the portable one) below those. */
int dm_simd_bf16(void);
const char *dm_simd_name(int level);

/* The CPU family, for the block-size table of the kernels (gemm.c): cache
 * sizes and FMA width differ more between families than between paths.
 * Detected from cpuid; DM_CPU=generic|intel-avx512|zen4 overrides (for
 * measuring one table row on another CPU). */
enum dm_cpu_family {
	DM_CPU_GENERIC = 0,      /* anything else; the sizes of the AVX2 era */
	DM_CPU_INTEL_AVX512 = 1, /* Skylake-SP .. Sapphire Rapids: 2 zmm FMA ports,
	                            48 KiB L1d, 1-2 MiB L2 */
	DM_CPU_ZEN4 = 2,         /* AMD Zen 4/5: zmm FMAs as 2 ymm halves, 32 KiB L1d,
	                            1 MiB L2 */
	DM_CPU_NFAMILIES
};
int dm_cpu_family(void);
const char *dm_cpu_family_name(int family);

#endif

/* cpu.h - run-time choice of the SIMD path.
 *
 * The best path the CPU supports is chosen once (cpuid through
 * __builtin_cpu_supports); the environment variable DM_SIMD=scalar|avx2|
 * avx512 forces one, and forcing a path the CPU lacks is an error. */
#ifndef DM_CPU_H
#define DM_CPU_H

#include "core/error.h"

enum dm_simd { DM_SIMD_SCALAR = 0, DM_SIMD_AVX2 = 1, DM_SIMD_AVX512 = 2 };

/* Choose the path (idempotent).  0 ok, DM_ERR_ARG when DM_SIMD names an
 * unknown path or one this CPU lacks (the message says which). */
int dm_cpu_init(dm_error *err);
/* The chosen path (calls dm_cpu_init on first use; falls back to the best
 * supported path if DM_SIMD is invalid). */
int dm_simd(void);
/* Force a path (tests); returns DM_ERR_ARG if the CPU lacks it. */
int dm_simd_force(int level, dm_error *err);
/* Does this CPU support the path? */
int dm_simd_supported(int level);
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

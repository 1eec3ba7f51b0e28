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

#endif

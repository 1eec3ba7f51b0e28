/* cpu.c - run-time choice of the SIMD path (see cpu.h).
 *
 * The chosen level is the only global mutable state of the kernels: it is
 * set once (first use, or dm_cpu_init) and changed only by dm_simd_force,
 * which tests call between runs. */
#include "core/cpu.h"

#include <cpuid.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

static int chosen = -1;

static const char *const names[] = { "scalar", "avx2", "avx512", "avx512bf16", "amx" };

const char *dm_simd_name(int level)
{
	if (level < DM_SIMD_SCALAR || level >= DM_SIMD_NLEVELS)
		return "unknown";
	return names[level];
}

/* cpuid leaf 7: subleaf 1 EAX bit 5 is AVX512_BF16; subleaf 0 EDX bit 22
 * AMX-BF16, bit 24 AMX-TILE (Intel SDM vol. 2A, CPUID). */
int dm_cpu_has_isa(int level)
{
	unsigned a, b, c, d;
	switch (level) {
	case DM_SIMD_AVX512BF16:
		if (!__get_cpuid_count(7, 1, &a, &b, &c, &d))
			return 0;
		return (a >> 5) & 1;
	case DM_SIMD_AMX:
		if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
			return 0;
		return ((d >> 22) & 1) && ((d >> 24) & 1);
	default:
		return dm_simd_supported(level);
	}
}

/* Linux gives a process the AMX tile state only when asked (since 5.16):
 * ARCH_REQ_XCOMP_PERM (0x1023) for XFEATURE_XTILEDATA (18).  Asked once;
 * elsewhere, or if refused, there is no AMX. */
static int amx_permitted(void)
{
	static int ok = -1; /* set once, like the chosen path */
	if (ok < 0) {
#if defined(__linux__) && defined(SYS_arch_prctl)
		ok = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
		ok = 0;
#endif
	}
	return ok;
}

int dm_simd_supported(int level)
{
	__builtin_cpu_init();
	switch (level) {
	case DM_SIMD_SCALAR:
		return 1;
	case DM_SIMD_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
		       __builtin_cpu_supports("f16c");
	case DM_SIMD_AVX512:
		/* The AVX-512 objects are built with F, VL, BW and DQ (Makefile). */
		return dm_simd_supported(DM_SIMD_AVX2) && __builtin_cpu_supports("avx512f") &&
		       __builtin_cpu_supports("avx512vl") &&
		       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
	case DM_SIMD_AVX512BF16:
		return dm_simd_supported(DM_SIMD_AVX512) && dm_cpu_has_isa(DM_SIMD_AVX512BF16);
	case DM_SIMD_AMX:
		return dm_simd_supported(DM_SIMD_AVX512BF16) && dm_cpu_has_isa(DM_SIMD_AMX) &&
		       amx_permitted();
	default:
		return 0;
	}
}

static int best(void)
{
	for (int l = DM_SIMD_NLEVELS - 1; l > DM_SIMD_SCALAR; l--)
		if (dm_simd_supported(l))
			return l;
	return DM_SIMD_SCALAR;
}

int dm_cpu_init(dm_error *err)
{
	const char *env = getenv("DM_SIMD");
	if (!env || !*env) {
		if (chosen < 0)
			chosen = best();
		return 0;
	}
	for (int l = DM_SIMD_SCALAR; l < DM_SIMD_NLEVELS; l++) {
		if (strcmp(env, names[l]) != 0)
			continue;
		if (!dm_simd_supported(l)) {
			if (chosen < 0)
				chosen = best();
			return dm_error_set(err, DM_ERR_ARG,
			                    "DM_SIMD=%s: this CPU lacks the %s instructions "
			                    "(best supported path: %s)",
			                    env, names[l], names[best()]);
		}
		chosen = l;
		return 0;
	}
	if (chosen < 0)
		chosen = best();
	return dm_error_set(err, DM_ERR_ARG,
	                    "DM_SIMD=%s: unknown SIMD path (expected scalar, avx2, avx512, "
	                    "avx512bf16 or amx)", env);
}

int dm_simd(void)
{
	if (chosen < 0)
		dm_cpu_init(NULL);
	return chosen;
}

int dm_simd_bf16(void)
{
	int l = dm_simd();
	return l >= DM_SIMD_AVX512BF16 ? l : DM_SIMD_SCALAR;
}

int dm_simd_force(int level, dm_error *err)
{
	if (!dm_simd_supported(level))
		return dm_error_set(err, DM_ERR_ARG, "SIMD path %s: not supported by this CPU",
		                    dm_simd_name(level));
	chosen = level;
	return 0;
}

static const char *const family_names[] = { "generic", "intel-avx512", "zen4" };

const char *dm_cpu_family_name(int family)
{
	if (family < 0 || family >= DM_CPU_NFAMILIES)
		return "unknown";
	return family_names[family];
}

static int detect_family(void)
{
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx512f"))
		return DM_CPU_GENERIC;
	if (__builtin_cpu_is("intel"))
		return DM_CPU_INTEL_AVX512;
	if (__builtin_cpu_is("amd"))
		return DM_CPU_ZEN4; /* the first AMD cores with AVX-512 */
	return DM_CPU_GENERIC;
}

int dm_cpu_family(void)
{
	static int family = -1; /* set once, like the chosen path */
	if (family < 0) {
		const char *env = getenv("DM_CPU");
		int f = detect_family();
		for (int i = 0; env && i < DM_CPU_NFAMILIES; i++)
			if (!strcmp(env, family_names[i]))
				f = i;
		family = f;
	}
	return family;
}

/* shortcopy.h - short copies and adds of float rows, 4 floats at a time
 * (SSE on x86-64, plain code elsewhere), for lib/nn/gemm.c and lib/nn/conv.c
 * only: their rows are 4..900 floats, where a call to memmove costs as
 * much as the copy.  The pragma keeps gcc from turning these loops (and the
 * other short loops of the including file, which it covers to the end)
 * back into library calls.  Internal: not installed. */
#ifndef DM_SHORTCOPY_H
#define DM_SHORTCOPY_H

#pragma GCC optimize("no-tree-loop-distribute-patterns")
typedef float f4 __attribute__((vector_size(16), aligned(4), may_alias));

static inline void copy_f(float *restrict d, const float *restrict s, int n)
{
	int i = 0;
	for (; i + 4 <= n; i += 4) {
		f4 v;
		__builtin_memcpy(&v, s + i, sizeof v);
		__builtin_memcpy(d + i, &v, sizeof v);
	}
	for (; i < n; i++)
		d[i] = s[i];
}

/* d += s, elementwise. */
static inline void add_f(float *restrict d, const float *restrict s, int n)
{
	int i = 0;
	for (; i + 4 <= n; i += 4)
		*(f4 *)(d + i) += *(const f4 *)(s + i);
	for (; i < n; i++)
		d[i] += s[i];
}
#endif

/* par.h - the one agreement the parallel kernels need: inside an OpenMP
 * parallel region every thread first sets up what it needs (buffers), then
 * all learn whether every thread managed, before anyone writes an output,
 * so that a failure can fall back on untouched outputs.
 */
#ifndef DM_PAR_H
#define DM_PAR_H

/* Call from every thread of the region with the same shared *fail (0
 * before the region) and this thread's ok; a barrier.  Returns 1 when
 * every thread's ok was true. */
static inline int dm_par_all_ok(int *fail, int ok)
{
	if (!ok) {
#pragma omp atomic write
		*fail = 1;
	}
#pragma omp barrier
	int f;
#pragma omp atomic read
	f = *fail;
	return !f;
}

#endif

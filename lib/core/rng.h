/* rng.h - counter-based random numbers (Philox-4x32-10, Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * Every random number in dm is a pure function of (seed, purpose, stream
 * index, element index): no state advances, so results do not depend on
 * thread count, batch size or how a stream is split into frames.  "stream
 * index" is usually the global sample index (sample i of a run with seed S
 * gets the same noise wherever it sits); a tool that needs several draws
 * per sample (e.g. per training step) folds the step into it.
 */
#ifndef DM_RNG_H
#define DM_RNG_H

#include <stddef.h>
#include <stdint.h>

/* What the numbers are for: different purposes never share a counter. */
enum dm_rng_purpose {
	DM_RNG_NOISE = 1,     /* epsilon of the forward process (dm-noise) */
	DM_RNG_TIME = 2,      /* t drawn per training sample */
	DM_RNG_PRIOR = 3,     /* prior samples (dm-noise --prior) */
	DM_RNG_SHUFFLE = 4,   /* dm-load --shuffle */
	DM_RNG_FLIP = 5,      /* dm-load --flip */
	DM_RNG_TOY = 6,       /* dm-load toy:* generators */
	DM_RNG_INIT = 7,      /* parameter initialisation */
	DM_RNG_DROPOUT = 8,   /* dropout masks in training */
	DM_RNG_LABELDROP = 9, /* label dropout for classifier-free guidance */
	DM_RNG_SAMPLER = 10,  /* fresh noise inside samplers (dm-denoise) */
	DM_RNG_METRIC_DIRS = 100, /* projection directions of the sliced distance (dm-score) */
};

/* One Philox-4x32-10 block: out = philox(ctr, key). */
void dm_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* n raw 32-bit words, elements first..first+n-1 of (seed, purpose, index). */
void dm_rng_u32(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t first, uint32_t *out,
                size_t n);
/* n uniforms in [0, 1) (24-bit resolution). */
void dm_rng_uniform(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t first, float *out,
                    size_t n);
/* n standard normals. */
void dm_rng_normal(uint64_t seed, uint32_t purpose, uint64_t index, uint64_t first, float *out,
                   size_t n);

#endif

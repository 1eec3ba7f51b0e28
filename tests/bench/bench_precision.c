/* bench_precision.c - unet-s training steps per second at --precision fp32
 * and bf16 in the same run (the two trainers alternating, so both see the
 * same machine load), on 1 and 2 threads, with the bf16 path the CPU has
 * (cpu.h; DM_SIMD forces another).  One thread is timed by its CPU time,
 * two by the wall clock.  Ratios, never a timed assert.
 *   bench_precision [BATCH [ROUNDS]]     (default 64, 3) */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/cpu.h"
#include "core/rng.h"
#include "nn/gemm.h"
#include "train/trainer.h"

static double clock_for(int threads)
{
	struct timespec ts;
	clock_gettime(threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int B = argc > 1 ? atoi(argv[1]) : 64, rounds = argc > 2 ? atoi(argv[2]) : 3;
	dm_net_config c;
	dm_train_opts o;
	dm_error err;
	dm_trainer tr[2];
	if (dm_net_config_named(&c, "unet-s", &err) < 0)
		return 1;
	dm_train_opts_default(&o);
	o.clip = 0;
	for (int p = 0; p < 2; p++) {
		if (dm_trainer_init(&tr[p], &c, &o, NULL, &err) < 0) {
			fprintf(stderr, "bench_precision: %s\n", err.msg);
			return 1;
		}
		dm_net_set_precision(&tr[p].net, p ? DM_PREC_BF16 : DM_PREC_FP32);
	}
	size_t n = (size_t)B * dm_net_sample_size(&c);
	float *x = malloc(n * 4), *e = malloc(n * 4), *t = malloc((size_t)B * 4);
	dm_rng_normal(1, 50, 0, 0, x, n);
	dm_rng_normal(1, 51, 0, 0, e, n);
	for (int b = 0; b < B; b++)
		t[b] = (float)(b * 7 % 1000);
	printf("unet-s training, batch %d; SIMD path %s (bf16 kernel %s), CPU family %s\n", B,
	       dm_simd_name(dm_simd()), dm_simd_name(dm_simd_bf16()),
	       dm_cpu_family_name(dm_cpu_family()));
	for (int threads = 1; threads <= 2; threads++) {
		omp_set_num_threads(threads);
		double best[2] = { 0, 0 }, loss[2] = { 0, 0 };
		for (int r = 0; r <= rounds; r++)
			for (int p = 0; p < 2; p++) {
				double t0 = clock_for(threads);
				dm_trainer_micro(&tr[p], x, t, e, NULL, NULL, B, &loss[p], &err);
				dm_trainer_apply(&tr[p], NULL);
				double rate = 1.0 / (clock_for(threads) - t0);
				if (r > 0 && rate > best[p]) /* round 0 warms up */
					best[p] = rate;
			}
		printf("%d thread%s: fp32 %.3f steps/s, bf16 %.3f steps/s, bf16/fp32 %.2fx "
		       "(last losses %.4f / %.4f)\n",
		       threads, threads > 1 ? "s" : "", best[0], best[1], best[1] / best[0], loss[0],
		       loss[1]);
		fflush(stdout);
	}
	for (int p = 0; p < 2; p++)
		dm_trainer_free(&tr[p]);
	free(x), free(e), free(t);
	return 0;
}

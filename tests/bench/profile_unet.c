/* profile_unet.c - where a unet training step spends its time: process CPU
 * time per op kind and shape (conv by shape and direction, GroupNorm,
 * attention, ...), from lib/models/unet.c built with -DDM_UNET_PROFILE.  Built and
 * run by `make profile` (its own build directory, build-prof), not by
 * `make bench`: the timers cost a little.
 *   build-prof/bench/profile_unet [MODEL [BATCH [STEPS [THREADS [PREC]]]]]
 * (defaults unet-s 128 3 1 fp32; PREC bf16 times the bf16 convolutions of
 * the SIMD path the CPU has, or DM_SIMD's).  The optimiser step is timed apart. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "nn/gemm.h"
#include "train/trainer.h"

void dm_unet_prof_dump(FILE *f);

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *model = argc > 1 ? argv[1] : "unet-s";
	int B = argc > 2 ? atoi(argv[2]) : 128, steps = argc > 3 ? atoi(argv[3]) : 3,
	    threads = argc > 4 ? atoi(argv[4]) : 1;
	const char *prec = argc > 5 ? argv[5] : "fp32";
	int bf16 = !strcmp(prec, "bf16");
	if (B < 1 || steps < 1 || threads < 1 || (!bf16 && strcmp(prec, "fp32"))) {
		fprintf(stderr, "usage: profile_unet [MODEL [BATCH [STEPS [THREADS [fp32|bf16]]]]]\n");
		return 1;
	}
	omp_set_num_threads(threads);
	dm_net_config c;
	dm_train_opts o;
	dm_trainer tr;
	dm_error err;
	if (dm_net_config_named(&c, model, &err) < 0) {
		fprintf(stderr, "profile_unet: %s\n", err.msg);
		return 1;
	}
	dm_train_opts_default(&o);
	if (dm_trainer_init(&tr, &c, &o, NULL, &err) < 0) {
		fprintf(stderr, "profile_unet: %s\n", err.msg);
		return 1;
	}
	dm_net_set_precision(&tr.net, bf16 ? DM_PREC_BF16 : DM_PREC_FP32);
	size_t n = (size_t)B * dm_net_sample_size(&c);
	float *x = malloc(n * 4), *e = malloc(n * 4), *t = malloc((size_t)B * 4);
	if (!x || !e || !t)
		return 1;
	dm_rng_normal(1, 50, 0, 0, x, n);
	dm_rng_normal(1, 51, 0, 0, e, n);
	for (int b = 0; b < B; b++)
		t[b] = (float)(b * 7 % 1000);
	double l, net = 0, opt = 0;
	for (int s = 0; s <= steps; s++) {
		if (s == 1) { /* the first step plans the buffers: not counted */
			FILE *null = fopen("/dev/null", "w");
			if (null) {
				dm_unet_prof_dump(null);
				fclose(null);
			}
			net = opt = 0;
		}
		double t0 = cpu_now();
		if (dm_trainer_micro(&tr, x, t, e, NULL, NULL, B, &l, &err) < 0) {
			fprintf(stderr, "profile_unet: %s\n", err.msg);
			return 1;
		}
		double t1 = cpu_now();
		dm_trainer_apply(&tr, NULL);
		net += t1 - t0;
		opt += cpu_now() - t1;
	}
	printf("%s batch %d, %d threads, %d steps, %s: CPU time per op over all steps\n", model, B,
	       threads, steps, prec);
	printf("     ms     %%  calls  op\n");
	dm_unet_prof_dump(stdout);
	printf("per step: forward+backward %.1f ms, optimiser (AdamW + EMA) %.1f ms CPU\n",
	       1e3 * net / steps, 1e3 * opt / steps);
	dm_trainer_free(&tr);
	free(x);
	free(e);
	free(t);
	return 0;
}

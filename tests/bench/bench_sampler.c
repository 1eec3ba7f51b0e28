/* bench_sampler.c - what sampling costs beside the network.
 *
 * For each case, a sampler runs with a network (mlp-2d at batch 2000, unet-s
 * DDIM-50 at batch 64 when the unet is built) whose forward is timed
 * inside the callback; the figures are the network evaluations per second
 * and the sampler's own share of the time (the bookkeeping, RNG and
 * elementwise updates around the network): the ratio
 * sampler total / network time, target <= 1.05.  Fresh random weights:
 * speed, not quality.  For DDIM, the PyTorch twin samples the same way in
 * the same run (tests/ref/bench_torch_sample.py, torch.no_grad(), same
 * threads) and the ratio of its time to dm's is printed: target >= 2x
 * for unet-s DDIM-50 at batch 64 (issue 7).  1 and 2 threads each. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "models/net.h"
#include "bench_torch.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct netctx {
	dm_net net;
	float *params;
	double spent;
	long evals;
} netctx;

static int predict(void *ctx, const float *x, const float *t, const int32_t *label, int B,
                   float *out, dm_error *err)
{
	netctx *n = ctx;
	double t0 = now();
	int rc = dm_net_forward(&n->net, n->params, x, t, label, B, out, 0, 0, 0, err);
	n->spent += now() - t0;
	n->evals += B;
	return rc;
}

static void run(const char *model, int kind, int steps, int B, int threads)
{
	omp_set_num_threads(threads);
	dm_error err;
	dm_net_config cfg;
	netctx n;
	memset(&n, 0, sizeof n);
	if (dm_net_config_named(&cfg, model, &err) < 0 || dm_net_init(&n.net, &cfg, &err) < 0) {
		printf("skip %s: %s\n", model, err.msg);
		return;
	}
	n.params = malloc(n.net.layout.total * sizeof(float));
	dm_net_init_params(&n.net, n.params, 1);
	dm_schedule s;
	dm_schedule_defaults(&s, DM_SCHED_LINEAR, &err);
	dm_schedule_init(&s, &err);
	size_t D = dm_net_sample_size(&cfg);
	float *x = malloc((size_t)B * D * sizeof(float));
	dm_rng_normal(1, DM_RNG_PRIOR, 0, 0, x, (size_t)B * D);
	dm_sampler_opts o;
	dm_sampler_opts_default(&o, kind);
	o.steps = steps;
	dm_sampler_model m = {predict, &n, DM_PREDICT_EPS, NULL};
	/* warm-up: plans the buffers for B */
	float *w = malloc((size_t)B * D * sizeof(float));
	memcpy(w, x, (size_t)B * D * sizeof(float));
	dm_sampler_opts o1 = o;
	o1.steps = 1;
	if (dm_sample(&s, &m, &o1, w, NULL, B, (int64_t)D, 0, NULL, &err) < 0) {
		printf("skip %s: %s\n", model, err.msg);
		goto out;
	}
	n.spent = 0;
	n.evals = 0;
	double t0 = now();
	if (dm_sample(&s, &m, &o, x, NULL, B, (int64_t)D, 0, NULL, &err) < 0) {
		printf("FAIL %s: %s\n", model, err.msg);
		goto out;
	}
	double total = now() - t0;
	printf("%-7s %-8s %3d steps batch %4d thr %d: %6.2f s, %7.0f evals/s, sampler/net %.3f", model,
	       dm_sampler_name(kind), steps, B, threads, total, (double)n.evals / n.spent, total / n.spent);
	double v[3];
	if (kind != DM_SAMPLER_DDIM)
		printf("\n");
	else if (torch_numbers("bench_torch_sample.py", model, B, threads, steps, v, 3) == 0)
		printf("; torch %6.2f s, ratio %.2fx (target 2x)\n", v[0], v[0] / total);
	else
		printf("; torch: not run (no python3 with torch; set DM_PYTHON)\n");
	fflush(stdout);
out:
	free(w);
	free(x);
	free(n.params);
	dm_net_free(&n.net);
	dm_schedule_free(&s);
}

int main(void)
{
	int us = getenv("BENCH_UNET_STEPS") ? atoi(getenv("BENCH_UNET_STEPS")) : 50;
	for (int th = 1; th <= 2; th++) {
		run("mlp-2d", DM_SAMPLER_DDIM, 50, 2000, th);
		run("mlp-2d", DM_SAMPLER_DDPM, 50, 2000, th);
		run("mlp-2d", DM_SAMPLER_DPMPP2M, 20, 2000, th);
		run("unet-s", DM_SAMPLER_DDIM, us, 64, th);
	}
	return 0;
}

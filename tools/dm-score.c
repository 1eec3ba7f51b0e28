/* dm-score - how far apart two streams' samples are: the sliced Wasserstein
 * distance, the Frechet distance of their Gaussian fits, KID, optionally in
 * the feature space of a classifier dm-train fitted; or PSNR sample by
 * sample; or that classifier's accuracy on a labelled stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/features.h"
#include "eval/frechet.h"
#include "eval/likelihood.h"
#include "eval/metrics.h"
#include "io/samples.h"
#include "io/stream.h"
#include "models/denoiser.h"
#include "cli.h"

enum { O_LAST = DM_CLI_LONG, O_PROJ, O_PSNR, O_PEAK, O_FD, O_KID, O_FLOOR, O_ACC, O_BPD, O_ODE,
       O_PROBES, O_LARGE, O_FRAMES, O_TEMPORAL };

static const dm_cli_opt options[] = {
	{'t', "tensor", "NAME", "the tensor to compare (default x)", NULL},
	{O_LAST, "last", NULL, "only the last frame of each stream (the final\n"
	                       "samples of a dm-denoise --every trajectory)", NULL},
	{O_PROJ, "projections", "K", "random directions (default 200)", NULL},
	{O_PSNR, "psnr", NULL, "PSNR, 10 log10(peak^2 / MSE) per sample, averaged", NULL},
	{O_PEAK, "peak", "P", "the value range for --psnr (default 2: [-1, 1])", NULL},
	{O_FD, "fd", NULL, "Frechet distance of the two sets' Gaussian fits", NULL},
	{O_KID, "kid", NULL, "KID: unbiased MMD^2, kernel (x.y/d + 1)^3", NULL},
	{O_FLOOR, "floor", "REF2", "also score REF2 (a second, independent sample of\n"
	                           "B's distribution, cut to A's size) against B: the\n"
	                           "floor that two true sample sets reach, and the\n"
	                           "ratio of the figure to it", NULL},
	{'m', "features", "NET.dmt", "map every set through the penultimate layer of\n"
	                             "this classifier (dm-train --model\n"
	                             "classifier-fmnist) first; with --bpd, the model", NULL},
	{O_ACC, "accuracy", NULL, "print the -m classifier's accuracy on the labels\n"
	                          "(tensor label) of the one stream A", NULL},
	{O_BPD, "bpd", NULL, "bits/dim of the 8-bit images of the one stream A under\n"
	                     "the diffusion model -m (a checkpoint or gaussian:M:S):\n"
	                     "the DDPM variational bound, its terms L_T, sum L_t\n"
	                     "and L_0 beside it", NULL},
	{O_ODE, "ode", NULL, "--bpd by the probability-flow ODE instead (dequantised,\n"
	                     "Hutchinson divergence; any schedule)", NULL},
	{O_PROBES, "probes", "K", "--ode: Rademacher probes per image (default 1)", NULL},
	{O_LARGE, "large-variance", NULL, "--bpd bound: the reverse variance beta_t, not beta~_t", NULL},
	{'n', "max", "N", "use only the first N samples of each set", NULL},
	{O_FRAMES, "frames", NULL, "clips (N x C x T x H x W): score their frames, N*T\n"
	                           "images of C x H x W (e.g. the per-frame --fd)", NULL},
	{O_TEMPORAL, "temporal", NULL, "clips: the mean |x[t+1] - x[t]| of A and of B and\n"
	                               "their ratio (motion against the data's)", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]... A B",
	"Print the sliced 2-Wasserstein distance between the samples of the dm\n"
	"streams A and B (\"-\" for stdin in one of them): the tensor x of every\n"
	"frame, first axis = samples, the rest flattened (N x D).  The two sets\n"
	"may differ in size but not in D.  --seed seeds the directions.\n"
	"With --fd and/or --kid, print instead one line per figure:\n"
	"  fd F n NA/NB [floor F0 n NR/NB ratio F/F0]\n"
	"With --psnr, print instead the mean PSNR in dB of sample i of A against\n"
	"sample i of B (a restoration against the clean images; equal sizes).\n"
	"With --temporal (clips), print \"temporal TA TB ratio TA/TB\".",
	options,
	DM_CLI_SEED | DM_CLI_THREADS,
	"Two independent samples of one distribution are not at distance 0:\n"
	"score samples against fresh true samples beside that floor, e.g.\n"
	"  dm-load toy:moons --n 2000 --seed 1 >true1.dm\n"
	"  dm-load toy:moons --n 2000 --seed 2 >true2.dm\n"
	"  dm-score true1.dm true2.dm; dm-score samples.dm true1.dm\n"
	"FD is biased upward at small n: compare figures at equal n only.\n"
	"  dm-load fashion-mnist:train --batch 128 --shuffle --epochs 0 \\\n"
	"    | dm-train --model classifier-fmnist --steps 1000 --lr 2e-3 -o cls.dmt\n"
	"  dm-load fashion-mnist:test >test.dm; dm-score --accuracy -m cls.dmt test.dm\n"
	"  dm-score --fd --kid -m cls.dmt -n 1000 samples.dm test.dm --floor train.dm\n"
	"--bpd prints \"bpd B se S n N\" (mean over the images and its standard\n"
	"error) and for the bound \"L_T .. sum_L_t .. L_0 ..\"; conventions in\n"
	"lib/eval/likelihood.h (8-bit bins of 2/255 in [-1, 1]).\n"
	"  dm-score --bpd -m model.dmt -n 100 test.dm\n",
};

typedef dm_samples points;

static int by_frames; /* --frames */

static void read_points(const char *path, const char *name, int last, int labels, int64_t max,
                        points *pt)
{
	dm_error err;
	dm_tool_check(dm_samples_read(pt, path, name, last, labels, max, &err), &err);
	if (by_frames && dm_samples_frames(pt, &err) < 0)
		dm_tool_die("%s: --frames: %s", path, err.msg);
}

/* Replace the samples by their features under net. */
static void to_features(dm_featnet *net, const char *netpath, const char *path, points *pt)
{
	dm_error err;
	if ((size_t)pt->d != dm_featnet_input_size(net))
		dm_tool_die("%s: samples of %lld values, but %s takes %zu", path, (long long)pt->d,
		            netpath, dm_featnet_input_size(net));
	int F = dm_featnet_dim(net);
	float *f = malloc((size_t)pt->n * (size_t)F * sizeof *f);
	if (!f)
		dm_tool_die("%s: out of memory for the features of %lld samples", path,
		            (long long)pt->n);
	dm_tool_check(dm_featnet_map(net, pt->p, pt->n, f, NULL, &err), &err);
	free(pt->p);
	pt->p = f;
	pt->d = F;
}

static void warn(const char *fmt, const char *a, long long na, const char *b, long long nb)
{
	fprintf(stderr, "%s: warning: ", dm_tool_name());
	fprintf(stderr, fmt, a, na, b, nb);
	fputc('\n', stderr);
}

/* One line: "NAME F n NA/NB" and the floor beside it. */
static void report(const char *what, int kid, const points *a, const points *b,
                   const points *ref2, const dm_gauss *gb)
{
	dm_error err;
	double v, v0 = 0;
	if (kid)
		dm_tool_check(dm_kid(a->p, a->n, b->p, b->n, (int)a->d, &v, &err), &err);
	else {
		dm_gauss ga;
		dm_tool_check(dm_gauss_fit(a->p, a->n, (int)a->d, &ga, &err), &err);
		dm_tool_check(dm_frechet_gauss(&ga, gb, &v, &err), &err);
		dm_gauss_free(&ga);
	}
	printf(kid ? "%s %.6f n %lld/%lld" : "%s %.4f n %lld/%lld", what, v, (long long)a->n,
	       (long long)b->n);
	if (ref2) {
		if (kid)
			dm_tool_check(dm_kid(ref2->p, ref2->n, b->p, b->n, (int)a->d, &v0, &err), &err);
		else {
			dm_gauss g2;
			dm_tool_check(dm_gauss_fit(ref2->p, ref2->n, (int)a->d, &g2, &err), &err);
			dm_tool_check(dm_frechet_gauss(&g2, gb, &v0, &err), &err);
			dm_gauss_free(&g2);
		}
		printf(kid ? " floor %.6f n %lld/%lld" : " floor %.4f n %lld/%lld", v0,
		       (long long)ref2->n, (long long)b->n);
		if (v0 > 0)
			printf(" ratio %.2f", v / v0);
	}
	putchar('\n');
}

/* --bpd: the bound or the ODE estimate of every image of a, in batches. */
static void bpd(const char *spec, const char *path, const points *a, int ode, int probes,
                int large, uint64_t seed)
{
	dm_error err;
	dm_denoiser m;
	dm_tool_check(dm_denoiser_open(&m, spec, 0, 0, NULL, &a->meta, path, &err), &err);
	m.g.D = a->d;
	if (m.net && dm_denoiser_values(&m) != a->d)
		dm_tool_die("%s: samples of %lld values, but %s takes %lld", path, (long long)a->d, spec,
		            (long long)dm_denoiser_values(&m));
	dm_sampler_model sm = dm_denoiser_model(&m);
	dm_ode_bpd_opts o = {probes, 0, 1, 1e-5, 1e-5, seed};
	dm_bpd_summary r;
	dm_tool_check(dm_bpd_mean(&m.s, &sm, a->p, a->n, a->d, ode, &o, large, seed, &r, &err), &err);
	printf("bpd %.4f se %.4f n %lld\n", r.bpd, r.se, (long long)r.n);
	if (!ode)
		printf("L_T %.4f sum_L_t %.4f L_0 %.4f\n", r.terms[0], r.terms[1], r.terms[2]);
	dm_denoiser_free(&m);
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	const char *name = "x", *floorpath = NULL, *netpath = NULL;
	int last = 0, nproj = 200, psnr = 0, fd = 0, kid = 0, acc = 0, bpdm = 0, ode = 0, probes = 1;
	int large = 0, temporal = 0;
	int64_t max = 0;
	double peak = 2;
	dm_cli_common co;
	int c;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		switch (c) {
		case 't': name = optarg; break;
		case O_LAST: last = 1; break;
		case O_PROJ: nproj = (int)dm_tool_int("--projections", optarg, 1, 1000000); break;
		case O_PSNR: psnr = 1; break;
		case O_PEAK:
			peak = dm_tool_double("--peak", optarg);
			if (!(peak > 0))
				dm_tool_die("--peak: must be positive, not %s", optarg);
			break;
		case O_FD: fd = 1; break;
		case O_KID: kid = 1; break;
		case O_FLOOR: floorpath = optarg; break;
		case 'm': netpath = optarg; break;
		case O_ACC: acc = 1; break;
		case 'n': max = dm_tool_int("--max", optarg, 1, INT64_MAX); break;
		case O_BPD: bpdm = 1; break;
		case O_ODE: ode = 1; break;
		case O_PROBES: probes = (int)dm_tool_int("--probes", optarg, 1, 1024); break;
		case O_LARGE: large = 1; break;
		case O_FRAMES: by_frames = 1; break;
		case O_TEMPORAL: temporal = 1; break;
		}
	}
	const uint64_t seed = co.seed;
	if (psnr + (fd || kid) + acc + bpdm + temporal > 1)
		dm_tool_die("--psnr, --fd/--kid, --accuracy, --bpd and --temporal are different "
		            "scores: give one");
	if (temporal && (by_frames || netpath))
		dm_tool_die("--temporal compares whole clips' pixels: no --frames or --features");
	if ((ode || large) && !bpdm)
		dm_tool_die("--ode and --large-variance go with --bpd");
	if (bpdm) {
		if (!netpath || argc - optind != 1)
			dm_tool_die("--bpd needs the model (-m MODEL) and one stream of images");
		points a;
		read_points(argv[optind], name, last, 0, max, &a);
		bpd(netpath, argv[optind], &a, ode, probes, large, seed);
		dm_samples_free(&a);
		return fflush(stdout) != 0 || ferror(stdout) ? (dm_tool_die("stdout: write error"), 1) : 0;
	}
	if (floorpath && !(fd || kid))
		dm_tool_die("--floor goes with --fd or --kid");
	if (psnr && netpath)
		dm_tool_die("--psnr compares pixels: it takes no --features");
	dm_error err;
	dm_featnet net;
	if (netpath)
		dm_tool_check(dm_featnet_load(&net, netpath, &err), &err);
	if (acc) {
		if (!netpath)
			dm_tool_die("--accuracy needs the classifier: -m NET.dmt");
		if (argc - optind != 1)
			dm_tool_die("--accuracy takes one labelled stream");
		points a;
		read_points(argv[optind], name, last, 1, max, &a);
		if ((size_t)a.d != dm_featnet_input_size(&net))
			dm_tool_die("%s: samples of %lld values, but %s takes %zu", argv[optind],
			            (long long)a.d, netpath, dm_featnet_input_size(&net));
		int32_t *pred = malloc((size_t)a.n * sizeof *pred);
		if (!pred)
			dm_tool_die("out of memory");
		dm_tool_check(dm_featnet_map(&net, a.p, a.n, NULL, pred, &err), &err);
		int64_t ok = 0;
		for (int64_t i = 0; i < a.n; i++)
			ok += pred[i] == a.lab[i];
		printf("accuracy %.4f n %lld correct %lld\n", (double)ok / (double)a.n, (long long)a.n,
		       (long long)ok);
		free(pred);
		dm_samples_free(&a);
		dm_featnet_free(&net);
		if (fflush(stdout) != 0 || ferror(stdout))
			dm_tool_die("stdout: write error");
		return 0;
	}
	if (argc - optind != 2)
		dm_tool_die("needs two streams A and B (see --help)");
	const char *pa = argv[optind], *pb = argv[optind + 1];
	if ((!strcmp(pa, "-") + !strcmp(pb, "-") + (floorpath && !strcmp(floorpath, "-"))) > 1)
		dm_tool_die("only one of A, B and REF2 can be stdin");
	points a, b, r2;
	read_points(pa, name, last, 0, max, &a);
	read_points(pb, name, last, 0, max, &b);
	if (a.d != b.d)
		dm_tool_die("%s: samples of %lld values, but %s has samples of %lld", pb, (long long)b.d,
		            pa, (long long)a.d);
	if (a.d > INT32_MAX)
		dm_tool_die("%s: samples of %lld values are too large", pa, (long long)a.d);
	if (floorpath) {
		/* the floor at the figure's own sizes: REF2 cut to A's count */
		read_points(floorpath, name, last, 0, a.n, &r2);
		if (r2.d != b.d)
			dm_tool_die("%s: samples of %lld values, but %s has samples of %lld", floorpath,
			            (long long)r2.d, pb, (long long)b.d);
		if (r2.n < a.n)
			warn("the floor of %s (%lld samples) is not at the figure's n (%s has %lld)",
			     floorpath, (long long)r2.n, pa, (long long)a.n);
	}
	if (netpath) {
		to_features(&net, netpath, pa, &a);
		to_features(&net, netpath, pb, &b);
		if (floorpath)
			to_features(&net, netpath, floorpath, &r2);
		dm_featnet_free(&net);
	}
	double w;
	if (fd || kid) {
		if (a.n < 2 || b.n < 2)
			dm_tool_die("%s: %lld sample; --fd and --kid need at least 2 samples in each set",
			            a.n < 2 ? pa : pb, (long long)(a.n < 2 ? a.n : b.n));
		if (a.n != b.n)
			warn("%s has %lld samples but %s %lld: FD is biased at small n; compare figures "
			     "at equal n (--max)", pa, (long long)a.n, pb, (long long)b.n);
		dm_gauss gb;
		memset(&gb, 0, sizeof gb);
		if (fd) {
			dm_tool_check(dm_gauss_fit(b.p, b.n, (int)b.d, &gb, &err), &err);
			report("fd", 0, &a, &b, floorpath ? &r2 : NULL, &gb);
		}
		if (kid)
			report("kid", 1, &a, &b, floorpath ? &r2 : NULL, NULL);
		dm_gauss_free(&gb);
		if (floorpath)
			dm_samples_free(&r2);
	} else if (temporal) {
		if (a.rank != 4 || a.shape[1] < 2)
			dm_tool_die("%s: --temporal needs clips (N x C x T x H x W, T >= 2)", pa);
		double ta = dm_temporal_change(a.p, a.n, a.shape[0], a.shape[1], a.shape[2] * a.shape[3]);
		double tb = dm_temporal_change(b.p, b.n, b.shape[0], b.shape[1], b.shape[2] * b.shape[3]);
		printf("temporal %.6f %.6f ratio %.4f\n", ta, tb, tb > 0 ? ta / tb : 0);
	} else if (psnr) {
		if (a.n != b.n)
			dm_tool_die("%s: %lld samples, but %s has %lld (--psnr pairs them one by one)", pb,
			            (long long)b.n, pa, (long long)a.n);
		dm_tool_check(dm_psnr(a.p, b.p, a.n, a.d, peak, &w, NULL, &err), &err);
		printf("%.2f\n", w);
	} else {
		dm_tool_check(dm_sliced_w2(a.p, a.n, b.p, b.n, (int)a.d, nproj, seed, &w, &err), &err);
		printf("%.4f\n", w);
	}
	dm_samples_free(&a);
	dm_samples_free(&b);
	if (fflush(stdout) != 0 || ferror(stdout))
		dm_tool_die("stdout: write error");
	return 0;
}

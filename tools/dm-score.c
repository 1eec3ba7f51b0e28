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
#include "eval/metrics.h"
#include "io/stream.h"
#include "cli.h"

enum { O_LAST = DM_CLI_LONG, O_PROJ, O_PSNR, O_PEAK, O_FD, O_KID, O_FLOOR, O_ACC };

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
	                             "classifier-fmnist) first", NULL},
	{O_ACC, "accuracy", NULL, "print the -m classifier's accuracy on the labels\n"
	                          "(tensor label) of the one stream A", NULL},
	{'n', "max", "N", "use only the first N samples of each set", NULL},
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
	"sample i of B (a restoration against the clean images; equal sizes).",
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
	"  dm-score --fd --kid -m cls.dmt -n 1000 samples.dm test.dm --floor train.dm\n",
};

typedef struct points {
	float *p;
	int32_t *lab; /* when asked for */
	int64_t n, d;
} points;

/* Append the samples of tensor `name` of every frame (or the last) of path,
 * and with labels != 0 the values of tensor label; at most max samples. */
static void read_points(const char *path, const char *name, int last, int labels, int64_t max,
                        points *pt)
{
	dm_error err;
	dm_reader *r;
	dm_frame f;
	dm_tool_check(dm_reader_open_path(&r, path, &err), &err);
	const char *sname = dm_reader_name(r);
	dm_frame_init(&f);
	memset(pt, 0, sizeof *pt);
	pt->d = -1;
	int rc;
	while ((rc = dm_reader_next(r, &f, &err)) > 0) {
		dm_tensor *t = dm_frame_get(&f, name);
		if (!t)
			dm_tool_die("%s: frame %llu has no tensor %s", sname,
			            (unsigned long long)dm_reader_frames(r) - 1, name);
		if (t->rank < 1 || t->dims[0] < 1)
			continue;
		int64_t d = dm_tensor_numel(t) / t->dims[0], k = t->dims[0];
		if (pt->d >= 0 && d != pt->d)
			dm_tool_die("%s: frame %llu: samples of %lld values after samples of %lld", sname,
			            (unsigned long long)dm_reader_frames(r) - 1, (long long)d,
			            (long long)pt->d);
		dm_tensor *lt = labels ? dm_frame_get(&f, "label") : NULL;
		if (labels && (!lt || dm_tensor_numel(lt) != k))
			dm_tool_die("%s: frame %llu has no tensor label of %lld values (--accuracy needs "
			            "labelled data, e.g. dm-load fashion-mnist:test)", sname,
			            (unsigned long long)dm_reader_frames(r) - 1, (long long)k);
		pt->d = d;
		if (last)
			pt->n = 0;
		if (max > 0 && !last && pt->n >= max)
			continue; /* read on: the rest of the stream is still checked */
		float *np = realloc(pt->p, (size_t)(pt->n + k) * (size_t)d * sizeof *np);
		int32_t *nl = labels ? realloc(pt->lab, (size_t)(pt->n + k) * sizeof *nl) : NULL;
		if (!np || (labels && !nl))
			dm_tool_die("%s: out of memory for %lld samples", sname, (long long)(pt->n + k));
		pt->p = np;
		dm_tensor_to_f32(t, pt->p + pt->n * d);
		if (labels) {
			pt->lab = nl;
			for (int64_t i = 0; i < k; i++)
				pt->lab[pt->n + i] = (int32_t)dm_tensor_get(lt, i);
		}
		pt->n += k;
	}
	dm_tool_check(rc, &err);
	if (pt->n == 0)
		dm_tool_die("%s: no samples in tensor %s", sname, name);
	if (max > 0 && pt->n > max)
		pt->n = max;
	dm_frame_free(&f);
	dm_reader_close(r);
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

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	const char *name = "x", *floorpath = NULL, *netpath = NULL;
	int last = 0, nproj = 200, psnr = 0, fd = 0, kid = 0, acc = 0;
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
		}
	}
	const uint64_t seed = co.seed;
	if (psnr + (fd || kid) + acc > 1)
		dm_tool_die("--psnr, --fd/--kid and --accuracy are different scores: give one");
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
		free(pred), free(a.p), free(a.lab);
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
			free(r2.p);
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
	free(a.p);
	free(b.p);
	if (fflush(stdout) != 0 || ferror(stdout))
		dm_tool_die("stdout: write error");
	return 0;
}

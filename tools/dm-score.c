/* dm-score - the sliced Wasserstein distance between two streams' samples,
 * or their PSNR sample by sample. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "io/stream.h"
#include "cli.h"

static const char usage[] =
	"Usage: dm-score [OPTION]... A B\n"
	"Print the sliced 2-Wasserstein distance between the samples of the dm\n"
	"streams A and B (\"-\" for stdin in one of them): the tensor x of every\n"
	"frame, first axis = samples, the rest flattened (N x D).  The two sets\n"
	"may differ in size but not in D.\n"
	"With --psnr, print instead the mean PSNR in dB of sample i of A against\n"
	"sample i of B (a restoration against the clean images; equal sizes).\n"
	"\n"
	"  -t, --tensor NAME      the tensor to compare (default x)\n"
	"  -l, --last             only the last frame of each stream (the final\n"
	"                         samples of a dm-denoise --every trajectory)\n"
	"  -k, --projections K    random directions (default 200)\n"
	"  -s, --seed S           seed of the directions (default 0)\n"
	"  -p, --psnr             PSNR, 10 log10(peak^2 / MSE) per sample, averaged\n"
	"      --peak P           the value range for --psnr (default 2: [-1, 1])\n"
	"  -h, --help             show this help and exit\n"
	"  -V, --version          show the version and exit\n"
	"\n"
	"Two independent samples of one distribution are not at distance 0:\n"
	"score samples against fresh true samples beside that floor, e.g.\n"
	"  dm-load toy:moons --n 2000 --seed 1 >true1.dm\n"
	"  dm-load toy:moons --n 2000 --seed 2 >true2.dm\n"
	"  dm-score true1.dm true2.dm; dm-score samples.dm true1.dm\n";

typedef struct points {
	float *p;
	int64_t n, d;
} points;

/* Append the samples of tensor `name` of every frame (or the last) of path. */
static void read_points(const char *path, const char *name, int last, points *pt)
{
	dm_error err;
	dm_reader *r;
	dm_frame f;
	dm_tool_check(dm_reader_open_path(&r, path, &err), &err);
	const char *sname = dm_reader_name(r);
	dm_frame_init(&f);
	pt->p = NULL;
	pt->n = 0;
	pt->d = -1;
	int rc;
	while ((rc = dm_reader_next(r, &f, &err)) > 0) {
		dm_tensor *t = dm_frame_get(&f, name);
		if (!t)
			dm_tool_die("%s: frame %llu has no tensor %s", sname,
			            (unsigned long long)dm_reader_frames(r) - 1, name);
		if (t->rank < 1 || t->dims[0] < 1)
			continue;
		int64_t d = dm_tensor_numel(t) / t->dims[0];
		if (pt->d >= 0 && d != pt->d)
			dm_tool_die("%s: frame %llu: samples of %lld values after samples of %lld", sname,
			            (unsigned long long)dm_reader_frames(r) - 1, (long long)d,
			            (long long)pt->d);
		pt->d = d;
		if (last)
			pt->n = 0;
		float *np = realloc(pt->p, (size_t)(pt->n + t->dims[0]) * (size_t)d * sizeof *np);
		if (!np)
			dm_tool_die("%s: out of memory for %lld samples", sname,
			            (long long)(pt->n + t->dims[0]));
		pt->p = np;
		dm_tensor_to_f32(t, pt->p + pt->n * d);
		pt->n += t->dims[0];
	}
	dm_tool_check(rc, &err);
	if (pt->n == 0)
		dm_tool_die("%s: no samples in tensor %s", sname, name);
	dm_frame_free(&f);
	dm_reader_close(r);
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	static const struct option longopts[] = {
		{"tensor", required_argument, 0, 't'},
		{"last", no_argument, 0, 'l'},
		{"projections", required_argument, 0, 'k'},
		{"seed", required_argument, 0, 's'},
		{"psnr", no_argument, 0, 'p'},
		{"peak", required_argument, 0, 'P'},
		{"help", no_argument, 0, 'h'},
		{"version", no_argument, 0, 'V'},
		{0, 0, 0, 0},
	};
	const char *name = "x";
	int last = 0, nproj = 200, psnr = 0;
	double peak = 2;
	uint64_t seed = 0;
	int c;
	while ((c = getopt_long(argc, argv, "t:lk:s:phV", longopts, NULL)) != -1) {
		switch (c) {
		case 't': name = optarg; break;
		case 'l': last = 1; break;
		case 'k': nproj = (int)dm_tool_int("--projections", optarg, 1, 1000000); break;
		case 's': seed = (uint64_t)dm_tool_int("--seed", optarg, 0, INT64_MAX); break;
		case 'p': psnr = 1; break;
		case 'P':
			peak = dm_tool_double("--peak", optarg);
			if (!(peak > 0))
				dm_tool_die("--peak: must be positive, not %s", optarg);
			break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': dm_tool_version();
		default: return 1; /* getopt printed the one line */
		}
	}
	if (argc - optind != 2)
		dm_tool_die("needs two streams A and B (see --help)");
	if (!strcmp(argv[optind], "-") && !strcmp(argv[optind + 1], "-"))
		dm_tool_die("only one of A and B can be stdin");
	points a, b;
	read_points(argv[optind], name, last, &a);
	read_points(argv[optind + 1], name, last, &b);
	if (a.d != b.d)
		dm_tool_die("%s: samples of %lld values, but %s has samples of %lld",
		            argv[optind + 1], (long long)b.d, argv[optind], (long long)a.d);
	if (a.d > INT32_MAX)
		dm_tool_die("%s: samples of %lld values are too large", argv[optind], (long long)a.d);
	dm_error err;
	double w;
	if (psnr) {
		if (a.n != b.n)
			dm_tool_die("%s: %lld samples, but %s has %lld (--psnr pairs them one by one)",
			            argv[optind + 1], (long long)b.n, argv[optind], (long long)a.n);
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

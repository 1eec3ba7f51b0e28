/* dm-load - data in: PNG, IDX (MNIST), Fashion-MNIST, NPY, CSV and toy 2-D
 * sets as a dm tensor stream of frames (batches), optionally shuffled,
 * repeated, sharded, flipped and scaled.  See dm-load(1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "core/outfile.h"
#include "io/stream.h"
#include "cli.h"

enum { O_SHUFFLE = DM_CLI_LONG, O_SCALE, O_FLIP, O_SHARD, O_STRIDE, O_GRAY, O_ITEMS, O_CLIPS, O_SIZE, O_MAXB };

static const dm_cli_opt opts[] = {
	{'b', "batch", "N", "samples per frame (default 64 for images, else all)", NULL},
	{'e', "epochs", "N", "passes over the data (default 1; 0 = forever)", NULL},
	{O_SHUFFLE, "shuffle", NULL, "a new permutation of the samples every epoch", NULL},
	{'l', "limit", "N", "use only the first N samples", NULL},
	{'r', "range", "LO:HI", "value range (images: default -1:1; other data is\n"
	                        "passed as is unless given, then min..max -> LO..HI)", NULL},
	{O_SCALE, "scale", "S", "multiply every value by S (after --range), e.g. to\n"
	                        "give the unit-scale toy sets more room: --scale 4", NULL},
	{O_FLIP, "flip", NULL, "random horizontal flips (images and clips)", NULL},
	{'n', "n", "N", "points of a toy set, clips of toy:moving-fmnist (default 10000)", NULL},
	{'F', "frames", "T", "clips of T frames: from videos, PNG sequences (a folder\n"
	                     "or pattern of frames) and toy:moving-fmnist (default 8)", NULL},
	{O_STRIDE, "frame-stride", "S", "videos: keep every S-th frame (default 1)", NULL},
	{O_CLIPS, "clips-per-file", "N", "videos: at most N clips from each file (default all)", NULL},
	{O_SIZE, "size", "HxW", "videos: frames scaled and centre-cropped to HxW;\n"
	                     "toy:moving-fmnist: the canvas (default 32x32)", NULL},
	{O_GRAY, "gray", NULL, "videos: one channel (luma) instead of RGB", NULL},
	{O_ITEMS, "items", "N", "toy:moving-fmnist: items per clip (default 2)", NULL},
	{O_SHARD, "shard", "R/N", "keep every N-th sample starting at R (after the shuffle)", NULL},
		{O_MAXB, "max-bytes", "N", "the most bytes one decoded input may take (default\n"
	                         "512M, or DM_MAX_BYTES; suffix k, M or G)", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]... SOURCE...",
	"Read data sets and write them as a dm tensor stream on stdout.\n"
	"\n"
	"SOURCE is a PNG file, a folder of PNGs, a glob pattern, an IDX file\n"
	"(gzip or plain; its labels file is picked up), fashion-mnist:train,\n"
	"fashion-mnist:test, an .npy or .csv file, or toy:swissroll, toy:moons,\n"
	"toy:8gaussians, toy:checkerboard, toy:circles, toy:moving-fmnist, a video\n"
	"(MP4, WebM, GIF, Y4M, AVI, ... : anything libavformat opens), a folder of\n"
	"videos, or a NIfTI-1 volume (.nii, .nii.gz).  Several sources are\n"
	"concatenated (they must have the same sample shape).  --seed seeds the\n"
	"shuffles, flips and toy sets.",
	opts,
	DM_CLI_SEED | DM_CLI_COMPRESS | DM_CLI_OUTPUT,
	NULL,
};

static void parse_shard(const char *s, int64_t *r, int64_t *n)
{
	char *end;
	long long a = strtoll(s, &end, 10);
	if (end == s || *end != '/')
		dm_tool_die("--shard: '%s' is not R/N", s);
	const char *t = end + 1;
	long long b = strtoll(t, &end, 10);
	if (end == t || *end || b < 1 || a < 0 || a >= b)
		dm_tool_die("--shard: '%s' is not R/N with 0 <= R < N", s);
	*r = a;
	*n = b;
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	dm_loader_opts lo;
	dm_loader_opts_default(&lo);
	int64_t batch = 0, limit = -1;
	dm_data_opts dopt;
	dm_data_opts_default(&dopt);
	dm_cli_common co;
	int c;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		switch (c) {
		case 'b': batch = dm_tool_int("--batch", optarg, 1, (long long)1 << 40); break;
		case 'e': lo.epochs = dm_tool_int("--epochs", optarg, 0, (long long)1 << 40); break;
		case O_SHUFFLE: lo.shuffle = 1; break;
		case 'l': limit = dm_tool_int("--limit", optarg, 1, INT64_MAX); break;
		case 'r': {
			double a, b;
			dm_cli_interval("--range", optarg, &a, &b);
			lo.lo = (float)a, lo.hi = (float)b, lo.has_range = 1;
			break;
		}
		case O_FLIP: lo.flip = 1; break;
		case O_SCALE:
			lo.mul = (float)dm_tool_double("--scale", optarg);
			if (!(lo.mul > 0) || !isfinite(lo.mul))
				dm_tool_die("--scale: '%s' is not a positive number", optarg);
			break;
		case 'n': dopt.n = dm_tool_int("--n", optarg, 1, (long long)1 << 32); break;
		case 'F': dopt.frames = (int)dm_tool_int("--frames", optarg, 1, 100000); break;
		case O_STRIDE:
			dopt.frame_stride = (int)dm_tool_int("--frame-stride", optarg, 1, 100000);
			break;
		case O_CLIPS:
			dopt.clips_per_file = dm_tool_int("--clips-per-file", optarg, 1, INT64_MAX);
			break;
		case O_SIZE: dm_cli_dims("--size", optarg, &dopt.h, &dopt.w, 16384); break;
		case O_GRAY: dopt.gray = 1; break;
		case O_ITEMS: dopt.items = (int)dm_tool_int("--items", optarg, 1, 16); break;
		case O_SHARD: parse_shard(optarg, &lo.shard_r, &lo.shard_n); break;
		case O_MAXB: dm_tool_max_bytes(optarg); break;
		}
	}
	lo.seed = dopt.seed = co.seed;
	const int compress = co.compress;
	const char *output = co.output;
	if (optind >= argc)
		dm_tool_die("no SOURCE given (try --help)");

	/* read every source; concatenate */
	dm_error err;
	dm_dataset all, one;
	dm_dataset_init(&all);
	char *sources = NULL;
	size_t slen = 0;
	for (int i = optind; i < argc; i++) {
		dm_dataset_init(&one);
		dm_tool_check(dm_data_open(&one, argv[i], &dopt, &err), &err);
		if (argc - optind == 1) {
			all = one;
		} else {
			dm_tool_check(dm_dataset_append(&all, &one, &err), &err);
			dm_dataset_free(&one);
		}
		size_t al = strlen(argv[i]);
		char *ns = realloc(sources, slen + al + 2);
		if (!ns)
			dm_tool_die("out of memory");
		sources = ns;
		memcpy(sources + slen, argv[i], al);
		slen += al;
		sources[slen++] = ' ';
		sources[slen] = 0;
	}
	sources[slen - 1] = 0;
	free(all.source);
	all.source = sources;
	if (limit > 0)
		dm_dataset_truncate(&all, limit);

	/* default batch: 64 images, 16 clips, else the whole (sharded) set */
	if (batch)
		lo.batch = batch;
	else if (dm_dataset_is_image(&all))
		lo.batch = 64;
	else if (dm_dataset_is_clip(&all))
		lo.batch = 16;
	else
		lo.batch = (all.n + lo.shard_n - 1) / lo.shard_n;

	dm_loader *l;
	dm_tool_check(dm_loader_open(&l, &all, &lo, &err), &err);
	dm_kv meta;
	dm_kv_init(&meta);
	if (dm_loader_meta(l, &meta))
		dm_tool_die("out of memory");

	dm_outfile out;
	dm_tool_check(dm_outfile_open(&out, output, &err), &err);
	const char *oname = strcmp(output, "-") ? output : "stdout";
	dm_writer *w;
	int rc = dm_writer_open(&w, out.f, oname, &meta, &err);
	if (rc) {
		dm_outfile_abort(&out);
		dm_tool_check(rc, &err);
	}
	dm_frame f;
	dm_frame_init(&f);
	while ((rc = dm_loader_next(l, &f, &err)) == 1) {
		for (int i = 0; i < f.n; i++)
			f.t[i]->compress = compress;
		if ((rc = dm_writer_write(w, &f, &err)) < 0)
			break;
	}
	if (rc < 0) {
		dm_writer_abort(w);
		dm_outfile_abort(&out);
		dm_tool_check(rc, &err);
	}
	rc = dm_writer_close(w, &err);
	if (rc < 0) {
		dm_outfile_abort(&out);
		dm_tool_check(rc, &err);
	}
	dm_tool_check(dm_outfile_commit(&out, &err), &err);
	dm_frame_free(&f);
	dm_kv_free(&meta);
	dm_loader_close(l);
	dm_dataset_free(&all);
	return 0;
}

/* dm-info - what a dm stream (data, samples, a checkpoint) holds: the
 * header, each frame's tags and tensors with statistics, and totals. */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/check.h"
#include "io/stream.h"
#include "cli.h"

enum { O_JSON = DM_CLI_LONG, O_SUMMARY, O_NOSTATS, O_MAXB, O_CHECK, O_BANDS, O_CHECKN };

static const dm_cli_opt options[] = {
	{O_JSON, "json", NULL, "print JSON: {\"streams\": [{name, meta, frames, totals}]}", NULL},
	{'q', "quiet", NULL, "print nothing; only validate (exit 0 valid, 1 not)", NULL},
	{'n', "frames", "N", "describe only the first N frames (the rest are still\n"
	                     "read, checked and counted in the totals)", NULL},
	{O_SUMMARY, "summary", NULL, "header and totals only (same as --frames 0)", NULL},
	{O_NOSTATS, "no-stats", NULL, "leave out the statistics (faster on big streams)", NULL},
	{O_MAXB, "max-bytes", "N", "the most bytes one decoded input may take (default\n"
	                         "512M, or DM_MAX_BYTES; suffix k, M or G)", NULL},
	{O_CHECK, "check", NULL, "dm-info --check MODEL DATA: why samples come out as\n"
	                     "noise: the checkpoint's loss per band of noise levels\n"
	                     "on held-out clean DATA (EMA and raw weights) beside\n"
	                     "the losses of predicting zero and the data mean, its\n"
	                     "schedule and data range against DATA, NaN/Inf\n"
	                     "weights, and warnings in words", NULL},
	{O_BANDS, "bands", "N", "--check: bands of t (10)", NULL},
	{O_CHECKN, "check-samples", "N", "--check: held-out samples used (1024; 0 = all)", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]... [FILE]...",
	"Describe dm tensor streams (stdin when no FILE, or FILE is -): the header\n"
	"metadata, every frame's tags and tensors (name, dtype, shape, min, max, mean,\n"
	"std), and totals.  Checks every CRC and field; a corrupt stream gives one\n"
	"error line with its byte offset and exit status 1.",
	options,
	DM_CLI_QUIET | DM_CLI_SEED,
	"Statistics are computed in double over the finite values; NaN and infinite\n"
	"values are counted apart (\"nonfinite\").  std is the population standard\n"
	"deviation.\n"
	"\n"
	"--seed seeds the t and the noise of --check.\n"
	"\n"
	"Example: dm-load toy:swissroll --n 1000 | dm-info\n"
	"         dm-load toy:swissroll --n 1000 --seed 9 > held.dm\n"
	"         dm-info --check swiss.dmt held.dm\n",
};

typedef struct stats {
	int64_t n, nonfinite;
	double min, max, mean, std;
} stats;

/* Value i of t (f32 read directly: the common case, kept fast). */
static inline double value(const dm_tensor *t, const float *f32, int64_t i)
{
	return f32 ? f32[i] : dm_tensor_get(t, i);
}

/* Statistics of the finite values; the others counted. */
static void tensor_stats(const dm_tensor *t, stats *s)
{
	int64_t n = dm_tensor_numel(t), k = 0;
	const float *f = t->dtype == DM_F32 ? t->data : NULL;
	double sum = 0, lo = INFINITY, hi = -INFINITY;
	for (int64_t i = 0; i < n; i++) {
		double v = value(t, f, i);
		if (!isfinite(v))
			continue;
		sum += v;
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		k++;
	}
	double mean = k ? sum / (double)k : 0, ss = 0;
	for (int64_t i = 0; i < n; i++) {
		double v = value(t, f, i);
		if (isfinite(v))
			ss += (v - mean) * (v - mean);
	}
	s->n = k;
	s->nonfinite = n - k;
	s->min = lo;
	s->max = hi;
	s->mean = mean;
	s->std = k ? sqrt(ss / (double)k) : 0;
}

/* ---- JSON output ------------------------------------------------------ */

/* Length of a valid UTF-8 sequence at s (1..4), or 0. */
static int utf8_len(const unsigned char *s)
{
	int n = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

/* A JSON string; bytes that are not valid UTF-8 are written as \u00XX
 * (as if Latin-1) so that the output is always valid JSON. */
static void json_str(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	putchar('"');
	while (*s) {
		int n = utf8_len(s);
		if (*s == '"' || *s == '\\') {
			printf("\\%c", *s);
		} else if (*s < 0x20 || *s == 0x7F || n == 0) {
			printf("\\u%04x", *s);
			n = 1;
		} else {
			fwrite(s, 1, (size_t)n, stdout);
		}
		s += n ? n : 1;
	}
	putchar('"');
}

static void json_num(double v)
{
	if (isfinite(v))
		printf("%.17g", v);
	else
		fputs("null", stdout);
}

static void json_kv(const dm_kv *kv)
{
	putchar('{');
	for (int i = 0; i < kv->n; i++) {
		if (i)
			putchar(',');
		json_str(kv->key[i]);
		putchar(':');
		json_str(kv->val[i]);
	}
	putchar('}');
}

/* ---- one stream ------------------------------------------------------- */

enum { TEXT, JSON, QUIET };

typedef struct opts {
	int mode;
	int64_t frames; /* describe at most this many frames; -1 all */
	int stats;
} opts;

static void check_stdout(void)
{
	if (ferror(stdout) || fflush(stdout) != 0) {
		if (errno == EPIPE)
			exit(0);
		dm_tool_die("stdout: write error: %s", strerror(errno));
	}
}

static void describe_frame(const opts *o, const dm_frame *f, uint64_t index)
{
	if (o->mode == JSON) {
		printf("%s\n    {\"index\":%llu,\"tags\":", index ? "," : "", (unsigned long long)index);
		json_kv(&f->tags);
		fputs(",\"tensors\":[", stdout);
	} else {
		printf("frame %llu:", (unsigned long long)index);
		for (int i = 0; i < f->tags.n; i++)
			printf(" %s=%s", f->tags.key[i], f->tags.val[i]);
		putchar('\n');
	}
	for (int i = 0; i < f->n; i++) {
		const dm_tensor *t = f->t[i];
		stats s = {0};
		if (o->stats)
			tensor_stats(t, &s);
		char shape[256];
		dm_tensor_shape_str(t, shape, sizeof shape);
		if (o->mode == JSON) {
			printf("%s\n      {\"name\":", i ? "," : "");
			json_str(t->name);
			printf(",\"dtype\":\"%s\",\"shape\":[", dm_dtype_name(t->dtype));
			for (int k = 0; k < t->rank; k++)
				printf(k ? ",%lld" : "%lld", (long long)t->dims[k]);
			printf("],\"bytes\":%zu,\"compressed\":%s", dm_tensor_nbytes(t),
			       t->compress ? "true" : "false");
			if (o->stats) {
				fputs(",\"min\":", stdout);
				json_num(s.n ? s.min : NAN);
				fputs(",\"max\":", stdout);
				json_num(s.n ? s.max : NAN);
				fputs(",\"mean\":", stdout);
				json_num(s.n ? s.mean : NAN);
				fputs(",\"std\":", stdout);
				json_num(s.n ? s.std : NAN);
				printf(",\"nonfinite\":%lld", (long long)s.nonfinite);
			}
			putchar('}');
		} else {
			if (o->stats)
				printf("  %-8s %-4s %-16s", t->name, dm_dtype_name(t->dtype), shape);
			else
				printf("  %-8s %-4s %s", t->name, dm_dtype_name(t->dtype), shape);
			if (o->stats && s.n)
				printf(" min %-10.6g max %-10.6g mean %-10.6g std %.6g", s.min, s.max, s.mean, s.std);
			else if (o->stats)
				printf(" (no finite values)");
			if (o->stats && s.nonfinite)
				printf(" nonfinite %lld", (long long)s.nonfinite);
			if (t->compress)
				printf(" zlib");
			putchar('\n');
		}
	}
	if (o->mode == JSON)
		fputs("]}", stdout);
}

static void info(const opts *o, const char *path, int first)
{
	dm_error err;
	dm_reader *r;
	dm_tool_check(dm_reader_open_path(&r, path, &err), &err);
	const char *name = dm_reader_name(r);
	const dm_kv *meta = dm_reader_meta(r);
	if (o->mode == JSON) {
		printf("%s\n  {\"name\":", first ? "" : ",");
		json_str(name);
		fputs(",\"meta\":", stdout);
		json_kv(meta);
		fputs(",\"frames\":[", stdout);
	} else if (o->mode == TEXT) {
		printf("%s:\n", name);
		for (int i = 0; i < meta->n; i++)
			printf("  %s=%s\n", meta->key[i], meta->val[i]);
	}
	dm_frame f;
	dm_frame_init(&f);
	uint64_t tensors = 0, bytes = 0, shown = 0;
	int rc;
	while ((rc = dm_reader_next(r, &f, &err)) > 0) {
		uint64_t index = dm_reader_frames(r) - 1;
		tensors += (uint64_t)f.n;
		for (int i = 0; i < f.n; i++)
			bytes += dm_tensor_nbytes(f.t[i]);
		if (o->mode != QUIET && (o->frames < 0 || (int64_t)index < o->frames)) {
			describe_frame(o, &f, index);
			shown++;
			check_stdout();
		}
	}
	dm_frame_free(&f);
	if (rc < 0) {
		fflush(stdout);
		dm_reader_close(r);
		dm_tool_check(rc, &err);
	}
	uint64_t frames = dm_reader_frames(r), sbytes = dm_reader_offset(r);
	if (o->mode == JSON) {
		printf("%s],\"totals\":{\"frames\":%llu,\"tensors\":%llu,\"data_bytes\":%llu,\"stream_bytes\":%llu}}",
		       shown ? "\n  " : "", (unsigned long long)frames, (unsigned long long)tensors,
		       (unsigned long long)bytes, (unsigned long long)sbytes);
	} else if (o->mode == TEXT) {
		if (shown < frames)
			printf("(%llu more frames not shown)\n", (unsigned long long)(frames - shown));
		printf("total: %llu frames, %llu tensors, %llu data bytes, %llu stream bytes\n",
		       (unsigned long long)frames, (unsigned long long)tensors, (unsigned long long)bytes,
		       (unsigned long long)sbytes);
	}
	dm_reader_close(r);
	check_stdout();
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	/* The reader allocates each frame's tensors afresh; keep freed blocks in
	 * the heap instead of returning them to the kernel, so that reading a
	 * big stream does not page-fault its way through fresh memory every
	 * frame (about twice as fast through a pipe). */
	mallopt(M_MMAP_THRESHOLD, 1 << 30);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	opts o = {TEXT, -1, 1};
	int json = 0, check = 0, c;
	dm_check_opts ck;
	dm_check_opts_default(&ck);
	dm_cli_common co;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		switch (c) {
		case O_JSON: json = 1; break;
		case 'n': o.frames = dm_tool_int("--frames", optarg, 0, INT64_MAX); break;
		case O_SUMMARY: o.frames = 0; break;
		case O_NOSTATS: o.stats = 0; break;
		case O_MAXB: dm_tool_max_bytes(optarg); break;
		case O_CHECK: check = 1; break;
		case O_BANDS: ck.bands = (int)dm_tool_int("--bands", optarg, 1, DM_CHECK_MAX_BANDS); break;
		case O_CHECKN: ck.max_samples = dm_tool_int("--check-samples", optarg, 0, INT64_MAX); break;
		}
	}
	if (check) {
		if (argc - optind != 2)
			dm_tool_die("--check takes MODEL DATA: a checkpoint and a stream of held-out clean samples");
		ck.seed = co.seed;
		dm_error err;
		static dm_check report; /* large: not on the stack */
		dm_tool_check(dm_check_run(&report, argv[optind], argv[optind + 1], &ck, &err), &err);
		dm_check_print(&report, stdout);
		check_stdout();
		return 0;
	}
	const int quiet = co.quiet;
	if (quiet && json)
		dm_tool_die("--quiet and --json exclude each other");
	o.mode = quiet ? QUIET : json ? JSON : TEXT;
	if (quiet)
		o.stats = 0;
	if (o.mode == JSON)
		fputs("{\"streams\":[", stdout);
	if (optind == argc)
		info(&o, "-", 1);
	for (int i = optind; i < argc; i++)
		info(&o, argv[i], i == optind);
	if (o.mode == JSON)
		fputs("\n]}\n", stdout);
	check_stdout();
	return 0;
}

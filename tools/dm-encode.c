/* dm-encode - data out: PNG pictures (single, grids, numbered sequences),
 * NPY and CSV numbers, and (lib/io/video.h) animated GIF, MP4, WebM and Y4M. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/image.h"
#include "io/csv.h"
#include "io/npy.h"
#include "core/outfile.h"
#include "io/render.h"
#include "io/stream.h"
#include "io/video.h"
#include "cli.h"

enum kind { K_PNG, K_NPY, K_CSV, K_VIDEO };
enum { O_GAP = DM_CLI_LONG, O_SCATTER, O_XLIM, O_YLIM, O_SIZE, O_POINT, O_COLOR, O_CAPTION, O_FPS,
       O_LOOP, O_HOLD, O_CRF, O_BITRATE, O_HEADER, O_COLOR_BY, O_LAST };

/* The formats, by the name of -f and of the file extension; from gif on
 * they are video formats (lib/io/video.h). */
static const char *const format_names[] = {"png", "npy", "csv", "gif", "mp4", "webm", "y4m"};
static const dm_cli_enum formats = {format_names, NULL, 0, 7, NULL};

static const dm_cli_opt options[] = {
	{'o', "output", "PATH", "output file (default -, stdout; needs --format)", NULL},
	{'f', "format", "FMT", "the output format (default: from the name)", &formats},
	{'t', "tensor", "NAME", "the tensor to write (default x)", NULL},
	{'g', "grid", "RxC", "pictures: one montage per frame, R rows by C columns,\n"
	                     "filled row-major with the frame's first R*C images (extra\n"
	                     "images are left out, missing ones leave blank cells)", NULL},
	{'k', "scale", "K", "pictures: integer upscaling, nearest neighbour (default 1)", NULL},
	{O_GAP, "gap", "N", "N white pixels between grid cells (default 0)", NULL},
	{'r', "range", "LO:HI", "values mapped to 0..255 (default -1:1; 0:255 for u8\n"
	                        "tensors), clipped, rounded to nearest", NULL},
	{O_SCATTER, "scatter", NULL, "draw N x D points (columns 0, 1) as a scatter plot", NULL},
	{O_XLIM, "xlim", "LO:HI", "fixed x axis of --scatter (default -4:4)", NULL},
	{O_YLIM, "ylim", "LO:HI", "fixed y axis of --scatter (default -4:4)", NULL},
	{O_SIZE, "size", "WxH", "--scatter picture size (default 512x512)", NULL},
	{O_POINT, "point", "R", "--scatter point radius in pixels (default 1)", NULL},
	{O_COLOR, "color", "RRGGBB", "--scatter point colour (default 1f77b4)", NULL},
	{O_COLOR_BY, "color-by", "NAME", "--scatter colours by the integer tensor NAME (e.g.\n"
	                                 "label) from a table of 10 colours", NULL},
	{O_CAPTION, "caption", NULL, "draw t=... and step=... from the frame tags", NULL},
	{O_LAST, "last", NULL, "encode only the stream's last frame (e.g. the final\n"
	                       "samples of a trajectory written by dm-denoise --every)", NULL},
	{O_FPS, "fps", "N", "video: frames per second (default 10)", NULL},
	{O_LOOP, "loop", "N", "GIF: play N times, 0 forever (default 0)", NULL},
	{O_HOLD, "hold-last", "S", "video: show the last frame S seconds longer (default 0)", NULL},
	{O_CRF, "crf", "N", "MP4/WebM quality (default 23 for H.264, 32 for VP9)", NULL},
	{O_BITRATE, "bitrate", "B", "target bit rate in bits/s instead of --crf", NULL},
	{O_HEADER, "header", NULL, "CSV: a first line naming the columns x_0,x_1,...", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]... [FILE]",
	"Write the tensor stream FILE (default stdin) as pictures, video or numbers.\n"
	"The format comes from the name given with -o (.png .npy .csv .gif .mp4\n"
	".webm .y4m) or from --format.  Every output file is written atomically.\n"
	"\n"
	"Pictures (png and video): images are tensors N x C x H x W (C = 1 gray,\n"
	"3 RGB; also C x H x W or H x W for one image).  PNG: one picture.  Without\n"
	"--grid, every image is its own picture; with --grid, every frame is one\n"
	"picture.  More than one picture needs a numbered name such as\n"
	"-o out_%04d.png (numbered by image, or by frame with --grid, from 0).\n"
	"Video: one video frame per stream frame; a grid of its images, by default\n"
	"as square as possible, or --scatter.\n"
	"Numbers: NPY of all frames concatenated along the first axis (dtype kept;\n"
	"bf16 written as f32); CSV with one row per sample (first axis), the rest\n"
	"flattened into columns.",
	options,
	DM_CLI_OUTPUT,
	"Examples:\n"
	"  dm-load fashion-mnist:train --limit 64 --batch 64 | dm-encode --grid 8x8 --scale 2 -o grid.png\n"
	"  dm-load a.npy | dm-encode -o b.npy\n",
};

typedef struct enc {
	/* options */
	const char *out_path, *format, *tensor, *color_by;
	int grid_rows, grid_cols, scale, gap, scatter, caption, header;
	int range_set;
	double lo, hi;
	dm_scatter sc;
	dm_video_opts vo;
	/* state */
	int kind;
	int numbered;          /* the PNG name holds a %d */
	dm_outfile out;        /* npy, csv, single png, video */
	dm_npy_writer npy;
	dm_csv_writer csv;
	int64_t pictures;      /* PNG pictures made so far */
	dm_canvas single;      /* the one picture of a non-numbered PNG */
	dm_video *video;
	dm_canvas last;        /* last video frame, for --hold-last */
} enc;

static const char *src_name = "stdin";

static void die_err(enc *e, int rc, const dm_error *err);

static void parse_pair(const char *opt, const char *s, char sep, double *a, double *b)
{
	char buf[128];
	const char *p = strchr(s, sep);
	if (!p || (size_t)(p - s) >= sizeof buf)
		dm_tool_die("%s: '%s' is not of the form A%cB", opt, s, sep);
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	*a = dm_tool_double(opt, buf);
	*b = dm_tool_double(opt, p + 1);
}

static void parse_dims(const char *opt, const char *s, int *a, int *b, int max)
{
	double x, y;
	parse_pair(opt, s, 'x', &x, &y);
	if (x != floor(x) || y != floor(y) || x < 1 || y < 1 || x > max || y > max)
		dm_tool_die("%s: '%s' needs two whole numbers in 1..%d", opt, s, max);
	*a = (int)x;
	*b = (int)y;
}

/* A numbered name holds exactly one %d, %0Nd or %Nd (and %% for a literal
 * percent sign); returns 1 if numbered, 0 if no conversion; dies otherwise. */
static int check_pattern(const char *s)
{
	int n = 0;
	for (const char *p = s; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p != 'd')
			dm_tool_die("%s: only %%d, %%0Nd and %%%% may appear in an output name", s);
		n++;
	}
	if (n > 1)
		dm_tool_die("%s: more than one %%d in the output name", s);
	return n;
}

static const char *ext_format(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/'))
		return NULL;
	for (int i = 0; i < formats.n; i++)
		if (strcasecmp(dot + 1, format_names[i]) == 0)
			return format_names[i];
	return NULL;
}

/* ---- pictures --------------------------------------------------------- */

static void caption(enc *e, dm_canvas *cv, const dm_frame *f)
{
	char text[160] = "";
	size_t k = 0;
	const char *keys[] = {"t", "step"};
	for (int i = 0; i < 2; i++) {
		const char *v = dm_kv_get(&f->tags, keys[i]);
		if (v && i == 0 && v[0] == '-' && k < sizeof text) { /* dm-denoise's final samples */
			k += (size_t)snprintf(text + k, sizeof text - k, "%sclean", k ? " " : "");
			continue;
		}
		if (v && k < sizeof text)
			k += (size_t)snprintf(text + k, sizeof text - k, "%s%s=%.24s", k ? " " : "", keys[i], v);
	}
	if (!k)
		return;
	int s = cv->w / 160 < 1 ? 1 : cv->w / 160 > 4 ? 4 : cv->w / 160; /* legible, not dominant */
	static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
	dm_render_text(cv, 2 * s, 2 * s, s, text, white, black);
}

/* Picture number `index` of the frame (images, grid or scatter) into cv. */
static int render(enc *e, const dm_frame *f, const dm_tensor *t, int64_t first, int rows, int cols, dm_canvas *cv,
                  dm_error *err)
{
	if (e->scatter) {
		dm_scatter sc = e->sc;
		if (e->color_by) {
			sc.classes = dm_frame_get(f, e->color_by);
			if (!sc.classes)
				return dm_error_set(err, DM_ERR_FORMAT, "%s: a frame has no tensor '%s' for --color-by",
				                    src_name, e->color_by);
		}
		return dm_render_scatter(cv, t, &sc, err);
	}
	if (t->rank == 2 && t->dims[1] == 2) /* an image two pixels wide is surely points */
		return dm_error_set(err, DM_ERR_FORMAT, "%s: tensor '%s' is %lldx2 points: draw them with --scatter",
		                    src_name, t->name, (long long)t->dims[0]);
	double lo = e->lo, hi = e->hi;
	if (!e->range_set && t->dtype == DM_U8)
		lo = 0, hi = 255;
	dm_grid g = {.rows = rows, .cols = cols, .scale = e->scale, .gap = e->gap,
	             .gap_fill = e->gap ? 255 : 0, .lo = lo, .hi = hi};
	return dm_render_grid(cv, t, first, &g, err);
}

static void png_out(enc *e, dm_canvas *cv, int64_t number)
{
	dm_error err;
	if (!e->numbered) {
		if (e->single.px)
			dm_tool_die("%s: the stream holds more than one picture: use --grid RxC or a numbered name such as out_%%04d.png",
			            strcmp(e->out_path, "-") ? e->out_path : "stdout");
		e->single = *cv; /* written at the end, once we know it is the only one */
		cv->px = NULL;
		return;
	}
	char name[4096];
	if (snprintf(name, sizeof name, e->out_path, (long long)number) >= (int)sizeof name)
		dm_tool_die("%s: output name too long", e->out_path);
	dm_outfile o;
	int rc = dm_outfile_open(&o, name, &err);
	if (!rc)
		rc = dm_png_write(o.f, name, cv->w, cv->h, cv->c, cv->px, &err);
	if (!rc)
		rc = dm_outfile_commit(&o, &err);
	else
		dm_outfile_abort(&o);
	die_err(e, rc, &err);
	dm_canvas_free(cv);
}

static void do_png(enc *e, const dm_frame *f, const dm_tensor *t, uint64_t index)
{
	dm_error err;
	dm_canvas cv;
	if (e->scatter || e->grid_rows) {
		die_err(e, render(e, f, t, 0, e->grid_rows, e->grid_cols, &cv, &err), &err);
		if (e->caption)
			caption(e, &cv, f);
		png_out(e, &cv, (int64_t)index);
		return;
	}
	int64_t n;
	int c, h, w;
	die_err(e, dm_render_geometry(t, &n, &c, &h, &w, &err), &err);
	for (int64_t i = 0; i < n; i++) {
		die_err(e, render(e, f, t, i, 1, 1, &cv, &err), &err);
		png_out(e, &cv, e->pictures++);
	}
}

static void do_video(enc *e, const dm_frame *f, const dm_tensor *t)
{
	dm_error err;
	dm_canvas cv;
	int rows = e->grid_rows, cols = e->grid_cols;
	if (!e->scatter && !rows) {
		int64_t n;
		int c, h, w;
		die_err(e, dm_render_geometry(t, &n, &c, &h, &w, &err), &err);
		cols = (int)ceil(sqrt((double)(n < 1 ? 1 : n > 4096 ? 4096 : n)));
		rows = (int)((n + cols - 1) / cols);
		if (rows < 1)
			rows = 1;
		e->grid_rows = rows; /* keep the layout (and size) of the first frame */
		e->grid_cols = cols;
	}
	die_err(e, render(e, f, t, 0, rows, cols, &cv, &err), &err);
	if (e->caption)
		caption(e, &cv, f);
	if (!e->video) {
		int rc = dm_outfile_open(&e->out, e->out_path, &err);
		if (!rc)
			rc = dm_video_open(&e->video, e->out.f, e->out.path ? e->out.path : "stdout",
			                   cv.w, cv.h, cv.c, &e->vo, &err);
		die_err(e, rc, &err);
	}
	die_err(e, dm_video_frame(e->video, &cv, &err), &err);
	dm_canvas_free(&e->last);
	e->last = cv;
}

/* ---- numbers ---------------------------------------------------------- */

/* The name of the output in messages. */
static const char *out_name(const enc *e)
{
	return strcmp(e->out_path, "-") ? e->out_path : "stdout";
}

static void do_npy(enc *e, const dm_tensor *t, uint64_t index)
{
	dm_error err;
	if (index == 0) {
		die_err(e, dm_outfile_open(&e->out, e->out_path, &err), &err);
		/* stdout may be a pipe: stage, to seek back */
		die_err(e, dm_npy_writer_open(&e->npy, e->out.f, out_name(e), e->out.path != NULL, &err),
		        &err);
	}
	int rc = dm_npy_writer_add(&e->npy, t, &err);
	if (rc == DM_ERR_ARG)
		dm_tool_die("%s: frame %" PRIu64 ": %s", src_name, index, err.msg);
	die_err(e, rc, &err);
}

static void do_csv(enc *e, const dm_tensor *t, uint64_t index)
{
	dm_error err;
	if (index == 0) {
		die_err(e, dm_outfile_open(&e->out, e->out_path, &err), &err);
		dm_csv_writer_init(&e->csv, e->out.f, out_name(e), e->header);
	}
	int rc = dm_csv_writer_add(&e->csv, t, &err);
	if (rc == DM_ERR_ARG)
		dm_tool_die("%s: frame %" PRIu64 ": %s", src_name, index, err.msg);
	die_err(e, rc, &err);
}

/* ---- main ------------------------------------------------------------- */

/* On an error: remove what is half-written, then report (quietly for EPIPE). */
static void die_err(enc *e, int rc, const dm_error *err)
{
	if (rc >= 0)
		return;
	if (e->video)
		dm_video_abort(e->video);
	e->video = NULL;
	dm_npy_writer_abort(&e->npy);
	dm_outfile_abort(&e->out);
	dm_tool_check(rc, err);
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	int last_only = 0;
	static enc e;
	e.out_path = "-";
	e.tensor = "x";
	e.scale = 1;
	e.lo = -1;
	e.hi = 1;
	e.sc = (dm_scatter){.w = 512, .h = 512, .xlo = -4, .xhi = 4, .ylo = -4, .yhi = 4, .radius = 1,
	                    .fg = {0x1f, 0x77, 0xb4}, .bg = {255, 255, 255}, .axes = 1};
	e.vo = (dm_video_opts){.fps = 10, .loop = 0, .crf = -1, .bitrate = 0};
	double hold = 0;
	int c;
	dm_cli_common co;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		switch (c) {
		case 'f': e.format = format_names[dm_cli_enum_parse("--format", optarg, &formats)]; break;
		case 't': e.tensor = optarg; break;
		case 'g': parse_dims("--grid", optarg, &e.grid_rows, &e.grid_cols, 1024); break;
		case 'k': e.scale = (int)dm_tool_int("--scale", optarg, 1, 64); break;
		case 'r':
			parse_pair("--range", optarg, ':', &e.lo, &e.hi);
			if (!(e.lo != e.hi))
				dm_tool_die("--range: '%s': LO and HI must differ", optarg);
			e.range_set = 1;
			break;
		case O_GAP: e.gap = (int)dm_tool_int("--gap", optarg, 0, 64); break;
		case O_SCATTER: e.scatter = 1; break;
		case O_XLIM:
		case O_YLIM: {
			double *lo = c == O_XLIM ? &e.sc.xlo : &e.sc.ylo, *hi = c == O_XLIM ? &e.sc.xhi : &e.sc.yhi;
			const char *name = c == O_XLIM ? "--xlim" : "--ylim";
			parse_pair(name, optarg, ':', lo, hi);
			if (!(*hi > *lo))
				dm_tool_die("%s: '%s': HI must be above LO", name, optarg);
			break;
		}
		case O_SIZE: parse_dims("--size", optarg, &e.sc.w, &e.sc.h, 8192); break;
		case O_POINT: e.sc.radius = (int)dm_tool_int("--point", optarg, 0, 50); break;
		case O_COLOR: {
			char *end;
			unsigned long v = strtoul(optarg[0] == '#' ? optarg + 1 : optarg, &end, 16);
			if (*end || strlen(optarg) != (size_t)(optarg[0] == '#' ? 7 : 6))
				dm_tool_die("--color: '%s' is not RRGGBB", optarg);
			e.sc.fg[0] = (uint8_t)(v >> 16);
			e.sc.fg[1] = (uint8_t)(v >> 8);
			e.sc.fg[2] = (uint8_t)v;
			break;
		}
		case O_COLOR_BY: e.color_by = optarg; break;
		case O_CAPTION: e.caption = 1; break;
		case O_LAST: last_only = 1; break;
		case O_FPS: e.vo.fps = (int)dm_tool_int("--fps", optarg, 1, 240); break;
		case O_LOOP: e.vo.loop = (int)dm_tool_int("--loop", optarg, 0, 65535); break;
		case O_HOLD:
			hold = dm_tool_double("--hold-last", optarg);
			if (!(hold >= 0 && hold <= 3600))
				dm_tool_die("--hold-last: '%s' is not a number of seconds in 0..3600", optarg);
			break;
		case O_CRF: e.vo.crf = (int)dm_tool_int("--crf", optarg, 0, 63); break;
		case O_BITRATE: e.vo.bitrate = dm_tool_int("--bitrate", optarg, 1000, 1000000000); break;
		case O_HEADER: e.header = 1; break;
		}
	}
	e.out_path = co.output;
	if (argc - optind > 1)
		dm_tool_die("one input stream at most (got %d)", argc - optind);
	const char *in = optind < argc ? argv[optind] : "-";

	const char *fmt = e.format;
	if (!fmt)
		fmt = ext_format(e.out_path);
	if (!fmt)
		dm_tool_die("%s: cannot tell the output format from the name: give --format",
		            strcmp(e.out_path, "-") ? e.out_path : "stdout");
	int fi = dm_cli_enum_parse("--format", fmt, &formats);
	e.kind = fi < K_VIDEO ? fi : K_VIDEO; /* png, npy, csv, then the video formats */
	if (e.kind == K_VIDEO && !dm_video_format_known(fmt))
		dm_tool_die("--format: this build cannot write %s", fmt);
	e.vo.format = fmt;
	e.numbered = check_pattern(e.out_path);
	if (e.numbered && e.kind != K_PNG)
		dm_tool_die("%s: a numbered name (%%d) is for PNG sequences only", e.out_path);
	if (e.numbered && !strcmp(e.out_path, "-"))
		dm_tool_die("-: cannot number stdout");

	dm_error err;
	dm_reader *r;
	dm_tool_check(dm_reader_open_path(&r, in, &err), &err);
	src_name = strdup(dm_reader_name(r)); /* outlives the reader, for messages */
	if (!src_name)
		dm_tool_die("out of memory");
	dm_frame f, kept;
	dm_frame_init(&f);
	dm_frame_init(&kept);
	int rc;
	uint64_t index = 0;
	for (;;) {
		rc = dm_reader_next(r, &f, &err);
		if (last_only && rc > 0) { /* keep the newest frame, encode it at the end */
			dm_frame_free(&kept);
			kept = f;
			dm_frame_init(&f);
			continue;
		}
		if (last_only && rc == 0 && kept.n) { /* the end: encode the kept frame */
			dm_frame_free(&f);
			f = kept;
			dm_frame_init(&kept);
			last_only = 0;
			rc = 1;
		}
		if (rc <= 0)
			break;
		const dm_tensor *t = dm_frame_get(&f, e.tensor);
		if (!t)
			dm_tool_die("%s: frame %" PRIu64 " has no tensor '%s' (choose one with --tensor)", src_name, index,
			            e.tensor);
		switch (e.kind) {
		case K_PNG: do_png(&e, &f, t, index); break;
		case K_NPY: do_npy(&e, t, index); break;
		case K_CSV: do_csv(&e, t, index); break;
		case K_VIDEO: do_video(&e, &f, t); break;
		}
		index++;
	}
	dm_frame_free(&f);
	dm_frame_free(&kept);
	die_err(&e, rc, &err);
	dm_reader_close(r);
	if (index == 0)
		dm_tool_die("%s: the stream has no frames: nothing to write", src_name);

	switch (e.kind) {
	case K_PNG:
		if (!e.numbered) {
			rc = dm_outfile_open(&e.out, e.out_path, &err);
			if (!rc)
				rc = dm_png_write(e.out.f, e.out.path ? e.out.path : "stdout", e.single.w, e.single.h,
				                  e.single.c, e.single.px, &err);
			die_err(&e, rc, &err);
			dm_canvas_free(&e.single);
		}
		break;
	case K_NPY: die_err(&e, dm_npy_writer_finish(&e.npy, &err), &err); break;
	case K_CSV: break;
	case K_VIDEO: {
		int extra = (int)lround(hold * e.vo.fps);
		for (int i = 0; i < extra; i++)
			die_err(&e, dm_video_frame(e.video, &e.last, &err), &err);
		dm_canvas_free(&e.last);
		rc = dm_video_close(e.video, &err);
		e.video = NULL;
		die_err(&e, rc, &err);
		break;
	}
	}
	if (e.out.f)
		die_err(&e, dm_outfile_commit(&e.out, &err), &err);
	return 0;
}

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
#include "io/nifti.h"
#include "io/npy.h"
#include "core/outfile.h"
#include "io/render.h"
#include "io/stream.h"
#include "io/video.h"
#include "cli.h"

enum kind { K_PNG, K_NPY, K_CSV, K_NII, K_VIDEO };
enum { O_GAP = DM_CLI_LONG, O_SCATTER, O_XLIM, O_YLIM, O_SIZE, O_POINT, O_COLOR, O_CAPTION, O_FPS,
       O_LOOP, O_HOLD, O_CRF, O_BITRATE, O_HEADER, O_COLOR_BY, O_LAST, O_AXIS, O_MIP };
static const char *const axis_names[] = {"t", "h", "w"};
static const dm_cli_enum axes = {axis_names, NULL, 0, 3, NULL};

/* The formats, by the name of -f and of the file extension; from gif on
 * they are video formats (lib/io/video.h). */
static const char *const format_names[] = {"png", "npy", "csv", "nii", "gif", "mp4", "webm", "y4m"};
static const dm_cli_enum formats = {format_names, NULL, 0, 8, NULL};

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
	{O_AXIS, "slice-axis", "A", "clips, volumes: a picture per slice along t (time or\n"
	                            "depth, default), h or w", &axes},
	{O_MIP, "mip", NULL, "clips, volumes: one maximum-intensity projection along\n"
	                     "the --slice-axis", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]... [FILE]",
	"Write the tensor stream FILE (default stdin) as pictures, video or numbers.\n"
	"The format comes from the name given with -o (.png .npy .csv .nii .nii.gz .gif .mp4\n"
	".webm .y4m) or from --format.  Every output file is written atomically.\n"
	"\n"
	"Pictures (png and video): images are tensors N x C x H x W (C = 1 gray,\n"
	"3 RGB; also C x H x W or H x W for one image).  PNG: one picture.  Without\n"
	"--grid, every image is its own picture; with --grid, every frame is one\n"
	"picture.  More than one picture needs a numbered name such as\n"
	"-o out_%04d.png (numbered by image, or by frame with --grid, from 0).\n"
	"Video: one video frame per stream frame; a grid of its images, by default\n"
	"as square as possible, or --scatter.  Clips (N x C x T x H x W) give a\n"
	"picture per time step: the clips side by side, T video frames each.\n"
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
	const char *out_path, *format, *tensor;
	int header;
	dm_render_opts ro;
	dm_video_opts vo;
	/* state */
	int kind;
	int numbered;          /* the PNG name holds a %d */
	dm_outfile out;        /* npy, csv, single png, video */
	dm_npy_writer npy;
	dm_csv_writer csv;
	int64_t pictures;      /* PNG pictures made so far */
	uint64_t index;        /* the frame being encoded */
	dm_canvas single;      /* the one picture of a non-numbered PNG */
	dm_video *video;
	dm_canvas last;        /* last video frame, for --hold-last */
	int clip;              /* the tensor holds clips: a picture per time step */
	dm_nifti_writer nii;   /* NIfTI: the volumes, written at the end */
	int gz;                /* NIfTI: gzip-compressed (.nii.gz) */
} enc;

static const char *src_name = "stdin";

static void die_err(enc *e, int rc, const dm_error *err);

/* ---- pictures --------------------------------------------------------- */

/* A PNG picture: numbered by frame (grid, scatter) or by image. */
static int png_out(void *ctx, dm_canvas *cv, dm_error *err)
{
	enc *e = ctx;
	if (!e->numbered) {
		if (e->single.px)
			dm_tool_die("%s: the stream holds more than one picture: use --grid RxC or a numbered name such as out_%%04d.png",
			            strcmp(e->out_path, "-") ? e->out_path : "stdout");
		e->single = *cv; /* written at the end, once we know it is the only one */
		return 0;
	}
	int64_t number = (e->ro.scatter || e->ro.rows) && !e->clip ? (int64_t)e->index : e->pictures++;
	char name[4096];
	if (snprintf(name, sizeof name, e->out_path, (long long)number) >= (int)sizeof name)
		dm_tool_die("%s: output name too long", e->out_path);
	int rc = dm_render_write_png(name, cv, err);
	dm_canvas_free(cv);
	return rc;
}

static int video_out(void *ctx, dm_canvas *cv, dm_error *err)
{
	enc *e = ctx;
	int rc = 0;
	if (!e->video) {
		rc = dm_outfile_open(&e->out, e->out_path, err);
		if (!rc)
			rc = dm_video_open(&e->video, e->out.f, e->out.path ? e->out.path : "stdout",
			                   cv->w, cv->h, cv->c, &e->vo, err);
	}
	if (!rc)
		rc = dm_video_frame(e->video, cv, err);
	dm_canvas_free(&e->last);
	e->last = *cv;
	return rc;
}

static void do_video(enc *e, const dm_frame *f, const dm_tensor *t)
{
	dm_error err;
	if (!e->ro.scatter && !e->ro.rows) /* keep the layout (and size) of the first frame */
		die_err(e, dm_render_fit_grid(t, &e->ro.rows, &e->ro.cols, &err), &err);
	die_err(e, dm_render_frame(f, t, &e->ro, src_name, video_out, e, &err), &err);
}

/* ---- numbers ---------------------------------------------------------- */

/* NPY, NIfTI or CSV: the output opens on the first frame. */
static void do_numbers(enc *e, const dm_tensor *t, uint64_t index)
{
	dm_error err;
	const char *name = strcmp(e->out_path, "-") ? e->out_path : "stdout";
	if (index == 0) {
		die_err(e, dm_outfile_open(&e->out, e->out_path, &err), &err);
		if (e->kind == K_NPY) /* stdout may be a pipe: stage, to seek back */
			die_err(e, dm_npy_writer_open(&e->npy, e->out.f, name, e->out.path != NULL, &err), &err);
		else if (e->kind == K_CSV)
			dm_csv_writer_init(&e->csv, e->out.f, name, e->header);
	}
	int rc = e->kind == K_NPY ? dm_npy_writer_add(&e->npy, t, &err)
	         : e->kind == K_NII ? dm_nifti_writer_add(&e->nii, t, &err)
	                            : dm_csv_writer_add(&e->csv, t, &err);
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
	dm_nifti_writer_free(&e->nii);
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
	e.ro.scale = 1;
	e.ro.lo = -1;
	e.ro.hi = 1;
	e.ro.sc = (dm_scatter){.w = 512, .h = 512, .xlo = -4, .xhi = 4, .ylo = -4, .yhi = 4, .radius = 1,
	                    .fg = {0x1f, 0x77, 0xb4}, .bg = {255, 255, 255}, .axes = 1};
	e.vo = (dm_video_opts){.fps = 10, .loop = 0, .crf = -1, .bitrate = 0};
	double hold = 0;
	int c;
	dm_cli_common co;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		switch (c) {
		case 'f': e.format = format_names[dm_cli_enum_parse("--format", optarg, &formats)]; break;
		case 't': e.tensor = optarg; break;
		case 'g': dm_cli_dims("--grid", optarg, &e.ro.rows, &e.ro.cols, 1024); break;
		case 'k': e.ro.scale = (int)dm_tool_int("--scale", optarg, 1, 64); break;
		case 'r':
			dm_cli_pair("--range", optarg, ':', &e.ro.lo, &e.ro.hi);
			if (!(e.ro.lo != e.ro.hi))
				dm_tool_die("--range: '%s': LO and HI must differ", optarg);
			e.ro.range_set = 1;
			break;
		case O_GAP: e.ro.gap = (int)dm_tool_int("--gap", optarg, 0, 64); break;
		case O_SCATTER: e.ro.scatter = 1; break;
		case O_XLIM: dm_cli_interval("--xlim", optarg, &e.ro.sc.xlo, &e.ro.sc.xhi); break;
		case O_YLIM: dm_cli_interval("--ylim", optarg, &e.ro.sc.ylo, &e.ro.sc.yhi); break;
		case O_SIZE: dm_cli_dims("--size", optarg, &e.ro.sc.w, &e.ro.sc.h, 8192); break;
		case O_POINT: e.ro.sc.radius = (int)dm_tool_int("--point", optarg, 0, 50); break;
		case O_COLOR: dm_cli_rgb("--color", optarg, e.ro.sc.fg); break;
		case O_COLOR_BY: e.ro.color_by = optarg; break;
		case O_CAPTION: e.ro.caption = 1; break;
		case O_LAST: last_only = 1; break;
		case O_FPS: e.vo.fps = (int)dm_tool_int("--fps", optarg, 1, 240); break;
		case O_LOOP: e.vo.loop = (int)dm_tool_int("--loop", optarg, 0, 65535); break;
		case O_HOLD: hold = dm_cli_double_in("--hold-last", optarg, 0, 3600); break;
		case O_CRF: e.vo.crf = (int)dm_tool_int("--crf", optarg, 0, 63); break;
		case O_BITRATE: e.vo.bitrate = dm_tool_int("--bitrate", optarg, 1000, 1000000000); break;
		case O_HEADER: e.header = 1; break;
		case O_AXIS: e.ro.slice_axis = dm_cli_enum_parse("--slice-axis", optarg, &axes); break;
		case O_MIP: e.ro.mip = 1; break;
		}
	}
	e.out_path = co.output;
	if (argc - optind > 1)
		dm_tool_die("one input stream at most (got %d)", argc - optind);
	const char *in = optind < argc ? argv[optind] : "-";

	const char *fmt = e.format;
	e.gz = dm_nifti_name(e.out_path) == 2;
	if (!fmt)
		fmt = e.gz || dm_nifti_name(e.out_path) ? "nii"
		      : dm_cli_enum_name(&formats, dm_cli_enum_ext(e.out_path, &formats));
	if (!fmt)
		dm_tool_die("%s: cannot tell the output format from the name: give --format",
		            strcmp(e.out_path, "-") ? e.out_path : "stdout");
	int fi = dm_cli_enum_parse("--format", fmt, &formats);
	e.kind = fi < K_VIDEO ? fi : K_VIDEO; /* png, npy, csv, then the video formats */
	if (e.kind == K_VIDEO && !dm_video_format_known(fmt))
		dm_tool_die("--format: this build cannot write %s", fmt);
	e.vo.format = fmt;
	e.numbered = dm_cli_numbered(e.out_path);
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
	dm_frame f;
	dm_frame_init(&f);
	int rc;
	uint64_t index = 0;
	for (;;) {
		/* --last: the stream's last frame only, as the only frame */
		rc = last_only == 1 ? (last_only = 2, dm_reader_last(r, &f, &err))
		     : last_only ? 0 : dm_reader_next(r, &f, &err);
		if (rc <= 0)
			break;
		const dm_tensor *t = dm_frame_get(&f, e.tensor);
		if (!t)
			dm_tool_die("%s: frame %" PRIu64 " has no tensor '%s' (choose one with --tensor)", src_name, index,
			            e.tensor);
		e.index = index;
		e.clip = t->rank == 5;
		switch (e.kind) {
		case K_PNG: die_err(&e, dm_render_frame(&f, t, &e.ro, src_name, png_out, &e, &err), &err); break;
		case K_NPY:
		case K_NII:
		case K_CSV: do_numbers(&e, t, index); break;
		case K_VIDEO: do_video(&e, &f, t); break;
		}
		index++;
	}
	dm_frame_free(&f);
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
	case K_NII:
		die_err(&e, dm_nifti_writer_finish(&e.nii, e.out.f, e.out.path ? e.out.path : "stdout",
		                                   e.gz, &err), &err);
		break;
	case K_CSV: break;
	case K_VIDEO: {
		die_err(&e, dm_video_hold(e.video, &e.last, hold, &err), &err);
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

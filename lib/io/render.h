/* render.h - tensors to 8-bit pictures: value mapping, image grids with
 * integer upscaling, scatter plots of 2-D points, and a small bitmap font
 * for captions.  Used by dm-encode for PNG and video frames.
 *
 * A dm_canvas is an 8-bit picture of c interleaved channels (1 gray or
 * 3 RGB), row-major, w*h*c bytes, owned by the canvas.
 */
#ifndef DM_RENDER_H
#define DM_RENDER_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct dm_canvas {
	int w, h, c;
	uint8_t *px;
} dm_canvas;

/* Largest canvas side dm_render_* will allocate (pixels). */
#define DM_RENDER_MAX_SIDE 32768

/* Allocate a w x h canvas of c channels filled with byte fill.  0 ok,
 * DM_ERR_LIMIT for a side outside 1..DM_RENDER_MAX_SIDE, DM_ERR_NOMEM. */
int dm_canvas_init(dm_canvas *cv, int w, int h, int c, uint8_t fill, dm_error *err);
void dm_canvas_free(dm_canvas *cv);

/* Map v from [lo, hi] to 0..255: round(255 (v - lo) / (hi - lo)), clipped;
 * NaN maps to 0.  Computed in double, so that a byte p loaded as the float
 * p/255*2-1 maps back to exactly p with lo=-1, hi=1. */
static inline uint8_t dm_render_u8(double v, double lo, double hi)
{
	double s = (v - lo) / (hi - lo) * 255.0 + 0.5;
	if (!(s >= 0.0))
		return 0;
	if (s >= 255.0)
		return 255;
	return (uint8_t)s;
}

/* The images a tensor holds: rank 4 is N x C x H x W; rank 3 is one
 * C x H x W image; rank 2 one gray H x W image; rank 5 is N clips
 * (N x C x T x H x W) of C x H x W frames (n = N).  C must be 1 or 3.
 * Fills n, c, h, w; otherwise DM_ERR_FORMAT naming the tensor and why. */
int dm_render_geometry(const dm_tensor *t, int64_t *n, int *c, int *h, int *w, dm_error *err);

/* Grid layout: rows x cols cells of (scale*w) x (scale*h) pixels with gap
 * pixels of value gap_fill between cells (none at the border). */
typedef struct dm_grid {
	int rows, cols;   /* 1 x 1 for a single image */
	int scale;        /* integer upscaling (nearest neighbour), >= 1 */
	int gap;          /* pixels between cells, >= 0 */
	uint8_t gap_fill; /* byte value of gap pixels and of empty cells */
	double lo, hi;    /* value range mapped to 0..255 */
} dm_grid;

/* Render images first .. first+rows*cols-1 of t (as many as exist; cells
 * past the last image stay blank) row-major into a new canvas cv (gray for
 * C=1, RGB for C=3).  The caller frees cv. */
int dm_render_grid(dm_canvas *cv, const dm_tensor *t, int64_t first, const dm_grid *g,
                   dm_error *err);

/* Scatter plot of the rows of an N x D tensor (D >= 2; columns 0 and 1 are
 * x and y) on fixed axes: x in [xlo, xhi] left to right, y in [ylo, yhi]
 * bottom to top.  Points outside are not drawn. */
typedef struct dm_scatter {
	int w, h;          /* canvas size */
	double xlo, xhi, ylo, yhi;
	int radius;        /* point radius in pixels (0 = one pixel) */
	uint8_t fg[3], bg[3];
	int axes;          /* draw the x=0 and y=0 axes in gray when visible */
	const dm_tensor *classes; /* optional: N integer labels; point i takes
	                      colour classes[i] mod 10 of a 10-colour table
	                      instead of fg */
} dm_scatter;

/* Draw into a new RGB canvas cv (freed by the caller). */
int dm_render_scatter(dm_canvas *cv, const dm_tensor *t, const dm_scatter *s, dm_error *err);

/* Colour i (mod 10) of the categorical table scatter classes and plot
 * series take (matplotlib's tab10), as 3 bytes. */
const uint8_t *dm_render_colour(int i);

/* Draw text with the built-in 5x7 font, each font pixel a scale x scale
 * block, top-left corner at (x, y), in colour rgb (gray canvases take
 * rgb[0]), on a background box of colour bg when bg is not NULL.  Letters
 * are drawn in lower case; characters without a glyph are drawn as '?'.
 * Clipped to the canvas. */
void dm_render_text(dm_canvas *cv, int x, int y, int scale, const char *text,
                    const uint8_t *rgb, const uint8_t *bg);
/* Width in pixels of text drawn at scale (6*scale per character, minus the
 * trailing column). */
int dm_render_text_width(const char *text, int scale);
#define DM_RENDER_GLYPH_H 7

/* ---- frames to pictures (dm-encode) ----------------------------------- */

/* How the tensor of a frame becomes pictures. */
typedef struct dm_render_opts {
	int rows, cols;        /* grid of each picture; 0 x 0: one picture per image */
	int scale, gap;        /* upscaling (>= 1) and white pixels between cells */
	int range_set;         /* lo, hi given; else u8 tensors map 0:255 */
	double lo, hi;
	int scatter;           /* draw t's rows as points with sc */
	dm_scatter sc;
	const char *color_by;  /* scatter: the frame's tensor of class labels, or NULL */
	int caption;           /* grid and scatter pictures: t=... step=... from the tags */
	int slice_axis;        /* clips and volumes: pictures along T/D (0), H (1) or W (2) */
	int mip;               /* clips and volumes: one maximum-intensity projection */
} dm_render_opts;

/* Draw "t=T step=S" from tags (a negative t, dm-denoise's final samples,
 * as "clean") in white on black at the top left, at a scale that suits the
 * canvas width.  Nothing when neither tag is there. */
void dm_render_caption(dm_canvas *cv, const dm_kv *tags);

/* The most nearly square grid for the images of t (cols = ceil(sqrt(n)),
 * n capped to 4096).  DM_ERR_FORMAT as dm_render_geometry. */
int dm_render_fit_grid(const dm_tensor *t, int *rows, int *cols, dm_error *err);

/* The pictures of frame f, whose tensor t is drawn: with o->scatter or
 * o->rows, one picture (the scatter plot, or the grid of the first
 * rows*cols images), captioned when o->caption; otherwise one picture per
 * image.  Clips (rank 5) give one picture per time step: the grid
 * (o->rows x o->cols, else the squarest) of every clip's frame at that
 * step, so that a video of the pictures plays the clips side by side; with
 * o->slice_axis 1 or 2 the slices are taken along H or W instead (a sweep
 * through a volume), with o->mip one picture of the maximum along it.  Each is handed to emit in order, which owns it from then on (and
 * frees it); a negative return of emit stops and is returned.  src names
 * the stream in messages: DM_ERR_FORMAT for a frame without the --color-by
 * tensor, or points (N x 2) drawn as images. */
typedef int (*dm_render_emit)(void *ctx, dm_canvas *cv, dm_error *err);
int dm_render_frame(const dm_frame *f, const dm_tensor *t, const dm_render_opts *o, const char *src,
                    dm_render_emit emit, void *ctx, dm_error *err);

/* Write cv as a PNG file at path, atomically (core/outfile). */
int dm_render_write_png(const char *path, const dm_canvas *cv, dm_error *err);

#endif

/* plot.h - line plots as pictures (dm-plot): several series of (x, y) on
 * one chart, each raw and, on request, smoothed by an exponential moving
 * average; linear or log10 y axis with ticks at round values, grid lines,
 * tick labels, title and axis labels in render.h's built-in font, and a
 * legend in the corner the data leaves emptiest.
 */
#ifndef DM_PLOT_H
#define DM_PLOT_H

#include <stdint.h>

#include "core/error.h"
#include "io/render.h"

typedef struct dm_plot_series {
	const char *label;    /* legend text, or NULL for none */
	const double *x, *y;  /* n points; non-finite ones (and y <= 0 on a log
	                         axis) are not drawn and break the line */
	int64_t n;
} dm_plot_series;

typedef struct dm_plot_opts {
	int w, h;             /* canvas size, at least 160 x 120 */
	int logy;             /* log10 y axis */
	double smooth;        /* EMA weight in [0, 1): 0 draws the raw line in
	                         full colour; otherwise the raw line is drawn
	                         faint under the smoothed one (dm_plot_ema); series i takes
	                         dm_render_colour(i) */
	const char *title, *xlabel, *ylabel; /* or NULL */
} dm_plot_opts;

/* Where the data went on the canvas: the plot area's pixels (inclusive)
 * and the data range it spans (log10 of y on a log axis), and the legend's
 * box (all 0 without one).  The caller maps a point with dm_plot_px. */
typedef struct dm_plot_axes {
	int x0, y0, x1, y1;   /* left, top, right, bottom */
	double xlo, xhi, ylo, yhi;
	int logy;
	int lx0, ly0, lx1, ly1;
	int nxt, nyt;         /* ticks drawn on x and y */
	double xt[16], yt[16]; /* their values (y: data values, not logs) */
} dm_plot_axes;

/* Draw ns series into a new RGB canvas cv (the caller frees it); *ax (may
 * be NULL) says where.  DM_ERR_ARG for a size below 160 x 120 or above
 * DM_RENDER_MAX_SIDE, smooth outside [0, 1), or no point that can be drawn
 * (every value non-finite, or none positive on a log axis). */
int dm_plot_draw(dm_canvas *cv, const dm_plot_series *s, int ns, const dm_plot_opts *o,
                 dm_plot_axes *ax, dm_error *err);

/* The canvas position (px, py) of the point (x, y); 0, or -1 for a point
 * that has none (non-finite, or y <= 0 on a log axis). */
int dm_plot_px(const dm_plot_axes *ax, double x, double y, double *px, double *py);

/* out[i] = the bias-corrected EMA of y[0..i] with weight a (TensorBoard's
 * smoothing): m_i = a m_{i-1} + (1 - a) y_i from m = 0, divided by
 * 1 - a^(i+1).  Non-finite y are skipped (out is NaN there, and they do
 * not enter m).  out may be y. */
void dm_plot_ema(const double *y, int64_t n, double a, double *out);

#endif

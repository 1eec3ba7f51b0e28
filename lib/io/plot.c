#include "io/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TICKS 16

void dm_plot_ema(const double *y, int64_t n, double a, double *out)
{
	double m = 0, w = 0; /* w = 1 - a^k after k finite values */
	for (int64_t i = 0; i < n; i++) {
		double v = y[i];
		if (!isfinite(v)) {
			out[i] = NAN;
			continue;
		}
		m = a * m + (1 - a) * v;
		w = a * w + (1 - a);
		out[i] = m / w;
	}
}

/* The value on the y axis of v: its log10 on a log axis; NaN when it has
 * no place there. */
static double yval(int logy, double v)
{
	if (!isfinite(v))
		return NAN;
	if (logy)
		return v > 0 ? log10(v) : NAN;
	return v;
}

int dm_plot_px(const dm_plot_axes *ax, double x, double y, double *px, double *py)
{
	double v = yval(ax->logy, y);
	if (!isfinite(x) || !isfinite(v))
		return -1;
	*px = ax->x0 + (x - ax->xlo) / (ax->xhi - ax->xlo) * (ax->x1 - ax->x0);
	*py = ax->y1 - (v - ax->ylo) / (ax->yhi - ax->ylo) * (ax->y1 - ax->y0);
	return 0;
}

/* Ticks at multiples of 1, 2 or 5 x 10^k in [lo, hi], about `target` of
 * them. */
static int lin_ticks(double lo, double hi, int target, double *t)
{
	double raw = (hi - lo) / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
	double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
	int n = 0;
	for (double k = ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9 && n < MAX_TICKS; k++)
		t[n++] = fabs(k) < 0.5 ? 0 : k * step;
	return n;
}

/* Ticks of a log axis spanning [lo, hi] in log10: decades (every few when
 * there are many), within them 1-2-5, 1-2-3-5 or every digit when there
 * are fewer than two decades (the first giving three ticks), round linear
 * values when even those are fewer than two.  Values, not logs. */
static int log_ticks(double lo, double hi, double *t)
{
	int n = 0;
	double every = ceil((floor(hi) - ceil(lo) + 1) / 8);
	if (every < 1)
		every = 1;
	for (double k = ceil(lo); k <= hi + 1e-9 && n < MAX_TICKS; k += every)
		t[n++] = pow(10, k);
	if (n >= 2)
		return n;
	/* 1-2-5, else 1-2-3-5, else every digit, in each decade */
	static const double m[3][9] = {{1, 2, 5}, {1, 2, 3, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
	static const int nm[3] = {3, 4, 9};
	for (int j = 0; j < 3; j++) {
		n = 0;
		for (double k = floor(lo); k <= ceil(hi) && n < MAX_TICKS; k++)
			for (int i = 0; i < nm[j] && n < MAX_TICKS; i++) {
				double v = m[j][i] * pow(10, k), lv = log10(v);
				if (lv >= lo - 1e-9 && lv <= hi + 1e-9)
					t[n++] = v;
			}
		if (n >= 3)
			return n;
	}
	if (n >= 2)
		return n;
	return lin_ticks(pow(10, lo), pow(10, hi), 4, t);
}

static void tick_label(char *buf, size_t n, double v)
{
	snprintf(buf, n, "%g", v);
}

/* Data ranges over every drawable point; -1 when there is none. */
static int data_range(const dm_plot_series *s, int ns, int logy, double r[4])
{
	r[0] = r[2] = INFINITY, r[1] = r[3] = -INFINITY;
	for (int i = 0; i < ns; i++)
		for (int64_t k = 0; k < s[i].n; k++) {
			double x = s[i].x[k], y = yval(logy, s[i].y[k]);
			if (!isfinite(x) || !isfinite(y))
				continue;
			r[0] = fmin(r[0], x), r[1] = fmax(r[1], x);
			r[2] = fmin(r[2], y), r[3] = fmax(r[3], y);
		}
	if (!(r[0] <= r[1]))
		return -1;
	if (r[1] == r[0])
		r[0] -= 0.5, r[1] += 0.5;
	if (r[3] == r[2])
		r[2] -= logy ? 0.5 : fmax(0.5, fabs(r[2]) * 0.1), r[3] += logy ? 0.5 : fmax(0.5, fabs(r[3]) * 0.1);
	double pad = 0.05 * (r[3] - r[2]);
	r[2] -= pad, r[3] += pad;
	return 0;
}

typedef struct clip {
	dm_canvas *cv;
	int x0, y0, x1, y1;
} clip;

static void dot(const clip *c, int x, int y, int thick, const uint8_t *rgb)
{
	int a = -(thick - 1) / 2;
	for (int dy = a; dy < a + thick; dy++)
		for (int dx = a; dx < a + thick; dx++) {
			int xx = x + dx, yy = y + dy;
			if (xx < c->x0 || xx > c->x1 || yy < c->y0 || yy > c->y1)
				continue;
			memcpy(c->cv->px + ((size_t)yy * c->cv->w + xx) * 3, rgb, 3);
		}
}

static void line(const clip *c, double ax, double ay, double bx, double by, int thick,
                 const uint8_t *rgb)
{
	double d = fmax(fabs(bx - ax), fabs(by - ay));
	int n = (int)ceil(d);
	for (int i = 0; i <= n; i++) {
		double f = n ? (double)i / n : 0;
		dot(c, (int)lround(ax + f * (bx - ax)), (int)lround(ay + f * (by - ay)), thick, rgb);
	}
}

static void hline(dm_canvas *cv, int x0, int x1, int y, const uint8_t *rgb)
{
	clip c = {cv, 0, 0, cv->w - 1, cv->h - 1};
	line(&c, x0, y, x1, y, 1, rgb);
}

static void vline(dm_canvas *cv, int x, int y0, int y1, const uint8_t *rgb)
{
	clip c = {cv, 0, 0, cv->w - 1, cv->h - 1};
	line(&c, x, y0, x, y1, 1, rgb);
}

static void polyline(const clip *c, const dm_plot_axes *ax, const double *x, const double *y,
                     int64_t n, int thick, const uint8_t *rgb)
{
	double px = 0, py = 0;
	int have = 0;
	for (int64_t k = 0; k < n; k++) {
		double qx, qy;
		if (dm_plot_px(ax, x[k], y[k], &qx, &qy) < 0) {
			have = 0;
			continue;
		}
		if (have)
			line(c, px, py, qx, qy, thick, rgb);
		else
			dot(c, (int)lround(qx), (int)lround(qy), thick, rgb);
		px = qx, py = qy, have = 1;
	}
}

static const uint8_t ink[3] = {30, 30, 30}, white[3] = {255, 255, 255};

/* The legend in the corner of the plot area covering fewest points. */
static void legend(dm_canvas *cv, const dm_plot_series *s, int ns, dm_plot_axes *ax, int sc)
{
	int n = 0, tw = 0;
	for (int i = 0; i < ns; i++)
		if (s[i].label && *s[i].label) {
			n++;
			int w = dm_render_text_width(s[i].label, sc);
			tw = w > tw ? w : tw;
		}
	if (!n)
		return;
	int pad = 3 * sc, row = (DM_RENDER_GLYPH_H + 3) * sc, sw = 10 * sc;
	int bw = pad + sw + pad + tw + pad, bh = pad + n * row;
	int best = -1, bx = 0, by = 0;
	long fewest = -1;
	for (int corner = 0; corner < 4; corner++) { /* top right, top left, bottom right, bottom left */
		int x = corner & 1 ? ax->x0 + 2 * pad : ax->x1 - 2 * pad - bw;
		int y = corner & 2 ? ax->y1 - 2 * pad - bh : ax->y0 + 2 * pad;
		long inside = 0;
		for (int i = 0; i < ns; i++)
			for (int64_t k = 0; k < s[i].n; k++) {
				double px, py;
				if (dm_plot_px(ax, s[i].x[k], s[i].y[k], &px, &py) == 0 && px >= x &&
				    px <= x + bw && py >= y && py <= y + bh)
					inside++;
			}
		if (best < 0 || inside < fewest)
			best = corner, fewest = inside, bx = x, by = y;
	}
	static const uint8_t frame[3] = {150, 150, 150};
	for (int y = by; y <= by + bh; y++)
		hline(cv, bx, bx + bw, y, white);
	hline(cv, bx, bx + bw, by, frame), hline(cv, bx, bx + bw, by + bh, frame);
	vline(cv, bx, by, by + bh, frame), vline(cv, bx + bw, by, by + bh, frame);
	clip all = {cv, 0, 0, cv->w - 1, cv->h - 1};
	int k = 0;
	for (int i = 0; i < ns; i++) {
		if (!s[i].label || !*s[i].label)
			continue;
		int y = by + pad + k * row;
		int mid = y + DM_RENDER_GLYPH_H * sc / 2;
		line(&all, bx + pad, mid, bx + pad + sw, mid, 2 * sc, dm_render_colour(i));
		dm_render_text(cv, bx + pad + sw + pad, y, sc, s[i].label, ink, NULL);
		k++;
	}
	ax->lx0 = bx, ax->ly0 = by, ax->lx1 = bx + bw, ax->ly1 = by + bh;
}

int dm_plot_draw(dm_canvas *cv, const dm_plot_series *s, int ns, const dm_plot_opts *o,
                 dm_plot_axes *axout, dm_error *err)
{
	memset(cv, 0, sizeof *cv);
	if (o->w < 160 || o->h < 120 || o->w > DM_RENDER_MAX_SIDE || o->h > DM_RENDER_MAX_SIDE)
		return dm_error_set(err, DM_ERR_ARG, "plot size %dx%d outside 160x120..%dx%d", o->w, o->h,
		                    DM_RENDER_MAX_SIDE, DM_RENDER_MAX_SIDE);
	if (!(o->smooth >= 0 && o->smooth < 1))
		return dm_error_set(err, DM_ERR_ARG, "smoothing %g outside [0, 1)", o->smooth);
	dm_plot_axes ax;
	memset(&ax, 0, sizeof ax);
	double r[4];
	if (data_range(s, ns, o->logy, r) < 0)
		return dm_error_set(err, DM_ERR_ARG, "nothing to plot: no finite%s values",
		                    o->logy ? " positive" : "");
	ax.logy = o->logy;
	ax.xlo = r[0], ax.xhi = r[1], ax.ylo = r[2], ax.yhi = r[3];
	ax.nxt = lin_ticks(ax.xlo, ax.xhi, 6, ax.xt);
	ax.nyt = o->logy ? log_ticks(ax.ylo, ax.yhi, ax.yt) : lin_ticks(ax.ylo, ax.yhi, 6, ax.yt);

	/* margins from the text they hold */
	int sc = o->w >= 600 && o->h >= 360 ? 2 : 1, gh = DM_RENDER_GLYPH_H * sc, pad = 3 * sc;
	char buf[64];
	int lw = 0;
	for (int i = 0; i < ax.nyt; i++) {
		tick_label(buf, sizeof buf, ax.yt[i]);
		int w = dm_render_text_width(buf, sc);
		lw = w > lw ? w : lw;
	}
	tick_label(buf, sizeof buf, ax.nxt ? ax.xt[ax.nxt - 1] : 0);
	int top = 2 * pad + (o->title ? gh + 2 * pad : 0) + (o->ylabel ? gh + 2 * pad : 0);
	int bottom = 3 * pad + gh + (o->xlabel ? gh + 2 * pad : 0);
	int left = 3 * pad + lw, right = 2 * pad + dm_render_text_width(buf, sc) / 2;
	ax.x0 = left, ax.x1 = o->w - 1 - right, ax.y0 = top, ax.y1 = o->h - 1 - bottom;
	if (ax.x1 - ax.x0 < 40 || ax.y1 - ax.y0 < 40)
		return dm_error_set(err, DM_ERR_ARG, "plot size %dx%d leaves no room for the data", o->w,
		                    o->h);
	int rc = dm_canvas_init(cv, o->w, o->h, 3, 255, err);
	if (rc < 0)
		return rc;

	/* grid, axes, ticks and their labels */
	static const uint8_t grid[3] = {228, 228, 228}, edge[3] = {170, 170, 170}, black[3] = {0, 0, 0};
	double px, py;
	for (int i = 0; i < ax.nyt; i++) {
		dm_plot_px(&ax, ax.xlo, ax.yt[i], &px, &py);
		int y = (int)lround(py);
		hline(cv, ax.x0, ax.x1, y, grid);
		hline(cv, ax.x0 - 2 * sc, ax.x0, y, black);
		tick_label(buf, sizeof buf, ax.yt[i]);
		dm_render_text(cv, ax.x0 - pad - dm_render_text_width(buf, sc), y - gh / 2, sc, buf, ink, NULL);
	}
	for (int i = 0; i < ax.nxt; i++) {
		int x = (int)lround(ax.x0 + (ax.xt[i] - ax.xlo) / (ax.xhi - ax.xlo) * (ax.x1 - ax.x0));
		vline(cv, x, ax.y0, ax.y1, grid);
		vline(cv, x, ax.y1, ax.y1 + 2 * sc, black);
		tick_label(buf, sizeof buf, ax.xt[i]);
		dm_render_text(cv, x - dm_render_text_width(buf, sc) / 2, ax.y1 + pad + sc, sc, buf, ink, NULL);
	}
	hline(cv, ax.x0, ax.x1, ax.y0, edge), vline(cv, ax.x1, ax.y0, ax.y1, edge);
	hline(cv, ax.x0, ax.x1, ax.y1, black), vline(cv, ax.x0, ax.y0, ax.y1, black);
	int y = 2 * pad;
	if (o->title) {
		dm_render_text(cv, (o->w - dm_render_text_width(o->title, sc)) / 2, y, sc, o->title, ink, NULL);
		y += gh + 2 * pad;
	}
	if (o->ylabel)
		dm_render_text(cv, ax.x0 - pad, y, sc, o->ylabel, ink, NULL);
	if (o->xlabel)
		dm_render_text(cv, (ax.x0 + ax.x1 - dm_render_text_width(o->xlabel, sc)) / 2,
		               ax.y1 + 2 * pad + gh + 2 * pad, sc, o->xlabel, ink, NULL);

	/* the series: raw lines (faint under a smoothed one), then smoothed */
	clip inner = {cv, ax.x0 + 1, ax.y0 + 1, ax.x1 - 1, ax.y1 - 1};
	for (int i = 0; i < ns; i++) {
		const uint8_t *c = dm_render_colour(i);
		uint8_t faint[3];
		for (int k = 0; k < 3; k++)
			faint[k] = (uint8_t)(255 - (255 - c[k]) * 0.3);
		polyline(&inner, &ax, s[i].x, s[i].y, s[i].n, o->smooth > 0 ? 1 : sc, o->smooth > 0 ? faint : c);
	}
	if (o->smooth > 0)
		for (int i = 0; i < ns; i++) {
			double *m = malloc((size_t)(s[i].n ? s[i].n : 1) * sizeof *m);
			if (!m) {
				dm_canvas_free(cv);
				return dm_error_set(err, DM_ERR_NOMEM, "out of memory smoothing a series");
			}
			dm_plot_ema(s[i].y, s[i].n, o->smooth, m);
			polyline(&inner, &ax, s[i].x, m, s[i].n, sc + 1, dm_render_colour(i));
			free(m);
		}
	legend(cv, s, ns, &ax, sc);
	if (axout)
		*axout = ax;
	return 0;
}

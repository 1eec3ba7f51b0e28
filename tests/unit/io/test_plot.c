#include <stdlib.h>
#include <string.h>

#include "io/plot.h"
#include "io/table.h"
#include "harness.h"

static const uint8_t *pix(const dm_canvas *cv, int x, int y)
{
	return cv->px + ((size_t)y * cv->w + x) * 3;
}

static int same(const uint8_t *p, const uint8_t *c)
{
	return p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
}

/* Is colour c within r pixels of (x, y)? */
static int near_colour(const dm_canvas *cv, double x, double y, int r, const uint8_t *c)
{
	int cx = (int)lround(x), cy = (int)lround(y);
	for (int dy = -r; dy <= r; dy++)
		for (int dx = -r; dx <= r; dx++) {
			int xx = cx + dx, yy = cy + dy;
			if (xx >= 0 && yy >= 0 && xx < cv->w && yy < cv->h && same(pix(cv, xx, yy), c))
				return 1;
		}
	return 0;
}

/* A straight line y = 3 - 2x: every point of it is drawn in the series'
 * colour where the axes put it, and no pixel of that colour lies far from
 * it; the axes are black lines along the plot area's left and bottom. */
TEST(plot_known_line)
{
	double x[11], y[11];
	for (int i = 0; i <= 10; i++)
		x[i] = i, y[i] = 3 - 2 * i;
	dm_plot_series s = {NULL, x, y, 11};
	dm_plot_opts o = {.w = 400, .h = 300};
	dm_canvas cv;
	dm_plot_axes ax;
	dm_error err;
	CHECK(dm_plot_draw(&cv, &s, 1, &o, &ax, &err) == 0);
	const uint8_t *c = dm_render_colour(0);
	/* the range covers the data, x exactly, y with a margin */
	CHECK(ax.xlo == 0 && ax.xhi == 10);
	CHECK(ax.ylo < -17 && ax.ylo > -19 && ax.yhi > 3 && ax.yhi < 5);
	for (double t = 0; t <= 10; t += 0.25) {
		double px, py;
		CHECK(dm_plot_px(&ax, t, 3 - 2 * t, &px, &py) == 0);
		CHECK_MSG(near_colour(&cv, px, py, 1, c), "x=%g: no line pixel near (%.1f, %.1f)", t, px, py);
	}
	/* every pixel of the colour is within 1.5 pixels of the line */
	double ax0, ay0, ax1, ay1;
	dm_plot_px(&ax, 0, 3, &ax0, &ay0);
	dm_plot_px(&ax, 10, -17, &ax1, &ay1);
	double len = hypot(ax1 - ax0, ay1 - ay0);
	long ncol = 0;
	for (int Y = 0; Y < cv.h; Y++)
		for (int X = 0; X < cv.w; X++)
			if (same(pix(&cv, X, Y), c)) {
				double d = fabs((ay1 - ay0) * (X - ax0) - (ax1 - ax0) * (Y - ay0)) / len;
				CHECK_MSG(d < 1.5, "line pixel (%d, %d) is %.1f pixels off the line", X, Y, d);
				ncol++;
			}
	/* and continuous: a pixel per row or column it crosses (its ends may
	 * fall on the axes, which are drawn over it) */
	CHECK(ncol >= (long)fmax(fabs(ax1 - ax0), fabs(ay1 - ay0)) - 2);
	/* axes: black left and bottom edges of the plot area */
	static const uint8_t black[3] = {0, 0, 0};
	for (int Y = ax.y0; Y <= ax.y1; Y++)
		CHECK(same(pix(&cv, ax.x0, Y), black));
	for (int X = ax.x0; X <= ax.x1; X++)
		CHECK(same(pix(&cv, X, ax.y1), black));
	/* ticks at round values inside the range, each with a label: dark
	 * pixels left of the y axis at the tick's height */
	CHECK(ax.nyt >= 3 && ax.nxt >= 3);
	for (int i = 0; i < ax.nyt; i++) {
		CHECK(ax.yt[i] >= ax.ylo && ax.yt[i] <= ax.yhi);
		CHECK(fabs(ax.yt[i] / 5 - lround(ax.yt[i] / 5)) < 1e-9); /* steps of 5 for a range of ~22 */
		double px, py;
		dm_plot_px(&ax, 0, ax.yt[i], &px, &py);
		int dark = 0;
		for (int X = 0; X < ax.x0 - 4; X++)
			for (int dy = -3; dy <= 3; dy++)
				dark += pix(&cv, X, (int)lround(py) + dy)[0] < 100;
		CHECK_MSG(dark > 3, "no label beside tick %g", ax.yt[i]);
	}
	/* one line: no legend */
	CHECK(ax.lx1 == 0);
	dm_canvas_free(&cv);
}

/* Two labelled series: a legend box with a swatch of each colour, in the
 * corner the data leaves empty (the lines run along the top: bottom). */
TEST(plot_legend)
{
	double x[50], a[50], b[50];
	for (int i = 0; i < 50; i++)
		x[i] = i, a[i] = 10, b[i] = 9 + 0.01 * i;
	a[0] = 0; /* the range reaches down to 0, leaving the bottom empty */
	dm_plot_series s[2] = {{"first", x, a, 50}, {"second", x, b, 50}};
	dm_plot_opts o = {.w = 640, .h = 400, .title = "two runs"};
	dm_canvas cv;
	dm_plot_axes ax;
	dm_error err;
	CHECK(dm_plot_draw(&cv, s, 2, &o, &ax, &err) == 0);
	CHECK(ax.lx1 > ax.lx0 && ax.ly1 > ax.ly0);
	CHECK(ax.lx0 >= ax.x0 && ax.lx1 <= ax.x1 && ax.ly0 >= ax.y0 && ax.ly1 <= ax.y1);
	CHECK((ax.ly0 + ax.ly1) / 2 > (ax.y0 + ax.y1) / 2); /* the lower half */
	for (int k = 0; k < 2; k++) {
		long n = 0;
		for (int Y = ax.ly0; Y <= ax.ly1; Y++)
			for (int X = ax.lx0; X <= ax.lx1; X++)
				n += same(pix(&cv, X, Y), dm_render_colour(k));
		CHECK_MSG(n >= 20, "series %d: %ld swatch pixels in the legend", k, n);
	}
	/* legend text: dark pixels in the box */
	long dark = 0;
	for (int Y = ax.ly0 + 1; Y < ax.ly1; Y++)
		for (int X = ax.lx0 + 1; X < ax.lx1; X++)
			dark += pix(&cv, X, Y)[0] < 60 && pix(&cv, X, Y)[1] < 60;
	CHECK(dark > 30);
	dm_canvas_free(&cv);
}

/* A log axis: y = 10^(x/10) is a straight line on it; the mapping is
 * monotone (larger y higher up), decades are equally spaced, and values
 * <= 0 have no place. */
TEST(plot_log_axis)
{
	double x[31], y[31];
	for (int i = 0; i <= 30; i++)
		x[i] = i, y[i] = pow(10, i / 10.0);
	dm_plot_series s = {NULL, x, y, 31};
	dm_plot_opts o = {.w = 400, .h = 300, .logy = 1};
	dm_canvas cv;
	dm_plot_axes ax;
	dm_error err;
	CHECK(dm_plot_draw(&cv, &s, 1, &o, &ax, &err) == 0);
	double prev = INFINITY, px, py;
	for (double v = 1; v <= 1000; v *= 1.1) {
		CHECK(dm_plot_px(&ax, 0, v, &px, &py) == 0);
		CHECK(py < prev);
		prev = py;
	}
	double p1, p10, p100, p1000;
	dm_plot_px(&ax, 0, 1, &px, &p1);
	dm_plot_px(&ax, 0, 10, &px, &p10);
	dm_plot_px(&ax, 0, 100, &px, &p100);
	dm_plot_px(&ax, 0, 1000, &px, &p1000);
	CHECK_NEAR(p1 - p10, p10 - p100, 1e-9);
	CHECK_NEAR(p10 - p100, p100 - p1000, 1e-9);
	CHECK(dm_plot_px(&ax, 0, 0, &px, &py) < 0 && dm_plot_px(&ax, 0, -1, &px, &py) < 0);
	/* decade ticks */
	CHECK(ax.nyt == 4);
	for (int i = 0; i < 4; i++)
		CHECK_NEAR(ax.yt[i], pow(10, i), 1e-9);
	/* the straight line: the midpoint of the pixels of x = 15 is where 10^1.5 maps */
	const uint8_t *c = dm_render_colour(0);
	dm_plot_px(&ax, 15, pow(10, 1.5), &px, &py);
	CHECK(near_colour(&cv, px, py, 1, c));
	dm_canvas_free(&cv);
	/* nothing drawable on a log axis */
	double neg[3] = {-1, 0, NAN};
	dm_plot_series sn = {NULL, x, neg, 3};
	CHECK(dm_plot_draw(&cv, &sn, 1, &o, &ax, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "positive") != NULL);
	o.smooth = 1;
	CHECK(dm_plot_draw(&cv, &s, 1, &o, &ax, &err) == DM_ERR_ARG);
	o.smooth = 0, o.w = 100;
	CHECK(dm_plot_draw(&cv, &s, 1, &o, &ax, &err) == DM_ERR_ARG);
}

/* The bias-corrected EMA against its closed form on a step: after k+1
 * values of 0 then j+1 values of 1, m/(1-a^n) = (1 - a^(j+1)) / (1 - a^n),
 * n = k+j+2; a constant stays itself; NaN is skipped. */
TEST(plot_ema)
{
	double y[20], m[20], a = 0.8;
	for (int i = 0; i < 20; i++)
		y[i] = i < 5 ? 0 : 1;
	dm_plot_ema(y, 20, a, m);
	for (int i = 0; i < 20; i++) {
		double want = i < 5 ? 0 : (1 - pow(a, i - 4)) / (1 - pow(a, i + 1));
		CHECK_NEAR(m[i], want, 1e-12);
	}
	for (int i = 0; i < 20; i++)
		y[i] = 2.5;
	y[3] = NAN;
	dm_plot_ema(y, 20, a, y); /* in place */
	for (int i = 0; i < 20; i++)
		if (i == 3)
			CHECK(isnan(y[i]));
		else
			CHECK_NEAR(y[i], 2.5, 1e-12);
}

/* A smoothed noisy series: the thick line follows the EMA, not the raw
 * zig-zag; the raw line is there, faint. */
TEST(plot_smoothed)
{
	enum { N = 200 };
	double x[N], y[N], m[N];
	for (int i = 0; i < N; i++)
		x[i] = i, y[i] = 1 + (i % 2 ? 0.5 : -0.5);
	dm_plot_series s = {NULL, x, y, N};
	dm_plot_opts o = {.w = 400, .h = 300, .smooth = 0.9};
	dm_canvas cv;
	dm_plot_axes ax;
	dm_error err;
	CHECK(dm_plot_draw(&cv, &s, 1, &o, &ax, &err) == 0);
	dm_plot_ema(y, N, 0.9, m);
	const uint8_t *c = dm_render_colour(0);
	for (int i = 20; i < N; i += 10) {
		double px, py;
		dm_plot_px(&ax, x[i], m[i], &px, &py);
		CHECK_MSG(near_colour(&cv, px, py, 1, c), "step %d: smoothed line not at %.1f", i, py);
	}
	/* the raw extremes (0.5 and 1.5) are drawn faint, not in full colour */
	double px, py;
	dm_plot_px(&ax, 101, 1.5, &px, &py);
	CHECK(!same(pix(&cv, (int)lround(px), (int)lround(py)), c));
	CHECK(pix(&cv, (int)lround(px), (int)lround(py))[0] > 150); /* tinted, not white */
	CHECK(!same(pix(&cv, (int)lround(px), (int)lround(py)), (const uint8_t[]){255, 255, 255}));
	dm_canvas_free(&cv);
}

static int table_from(dm_table *t, const char *text, dm_error *err)
{
	FILE *f = tmpfile();
	fputs(text, f);
	rewind(f);
	int rc = dm_table_read(t, f, "log.csv", err);
	fclose(f);
	return rc;
}

TEST(table_read)
{
	dm_table t;
	dm_error err;
	CHECK(table_from(&t, "step,loss, lr\r\n1,0.5,1e-3\n\n2, nan ,2e-3\n3,0.25,inf\n", &err) == 0);
	CHECK(t.ncol == 3 && t.nrow == 3);
	CHECK(strcmp(t.names[2], "lr") == 0);
	CHECK(dm_table_col(&t, "loss", "log.csv", &err) == 1);
	CHECK(dm_table_at(&t, 0, 2) == 1e-3 && dm_table_at(&t, 2, 1) == 0.25);
	CHECK(isnan(dm_table_at(&t, 1, 1)) && isinf(dm_table_at(&t, 2, 2)));
	CHECK(dm_table_col(&t, "grad", "log.csv", &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "log.csv: no column 'grad' (columns: step, loss, lr)") != NULL);
	dm_table_free(&t);
	/* a header alone: no rows */
	CHECK(table_from(&t, "a,b\n", &err) == 0 && t.nrow == 0);
	dm_table_free(&t);
}

TEST(table_errors)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"", "log.csv: empty (no header line"},
		{"\n\n", "log.csv: empty"},
		{"1,2\n3,4\n", "line 1: the header's column 1 is the number '1'"},
		{"a,,b\n", "line 1: column 2 of the header has no name"},
		{"a,b,a\n", "line 1: column 'a' named twice"},
		{"a,b\n1,2\n3\n", "line 3: 1 fields, the header has 2"},
		{"a,b\n1,2,3\n", "line 2: 3 fields, the header has 2"},
		{"a,b\n1,x2\n", "line 2: column 'b': 'x2' is not a number"},
		{"a,b\n1,\n", "line 2: column 'b': '' is not a number"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		dm_table t;
		dm_error err;
		int rc = table_from(&t, bad[i].text, &err);
		dm_table_free(&t);
		CHECK_MSG(rc == DM_ERR_FORMAT, "case %zu: rc %d", i, rc);
		CHECK_MSG(strstr(err.msg, bad[i].msg) != NULL, "case %zu: '%s'", i, err.msg);
	}
}

/* dm-plot - line plots of CSV logs as PNG pictures (io/table, io/plot):
 * loss against step from dm-train --log, raw and smoothed, several columns
 * or several runs on one chart with a legend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/plot.h"
#include "io/table.h"
#include "cli.h"

enum { O_LOGY = DM_CLI_LONG, O_SMOOTH, O_SIZE, O_TITLE, O_XLABEL, O_YLABEL, O_LABELS };

static const dm_cli_opt options[] = {
	{'x', "x", "COL", "the column along the x axis (step)", NULL},
	{'y', "y", "COLS", "the columns plotted, comma-separated (loss)", NULL},
	{O_LOGY, "log-y", NULL, "log10 y axis (values <= 0 are left out)", NULL},
	{O_SMOOTH, "smooth", "A", "also draw each line smoothed by an exponential moving\n"
	                     "average of weight A in [0, 1), the raw line faint\n"
	                     "under it (0.9; 0 = the raw line only)", NULL},
	{O_SIZE, "size", "WxH", "picture size in pixels (800x480)", NULL},
	{O_TITLE, "title", "TEXT", "title above the chart", NULL},
	{O_XLABEL, "xlabel", "TEXT", "x axis label (the x column's name)", NULL},
	{O_YLABEL, "ylabel", "TEXT", "y axis label (the y column's name when there is one)", NULL},
	{O_LABELS, "labels", "LIST", "legend names of the lines, comma-separated (FILE,\n"
	                     "FILE:COL with several columns; none for one line)", NULL},
	{'o', "output", "FILE", "the PNG written (plot.png)", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]... FILE...",
	"Draw line plots of CSV logs (a header line of column names, then rows of\n"
	"numbers, as dm-train --log writes: step,loss,lr,grad_norm,seconds) as a PNG\n"
	"picture: every --y column of every FILE (\"-\" is stdin) against --x, one\n"
	"colour each, with axes, ticks and a legend.",
	options,
	DM_CLI_OUTPUT,
	"Examples:\n"
	"  dm-plot --log-y -o loss.png train.csv\n"
	"  dm-plot -y grad_norm,lr --log-y -o opt.png train.csv\n"
	"  dm-plot --labels 'lr 1e-3,lr 2e-4' --log-y -o runs.png a.csv b.csv\n",
};

#define MAX_LINES 32

/* The comma-separated items of list (modified in place) into items. */
static int split(char *list, char **items, int max, const char *opt)
{
	int n = 0;
	for (char *p = list;; p++) {
		char *c = strchr(p, ',');
		if (n == max)
			dm_tool_die("%s: more than %d items", opt, max);
		items[n++] = p;
		if (!c)
			break;
		*c = 0, p = c;
	}
	return n;
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	const char *xcol = "step";
	char ycols_arg[1024] = "loss", labels_arg[4096] = "";
	dm_plot_opts o = {.w = 800, .h = 480, .smooth = 0.9};
	int c, labels_given = 0;
	dm_cli_common co;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		switch (c) {
		case 'x': xcol = optarg; break;
		case 'y': snprintf(ycols_arg, sizeof ycols_arg, "%s", optarg); break;
		case O_LOGY: o.logy = 1; break;
		case O_SMOOTH:
			o.smooth = dm_tool_double("--smooth", optarg);
			if (!(o.smooth >= 0 && o.smooth < 1))
				dm_tool_die("--smooth: %s is outside [0, 1)", optarg);
			break;
		case O_SIZE: dm_cli_dims("--size", optarg, &o.w, &o.h, DM_RENDER_MAX_SIDE); break;
		case O_TITLE: o.title = optarg; break;
		case O_XLABEL: o.xlabel = optarg; break;
		case O_YLABEL: o.ylabel = optarg; break;
		case O_LABELS: snprintf(labels_arg, sizeof labels_arg, "%s", optarg), labels_given = 1; break;
		}
	}
	const char *out = co.output_given ? co.output : "plot.png";
	int nf = argc - optind;
	if (nf < 1)
		dm_tool_die("no input: give one or more CSV files (see --help)");
	if (o.w < 160 || o.h < 120)
		dm_tool_die("--size: %dx%d is smaller than 160x120", o.w, o.h);
	char *ycols[MAX_LINES], *labels[MAX_LINES];
	int ny = split(ycols_arg, ycols, MAX_LINES, "--y"), nl = 0;
	if ((long)nf * ny > MAX_LINES)
		dm_tool_die("%d files x %d columns: more than %d lines", nf, ny, MAX_LINES);
	if (labels_given && (nl = split(labels_arg, labels, MAX_LINES, "--labels")) != nf * ny)
		dm_tool_die("--labels: %d names for %d lines", nl, nf * ny);

	dm_error err;
	dm_table *tab = calloc((size_t)nf, sizeof *tab);
	dm_plot_series s[MAX_LINES];
	char auto_label[MAX_LINES][256];
	double *xs[MAX_LINES] = {0}, *ysv[MAX_LINES] = {0};
	if (!tab)
		dm_tool_die("out of memory");
	int n = 0;
	for (int f = 0; f < nf; f++) {
		const char *path = argv[optind + f];
		dm_tool_check(dm_table_read_path(&tab[f], path, &err), &err);
		int xc = dm_table_col(&tab[f], xcol, path, &err);
		dm_tool_check(xc, &err);
		for (int k = 0; k < ny; k++, n++) {
			int yc = dm_table_col(&tab[f], ycols[k], path, &err);
			dm_tool_check(yc, &err);
			int64_t rows = tab[f].nrow;
			xs[n] = malloc((size_t)(rows ? rows : 1) * sizeof(double));
			ysv[n] = malloc((size_t)(rows ? rows : 1) * sizeof(double));
			if (!xs[n] || !ysv[n])
				dm_tool_die("out of memory");
			for (int64_t r = 0; r < rows; r++)
				xs[n][r] = dm_table_at(&tab[f], r, xc), ysv[n][r] = dm_table_at(&tab[f], r, yc);
			if (ny > 1 && nf > 1)
				snprintf(auto_label[n], sizeof auto_label[n], "%s:%s", path, ycols[k]);
			else
				snprintf(auto_label[n], sizeof auto_label[n], "%s", ny > 1 ? ycols[k] : path);
			s[n] = (dm_plot_series){labels_given ? labels[n] : nf * ny > 1 ? auto_label[n] : NULL,
			                        xs[n], ysv[n], rows};
		}
	}
	if (!o.xlabel)
		o.xlabel = xcol;
	char ylab[300];
	if (!o.ylabel && ny == 1) {
		snprintf(ylab, sizeof ylab, "%s%s", ycols[0], o.logy ? " (log scale)" : "");
		o.ylabel = ylab;
	}
	dm_canvas cv;
	int rc = dm_plot_draw(&cv, s, n, &o, NULL, &err);
	if (rc < 0) {
		if (nf == 1)
			dm_tool_die("%s: %s", argv[optind], err.msg);
		dm_tool_die("%s", err.msg);
	}
	dm_tool_check(dm_render_write_png(out, &cv, &err), &err);
	dm_canvas_free(&cv);
	for (int i = 0; i < n; i++)
		free(xs[i]), free(ysv[i]);
	for (int f = 0; f < nf; f++)
		dm_table_free(&tab[f]);
	free(tab);
	return 0;
}

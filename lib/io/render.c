#include "io/render.h"

#include <stdio.h>

#include "core/outfile.h"
#include "io/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dm_canvas_init(dm_canvas *cv, int w, int h, int c, uint8_t fill, dm_error *err)
{
	cv->w = cv->h = cv->c = 0;
	cv->px = NULL;
	if (w < 1 || h < 1 || w > DM_RENDER_MAX_SIDE || h > DM_RENDER_MAX_SIDE)
		return dm_error_set(err, DM_ERR_LIMIT, "picture of %dx%d pixels is outside 1..%d per side",
		                    w, h, DM_RENDER_MAX_SIDE);
	if (c != 1 && c != 3)
		return dm_error_set(err, DM_ERR_ARG, "a picture has 1 or 3 channels, not %d", c);
	size_t n = (size_t)w * (size_t)h * (size_t)c;
	cv->px = malloc(n);
	if (!cv->px)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for a %dx%d picture", w, h);
	memset(cv->px, fill, n);
	cv->w = w;
	cv->h = h;
	cv->c = c;
	return 0;
}

void dm_canvas_free(dm_canvas *cv)
{
	free(cv->px);
	cv->px = NULL;
	cv->w = cv->h = cv->c = 0;
}

int dm_render_geometry(const dm_tensor *t, int64_t *n, int *c, int *h, int *w, dm_error *err)
{
	int64_t d[4] = {1, 1, 1, 1};
	if (t->rank < 2 || t->rank > 5)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "tensor '%s' has rank %d; pictures need N x C x T x H x W, N x C x H x W, C x H x W or H x W",
		                    t->name, t->rank);
	if (t->rank == 5) /* clips: N x C x T x H x W, each frame a C x H x W picture */
		d[0] = t->dims[0], d[1] = t->dims[1], d[2] = t->dims[3], d[3] = t->dims[4];
	else
		for (int i = 0; i < t->rank; i++)
			d[4 - t->rank + i] = t->dims[i];
	if (d[1] != 1 && d[1] != 3)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "tensor '%s' has %lld channels; pictures need 1 (gray) or 3 (RGB)",
		                    t->name, (long long)d[1]);
	if (d[2] < 1 || d[3] < 1 || d[2] > DM_RENDER_MAX_SIDE || d[3] > DM_RENDER_MAX_SIDE)
		return dm_error_set(err, DM_ERR_FORMAT, "tensor '%s': image of %lldx%lld pixels is outside 1..%d per side",
		                    t->name, (long long)d[3], (long long)d[2], DM_RENDER_MAX_SIDE);
	*n = d[0];
	*c = (int)d[1];
	*h = (int)d[2];
	*w = (int)d[3];
	return 0;
}

int dm_render_grid(dm_canvas *cv, const dm_tensor *t, int64_t first, const dm_grid *g,
                   dm_error *err)
{
	int64_t n;
	int c, h, w;
	int rc = dm_render_geometry(t, &n, &c, &h, &w, err);
	if (rc < 0)
		return rc;
	if (t->rank == 5)
		return dm_error_set(err, DM_ERR_ARG, "tensor '%s' holds clips: grid one time step at a time",
		                    t->name);
	if (g->rows < 1 || g->cols < 1 || g->scale < 1 || g->gap < 0 || !(g->hi != g->lo))
		return dm_error_set(err, DM_ERR_ARG, "bad grid layout");
	int64_t cw = (int64_t)w * g->scale, ch = (int64_t)h * g->scale;
	int64_t W = cw * g->cols + (int64_t)g->gap * (g->cols - 1);
	int64_t H = ch * g->rows + (int64_t)g->gap * (g->rows - 1);
	if (W > DM_RENDER_MAX_SIDE || H > DM_RENDER_MAX_SIDE)
		return dm_error_set(err, DM_ERR_LIMIT, "picture of %lldx%lld pixels is larger than %d per side",
		                    (long long)W, (long long)H, DM_RENDER_MAX_SIDE);
	if ((rc = dm_canvas_init(cv, (int)W, (int)H, c, g->gap_fill, err)) < 0)
		return rc;
	size_t plane = (size_t)h * (size_t)w, img = plane * (size_t)c;
	uint8_t *row = malloc((size_t)cw * (size_t)c);
	if (!row) {
		dm_canvas_free(cv);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	int cells = g->rows * g->cols;
	for (int k = 0; k < cells && first + k < n; k++) {
		int64_t x0 = (k % g->cols) * (cw + g->gap), y0 = (k / g->cols) * (ch + g->gap);
		int64_t base = (first + k) * (int64_t)img;
		for (int y = 0; y < h; y++) {
			/* one source row, upscaled horizontally, then copied scale times */
			for (int x = 0; x < w; x++)
				for (int ci = 0; ci < c; ci++) {
					double v = dm_tensor_get(t, base + (int64_t)(ci * plane) + (int64_t)y * w + x);
					uint8_t b = dm_render_u8(v, g->lo, g->hi);
					for (int s = 0; s < g->scale; s++)
						row[((size_t)x * g->scale + s) * c + ci] = b;
				}
			for (int s = 0; s < g->scale; s++) {
				int64_t yy = y0 + (int64_t)y * g->scale + s;
				memcpy(cv->px + ((size_t)yy * cv->w + (size_t)x0) * c, row, (size_t)cw * c);
			}
		}
	}
	free(row);
	return 0;
}

static void put_px(dm_canvas *cv, int x, int y, const uint8_t *rgb)
{
	if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
		return;
	uint8_t *p = cv->px + ((size_t)y * cv->w + x) * cv->c;
	for (int i = 0; i < cv->c; i++)
		p[i] = rgb[cv->c == 1 ? 0 : i];
}

const uint8_t *dm_render_colour(int i)
{
	/* a categorical table with distinct hues (matplotlib's tab10) */
	static const uint8_t table[10][3] = {
		{0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28}, {0x94, 0x67, 0xbd},
		{0x8c, 0x56, 0x4b}, {0xe3, 0x77, 0xc2}, {0x7f, 0x7f, 0x7f}, {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf},
	};
	return table[((i % 10) + 10) % 10];
}

int dm_render_scatter(dm_canvas *cv, const dm_tensor *t, const dm_scatter *s, dm_error *err)
{
	if (t->rank != 2 || t->dims[1] < 2)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "tensor '%s' is not N x D points with D >= 2 (a scatter plot needs them)",
		                    t->name);
	if (!(s->xhi > s->xlo) || !(s->yhi > s->ylo) || s->radius < 0)
		return dm_error_set(err, DM_ERR_ARG, "bad scatter axes");
	uint8_t bg = s->bg[0];
	int rc = dm_canvas_init(cv, s->w, s->h, 3, bg, err);
	if (rc < 0)
		return rc;
	if (s->bg[1] != bg || s->bg[2] != bg)
		for (size_t i = 0; i < (size_t)cv->w * cv->h; i++)
			memcpy(cv->px + 3 * i, s->bg, 3);
	double sx = (s->w - 1) / (s->xhi - s->xlo), sy = (s->h - 1) / (s->yhi - s->ylo);
	if (s->axes) {
		static const uint8_t gray[3] = {96, 96, 96};
		double ax = (0 - s->xlo) * sx, ay = (s->yhi - 0) * sy;
		if (ax >= 0 && ax <= s->w - 1)
			for (int y = 0; y < s->h; y++)
				put_px(cv, (int)lround(ax), y, gray);
		if (ay >= 0 && ay <= s->h - 1)
			for (int x = 0; x < s->w; x++)
				put_px(cv, x, (int)lround(ay), gray);
	}
	int64_t n = t->dims[0], d = t->dims[1];
	if (s->classes && dm_tensor_numel(s->classes) != n) {
		dm_canvas_free(cv);
		return dm_error_set(err, DM_ERR_FORMAT, "tensor '%s' has %lld values for %lld points",
		                    s->classes->name, (long long)dm_tensor_numel(s->classes), (long long)n);
	}
	int r = s->radius;
	for (int64_t i = 0; i < n; i++) {
		double px = (dm_tensor_get(t, i * d) - s->xlo) * sx;
		double py = (s->yhi - dm_tensor_get(t, i * d + 1)) * sy;
		if (!(px >= -r - 0.5 && px <= s->w - 0.5 + r && py >= -r - 0.5 && py <= s->h - 0.5 + r))
			continue; /* outside, or NaN */
		int cx = (int)lround(px), cy = (int)lround(py);
		const uint8_t *colour = s->fg;
		if (s->classes) {
			double c = dm_tensor_get(s->classes, i);
			long k = isfinite(c) ? (long)fmod(c, 10) : 0;
			colour = dm_render_colour((int)(k < 0 ? k + 10 : k));
		}
		for (int dy = -r; dy <= r; dy++)
			for (int dx = -r; dx <= r; dx++)
				if (dx * dx + dy * dy <= r * r + r)
					put_px(cv, cx + dx, cy + dy, colour);
	}
	return 0;
}

/* ---- a 5x7 bitmap font: one byte per row, bit 4 is the leftmost column ---- */

static const char glyph_chars[] = "0123456789abcdefghijklmnopqrstuvwxyz =.-+:/_,?()%";
static const uint8_t glyphs[][7] = {
	{0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
	{0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
	{0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
	{0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
	{0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
	{0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
	{0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
	{0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
	{0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
	{0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
	{0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, /* a */
	{0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, /* b */
	{0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, /* c */
	{0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, /* d */
	{0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, /* e */
	{0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, /* f */
	{0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* g */
	{0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
	{0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, /* i */
	{0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, /* j */
	{0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */
	{0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* l */
	{0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, /* m */
	{0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
	{0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, /* o */
	{0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}, /* p */
	{0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}, /* q */
	{0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
	{0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, /* s */
	{0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, /* t */
	{0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, /* u */
	{0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* v */
	{0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, /* w */
	{0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, /* x */
	{0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* y */
	{0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, /* z */
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* space */
	{0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* = */
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* . */
	{0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* - */
	{0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, /* + */
	{0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, /* : */
	{0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
	{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* _ */
	{0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, /* , */
	{0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
	{0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
	{0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
	{0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
};

static const uint8_t *glyph(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		ch = (char)(ch - 'A' + 'a');
	const char *p = ch ? strchr(glyph_chars, ch) : NULL;
	if (!p)
		p = strchr(glyph_chars, '?');
	return glyphs[p - glyph_chars];
}

int dm_render_text_width(const char *text, int scale)
{
	int n = (int)strlen(text);
	return n ? (6 * n - 1) * scale : 0;
}

void dm_render_text(dm_canvas *cv, int x, int y, int scale, const char *text,
                    const uint8_t *rgb, const uint8_t *bg)
{
	if (bg) {
		int w = dm_render_text_width(text, scale);
		for (int yy = y - scale; yy < y + (DM_RENDER_GLYPH_H + 1) * scale; yy++)
			for (int xx = x - scale; xx < x + w + scale; xx++)
				put_px(cv, xx, yy, bg);
	}
	for (const char *s = text; *s; s++, x += 6 * scale) {
		const uint8_t *g = glyph(*s);
		for (int r = 0; r < DM_RENDER_GLYPH_H; r++)
			for (int col = 0; col < 5; col++)
				if (g[r] & (0x10 >> col))
					for (int dy = 0; dy < scale; dy++)
						for (int dx = 0; dx < scale; dx++)
							put_px(cv, x + col * scale + dx, y + r * scale + dy, rgb);
	}
}

/* ---- frames to pictures ------------------------------------------------ */

void dm_render_caption(dm_canvas *cv, const dm_kv *tags)
{
	char text[160] = "";
	size_t k = 0;
	const char *keys[] = {"t", "step"};
	for (int i = 0; i < 2; i++) {
		const char *v = dm_kv_get(tags, keys[i]);
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

int dm_render_fit_grid(const dm_tensor *t, int *rows, int *cols, dm_error *err)
{
	int64_t n;
	int c, h, w;
	int rc = dm_render_geometry(t, &n, &c, &h, &w, err);
	if (rc)
		return rc;
	*cols = (int)ceil(sqrt((double)(n < 1 ? 1 : n > 4096 ? 4096 : n)));
	*rows = (int)((n + *cols - 1) / *cols);
	if (*rows < 1)
		*rows = 1;
	return 0;
}

/* Picture of images first.. of t in a rows x cols grid, or the scatter plot. */
static int render_one(dm_canvas *cv, const dm_frame *f, const dm_tensor *t, int64_t first, int rows,
                      int cols, const dm_render_opts *o, const char *src, dm_error *err)
{
	if (o->scatter) {
		dm_scatter sc = o->sc;
		if (o->color_by) {
			sc.classes = dm_frame_get(f, o->color_by);
			if (!sc.classes)
				return dm_error_set(err, DM_ERR_FORMAT, "%s: a frame has no tensor '%s' for --color-by",
				                    src, o->color_by);
		}
		return dm_render_scatter(cv, t, &sc, err);
	}
	if (t->rank == 2 && t->dims[1] == 2) /* an image two pixels wide is surely points */
		return dm_error_set(err, DM_ERR_FORMAT, "%s: tensor '%s' is %lldx2 points: draw them with --scatter",
		                    src, t->name, (long long)t->dims[0]);
	double lo = o->lo, hi = o->hi;
	if (!o->range_set && t->dtype == DM_U8)
		lo = 0, hi = 255;
	dm_grid g = {.rows = rows, .cols = cols, .scale = o->scale, .gap = o->gap,
	             .gap_fill = o->gap ? 255 : 0, .lo = lo, .hi = hi};
	return dm_render_grid(cv, t, first, &g, err);
}

/* Slice k along axis (0: T, 1: H, 2: W) of a clip or volume tensor
 * (N x C x T x H x W), or with mip the maximum over that axis, as the one
 * tensor of the frame out (N x C x rows x cols, f32). */
static int clip_slice(const dm_tensor *t, int axis, int64_t k, int mip, dm_frame *out,
                      dm_error *err)
{
	int64_t N = t->dims[0], C = t->dims[1], T = t->dims[2], H = t->dims[3], W = t->dims[4];
	int64_t len = axis == 0 ? T : axis == 1 ? H : W;
	int64_t rows = axis == 0 ? H : T, cols = axis == 2 ? H : W;
	int64_t dims[4] = { N, C, rows, cols };
	dm_frame_clear(out);
	dm_tensor *s = dm_frame_add(out, t->name, DM_F32, 4, dims, err);
	if (!s)
		return err->code;
	float *p = s->data;
	for (int64_t nc = 0; nc < N * C; nc++)
		for (int64_t r = 0; r < rows; r++)
			for (int64_t c = 0; c < cols; c++) {
				double best = -INFINITY;
				for (int64_t j = mip ? 0 : k; j < (mip ? len : k + 1); j++) {
					int64_t tt = axis == 0 ? j : r, hh = axis == 1 ? j : axis == 0 ? r : c;
					int64_t ww = axis == 2 ? j : c;
					double v = dm_tensor_get(t, ((nc * T + tt) * H + hh) * W + ww);
					best = v > best ? v : best;
				}
				*p++ = (float)best;
			}
	return 0;
}

/* A clip tensor: one picture per time step (or per slice along
 * o->slice_axis, or one maximum-intensity projection), the grid
 * (o->rows x o->cols, else the squarest) of every clip's slice. */
static int render_clip(const dm_frame *f, const dm_tensor *t, const dm_render_opts *o,
                       const char *src, dm_render_emit emit, void *ctx, dm_error *err)
{
	if (o->scatter)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: tensor '%s' holds clips (N x C x T x H x W), not points",
		                    src, t->name);
	dm_frame step;
	dm_frame_init(&step);
	int rc = 0;
	int64_t n = o->mip ? 1 : t->dims[2 + o->slice_axis];
	for (int64_t k = 0; k < n && rc >= 0; k++) {
		dm_canvas cv;
		int rows = o->rows, cols = o->cols;
		if ((rc = clip_slice(t, o->slice_axis, k, o->mip, &step, err)) < 0)
			break;
		if (!rows && (rc = dm_render_fit_grid(step.t[0], &rows, &cols, err)) < 0)
			break;
		if ((rc = render_one(&cv, f, step.t[0], 0, rows, cols, o, src, err)) < 0)
			break;
		if (o->caption)
			dm_render_caption(&cv, &f->tags);
		rc = emit(ctx, &cv, err);
	}
	dm_frame_free(&step);
	return rc < 0 ? rc : 0;
}

int dm_render_frame(const dm_frame *f, const dm_tensor *t, const dm_render_opts *o, const char *src,
                    dm_render_emit emit, void *ctx, dm_error *err)
{
	dm_canvas cv;
	int rc;
	if (t->rank == 5)
		return render_clip(f, t, o, src, emit, ctx, err);
	if (o->scatter || o->rows) {
		if ((rc = render_one(&cv, f, t, 0, o->rows, o->cols, o, src, err)))
			return rc;
		if (o->caption)
			dm_render_caption(&cv, &f->tags);
		return emit(ctx, &cv, err);
	}
	int64_t n;
	int c, h, w;
	if ((rc = dm_render_geometry(t, &n, &c, &h, &w, err)))
		return rc;
	for (int64_t i = 0; i < n; i++) {
		if ((rc = render_one(&cv, f, t, i, 1, 1, o, src, err)))
			return rc;
		if ((rc = emit(ctx, &cv, err)) < 0)
			return rc;
	}
	return 0;
}

int dm_render_write_png(const char *path, const dm_canvas *cv, dm_error *err)
{
	dm_outfile o;
	int rc = dm_outfile_open(&o, path, err);
	if (rc)
		return rc;
	rc = dm_png_write(o.f, path, cv->w, cv->h, cv->c, cv->px, err);
	if (!rc)
		return dm_outfile_commit(&o, err);
	dm_outfile_abort(&o);
	return rc;
}

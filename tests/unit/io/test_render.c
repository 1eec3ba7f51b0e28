#include <stdlib.h>
#include <string.h>

#include "io/render.h"
#include "harness.h"

/* Every byte p stored as the float p/255*2-1 (what dm-load does) maps back
 * to p: the PNG round trip depends on it. */
TEST(render_u8_round_trip)
{
	for (int p = 0; p < 256; p++) {
		float v = (float)p / 255.0f * 2.0f - 1.0f;
		CHECK_MSG(dm_render_u8(v, -1, 1) == p, "byte %d came back as %d", p, dm_render_u8(v, -1, 1));
	}
	CHECK(dm_render_u8(-7, -1, 1) == 0);
	CHECK(dm_render_u8(7, -1, 1) == 255);
	CHECK(dm_render_u8(NAN, -1, 1) == 0);
	CHECK(dm_render_u8(0.5, 0, 1) == 128); /* 127.5 rounds up */
	CHECK(dm_render_u8(10, 0, 20) == 128);
}

static dm_tensor *images(dm_frame *f, int n, int c, int h, int w)
{
	dm_error err;
	int64_t dims[4] = {n, c, h, w};
	dm_tensor *t = dm_frame_add(f, "x", DM_F32, 4, dims, &err);
	float *p = t->data;
	/* image k, channel ci, pixel (y, x) holds a value that names it */
	for (int k = 0; k < n; k++)
		for (int ci = 0; ci < c; ci++)
			for (int i = 0; i < h * w; i++)
				p[((size_t)k * c + ci) * h * w + i] = (float)(k * 10 + ci * 3 + i) / 255.0f * 2 - 1;
	return t;
}

TEST(render_grid_layout)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_tensor *t = images(&f, 5, 1, 2, 3);
	dm_grid g = {.rows = 2, .cols = 3, .scale = 2, .gap = 1, .gap_fill = 7, .lo = -1, .hi = 1};
	dm_canvas cv;
	dm_error err;
	CHECK(dm_render_grid(&cv, t, 0, &g, &err) == 0);
	CHECK(cv.c == 1);
	CHECK(cv.w == 3 * 6 + 2 && cv.h == 2 * 4 + 1);
	/* independent: pixel (X, Y) of the canvas */
	for (int Y = 0; Y < cv.h; Y++)
		for (int X = 0; X < cv.w; X++) {
			int cx = X / 7, cy = Y / 5, ox = X % 7, oy = Y % 5;
			int want;
			if (ox == 6 || oy == 4 || cy * 3 + cx >= 5)
				want = 7;
			else
				want = (cy * 3 + cx) * 10 + (oy / 2) * 3 + ox / 2;
			CHECK_MSG(cv.px[Y * cv.w + X] == want, "pixel %d,%d is %d, wanted %d", X, Y,
			          cv.px[Y * cv.w + X], want);
		}
	dm_canvas_free(&cv);
	/* first skips images; cells past the end stay blank */
	dm_grid g1 = {.rows = 1, .cols = 2, .scale = 1, .lo = -1, .hi = 1};
	CHECK(dm_render_grid(&cv, t, 4, &g1, &err) == 0);
	CHECK(cv.w == 6 && cv.h == 2);
	CHECK(cv.px[0] == 40 && cv.px[3] == 0 && cv.px[6 + 2] == 45);
	dm_canvas_free(&cv);
	dm_frame_free(&f);
}

TEST(render_grid_rgb_and_bad_channels)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_tensor *t = images(&f, 1, 3, 2, 2);
	dm_grid g = {.rows = 1, .cols = 1, .scale = 1, .lo = -1, .hi = 1};
	dm_canvas cv;
	dm_error err;
	CHECK(dm_render_grid(&cv, t, 0, &g, &err) == 0);
	CHECK(cv.c == 3 && cv.w == 2 && cv.h == 2);
	CHECK(cv.px[0] == 0 && cv.px[1] == 3 && cv.px[2] == 6);    /* pixel 0: R G B */
	CHECK(cv.px[9] == 3 && cv.px[10] == 6 && cv.px[11] == 9);  /* pixel 3 */
	dm_canvas_free(&cv);
	images(&f, 1, 2, 2, 2);
	t = dm_frame_get(&f, "x");
	CHECK(dm_render_grid(&cv, t, 0, &g, &err) == DM_ERR_FORMAT);
	CHECK(strstr(err.msg, "2 channels") != NULL);
	dm_frame_free(&f);
}

TEST(render_scatter_axes)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_error err;
	int64_t dims[2] = {3, 2};
	dm_tensor *t = dm_frame_add(&f, "x", DM_F32, 2, dims, &err);
	float pts[6] = {-1, -1, 1, 1, 5, 0}; /* bottom-left, top-right, outside */
	memcpy(t->data, pts, sizeof pts);
	dm_scatter s = {.w = 11, .h = 21, .xlo = -1, .xhi = 1, .ylo = -1, .yhi = 1, .radius = 0,
	                .fg = {255, 0, 0}, .bg = {0, 0, 0}};
	dm_canvas cv;
	CHECK(dm_render_scatter(&cv, t, &s, &err) == 0);
	CHECK(cv.c == 3 && cv.w == 11 && cv.h == 21);
	int red = 0;
	for (int i = 0; i < cv.w * cv.h; i++)
		red += cv.px[3 * i] == 255;
	CHECK(red == 2);
	CHECK(cv.px[3 * (20 * 11 + 0)] == 255); /* (-1,-1) at the bottom-left */
	CHECK(cv.px[3 * (0 * 11 + 10)] == 255); /* (1,1) at the top-right */
	dm_canvas_free(&cv);
	/* colour by class: class 1 is the second table colour (ff7f0e) */
	int64_t n3 = 3;
	dm_tensor *lab = dm_frame_add(&f, "label", DM_I32, 1, &n3, &err);
	int32_t cls[3] = {0, 11, 2};
	memcpy(lab->data, cls, sizeof cls);
	s.classes = lab;
	CHECK(dm_render_scatter(&cv, t, &s, &err) == 0);
	CHECK(cv.px[3 * (0 * 11 + 10)] == 0xff && cv.px[3 * (0 * 11 + 10) + 1] == 0x7f);
	CHECK(cv.px[3 * (20 * 11 + 0)] == 0x1f);
	dm_canvas_free(&cv);
	int64_t n2 = 2;
	s.classes = dm_frame_add(&f, "label2", DM_I32, 1, &n2, &err);
	CHECK(dm_render_scatter(&cv, t, &s, &err) == DM_ERR_FORMAT);
	dm_frame_free(&f);
}

TEST(render_text)
{
	dm_canvas cv;
	dm_error err;
	CHECK(dm_canvas_init(&cv, 40, 10, 1, 0, &err) == 0);
	uint8_t white[3] = {255, 255, 255};
	dm_render_text(&cv, 1, 1, 1, "t=1", white, NULL);
	CHECK(dm_render_text_width("t=1", 1) == 17);
	/* '1' is glyph rows 0x04,0x0C,...: its top row has one pixel at column 2 */
	CHECK(cv.px[1 * 40 + 1 + 12 + 2] == 255 && cv.px[1 * 40 + 1 + 12 + 1] == 0);
	/* clipping: drawing off the canvas must not crash */
	dm_render_text(&cv, 35, 8, 2, "step=999", white, white);
	dm_canvas_free(&cv);
}

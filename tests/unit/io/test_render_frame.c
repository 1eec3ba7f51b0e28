/* dm_render_frame and its helpers: a frame's tensor to the pictures of
 * dm-encode's options, checked pixel by pixel against the bytes the test
 * stored in the tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/image.h"
#include "io/render.h"
#include "harness.h"

/* n gray h x w images; image k, pixel i holds the byte k*10+i as p/255*2-1. */
static dm_tensor *images(dm_frame *f, int n, int h, int w)
{
	dm_error err;
	int64_t dims[4] = {n, 1, h, w};
	dm_tensor *t = dm_frame_add(f, "x", DM_F32, 4, dims, &err);
	float *p = t->data;
	for (int k = 0; k < n; k++)
		for (int i = 0; i < h * w; i++)
			p[(size_t)k * h * w + i] = (float)(k * 10 + i) / 255.0f * 2 - 1;
	return t;
}

/* Keeps the pictures it is handed; fails from the stop-th on. */
typedef struct got {
	int n, stop;
	dm_canvas cv[8];
} got;

static int keep(void *ctx, dm_canvas *cv, dm_error *err)
{
	got *g = ctx;
	if (g->n == g->stop) { /* the picture is ours either way */
		dm_canvas_free(cv);
		return dm_error_set(err, DM_ERR_IO, "stop");
	}
	g->cv[g->n++] = *cv;
	return 0;
}

static void got_free(got *g)
{
	for (int i = 0; i < g->n; i++)
		dm_canvas_free(&g->cv[i]);
	g->n = 0;
}

static const dm_render_opts plain = {.scale = 1, .lo = -1, .hi = 1};

TEST(render_frame_one_picture_per_image)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_tensor *t = images(&f, 5, 2, 3);
	got g = {.stop = -1};
	dm_error err;
	CHECK(dm_render_frame(&f, t, &plain, "s", keep, &g, &err) == 0);
	CHECK(g.n == 5);
	for (int k = 0; k < 5; k++) {
		CHECK(g.cv[k].w == 3 && g.cv[k].h == 2 && g.cv[k].c == 1);
		for (int i = 0; i < 6; i++)
			CHECK_MSG(g.cv[k].px[i] == k * 10 + i, "image %d pixel %d is %d", k, i, g.cv[k].px[i]);
	}
	got_free(&g);
	/* an error of emit stops the frame and is returned */
	got h = {.stop = 2};
	CHECK(dm_render_frame(&f, t, &plain, "s", keep, &h, &err) == DM_ERR_IO);
	CHECK(h.n == 2);
	got_free(&h);
	dm_frame_free(&f);
}

TEST(render_frame_grid_and_caption)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_tensor *t = images(&f, 5, 2, 3);
	dm_render_opts o = plain;
	o.rows = 2, o.cols = 3, o.gap = 1;
	got g = {.stop = -1};
	dm_error err;
	CHECK(dm_render_frame(&f, t, &o, "s", keep, &g, &err) == 0);
	CHECK(g.n == 1 && g.cv[0].w == 3 * 3 + 2 && g.cv[0].h == 2 * 2 + 1);
	CHECK(g.cv[0].px[3] == 255);                 /* the white gap */
	CHECK(g.cv[0].px[4] == 10);                  /* image 1, pixel 0 */
	CHECK(g.cv[0].px[3 * 11 + 4] == 40);         /* image 4, pixel 0 */
	CHECK(g.cv[0].px[3 * 11 + 8] == 255);        /* the blank sixth cell */
	/* captions need a tag: none, the same picture */
	o.caption = 1;
	got h = {.stop = -1};
	CHECK(dm_render_frame(&f, t, &o, "s", keep, &h, &err) == 0);
	CHECK(memcmp(g.cv[0].px, h.cv[0].px, (size_t)g.cv[0].w * g.cv[0].h) == 0);
	got_free(&h);
	/* t=-1 (dm-denoise's final samples) is drawn as "clean" */
	dm_kv_set(&f.tags, "t", "-1");
	CHECK(dm_render_frame(&f, t, &o, "s", keep, &h, &err) == 0);
	dm_canvas want;
	CHECK(dm_canvas_init(&want, g.cv[0].w, g.cv[0].h, 1, 0, &err) == 0);
	memcpy(want.px, g.cv[0].px, (size_t)want.w * want.h);
	static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
	dm_render_text(&want, 2, 2, 1, "clean", white, black);
	CHECK(memcmp(want.px, h.cv[0].px, (size_t)want.w * want.h) == 0);
	CHECK(memcmp(g.cv[0].px, h.cv[0].px, (size_t)want.w * want.h) != 0);
	dm_canvas_free(&want);
	got_free(&h);
	got_free(&g);
	dm_frame_free(&f);
}

TEST(render_frame_u8_range_and_errors)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_error err;
	int64_t dims[2] = {2, 3};
	dm_tensor *t = dm_frame_add(&f, "u", DM_U8, 2, dims, &err);
	uint8_t *p = t->data;
	for (int i = 0; i < 6; i++)
		p[i] = (uint8_t)(i * 40);
	got g = {.stop = -1};
	CHECK(dm_render_frame(&f, t, &plain, "s", keep, &g, &err) == 0); /* u8: 0:255 */
	CHECK(g.n == 1 && g.cv[0].px[5] == 200);
	got_free(&g);
	dm_render_opts o = plain;
	o.range_set = 1, o.lo = 0, o.hi = 400; /* a given range wins */
	g.n = 0;
	CHECK(dm_render_frame(&f, t, &o, "s", keep, &g, &err) == 0);
	CHECK(g.cv[0].px[5] == 128);
	got_free(&g);
	/* N x 2 is points, not images */
	int64_t pd[2] = {4, 2};
	dm_tensor *pts = dm_frame_add(&f, "x", DM_F32, 2, pd, &err);
	g.n = 0;
	CHECK(dm_render_frame(&f, pts, &plain, "in.dms", keep, &g, &err) == DM_ERR_FORMAT);
	CHECK(g.n == 0 && strstr(err.msg, "in.dms: tensor 'x' is 4x2 points") != NULL);
	o = plain;
	o.scatter = 1;
	o.sc = (dm_scatter){.w = 16, .h = 16, .xlo = -1, .xhi = 1, .ylo = -1, .yhi = 1};
	CHECK(dm_render_frame(&f, pts, &o, "in.dms", keep, &g, &err) == 0);
	CHECK(g.n == 1 && g.cv[0].w == 16 && g.cv[0].c == 3);
	got_free(&g);
	o.color_by = "label";
	g.n = 0;
	CHECK(dm_render_frame(&f, pts, &o, "in.dms", keep, &g, &err) == DM_ERR_FORMAT);
	CHECK(strstr(err.msg, "no tensor 'label'") != NULL);
	dm_frame_free(&f);
}

TEST(render_fit_grid)
{
	static const int n[] = {1, 2, 5, 16, 17, 64}, rows[] = {1, 1, 2, 4, 4, 8}, cols[] = {1, 2, 3, 4, 5, 8};
	for (int i = 0; i < 6; i++) {
		dm_frame f;
		dm_frame_init(&f);
		dm_tensor *t = images(&f, n[i], 1, 1);
		int r, c;
		dm_error err;
		CHECK(dm_render_fit_grid(t, &r, &c, &err) == 0);
		CHECK_MSG(r == rows[i] && c == cols[i], "%d images: %dx%d", n[i], r, c);
		CHECK(r * c >= n[i] && (r - 1) * c < n[i]);
		dm_frame_free(&f);
	}
}

TEST(render_write_png)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_tensor *t = images(&f, 1, 4, 5);
	got g = {.stop = -1};
	dm_error err;
	CHECK(dm_render_frame(&f, t, &plain, "s", keep, &g, &err) == 0);
	char path[64];
	snprintf(path, sizeof path, "/tmp/dm_render_%d.png", (int)getpid());
	CHECK(dm_render_write_png(path, &g.cv[0], &err) == 0);
	int w, h, c;
	float *px;
	CHECK(dm_png_read(path, &w, &h, &c, &px, &err) == 0);
	unlink(path);
	CHECK(w == 5 && h == 4 && c == 1);
	for (int i = 0; i < 20; i++)
		CHECK_NEAR(px[i], (float)i / 255.0f, 1e-6);
	free(px);
	CHECK(dm_render_write_png("/nonexistent/dir/x.png", &g.cv[0], &err) < 0);
	got_free(&g);
	dm_frame_free(&f);
}

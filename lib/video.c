#include "video.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { V_Y4M, V_GIF, V_MP4, V_WEBM };

struct dm_video {
	int kind;
	FILE *f;
	char *name;
	int w, h, c;    /* canvas size and channels */
	int pw, ph;     /* padded picture size */
	dm_video_opts o;
	uint8_t *buf;   /* one converted picture */
	int64_t frames;
};

int dm_video_format_known(const char *format)
{
	return !strcasecmp(format, "y4m");
}

static int io_err(dm_video *v, dm_error *err)
{
	return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO, "%s: write error: %s", v->name,
	                    strerror(errno));
}

int dm_video_open(dm_video **vp, FILE *f, const char *name, int w, int h, int c,
                  const dm_video_opts *o, dm_error *err)
{
	*vp = NULL;
	if (!dm_video_format_known(o->format))
		return dm_error_set(err, DM_ERR_ARG, "%s: unknown video format '%s'", name, o->format);
	if (w < 1 || h < 1 || (c != 1 && c != 3) || o->fps < 1)
		return dm_error_set(err, DM_ERR_ARG, "%s: bad video size %dx%d, %d channels", name, w, h, c);
	dm_video *v = calloc(1, sizeof *v);
	if (!v)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	v->f = f;
	v->name = strdup(name);
	v->w = w;
	v->h = h;
	v->c = c;
	v->o = *o;
	v->kind = V_Y4M;
	/* Y4M in 4:4:4 (any size, no chroma loss) or mono for gray */
	v->pw = w;
	v->ph = h;
	v->buf = malloc((size_t)w * h * 3);
	if (!v->name || !v->buf) {
		dm_video_abort(v);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	if (fprintf(f, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 %s\n", w, h, o->fps, c == 1 ? "Cmono" : "C444") < 0) {
		int rc = io_err(v, err);
		dm_video_abort(v);
		return rc;
	}
	*vp = v;
	return 0;
}

/* BT.601 limited range, as Y4M readers assume. */
static void rgb_to_yuv444(const uint8_t *rgb, size_t n, uint8_t *y, uint8_t *u, uint8_t *vv)
{
	for (size_t i = 0; i < n; i++) {
		double r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
		y[i] = (uint8_t)(16.5 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0);
		u[i] = (uint8_t)(128.5 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0);
		vv[i] = (uint8_t)(128.5 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0);
	}
}

int dm_video_frame(dm_video *v, const dm_canvas *cv, dm_error *err)
{
	if (cv->w != v->w || cv->h != v->h || cv->c != v->c)
		return dm_error_set(err, DM_ERR_ARG, "%s: frame of %dx%d (%d channels) in a video of %dx%d (%d channels)",
		                    v->name, cv->w, cv->h, cv->c, v->w, v->h, v->c);
	size_t n = (size_t)v->w * v->h;
	if (fputs("FRAME\n", v->f) < 0)
		return io_err(v, err);
	if (v->c == 1) {
		/* full-range gray to limited-range luma */
		for (size_t i = 0; i < n; i++)
			v->buf[i] = (uint8_t)(16.5 + cv->px[i] * (219.0 / 255.0));
		if (fwrite(v->buf, 1, n, v->f) != n)
			return io_err(v, err);
	} else {
		rgb_to_yuv444(cv->px, n, v->buf, v->buf + n, v->buf + 2 * n);
		if (fwrite(v->buf, 1, 3 * n, v->f) != 3 * n)
			return io_err(v, err);
	}
	v->frames++;
	return 0;
}

int dm_video_close(dm_video *v, dm_error *err)
{
	int rc = 0;
	if (fflush(v->f) != 0)
		rc = io_err(v, err);
	dm_video_abort(v);
	return rc;
}

void dm_video_abort(dm_video *v)
{
	if (!v)
		return;
	free(v->buf);
	free(v->name);
	free(v);
}

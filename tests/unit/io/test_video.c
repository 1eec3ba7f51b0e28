#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "io/render.h"
#include "io/video.h"
#include "harness.h"

/* Videos are written by lib/io/video.c and read back independently through
 * libavformat/libavcodec: frame count, size, timing, and the pixels of the
 * last frame (exact for GIF palettes that fit, close for lossy codecs). */

typedef struct probe {
	int frames, w, h;
	double duration; /* seconds, from the last frame's pts + its duration */
	uint8_t *rgb;    /* last frame as RGB24, w*h*3 */
	char codec[32];
} probe;

static int probe_file(const char *path, probe *p)
{
	memset(p, 0, sizeof *p);
	AVFormatContext *fmt = NULL;
	if (avformat_open_input(&fmt, path, NULL, NULL) < 0)
		return -1;
	int rc = -1;
	AVCodecContext *dec = NULL;
	AVFrame *fr = av_frame_alloc();
	AVPacket *pkt = av_packet_alloc();
	if (avformat_find_stream_info(fmt, NULL) < 0 || fmt->nb_streams != 1)
		goto out;
	AVStream *st = fmt->streams[0];
	const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
	dec = avcodec_alloc_context3(codec);
	if (!codec || avcodec_parameters_to_context(dec, st->codecpar) < 0 || avcodec_open2(dec, codec, NULL) < 0)
		goto out;
	snprintf(p->codec, sizeof p->codec, "%s", codec->name);
	int64_t last_pts = 0, last_dur = 0;
	for (int eof = 0; !eof;) {
		int r = av_read_frame(fmt, pkt);
		if (r < 0) {
			eof = 1;
			avcodec_send_packet(dec, NULL);
		} else {
			avcodec_send_packet(dec, pkt);
			av_packet_unref(pkt);
		}
		while (avcodec_receive_frame(dec, fr) == 0) {
			p->frames++;
			p->w = fr->width;
			p->h = fr->height;
			if (fr->best_effort_timestamp != AV_NOPTS_VALUE && fr->best_effort_timestamp >= last_pts) {
				last_pts = fr->best_effort_timestamp;
				last_dur = fr->pkt_duration;
			}
			free(p->rgb);
			p->rgb = malloc((size_t)fr->width * fr->height * 3);
			struct SwsContext *sws = sws_getContext(fr->width, fr->height, fr->format, fr->width, fr->height,
			                                        AV_PIX_FMT_RGB24, SWS_POINT | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
			                                        NULL, NULL, NULL);
			uint8_t *dst[1] = {p->rgb};
			int stride[1] = {fr->width * 3};
			sws_scale(sws, (const uint8_t *const *)fr->data, fr->linesize, 0, fr->height, dst, stride);
			sws_freeContext(sws);
		}
	}
	p->duration = (double)(last_pts + last_dur) * av_q2d(st->time_base);
	rc = 0;
out:
	avcodec_free_context(&dec);
	av_frame_free(&fr);
	av_packet_free(&pkt);
	avformat_close_input(&fmt);
	return rc;
}

/* Draw frame k: a moving gradient (c = 1 or 3) or a few flat colours. */
static void draw(dm_canvas *cv, int k, int flat)
{
	for (int y = 0; y < cv->h; y++)
		for (int x = 0; x < cv->w; x++)
			for (int ch = 0; ch < cv->c; ch++) {
				/* smooth ramps: R along x, G along y, B with time */
				int v = flat ? ((x / 8 + y / 8 + k + ch) % 4) * 80
				        : cv->c == 1 ? (x + y) * 255 / (cv->w + cv->h - 2)
				        : ch == 0 ? x * 255 / (cv->w - 1) : ch == 1 ? y * 255 / (cv->h - 1) : 60 + 10 * k;
				cv->px[((size_t)y * cv->w + x) * cv->c + ch] = (uint8_t)v;
			}
}

/* Mean absolute difference between the canvas (as RGB) and the probe. */
static double diff(const dm_canvas *cv, const probe *p)
{
	double s = 0;
	for (int y = 0; y < cv->h; y++)
		for (int x = 0; x < cv->w; x++)
			for (int ch = 0; ch < 3; ch++) {
				int a = cv->px[((size_t)y * cv->w + x) * cv->c + (cv->c == 1 ? 0 : ch)];
				int b = p->rgb[((size_t)y * p->w + x) * 3 + ch];
				s += abs(a - b);
			}
	return s / (cv->w * cv->h * 3.0);
}

static int write_video(const char *fmt, int w, int h, int c, int n, int fps, int flat, char *path,
                       dm_canvas *cv, dm_error *err)
{
	strcpy(path, "/tmp/dm_test_video_XXXXXX");
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w+b");
	dm_video_opts o = {.format = fmt, .fps = fps, .loop = 0, .crf = -1};
	dm_video *v;
	int rc = dm_video_open(&v, f, path, w, h, c, &o, err);
	dm_canvas_init(cv, w, h, c, 0, err);
	for (int k = 0; k < n && rc == 0; k++) {
		draw(cv, k, flat);
		rc = dm_video_frame(v, cv, err);
	}
	if (rc == 0)
		rc = dm_video_close(v, err);
	fclose(f);
	return rc;
}

static void one_format(const char *fmt, int w, int h, int c, int flat, int pw, int ph, double tol)
{
	char path[64];
	dm_canvas cv;
	dm_error err;
	int rc = write_video(fmt, w, h, c, 12, 10, flat, path, &cv, &err);
	CHECK_MSG(rc == 0, "%s: %s", fmt, err.msg);
	probe p;
	CHECK_MSG(probe_file(path, &p) == 0, "%s: libavformat cannot read it back", fmt);
	unlink(path);
	CHECK_MSG(p.frames == 12, "%s: %d frames, wanted 12", fmt, p.frames);
	CHECK_MSG(p.w == pw && p.h == ph, "%s: %dx%d, wanted %dx%d", fmt, p.w, p.h, pw, ph);
	CHECK_MSG(p.duration > 1.15 && p.duration < 1.25, "%s: lasts %g s, wanted 1.2", fmt, p.duration);
	double d = diff(&cv, &p);
	CHECK_MSG(d <= tol, "%s (%d channels): last frame differs by %g on average (tolerance %g)", fmt, c, d, tol);
	free(p.rgb);
	dm_canvas_free(&cv);
}

TEST(video_gif_gray_exact) { one_format("gif", 30, 21, 1, 0, 30, 21, 0); }
TEST(video_gif_few_colours_exact) { one_format("gif", 32, 24, 3, 1, 32, 24, 0); }
/* Tolerances: mean absolute error per channel on smooth ramps.  Tiny
 * frames compress badly, so the lossy ones are not too small. */
TEST(video_gif_median_cut) { one_format("gif", 64, 48, 3, 0, 64, 48, 4); } /* 3072 colours */
TEST(video_mp4_odd_size_padded) { one_format("mp4", 97, 71, 3, 0, 98, 72, 3); }
TEST(video_mp4_gray) { one_format("mp4", 32, 32, 1, 0, 32, 32, 2); }
TEST(video_webm_odd_size_padded) { one_format("webm", 97, 71, 3, 0, 98, 72, 3); }

TEST(video_y4m)
{
	char path[64];
	dm_canvas cv;
	dm_error err;
	CHECK(write_video("y4m", 5, 3, 3, 2, 25, 0, path, &cv, &err) == 0);
	FILE *f = fopen(path, "rb");
	char buf[512];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	unlink(path);
	const char *hdr = "YUV4MPEG2 W5 H3 F25:1 Ip A1:1 C444 XCOLORRANGE=LIMITED\n";
	CHECK(n == strlen(hdr) + 2 * (6 + 45));
	CHECK(memcmp(buf, hdr, strlen(hdr)) == 0);
	CHECK(memcmp(buf + strlen(hdr), "FRAME\n", 6) == 0);
	dm_canvas_free(&cv);
	/* gray: full-range mono, the canvas bytes unchanged, read back by libavformat */
	CHECK(write_video("y4m", 6, 4, 1, 3, 25, 0, path, &cv, &err) == 0);
	probe p;
	CHECK(probe_file(path, &p) == 0);
	unlink(path);
	CHECK(p.frames == 3 && p.w == 6 && p.h == 4);
	CHECK_MSG(diff(&cv, &p) == 0, "gray Y4M differs by %g", diff(&cv, &p));
	free(p.rgb);
	dm_canvas_free(&cv);
}

TEST(video_rejects_bad_input)
{
	dm_error err;
	dm_video *v;
	dm_video_opts o = {.format = "avi", .fps = 10, .crf = -1};
	CHECK(dm_video_open(&v, stdout, "x", 8, 8, 1, &o, &err) == DM_ERR_ARG);
	CHECK(!dm_video_format_known("avi") && dm_video_format_known("WebM"));
	o.format = "y4m";
	FILE *f = tmpfile();
	CHECK(dm_video_open(&v, f, "x", 8, 8, 1, &o, &err) == 0);
	dm_canvas cv;
	dm_canvas_init(&cv, 9, 8, 1, 0, &err);
	CHECK(dm_video_frame(v, &cv, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "every frame must be alike") != NULL);
	dm_video_abort(v);
	dm_canvas_free(&cv);
	fclose(f);
}

/* --hold-last: round(seconds * fps) more copies of the last frame. */
TEST(video_hold)
{
	static const double secs[] = {0, 0.5, 0.26};
	static const int fps[] = {10, 4, 10}, want[] = {1, 3, 4};
	for (int i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof path, "/tmp/dm_hold_%d.y4m", (int)getpid());
		FILE *f = fopen(path, "wb");
		CHECK(f != NULL);
		dm_error err;
		dm_video *v;
		dm_video_opts o = {.format = "y4m", .fps = fps[i], .crf = -1};
		CHECK(dm_video_open(&v, f, path, 6, 4, 1, &o, &err) == 0);
		dm_canvas cv;
		CHECK(dm_canvas_init(&cv, 6, 4, 1, 0, &err) == 0);
		for (int k = 0; k < 24; k++)
			cv.px[k] = (uint8_t)(k * 9);
		CHECK(dm_video_frame(v, &cv, &err) == 0);
		CHECK(dm_video_hold(v, &cv, secs[i], &err) == 0);
		CHECK(dm_video_close(v, &err) == 0);
		fclose(f);
		probe p;
		CHECK(probe_file(path, &p) == 0);
		unlink(path);
		CHECK_MSG(p.frames == want[i], "%g s at %d fps: %d frames", secs[i], fps[i], p.frames);
		CHECK(diff(&cv, &p) == 0);
		free(p.rgb);
		dm_canvas_free(&cv);
	}
}

/* video_in.c - decoding video files (see video_in.h). */
#include "io/video_in.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

struct dm_video_in {
	char *path;
	AVFormatContext *fmt;
	AVCodecContext *dec;
	AVFrame *frame;
	AVPacket *pkt;
	struct SwsContext *sws;
	int stream;
	int ih, iw;        /* coded frame size */
	int sh, sw;        /* scaled size, before the crop */
	int oh, ow, c;     /* delivered size and channels */
	int y0, x0;        /* crop offsets */
	int sws_fmt;       /* the source format sws was made for */
	uint8_t *buf;      /* one scaled picture, packed (gray or RGB24) */
	int draining, done;
	int64_t frames;
};

static int av_fail(dm_error *err, int code, const char *path, int averr, const char *what)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];
	av_strerror(averr, buf, sizeof buf);
	return dm_error_set(err, code, "%s: %s: %s", path, what, buf);
}

int dm_video_in_name(const char *path)
{
	static const char *const ext[] = { ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi",
		                           ".gif", ".y4m", ".mpg", ".mpeg", ".ogv", ".flv" };
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && strcasecmp(path + n - e, ext[i]) == 0)
			return 1;
	}
	return 0;
}

int dm_video_in_open(dm_video_in **vp, const char *path, int h, int w, int gray,
                     dm_error *err)
{
	*vp = NULL;
	if (!getenv("DM_AV_LOG"))
		av_log_set_level(AV_LOG_QUIET);
	dm_video_in *v = calloc(1, sizeof *v);
	if (!v || !(v->path = strdup(path))) {
		free(v);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	}
	int rc = avformat_open_input(&v->fmt, path, NULL, NULL);
	if (rc < 0) {
		if (rc == AVERROR(ENOENT) || rc == AVERROR(EACCES)) {
			rc = av_fail(err, rc == AVERROR(ENOENT) ? DM_ERR_MISSING : DM_ERR_IO, path, rc,
			             "cannot open");
		} else {
			char why[AV_ERROR_MAX_STRING_SIZE];
			av_strerror(rc, why, sizeof why);
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: cannot open as a video (not one, or "
			                  "its header is damaged or out of bounds; libav says: %s)",
			                  path, why);
		}
		goto fail;
	}
	if ((rc = avformat_find_stream_info(v->fmt, NULL)) < 0) {
		rc = av_fail(err, DM_ERR_FORMAT, path, rc, "cannot read the streams");
		goto fail;
	}
	const AVCodec *codec = NULL;
	v->stream = av_find_best_stream(v->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
	if (v->stream < 0 || !codec) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: %s", path,
		                  v->stream == AVERROR_DECODER_NOT_FOUND
		                          ? "no decoder for its video codec in this build of libavcodec"
		                  : v->fmt->nb_streams == 0
		                          ? "no streams found (truncated, or not a video file)"
		                          : "has no video stream");
		goto fail;
	}
	AVCodecParameters *par = v->fmt->streams[v->stream]->codecpar;
	if (par->width < 1 || par->height < 1 || par->width > DM_VIDEO_IN_MAX_SIDE ||
	    par->height > DM_VIDEO_IN_MAX_SIDE) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: frames of %dx%d pixels (1..%d per side)",
		                  path, par->width, par->height, DM_VIDEO_IN_MAX_SIDE);
		goto fail;
	}
	if (!(v->dec = avcodec_alloc_context3(codec)) || !(v->frame = av_frame_alloc()) ||
	    !(v->pkt = av_packet_alloc())) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
		goto fail;
	}
	if ((rc = avcodec_parameters_to_context(v->dec, par)) < 0 ||
	    (rc = avcodec_open2(v->dec, codec, NULL)) < 0) {
		rc = av_fail(err, DM_ERR_FORMAT, path, rc, "cannot open the decoder");
		goto fail;
	}
	v->ih = par->height, v->iw = par->width;
	v->c = gray ? 1 : 3;
	if (h > 0 && w > 0) { /* cover h x w, keep the aspect ratio, crop the centre */
		double s = (double)h / v->ih > (double)w / v->iw ? (double)h / v->ih
		                                                 : (double)w / v->iw;
		v->sh = (int)(v->ih * s + 0.5), v->sw = (int)(v->iw * s + 0.5);
		v->sh = v->sh < h ? h : v->sh, v->sw = v->sw < w ? w : v->sw;
		v->oh = h, v->ow = w;
	} else {
		v->sh = v->oh = v->ih, v->sw = v->ow = v->iw;
	}
	v->y0 = (v->sh - v->oh) / 2, v->x0 = (v->sw - v->ow) / 2;
	v->sws_fmt = -1;
	if (!(v->buf = malloc((size_t)v->sh * v->sw * v->c))) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory for %dx%d frames", path,
		                  v->sw, v->sh);
		goto fail;
	}
	*vp = v;
	return 0;
fail:
	dm_video_in_close(v);
	return rc < 0 ? rc : err->code;
}

void dm_video_in_size(const dm_video_in *v, int *c, int *h, int *w)
{
	*c = v->c, *h = v->oh, *w = v->ow;
}

int64_t dm_video_in_frames(const dm_video_in *v) { return v->frames; }

/* The decoded frame, scaled into buf and cropped into out's planes. */
static int deliver(dm_video_in *v, uint8_t *out, dm_error *err)
{
	AVFrame *fr = v->frame;
	if (fr->width != v->iw || fr->height != v->ih)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %lld is %dx%d, unlike the %dx%d "
		                    "before it", v->path, (long long)v->frames, fr->width, fr->height,
		                    v->iw, v->ih);
	if (fr->format != v->sws_fmt) {
		sws_freeContext(v->sws);
		v->sws = sws_getContext(v->iw, v->ih, fr->format, v->sw, v->sh,
		                        v->c == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24,
		                        SWS_BICUBIC, NULL, NULL, NULL);
		if (!v->sws)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %lld: cannot convert "
			                    "pixel format %d", v->path, (long long)v->frames,
			                    fr->format);
		v->sws_fmt = fr->format;
	}
	uint8_t *dst[4] = { v->buf };
	int stride[4] = { v->sw * v->c };
	sws_scale(v->sws, (const uint8_t *const *)fr->data, fr->linesize, 0, v->ih, dst, stride);
	size_t plane = (size_t)v->oh * v->ow;
	for (int y = 0; y < v->oh; y++) {
		const uint8_t *row = v->buf + ((size_t)(y + v->y0) * v->sw + v->x0) * v->c;
		for (int x = 0; x < v->ow; x++)
			for (int ch = 0; ch < v->c; ch++)
				out[ch * plane + (size_t)y * v->ow + x] = row[x * v->c + ch];
	}
	v->frames++;
	return 1;
}

int dm_video_in_next(dm_video_in *v, uint8_t *out, dm_error *err)
{
	while (!v->done) {
		int rc = avcodec_receive_frame(v->dec, v->frame);
		if (rc == 0) {
			rc = deliver(v, out, err);
			av_frame_unref(v->frame);
			return rc;
		}
		if (rc == AVERROR_EOF) {
			v->done = 1;
			break;
		}
		if (rc != AVERROR(EAGAIN))
			return av_fail(err, DM_ERR_FORMAT, v->path, rc, "cannot decode a frame");
		if (v->draining) /* (a decoder must not ask for more after the flush) */
			return av_fail(err, DM_ERR_FORMAT, v->path, rc, "decoder stalled");
		rc = av_read_frame(v->fmt, v->pkt);
		if (rc == AVERROR_EOF) {
			v->draining = 1;
			rc = avcodec_send_packet(v->dec, NULL);
		} else if (rc < 0) {
			return dm_error_set(err, DM_ERR_FORMAT, "%s: cannot read past frame %lld "
			                    "(truncated or damaged)", v->path, (long long)v->frames);
		} else {
			if (v->pkt->stream_index == v->stream)
				rc = avcodec_send_packet(v->dec, v->pkt);
			av_packet_unref(v->pkt);
		}
		if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_EOF)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: frame %lld: damaged or truncated data",
			                    v->path, (long long)v->frames);
	}
	return 0;
}

void dm_video_in_close(dm_video_in *v)
{
	if (!v)
		return;
	sws_freeContext(v->sws);
	av_packet_free(&v->pkt);
	av_frame_free(&v->frame);
	avcodec_free_context(&v->dec);
	avformat_close_input(&v->fmt);
	free(v->buf);
	free(v->path);
	free(v);
}

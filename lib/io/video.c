#include "io/video.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

enum { V_Y4M, V_GIF, V_MP4, V_WEBM };

struct dm_video {
	int kind;
	FILE *f;
	char *name;
	int w, h, c;    /* canvas size and channels */
	int pw, ph;     /* coded picture size (padded) */
	dm_video_opts o;
	int64_t frames;
	uint8_t *buf;   /* Y4M: one converted picture; libav: the padded canvas */
	/* libavformat / libavcodec */
	AVFormatContext *fmt;
	AVIOContext *io;
	AVCodecContext *enc;
	AVStream *st;
	AVFrame *frame;
	AVPacket *pkt;
	struct SwsContext *sws;
	uint16_t *lut;  /* GIF colour: 15-bit colour -> palette index */
	int header_done, trailer_done;
	int discard;    /* drop output (while tidying up after an error) */
};

static int kind_of(const char *format)
{
	static const char *names[] = {"y4m", "gif", "mp4", "webm"};
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(format, names[i]))
			return i;
	return -1;
}

int dm_video_format_known(const char *format)
{
	return kind_of(format) >= 0;
}

static int io_err(dm_video *v, dm_error *err)
{
	return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO, "%s: write error: %s", v->name,
	                    strerror(errno));
}

static int av_err(dm_video *v, dm_error *err, int averr, const char *what)
{
	char buf[AV_ERROR_MAX_STRING_SIZE];
	if (averr == AVERROR(EPIPE))
		return dm_error_set(err, DM_ERR_EPIPE, "%s: broken pipe", v->name);
	av_strerror(averr, buf, sizeof buf);
	return dm_error_set(err, DM_ERR_IO, "%s: %s: %s", v->name, what, buf);
}

/* ---- Y4M: written directly, 4:4:4 (no chroma loss) or mono ------------- */

static int y4m_open(dm_video *v, dm_error *err)
{
	v->buf = malloc((size_t)v->w * v->h * 3);
	if (!v->buf)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	/* gray goes out unchanged as full-range mono; colour as BT.601
	 * limited-range 4:4:4; XCOLORRANGE says which (ffmpeg reads it) */
	if (fprintf(v->f, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 %s\n", v->w, v->h, v->o.fps,
	            v->c == 1 ? "Cmono XCOLORRANGE=FULL" : "C444 XCOLORRANGE=LIMITED") < 0)
		return io_err(v, err);
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

static int y4m_frame(dm_video *v, const dm_canvas *cv, dm_error *err)
{
	size_t n = (size_t)v->w * v->h;
	if (fputs("FRAME\n", v->f) < 0)
		return io_err(v, err);
	if (v->c == 1) {
		if (fwrite(cv->px, 1, n, v->f) != n)
			return io_err(v, err);
	} else {
		rgb_to_yuv444(cv->px, n, v->buf, v->buf + n, v->buf + 2 * n);
		if (fwrite(v->buf, 1, 3 * n, v->f) != 3 * n)
			return io_err(v, err);
	}
	return 0;
}

/* ---- GIF colour palettes: exact when a frame has at most 256 colours
 * (scatter plots, captions), else a median cut of its 15-bit histogram
 * (Heckbert 1982) with nearest-colour mapping. ---- */

typedef struct bin {
	uint16_t key;  /* 5-5-5 colour */
	uint32_t n;
	double s[3];   /* sums of the full 8-bit channels */
} bin;

static int sort_ch;
static int bin_cmp(const void *a, const void *b)
{
	const bin *x = a, *y = b;
	int kx = (x->key >> (10 - 5 * sort_ch)) & 31, ky = (y->key >> (10 - 5 * sort_ch)) & 31;
	return kx - ky;
}

/* Palette of at most 256 colours for the RGB canvas px (n pixels) into pal
 * (0xAARRGGBB), and lut mapping each 15-bit colour to an index; returns the
 * number of colours or -1 on allocation failure. */
static int median_cut(const uint8_t *px, size_t n, uint32_t *pal, uint16_t *lut)
{
	bin *bins = calloc(32768, sizeof *bins);
	if (!bins)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = px + 3 * i;
		int k = (p[0] >> 3) << 10 | (p[1] >> 3) << 5 | p[2] >> 3;
		bins[k].n++;
		for (int ch = 0; ch < 3; ch++)
			bins[k].s[ch] += p[ch];
	}
	int m = 0;
	for (int k = 0; k < 32768; k++)
		if (bins[k].n) {
			bins[k].key = (uint16_t)k;
			bins[m++] = bins[k];
		}
	int start[257], end[257], boxes = 1;
	start[0] = 0;
	end[0] = m;
	while (boxes < 256) {
		/* split the box with the widest channel range (weighted by its pixels) */
		int best = -1, best_ch = 0;
		double best_score = 0;
		for (int b = 0; b < boxes; b++) {
			if (end[b] - start[b] < 2)
				continue;
			int lo[3] = {31, 31, 31}, hi[3] = {0, 0, 0};
			double cnt = 0;
			for (int i = start[b]; i < end[b]; i++) {
				cnt += bins[i].n;
				for (int ch = 0; ch < 3; ch++) {
					int v = (bins[i].key >> (10 - 5 * ch)) & 31;
					lo[ch] = v < lo[ch] ? v : lo[ch];
					hi[ch] = v > hi[ch] ? v : hi[ch];
				}
			}
			for (int ch = 0; ch < 3; ch++) {
				double score = (double)(hi[ch] - lo[ch]) * cnt;
				if (hi[ch] > lo[ch] && score > best_score) {
					best_score = score;
					best = b;
					best_ch = ch;
				}
			}
		}
		if (best < 0)
			break;
		sort_ch = best_ch;
		qsort(bins + start[best], (size_t)(end[best] - start[best]), sizeof *bins, bin_cmp);
		double total = 0, acc = 0;
		for (int i = start[best]; i < end[best]; i++)
			total += bins[i].n;
		int cut = start[best] + 1;
		for (int i = start[best]; i < end[best] - 1; i++) {
			acc += bins[i].n;
			cut = i + 1;
			if (acc >= total / 2)
				break;
		}
		start[boxes] = cut;
		end[boxes] = end[best];
		end[best] = cut;
		boxes++;
	}
	for (int b = 0; b < boxes; b++) {
		double s[3] = {0, 0, 0}, cnt = 0;
		for (int i = start[b]; i < end[b]; i++) {
			cnt += bins[i].n;
			for (int ch = 0; ch < 3; ch++)
				s[ch] += bins[i].s[ch];
		}
		uint32_t rgb = 0;
		for (int ch = 0; ch < 3; ch++)
			rgb = rgb << 8 | (uint32_t)(cnt ? s[ch] / cnt + 0.5 : 0);
		pal[b] = 0xFF000000u | rgb;
	}
	/* nearest palette colour for every 15-bit colour that occurs */
	for (int i = 0; i < m; i++) {
		int k = bins[i].key, best = 0;
		int r = (k >> 10) << 3 | 4, g = ((k >> 5) & 31) << 3 | 4, bl = (k & 31) << 3 | 4;
		long bestd = -1;
		for (int b = 0; b < boxes; b++) {
			long dr = r - (long)(pal[b] >> 16 & 255), dg = g - (long)(pal[b] >> 8 & 255),
			     db = bl - (long)(pal[b] & 255);
			long d = 2 * dr * dr + 4 * dg * dg + 3 * db * db;
			if (bestd < 0 || d < bestd) {
				bestd = d;
				best = b;
			}
		}
		lut[k] = (uint16_t)best;
	}
	free(bins);
	return boxes;
}

/* Fill frame (PAL8) from the RGB canvas. */
static int gif_palettise(dm_video *v, const dm_canvas *cv, AVFrame *fr)
{
	uint32_t *pal = (uint32_t *)fr->data[1];
	size_t n = (size_t)cv->w * cv->h;
	/* exact palette when the colours are few: a small open-addressing set */
	uint32_t keys[1024];
	uint16_t idx[1024];
	int used = 0, exact = 1;
	memset(keys, 0xFF, sizeof keys); /* 0xFFFFFFFF never is a 24-bit colour */
	for (size_t i = 0; i < n && exact; i++) {
		const uint8_t *p = cv->px + 3 * i;
		uint32_t k = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		uint32_t h = (k * 2654435761u) >> 22;
		while (keys[h] != 0xFFFFFFFFu && keys[h] != k)
			h = (h + 1) & 1023;
		if (keys[h] == k)
			continue;
		if (used == 256) {
			exact = 0;
			break;
		}
		keys[h] = k;
		idx[h] = (uint16_t)used;
		pal[used++] = 0xFF000000u | k;
	}
	if (exact) {
		for (int y = 0; y < cv->h; y++)
			for (int x = 0; x < cv->w; x++) {
				const uint8_t *p = cv->px + 3 * ((size_t)y * cv->w + x);
				uint32_t k = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
				uint32_t h = (k * 2654435761u) >> 22;
				while (keys[h] != k)
					h = (h + 1) & 1023;
				fr->data[0][(size_t)y * fr->linesize[0] + x] = (uint8_t)idx[h];
			}
		for (int i = used; i < 256; i++)
			pal[i] = 0xFF000000u;
		return 0;
	}
	int m = median_cut(cv->px, n, pal, v->lut);
	if (m < 0)
		return -1;
	for (int i = m; i < 256; i++)
		pal[i] = 0xFF000000u;
	for (int y = 0; y < cv->h; y++)
		for (int x = 0; x < cv->w; x++) {
			const uint8_t *p = cv->px + 3 * ((size_t)y * cv->w + x);
			int k = (p[0] >> 3) << 10 | (p[1] >> 3) << 5 | p[2] >> 3;
			fr->data[0][(size_t)y * fr->linesize[0] + x] = (uint8_t)v->lut[k];
		}
	return 0;
}

/* ---- libavformat output onto the caller's FILE ---------------------- */

static int io_write(void *opaque, uint8_t *buf, int size)
{
	dm_video *v = opaque;
	if (v->discard)
		return size;
	if (size > 0 && fwrite(buf, 1, (size_t)size, v->f) != (size_t)size)
		return AVERROR(errno ? errno : EIO);
	return size;
}

static int64_t io_seek(void *opaque, int64_t off, int whence)
{
	dm_video *v = opaque;
	if (whence & AVSEEK_SIZE) {
		struct stat st;
		if (fflush(v->f) != 0 || fstat(fileno(v->f), &st) != 0)
			return AVERROR(errno);
		return st.st_size;
	}
	if (fseeko(v->f, off, whence & ~AVSEEK_FORCE) != 0)
		return AVERROR(errno);
	return ftello(v->f);
}

static int lav_open(dm_video *v, dm_error *err)
{
	const char *muxer = v->kind == V_GIF ? "gif" : v->kind == V_MP4 ? "mp4" : "webm";
	const AVCodec *codec = NULL;
	if (v->kind == V_GIF)
		codec = avcodec_find_encoder(AV_CODEC_ID_GIF);
	else if (v->kind == V_MP4) {
		codec = avcodec_find_encoder_by_name("libx264");
		if (!codec)
			codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
	} else {
		codec = avcodec_find_encoder_by_name("libvpx-vp9");
	}
	if (!codec)
		return dm_error_set(err, DM_ERR_MISSING, "%s: this libavcodec has no encoder for %s", v->name, muxer);
	int is264 = !strcmp(codec->name, "libx264");
	/* 4:2:0 needs even sizes: pad with black at the right and bottom */
	v->pw = v->kind == V_GIF ? v->w : (v->w + 1) & ~1;
	v->ph = v->kind == V_GIF ? v->h : (v->h + 1) & ~1;

	int rc = avformat_alloc_output_context2(&v->fmt, NULL, muxer, NULL);
	if (rc < 0 || !v->fmt)
		return av_err(v, err, rc < 0 ? rc : AVERROR(ENOMEM), "cannot make the container");
	int seekable = lseek(fileno(v->f), 0, SEEK_CUR) >= 0;
	uint8_t *iobuf = av_malloc(65536);
	v->io = iobuf ? avio_alloc_context(iobuf, 65536, 1, v, NULL, io_write, seekable ? io_seek : NULL) : NULL;
	if (!v->io) {
		av_free(iobuf);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	v->io->seekable = seekable ? AVIO_SEEKABLE_NORMAL : 0;
	v->fmt->pb = v->io;
	v->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;

	v->st = avformat_new_stream(v->fmt, NULL);
	v->enc = avcodec_alloc_context3(codec);
	v->frame = av_frame_alloc();
	v->pkt = av_packet_alloc();
	if (!v->st || !v->enc || !v->frame || !v->pkt)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	AVCodecContext *e = v->enc;
	e->width = v->pw;
	e->height = v->ph;
	e->time_base = (AVRational){1, v->o.fps};
	e->framerate = (AVRational){v->o.fps, 1};
	e->sample_aspect_ratio = (AVRational){1, 1};
	if (v->kind == V_GIF) {
		e->pix_fmt = v->c == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_PAL8;
	} else {
		e->pix_fmt = AV_PIX_FMT_YUV420P;
		e->color_range = AVCOL_RANGE_MPEG;
		e->colorspace = AVCOL_SPC_SMPTE170M;
		e->color_primaries = AVCOL_PRI_SMPTE170M;
		e->color_trc = AVCOL_TRC_SMPTE170M;
		e->gop_size = 10 * v->o.fps;
		if (v->o.bitrate > 0) {
			e->bit_rate = v->o.bitrate;
		} else if (is264 || v->kind == V_WEBM) {
			char crf[16];
			snprintf(crf, sizeof crf, "%d", v->o.crf >= 0 ? v->o.crf : is264 ? 23 : 32);
			av_opt_set(e->priv_data, "crf", crf, 0);
			if (v->kind == V_WEBM)
				e->bit_rate = 0; /* constant quality */
		} else {
			/* MPEG-4 part 2 has no CRF: a fixed quantiser from the crf scale */
			int q = v->o.crf >= 0 ? 2 + v->o.crf * 29 / 63 : 4;
			e->flags |= AV_CODEC_FLAG_QSCALE;
			e->global_quality = FF_QP2LAMBDA * q;
		}
		if (is264)
			av_opt_set(e->priv_data, "preset", "fast", 0);
		if (v->kind == V_WEBM) {
			av_opt_set(e->priv_data, "deadline", "good", 0);
			av_opt_set(e->priv_data, "cpu-used", "4", 0);
			av_opt_set(e->priv_data, "row-mt", "1", 0);
		}
	}
	if (v->fmt->oformat->flags & AVFMT_GLOBALHEADER)
		e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	if ((rc = avcodec_open2(e, codec, NULL)) < 0)
		return av_err(v, err, rc, "cannot open the encoder");
	if ((rc = avcodec_parameters_from_context(v->st->codecpar, e)) < 0)
		return av_err(v, err, rc, "encoder parameters");
	v->st->time_base = e->time_base;
	v->st->avg_frame_rate = e->framerate;

	AVDictionary *mopts = NULL;
	if (v->kind == V_GIF) {
		/* muxer: 0 loops forever, -1 plays once, N repeats N times */
		char loop[16];
		snprintf(loop, sizeof loop, "%d", v->o.loop == 0 ? 0 : v->o.loop == 1 ? -1 : v->o.loop - 1);
		av_dict_set(&mopts, "loop", loop, 0);
	}
	if (v->kind == V_MP4 && !seekable)
		av_dict_set(&mopts, "movflags", "frag_keyframe+empty_moov", 0);
	rc = avformat_write_header(v->fmt, &mopts);
	av_dict_free(&mopts);
	if (rc < 0)
		return av_err(v, err, rc, "cannot write the container header");
	v->header_done = 1;

	v->frame->format = e->pix_fmt;
	v->frame->width = v->pw;
	v->frame->height = v->ph;
	if ((rc = av_frame_get_buffer(v->frame, 0)) < 0)
		return av_err(v, err, rc, "frame buffer");
	if (v->kind == V_GIF && v->c == 3) {
		v->lut = malloc(32768 * sizeof *v->lut);
		if (!v->lut)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	if (v->kind != V_GIF) {
		v->buf = calloc((size_t)v->pw * v->ph, (size_t)v->c);
		v->sws = sws_getContext(v->pw, v->ph, v->c == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24, v->pw, v->ph,
		                        AV_PIX_FMT_YUV420P, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
		                        NULL, NULL, NULL);
		if (!v->buf || !v->sws)
			return dm_error_set(err, DM_ERR_NOMEM, "%s: cannot set up the colour conversion", v->name);
	}
	return 0;
}

/* Send frame (or NULL to flush) and write every packet the encoder gives. */
static int lav_send(dm_video *v, AVFrame *fr, dm_error *err)
{
	int rc = avcodec_send_frame(v->enc, fr);
	if (rc < 0)
		return av_err(v, err, rc, "encoding failed");
	for (;;) {
		rc = avcodec_receive_packet(v->enc, v->pkt);
		if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
			return 0;
		if (rc < 0)
			return av_err(v, err, rc, "encoding failed");
		av_packet_rescale_ts(v->pkt, v->enc->time_base, v->st->time_base);
		v->pkt->stream_index = v->st->index;
		rc = av_interleaved_write_frame(v->fmt, v->pkt);
		if (rc < 0)
			return av_err(v, err, rc, "write error");
	}
}

static int lav_frame(dm_video *v, const dm_canvas *cv, dm_error *err)
{
	int rc = av_frame_make_writable(v->frame);
	if (rc < 0)
		return av_err(v, err, rc, "frame buffer");
	AVFrame *fr = v->frame;
	if (v->kind == V_GIF && v->c == 1) {
		for (int y = 0; y < v->h; y++)
			memcpy(fr->data[0] + (size_t)y * fr->linesize[0], cv->px + (size_t)y * v->w, (size_t)v->w);
	} else if (v->kind == V_GIF) {
		if (gif_palettise(v, cv, fr) < 0)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	} else {
		size_t row = (size_t)v->w * v->c, prow = (size_t)v->pw * v->c;
		for (int y = 0; y < v->h; y++)
			memcpy(v->buf + y * prow, cv->px + y * row, row);
		const uint8_t *src[1] = {v->buf};
		int stride[1] = {(int)prow};
		sws_scale(v->sws, src, stride, 0, v->ph, fr->data, fr->linesize);
	}
	fr->pts = v->frames;
	return lav_send(v, fr, err);
}

/* ---- the public API ---------------------------------------------------- */

int dm_video_open(dm_video **vp, FILE *f, const char *name, int w, int h, int c,
                  const dm_video_opts *o, dm_error *err)
{
	*vp = NULL;
	int kind = kind_of(o->format);
	if (kind < 0)
		return dm_error_set(err, DM_ERR_ARG, "%s: unknown video format '%s'", name, o->format);
	if (w < 1 || h < 1 || w > 16384 || h > 16384 || (c != 1 && c != 3) || o->fps < 1)
		return dm_error_set(err, DM_ERR_ARG, "%s: cannot make a video of %dx%d pixels, %d channels", name, w,
		                    h, c);
	if (kind == V_GIF && (w > 65535 || h > 65535))
		return dm_error_set(err, DM_ERR_LIMIT, "%s: GIF pictures are at most 65535 pixels a side", name);
	/* libav logs to stderr; our errors are one line of their own */
	if (kind != V_Y4M && !getenv("DM_AV_LOG"))
		av_log_set_level(AV_LOG_QUIET);
	dm_video *v = calloc(1, sizeof *v);
	if (!v)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	v->kind = kind;
	v->f = f;
	v->name = strdup(name);
	v->w = v->pw = w;
	v->h = v->ph = h;
	v->c = c;
	v->o = *o;
	int rc = !v->name ? dm_error_set(err, DM_ERR_NOMEM, "out of memory")
	         : kind == V_Y4M ? y4m_open(v, err) : lav_open(v, err);
	if (rc < 0) {
		dm_video_abort(v);
		return rc;
	}
	*vp = v;
	return 0;
}

int dm_video_frame(dm_video *v, const dm_canvas *cv, dm_error *err)
{
	if (cv->w != v->w || cv->h != v->h || cv->c != v->c)
		return dm_error_set(err, DM_ERR_ARG,
		                    "%s: a frame of %dx%d pixels (%d channels) in a video of %dx%d (%d channels): every frame must be alike",
		                    v->name, cv->w, cv->h, cv->c, v->w, v->h, v->c);
	int rc = v->kind == V_Y4M ? y4m_frame(v, cv, err) : lav_frame(v, cv, err);
	if (rc == 0)
		v->frames++;
	return rc;
}

int dm_video_close(dm_video *v, dm_error *err)
{
	int rc = 0;
	if (v->kind != V_Y4M) {
		rc = lav_send(v, NULL, err);
		if (rc == 0) {
			int arc = av_write_trailer(v->fmt);
			v->trailer_done = 1;
			if (arc < 0)
				rc = av_err(v, err, arc, "cannot finish the container");
		}
		if (rc == 0) {
			avio_flush(v->io);
			if (v->io->error < 0)
				rc = av_err(v, err, v->io->error, "write error");
		}
	}
	if (rc == 0 && fflush(v->f) != 0)
		rc = io_err(v, err);
	dm_video_abort(v);
	return rc;
}

void dm_video_abort(dm_video *v)
{
	if (!v)
		return;
	if (v->fmt && v->header_done && !v->trailer_done) {
		/* some muxers (GIF) free their queued packets only in the
		 * trailer: write it into the void */
		v->discard = 1;
		av_write_trailer(v->fmt);
	}
	if (v->io) {
		av_freep(&v->io->buffer);
		avio_context_free(&v->io);
	}
	if (v->fmt) {
		v->fmt->pb = NULL;
		avformat_free_context(v->fmt);
	}
	avcodec_free_context(&v->enc);
	av_frame_free(&v->frame);
	av_packet_free(&v->pkt);
	sws_freeContext(v->sws);
	free(v->lut);
	free(v->buf);
	free(v->name);
	free(v);
}

int dm_video_hold(dm_video *v, const dm_canvas *cv, double seconds, dm_error *err)
{
	long extra = lround(seconds * v->o.fps);
	for (long i = 0; i < extra; i++) {
		int rc = dm_video_frame(v, cv, err);
		if (rc)
			return rc;
	}
	return 0;
}

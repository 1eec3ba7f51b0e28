/* video.h - moving pictures: animated GIF, MP4 (H.264, else MPEG-4 part 2),
 * WebM (VP9) through libavcodec/libavformat/libswscale in-process, and
 * YUV4MPEG2 (Y4M) for piping into the ffmpeg program.
 *
 * A writer takes dm_canvas frames (all of one size and channel count) and
 * writes the container to a FILE the caller owns (e.g. a dm_outfile, so
 * that a failed encode leaves nothing behind).  A FILE that cannot seek
 * (a pipe) is fine for GIF, Y4M and WebM; MP4 is then written fragmented.
 * libav's own log messages are silenced (set DM_AV_LOG in the environment
 * to see them); errors come back in the dm_error as usual.
 */
#ifndef DM_VIDEO_H
#define DM_VIDEO_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "io/render.h"

typedef struct dm_video_opts {
	const char *format; /* "gif", "mp4", "webm" or "y4m" */
	int fps;            /* frames per second, 1..240 */
	int loop;           /* GIF: times to play, 0 = forever */
	int crf;            /* quality for mp4/webm; -1 = the codec's default */
	int64_t bitrate;    /* bits/s; 0 = use crf */
} dm_video_opts;

typedef struct dm_video dm_video;

/* 1 if format names a video format this build can write, else 0. */
int dm_video_format_known(const char *format);

/* Start a video of w x h pixels from canvases of c channels (1 or 3).
 * Sizes the codec cannot take (odd sizes for 4:2:0) are padded with black
 * at the right and bottom.  name is used in messages. */
int dm_video_open(dm_video **v, FILE *f, const char *name, int w, int h, int c,
                  const dm_video_opts *o, dm_error *err);
/* Encode one frame; cv must have the size and channels given to open. */
int dm_video_frame(dm_video *v, const dm_canvas *cv, dm_error *err);
/* Encode cv again for `seconds` more of the video (round(seconds * fps)
 * frames): --hold-last. */
int dm_video_hold(dm_video *v, const dm_canvas *cv, double seconds, dm_error *err);
/* Flush the encoder, write the trailer, flush f, free v (always freed). */
int dm_video_close(dm_video *v, dm_error *err);
/* Free v without finishing the file. */
void dm_video_abort(dm_video *v);

#endif

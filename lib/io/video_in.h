/* video_in.h - frames out of a video file through libavformat,
 * libavcodec and libswscale: anything they open (MP4, WebM, GIF, Y4M,
 * AVI, MKV, ...), the first video stream, decoded in order, converted to
 * 8-bit gray (luma) or RGB planes and, when a size is asked for, scaled
 * to cover it (keeping the aspect ratio) and centre-cropped.
 *
 * libav's own log messages are silenced unless DM_AV_LOG is set.  Errors
 * name the file and, while decoding, the frame.
 */
#ifndef DM_VIDEO_IN_H
#define DM_VIDEO_IN_H

#include <stdint.h>

#include "core/error.h"

typedef struct dm_video_in dm_video_in;

/* Largest frame side accepted from a file's header (pixels). */
#define DM_VIDEO_IN_MAX_SIDE 16384

/* Open path.  h x w: the frames' size after scaling and cropping (0 x 0:
 * the coded size); gray: one channel, else three.  DM_ERR_MISSING / IO for
 * a file that cannot be read, DM_ERR_FORMAT for one without a decodable
 * video stream or with a frame size outside 1..DM_VIDEO_IN_MAX_SIDE. */
int dm_video_in_open(dm_video_in **v, const char *path, int h, int w, int gray,
                     dm_error *err);
/* The size of the frames dm_video_in_next delivers. */
void dm_video_in_size(const dm_video_in *v, int *c, int *h, int *w);
/* The next frame as c planes of h x w bytes at out.  1 a frame, 0 the end,
 * negative on a decoding error (the message names the file and frame). */
int dm_video_in_next(dm_video_in *v, uint8_t *out, dm_error *err);
/* Frames delivered so far. */
int64_t dm_video_in_frames(const dm_video_in *v);
void dm_video_in_close(dm_video_in *v);

/* 1 when path's name ends in an extension of a video container dm-load
 * reads (.mp4 .m4v .mov .mkv .webm .avi .gif .y4m .mpg .mpeg .ogv .flv). */
int dm_video_in_name(const char *path);

#endif

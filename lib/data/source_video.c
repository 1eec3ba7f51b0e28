/* source_video.c - video files as a data set of clips (see data.h):
 * C x T x H x W u8 clips of consecutive kept frames, cut one after the
 * other from each file. */
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "io/video_in.h"

/* Append the clip (c planes of T x h x w in buf) to d, growing it. */
static int add_clip(dm_dataset *d, const uint8_t *clip, size_t bytes, dm_error *err)
{
	if (d->n == d->cap) {
		int64_t cap = d->cap ? 2 * d->cap : 8;
		void *p = realloc(d->data, bytes * (size_t)cap);
		if (!p)
			return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory after %lld clips",
			                    d->source, (long long)d->n);
		d->data = p, d->cap = cap;
	}
	memcpy((uint8_t *)d->data + bytes * (size_t)d->n, clip, bytes);
	d->n++;
	return 0;
}

/* The clips of one file. */
static int one_file(dm_dataset *d, const char *path, const dm_data_opts *o, int T,
                    uint8_t *frame, uint8_t *clip, dm_error *err)
{
	dm_video_in *v;
	int rc = dm_video_in_open(&v, path, o->h, o->w, o->gray, err);
	if (rc)
		return rc;
	int c, h, w;
	dm_video_in_size(v, &c, &h, &w);
	if (c != d->dims[0] || h != d->dims[2] || w != d->dims[3]) {
		dm_video_in_close(v);
		return dm_error_set(err, DM_ERR_FORMAT, "%s: frames are %dx%d, unlike the %lldx%lld of "
		                    "%s (give --size HxW)", path, w, h, (long long)d->dims[3],
		                    (long long)d->dims[2], d->source);
	}
	size_t plane = (size_t)h * w, bytes = (size_t)c * T * plane;
	int64_t kept = 0, clips = 0, n0 = d->n;
	while ((rc = dm_video_in_next(v, frame, err)) == 1) {
		if ((dm_video_in_frames(v) - 1) % o->frame_stride)
			continue;
		int t = (int)(kept++ % T);
		for (int ch = 0; ch < c; ch++)
			memcpy(clip + ((size_t)ch * T + t) * plane, frame + ch * plane, plane);
		if (t == T - 1) {
			if ((rc = add_clip(d, clip, bytes, err)) < 0)
				break;
			if (++clips == o->clips_per_file)
				break;
		}
	}
	int64_t frames = dm_video_in_frames(v);
	dm_video_in_close(v);
	if (rc < 0)
		return rc;
	if (d->n == n0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: %lld frames%s, fewer than --frames %d",
		                    path, (long long)frames,
		                    o->frame_stride > 1 ? " before --frame-stride" : "", T);
	return 0;
}

int dm_data_video(dm_dataset *d, const char *const *paths, int n, const dm_data_opts *o,
                  dm_error *err)
{
	int T = o->frames ? o->frames : 16;
	if (n < 1)
		return dm_error_set(err, DM_ERR_ARG, "no video files given");
	if (!(d->source = strdup(paths[0])))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	/* the first file sets the frame size the others must have */
	dm_video_in *v;
	int rc = dm_video_in_open(&v, paths[0], o->h, o->w, o->gray, err);
	if (rc)
		return rc;
	int c, h, w;
	dm_video_in_size(v, &c, &h, &w);
	dm_video_in_close(v);
	if ((double)c * T * h * w > (double)((int64_t)1 << 31))
		return dm_error_set(err, DM_ERR_LIMIT, "%s: clips of %d frames of %dx%d are over 2 GiB "
		                    "each (give --size or fewer --frames)", paths[0], T, w, h);
	dm_dataset_set_clips(d, 0, c, T, h, w, DM_U8, 1); /* clips appended below */
	uint8_t *frame = malloc((size_t)c * h * w), *clip = malloc((size_t)c * T * h * w);
	if (!frame || !clip)
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", paths[0]);
	for (int i = 0; i < n && !rc; i++)
		rc = one_file(d, paths[i], o, T, frame, clip, err);
	free(frame), free(clip);
	return rc;
}

/* data.h - data sets for dm-load: the readers (PNG files and folders, IDX as
 * in MNIST, Debian's Fashion-MNIST, NPY, CSV, toy 2-D generators) and the
 * loader that turns a data set into frames (batches, shuffling, epochs,
 * shards, flips, scaling).
 *
 * A data set is held in memory whole: n samples of one per-sample shape,
 * stored as u8 (IDX, u8 NPY: 1 byte a value, so Fashion-MNIST's 60000
 * images take 47 MB) or f32, with optional i32 labels.
 */
#ifndef DM_DATA_H
#define DM_DATA_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct dm_dataset {
	char *source;   /* the spec or file it came from (messages, metadata) */
	int64_t n;      /* samples */
	int rank;       /* per-sample rank: 3 (C, H, W) for images, 4 (C, T, H, W)
	                 * for clips and volumes, 1 (D) for points */
	int64_t dims[DM_MAX_RANK - 1];
	int dtype;      /* storage: DM_U8 or DM_F32 */
	/* unit: values are known to lie in [0, 1] after dividing by div
	 * (images: PNG, IDX, u8 NPY); the loader maps them to --range.
	 * Otherwise values are passed as they are unless --range is given. */
	int unit;
	float div;      /* stored value / div (255 for u8 images, else 1) */
	void *data;     /* n * sample_numel values of dtype */
	int32_t *label; /* n labels, or NULL */
	int64_t cap;    /* allocated samples (for appending) */
} dm_dataset;

void dm_dataset_init(dm_dataset *d);
void dm_dataset_free(dm_dataset *d);
/* Values in one sample (product of dims). */
int64_t dm_dataset_sample_numel(const dm_dataset *d);
/* Is it a set of C x H x W images? */
int dm_dataset_is_image(const dm_dataset *d);
/* Is it a set of C x T x H x W clips (or C x D x H x W volumes)? */
int dm_dataset_is_clip(const dm_dataset *d);
/* Make d a set of n clips (or volumes) of C x T x H x W values stored as
 * dtype: u8 images (div 255, unit) or f32 (div 1, unit as given). */
void dm_dataset_set_clips(dm_dataset *d, int64_t n, int64_t C, int64_t T, int64_t H, int64_t W,
                          int dtype, int unit);
/* Sample i as floats: unit data in [0, 1], other data as stored. */
void dm_dataset_get(const dm_dataset *d, int64_t i, float *out);
/* Append src to dst (dst may be empty, then it takes src's shape).  The
 * per-sample shape must match (the error names src->source and both
 * shapes); labels are kept only when both have them (an error when one has
 * and the other not).  src is left unchanged. */
int dm_dataset_append(dm_dataset *dst, const dm_dataset *src, dm_error *err);
/* Keep only the first n samples. */
void dm_dataset_truncate(dm_dataset *d, int64_t n);

/* ---- readers: each fills an initialised, empty d -------------------- */

/* What a source is read with (dm-load's options). */
typedef struct dm_data_opts {
	int64_t n;          /* points of a toy set, clips of toy:moving-fmnist */
	uint64_t seed;      /* toy sets */
	int frames;         /* frames per clip: videos, PNG sequences (0: not clips),
	                     * toy:moving-fmnist (0: 8) */
	int frame_stride;   /* keep every S-th frame of a video (default 1) */
	int h, w;           /* frames scaled and centre-cropped to h x w (0: as they
	                     * are; toy:moving-fmnist 32 x 32) */
	int gray;           /* videos: one channel (luma) instead of RGB */
	int items;          /* toy:moving-fmnist: items per clip (0: 2) */
	int64_t clips_per_file; /* videos: at most this many clips per file (0: all) */
} dm_data_opts;

/* n 10000, seed 0, frame_stride 1, the rest 0. */
void dm_data_opts_default(dm_data_opts *o);

/* Open any source by its spec:
 *   toy:NAME              a generator (o->n points or clips, o->seed)
 *   fashion-mnist:train / fashion-mnist:test
 *   a directory           every *.png in it (sorted by name), or if it has
 *                         none, every video file in it
 *   a pattern with * ? [  expanded with glob(3) (shells usually do it first)
 *   *.png, *.npy, *.csv   by extension; videos by extension (dm_video_in_name),
 *   *.nii, *.nii.gz       NIfTI-1 volumes
 * With o->frames, PNG images (a folder, a pattern) are frames in name order,
 * grouped into clips of that many (the images left over are dropped).
 *   anything else         by its first bytes: IDX (plain or gzip), PNG, NPY */
int dm_data_open(dm_dataset *d, const char *spec, const dm_data_opts *o, dm_error *err);

/* PNG files, all of one size and channel count (else an error naming the
 * first odd file).  Stored f32 in [0, 1], C x H x W. */
int dm_data_png(dm_dataset *d, const char *const *paths, int n, dm_error *err);
/* An IDX images file (u8, N x H x W; gzip or plain) and, if it exists, the
 * labels file whose name has "images" -> "labels" and "idx3" -> "idx1". */
int dm_data_idx(dm_dataset *d, const char *path, dm_error *err);
/* split is "train" or "test".  Looks in $DM_FASHION_MNIST_DIR, then
 * /usr/share/datasets/fashion-mnist, /usr/local/share/datasets/fashion-mnist,
 * /usr/share/fashion-mnist, /opt/datasets/fashion-mnist; if absent the error
 * says "apt-get install dataset-fashion-mnist". */
int dm_data_fashion_mnist(dm_dataset *d, const char *split, dm_error *err);
/* NPY: u8 arrays of rank 3 (N, H, W) or 4 (N, C, H, W) are images (unit);
 * any other accepted dtype becomes f32 rows N x (rest), rank 1 -> N x 1. */
int dm_data_npy(dm_dataset *d, const char *path, dm_error *err);
/* CSV of numbers, comma-separated (spaces around fields allowed); a first
 * line that is not all numbers is a header and skipped; blank lines and
 * lines starting with '#' are skipped.  N x D f32. */
int dm_data_csv(dm_dataset *d, const char *path, dm_error *err);
/* Toy 2-D sets: swissroll, moons, 8gaussians, checkerboard, circles; n
 * points drawn from dm_rng (seed, DM_RNG_TOY, point index).  moons and
 * circles carry labels 0/1, 8gaussians 0..7. */
int dm_data_toy(dm_dataset *d, const char *name, int64_t n, uint64_t seed, dm_error *err);
/* Clips of o->frames (default 16) consecutive frames, every
 * o->frame_stride-th frame of the file kept, cut one after the other from
 * each video file (at most o->clips_per_file each; frames left over at the
 * end of a file are dropped), scaled and centre-cropped to o->h x o->w when
 * given, gray or RGB: C x T x H x W u8 clips.  Every file must give frames
 * of the first one's size; a file too short for one clip is an error. */
int dm_data_video(dm_dataset *d, const char *const *paths, int n, const dm_data_opts *o,
                  dm_error *err);
/* Clips of o->frames (default 16) consecutive frames, every
 * o->frame_stride-th frame of the file kept, cut one after the other from
 * each video file (at most o->clips_per_file each; frames left over at the
 * end of a file are dropped), scaled and centre-cropped to o->h x o->w when
 * given, gray or RGB: C x T x H x W u8 clips.  Every file must give frames
 * of the first one's size; a file too short for one clip is an error. */
int dm_data_video(dm_dataset *d, const char *const *paths, int n, const dm_data_opts *o,
                  dm_error *err);
/* A NIfTI-1 file (.nii, .nii.gz; io/nifti.h): each x-y-z volume one
 * 1 x Z x Y x X sample (Z = D slices), the fourth and further axes counting
 * samples; f32 values as stored (times scl_slope plus scl_inter), not unit
 * data: --range maps them. */
int dm_data_nifti(dm_dataset *d, const char *path, dm_error *err);
/* toy:phantom: o->n synthetic head phantoms, 1 x D x H x W volumes (D =
 * o->frames, default 32 slices; 32 x 32 by default) in [0, 1]: a skull
 * shell 0.9, brain 0.3 and three ellipsoidal lesions of 0.1..0.5 more, at
 * positions and sizes drawn from (seed, sample index). */
int dm_data_phantom(dm_dataset *d, const dm_data_opts *o, dm_error *err);
/* toy:moving-fmnist: n clips of o->items Fashion-MNIST training items
 * (scaled to 28 * min(h, w) / 64 pixels) moving in straight lines at
 * sub-pixel positions and bouncing off the edges of an h x w canvas, the
 * items combined by their maximum (as Moving MNIST, Srivastava et al. 2015);
 * 1 x T x h x w u8 clips, each a pure function of (seed, clip index); the
 * label of the item when there is one per clip.  Needs Fashion-MNIST
 * (dm_data_fashion_mnist). */
int dm_data_moving_fmnist(dm_dataset *d, const dm_data_opts *o, dm_error *err);

/* ---- the loader ------------------------------------------------------ */

typedef struct dm_loader_opts {
	int64_t batch;    /* samples per frame (> 0) */
	int64_t epochs;   /* 0 = forever */
	int shuffle;      /* a new permutation per epoch */
	uint64_t seed;
	int flip;         /* random horizontal flips (images and clips) */
	int has_range;    /* map values to [lo, hi] (always for unit data) */
	float lo, hi;
	float mul;        /* then multiply every value by mul (default 1) */
	int64_t shard_r, shard_n; /* keep stream positions p with p % n == r */
} dm_loader_opts;

/* Default options: batch 64, one epoch, no shuffle, range -1:1 for unit
 * data, shard 0/1. */
void dm_loader_opts_default(dm_loader_opts *o);

typedef struct dm_loader dm_loader;

/* The loader reads d (which must outlive it).  Errors: DM_ERR_ARG for
 * --flip on non-images or a bad shard. */
int dm_loader_open(dm_loader **l, const dm_dataset *d, const dm_loader_opts *o,
                   dm_error *err);
/* The next frame into out (cleared first): x f32 (batch x sample shape),
 * label i32 (batch) when the set has labels, tag index = stream position
 * of the first sample and, with shards, tag stride = shard count (sample k
 * of the frame is at stream position index + k * stride).  Stream
 * positions count samples across epochs: epoch e holds positions
 * e*n .. e*n+n-1.  Frames run on across epoch boundaries; only the last
 * one may be short.  Returns 1 with a frame, 0 at the end. */
int dm_loader_next(dm_loader *l, dm_frame *out, dm_error *err);
/* Stream metadata: tool, source, range, samples, classes (appended to kv). */
int dm_loader_meta(const dm_loader *l, dm_kv *kv);
void dm_loader_close(dm_loader *l);

/* Fisher-Yates permutation of 0..n-1 for one epoch, from the counter RNG
 * (seed, DM_RNG_SHUFFLE, epoch): the same on every rank and run. */
void dm_data_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm);

#endif

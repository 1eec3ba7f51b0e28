/* data.c - data sets in memory, the source dispatcher and the loader
 * (batches, epochs, shuffles, shards, flips, scaling).  The readers live
 * in data_png.c, data_idx.c, data_npy.c (NPY, CSV) and data_toy.c. */
#include "data/data.h"

#include <stdio.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rng.h"
#include "io/nifti.h"
#include "io/video_in.h"

void dm_dataset_init(dm_dataset *d)
{
	memset(d, 0, sizeof *d);
	d->dtype = DM_F32;
	d->div = 1.0f;
}

void dm_dataset_free(dm_dataset *d)
{
	free(d->source);
	free(d->data);
	free(d->label);
	dm_dataset_init(d);
}

int64_t dm_dataset_sample_numel(const dm_dataset *d)
{
	int64_t n = 1;
	for (int i = 0; i < d->rank; i++)
		n *= d->dims[i];
	return n;
}

int dm_dataset_is_image(const dm_dataset *d) { return d->rank == 3; }

int dm_dataset_is_clip(const dm_dataset *d) { return d->rank == 4; }

void dm_dataset_set_clips(dm_dataset *d, int64_t n, int64_t C, int64_t T, int64_t H, int64_t W,
                          int dtype, int unit)
{
	d->rank = 4;
	d->dims[0] = C, d->dims[1] = T, d->dims[2] = H, d->dims[3] = W;
	d->dtype = dtype;
	d->div = dtype == DM_U8 ? 255.0f : 1.0f;
	d->unit = unit;
	d->n = d->cap = n;
}

void dm_data_opts_default(dm_data_opts *o)
{
	memset(o, 0, sizeof *o);
	o->n = 10000;
	o->frame_stride = 1;
}

void dm_dataset_get(const dm_dataset *d, int64_t i, float *out)
{
	int64_t m = dm_dataset_sample_numel(d);
	if (d->dtype == DM_U8) {
		const uint8_t *p = (const uint8_t *)d->data + i * m;
		for (int64_t k = 0; k < m; k++)
			out[k] = p[k] / d->div;
	} else {
		const float *p = (const float *)d->data + i * m;
		for (int64_t k = 0; k < m; k++)
			out[k] = p[k] / d->div;
	}
}

static void shape_str(const dm_dataset *d, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; i < d->rank && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "x" : "",
		                      (long long)d->dims[i]);
}

/* Convert d's storage to f32 with div folded in (to append f32 data to a
 * u8 set, or to mix). */
static int to_f32(dm_dataset *d, dm_error *err)
{
	if (d->dtype == DM_F32)
		return 0;
	int64_t m = dm_dataset_sample_numel(d);
	int64_t cap = d->cap > d->n ? d->cap : d->n;
	float *f = malloc(sizeof(float) * (size_t)(cap * m) + 1);
	if (!f)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", d->source);
	for (int64_t i = 0; i < d->n; i++)
		dm_dataset_get(d, i, f + i * m);
	free(d->data);
	d->data = f;
	d->dtype = DM_F32;
	d->div = 1.0f;
	return 0;
}

static int reserve(dm_dataset *d, int64_t n, dm_error *err)
{
	if (n <= d->cap)
		return 0;
	int64_t cap = d->cap ? d->cap : 16;
	while (cap < n)
		cap *= 2;
	size_t esz = dm_dtype_size(d->dtype) * (size_t)dm_dataset_sample_numel(d);
	void *p = realloc(d->data, esz * (size_t)cap + 1);
	if (!p)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", d->source);
	d->data = p;
	if (d->label) {
		int32_t *l = realloc(d->label, sizeof *l * (size_t)cap);
		if (!l)
			return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", d->source);
		d->label = l;
	}
	d->cap = cap;
	return 0;
}

int dm_dataset_append(dm_dataset *dst, const dm_dataset *src, dm_error *err)
{
	if (dst->n == 0 && !dst->data) {
		free(dst->source);
		dst->source = strdup(src->source ? src->source : "?");
		dst->rank = src->rank;
		memcpy(dst->dims, src->dims, sizeof dst->dims);
		dst->dtype = src->dtype;
		dst->div = src->div;
		dst->unit = src->unit;
		if (src->label && !(dst->label = malloc(sizeof(int32_t))))
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	} else {
		int same = dst->rank == src->rank;
		for (int i = 0; same && i < src->rank; i++)
			same = dst->dims[i] == src->dims[i];
		if (!same) {
			char a[128], b[128];
			shape_str(src, a, sizeof a);
			shape_str(dst, b, sizeof b);
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: samples are %s, unlike the %s of %s", src->source, a,
			                    b, dst->source);
		}
		if (!dst->label != !src->label)
			return dm_error_set(err, DM_ERR_FORMAT, "%s: %s labels, unlike %s",
			                    src->source, src->label ? "has" : "has no",
			                    dst->source);
		if (dst->unit != src->unit)
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: %s images, unlike %s (mix only like sources)",
			                    src->source, src->unit ? "holds" : "does not hold",
			                    dst->source);
		if ((dst->dtype != src->dtype || dst->div != src->div) && to_f32(dst, err))
			return err->code;
	}
	int64_t m = dm_dataset_sample_numel(dst);
	if (reserve(dst, dst->n + src->n, err))
		return err->code;
	if (dst->dtype == src->dtype && dst->div == src->div) {
		size_t esz = dm_dtype_size(dst->dtype) * (size_t)m;
		memcpy((char *)dst->data + esz * (size_t)dst->n, src->data, esz * (size_t)src->n);
	} else { /* dst is f32 with div 1 here */
		for (int64_t i = 0; i < src->n; i++)
			dm_dataset_get(src, i, (float *)dst->data + (dst->n + i) * m);
	}
	if (src->label)
		memcpy(dst->label + dst->n, src->label, sizeof(int32_t) * (size_t)src->n);
	dst->n += src->n;
	return 0;
}

void dm_dataset_truncate(dm_dataset *d, int64_t n)
{
	if (n >= 0 && n < d->n)
		d->n = n;
}

/* ---- dispatch -------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* n C x H x W images as n / T clips C x T x H x W of consecutive images
 * (the last n % T dropped). */
static int to_clips(dm_dataset *d, int T, dm_error *err)
{
	if (d->rank != 3)
		return dm_error_set(err, DM_ERR_ARG, "%s: --frames needs images or videos", d->source);
	if (d->n < T)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: %lld images, fewer than --frames %d",
		                    d->source, (long long)d->n, T);
	int64_t C = d->dims[0], plane = d->dims[1] * d->dims[2], clips = d->n / T;
	size_t esz = dm_dtype_size(d->dtype);
	char *p = malloc(esz * (size_t)(clips * T * C * plane) + 1);
	if (!p)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", d->source);
	for (int64_t k = 0; k < clips; k++)
		for (int t = 0; t < T; t++)
			for (int64_t c = 0; c < C; c++)
				memcpy(p + esz * (size_t)(((k * C + c) * T + t) * plane),
				       (char *)d->data + esz * (size_t)(((k * T + t) * C + c) * plane),
				       esz * (size_t)plane);
	free(d->data);
	free(d->label);
	d->data = p, d->label = NULL;
	float div = d->div; /* (PNGs are f32 in [0, 1], div 1) */
	dm_dataset_set_clips(d, clips, C, T, d->dims[1], d->dims[2], d->dtype, d->unit);
	d->div = div;
	return 0;
}

/* The files a glob pattern names, sorted; PNGs (png = 1) or videos. */
static int open_glob(dm_dataset *d, const char *spec, const char *pattern, int png,
                     const dm_data_opts *o, dm_error *err)
{
	glob_t g;
	int rc = glob(pattern, 0, NULL, &g);
	size_t keep = 0;
	for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
		if (png ? ends_with(g.gl_pathv[i], ".png") : dm_video_in_name(g.gl_pathv[i]))
			g.gl_pathv[keep++] = g.gl_pathv[i];
		else if (png && pattern == spec) {
			dm_error_set(err, DM_ERR_FORMAT,
			             "%s: not a .png file (patterns may only name PNG files)",
			             g.gl_pathv[i]);
			globfree(&g);
			return DM_ERR_FORMAT;
		}
	if (rc == GLOB_NOMATCH || (rc == 0 && keep == 0)) {
		globfree(&g);
		return dm_error_set(err, DM_ERR_MISSING, "%s: no %s found", spec,
		                    png ? "PNG files" : "PNG or video files");
	}
	if (rc) {
		globfree(&g);
		return dm_error_set(err, DM_ERR_IO, "%s: cannot list files", spec);
	}
	char **paths = g.gl_pathv;
	qsort(paths, keep, sizeof *paths, cmp_str);
	rc = png ? dm_data_png(d, (const char *const *)paths, (int)keep, err)
	         : dm_data_video(d, (const char *const *)paths, (int)keep, o, err);
	globfree(&g);
	if (rc == 0 && png && o->frames)
		rc = to_clips(d, o->frames, err);
	if (rc == 0) {
		free(d->source);
		d->source = strdup(spec);
	}
	return rc;
}

/* A folder: its PNGs, else its videos. */
static int open_dir(dm_dataset *d, const char *spec, const dm_data_opts *o, dm_error *err)
{
	char pat[4096];
	snprintf(pat, sizeof pat, "%s/*.[pP][nN][gG]", spec);
	glob_t g;
	int any = glob(pat, 0, NULL, &g) == 0 && g.gl_pathc > 0;
	globfree(&g);
	if (any)
		return open_glob(d, spec, pat, 1, o, err);
	snprintf(pat, sizeof pat, "%s/*", spec);
	return open_glob(d, spec, pat, 0, o, err);
}

int dm_data_open(dm_dataset *d, const char *spec, const dm_data_opts *o, dm_error *err)
{
	if (strcmp(spec, "toy:moving-fmnist") == 0)
		return dm_data_moving_fmnist(d, o, err);
	if (strcmp(spec, "toy:phantom") == 0)
		return dm_data_phantom(d, o, err);
	if (strncmp(spec, "toy:", 4) == 0)
		return dm_data_toy(d, spec + 4, o->n, o->seed, err);
	if (strncmp(spec, "fashion-mnist:", 14) == 0)
		return dm_data_fashion_mnist(d, spec + 14, err);
	struct stat sb;
	if (stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode))
		return open_dir(d, spec, o, err);
	if (stat(spec, &sb) != 0) {
		if (strpbrk(spec, "*?["))
			return open_glob(d, spec, spec, 1, o, err);
		return dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s",
		                    spec, strerror(errno));
	}
	if (dm_video_in_name(spec))
		return dm_data_video(d, &spec, 1, o, err);
	if (dm_nifti_name(spec))
		return dm_data_nifti(d, spec, err);
	if (ends_with(spec, ".png")) {
		int rc = dm_data_png(d, &spec, 1, err);
		return rc == 0 && o->frames ? to_clips(d, o->frames, err) : rc;
	}
	if (ends_with(spec, ".npy"))
		return dm_data_npy(d, spec, err);
	if (ends_with(spec, ".csv"))
		return dm_data_csv(d, spec, err);
	/* sniff the first bytes */
	unsigned char b[8] = {0};
	FILE *f = fopen(spec, "rb");
	if (!f)
		return dm_error_set(err, DM_ERR_IO, "%s: %s", spec, strerror(errno));
	size_t got = fread(b, 1, sizeof b, f);
	fclose(f);
	if (got >= 4 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G')
		return dm_data_png(d, &spec, 1, err);
	if (got >= 6 && memcmp(b, "\x93NUMPY", 6) == 0)
		return dm_data_npy(d, spec, err);
	if ((got >= 2 && b[0] == 0x1f && b[1] == 0x8b) || (got >= 1 && b[0] == 0) ||
	    strstr(spec, "idx") || strstr(spec, "ubyte"))
		return dm_data_idx(d, spec, err);
	return dm_error_set(err, DM_ERR_FORMAT,
	                    "%s: unknown kind of data (PNG, IDX, NPY, CSV or a video expected)",
	                    spec);
}

/* ---- shuffling ------------------------------------------------------- */

void dm_data_permutation(uint64_t seed, uint64_t epoch, int64_t n, int64_t *perm)
{
	for (int64_t i = 0; i < n; i++)
		perm[i] = i;
	uint32_t w[512];
	/* element 2i, 2i+1: the 64-bit draw that picks the partner of i */
	for (int64_t i = n - 1; i > 0;) {
		int64_t first = n - 1 - i;
		size_t chunk = (size_t)(i < 256 ? i : 256);
		dm_rng_u32(seed, DM_RNG_SHUFFLE, epoch, (uint64_t)first * 2, w, chunk * 2);
		for (size_t c = 0; c < chunk; c++, i--) {
			uint64_t r = (uint64_t)w[2 * c] << 32 | w[2 * c + 1];
			int64_t j = (int64_t)(r % (uint64_t)(i + 1));
			int64_t t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
	}
}

/* ---- the loader ------------------------------------------------------ */

struct dm_loader {
	const dm_dataset *d;
	dm_loader_opts o;
	int64_t pos;       /* next stream position to consider */
	int64_t end;       /* one past the last position, or -1 forever */
	int64_t *perm;     /* permutation of the current epoch */
	int64_t perm_epoch;
	float scale, shift; /* out = v * scale + shift */
	int scaled;  /* values pass through scale and shift */
	int ranged;  /* ... and end in a known range [lo, hi] * mul */
	int classes;
};

void dm_loader_opts_default(dm_loader_opts *o)
{
	memset(o, 0, sizeof *o);
	o->batch = 64;
	o->epochs = 1;
	o->lo = -1.0f;
	o->hi = 1.0f;
	o->shard_n = 1;
	o->mul = 1.0f;
}

int dm_loader_open(dm_loader **lp, const dm_dataset *d, const dm_loader_opts *o,
                   dm_error *err)
{
	*lp = NULL;
	if (o->batch < 1)
		return dm_error_set(err, DM_ERR_ARG, "--batch must be at least 1");
	if (o->shard_n < 1 || o->shard_r < 0 || o->shard_r >= o->shard_n)
		return dm_error_set(err, DM_ERR_ARG, "--shard %lld/%lld: want R/N with 0 <= R < N",
		                    (long long)o->shard_r, (long long)o->shard_n);
	if (o->flip && !dm_dataset_is_image(d) && !dm_dataset_is_clip(d))
		return dm_error_set(err, DM_ERR_ARG, "%s: --flip needs images or clips", d->source);
	if (d->n < 1)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: no samples", d->source);
	dm_loader *l = calloc(1, sizeof *l);
	if (!l)
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	l->d = d;
	l->o = *o;
	l->end = o->epochs > 0 ? o->epochs * d->n : -1;
	l->perm_epoch = -1;
	l->scale = 1.0f;
	if (o->shuffle) {
		l->perm = malloc(sizeof *l->perm * (size_t)d->n);
		if (!l->perm) {
			free(l);
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
		}
	}
	if (d->unit) { /* [0, 1] -> [lo, hi] */
		l->scale = o->hi - o->lo;
		l->shift = o->lo;
		l->scaled = l->ranged = 1;
	} else if (o->has_range) { /* the data's own min..max -> [lo, hi] */
		int64_t m = dm_dataset_sample_numel(d);
		const float *p = d->data; /* non-unit data is stored f32 with div 1 */
		float mn = INFINITY, mx = -INFINITY;
		for (int64_t i = 0; i < d->n * m; i++) {
			mn = p[i] < mn ? p[i] : mn;
			mx = p[i] > mx ? p[i] : mx;
		}
		l->scale = mx > mn ? (o->hi - o->lo) / (mx - mn) : 0.0f;
		l->shift = mx > mn ? o->lo - mn * l->scale : 0.5f * (o->lo + o->hi);
		l->scaled = l->ranged = 1;
	}
	if (o->mul != 1.0f) { /* --scale: after the range mapping */
		l->scale *= o->mul;
		l->shift *= o->mul;
		l->scaled = 1;
	}
	if (d->label) {
		int32_t mx = -1;
		for (int64_t i = 0; i < d->n; i++)
			mx = d->label[i] > mx ? d->label[i] : mx;
		l->classes = mx + 1;
	}
	*lp = l;
	return 0;
}

int dm_loader_meta(const dm_loader *l, dm_kv *kv)
{
	int rc = dm_kv_set(kv, "tool", "dm-load");
	if (!rc)
		rc = dm_kv_set(kv, "source", l->d->source ? l->d->source : "");
	/* The range the values END in, after --scale (mul > 0): later tools act
	 * on it (dm-denoise clips x0^ to it).  Data with no range mapping (toy
	 * sets, float NPY/CSV without --range) has no known range: no key. */
	if (!rc && l->ranged)
		rc = dm_kv_setf(kv, "range", "%g:%g", (double)(l->o.lo * l->o.mul),
		                (double)(l->o.hi * l->o.mul));
	if (!rc)
		rc = dm_kv_setf(kv, "samples", "%lld", (long long)l->d->n);
	if (!rc && l->classes > 0)
		rc = dm_kv_setf(kv, "classes", "%d", l->classes);
	if (!rc && l->o.shard_n > 1)
		rc = dm_kv_setf(kv, "shard", "%lld/%lld", (long long)l->o.shard_r,
		                (long long)l->o.shard_n);
	return rc;
}

/* Horizontal flip in place of a sample whose last axis is w (an image or
 * a clip: every row of every frame). */
static void flip_w(float *x, int64_t planes_rows, int64_t w)
{
	for (int64_t r = 0; r < planes_rows; r++) {
		float *row = x + r * w;
		for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
			float t = row[a];
			row[a] = row[b];
			row[b] = t;
		}
	}
}

int dm_loader_next(dm_loader *l, dm_frame *out, dm_error *err)
{
	const dm_dataset *d = l->d;
	const dm_loader_opts *o = &l->o;
	dm_frame_clear(out);
	/* the first kept position at or after pos */
	int64_t p = l->pos + ((o->shard_r - l->pos % o->shard_n) + o->shard_n) % o->shard_n;
	int64_t count = o->batch;
	if (l->end >= 0) {
		int64_t left = p < l->end ? (l->end - p + o->shard_n - 1) / o->shard_n : 0;
		count = left < count ? left : count;
	}
	if (count <= 0)
		return 0;
	int64_t m = dm_dataset_sample_numel(d);
	int64_t dims[DM_MAX_RANK];
	dims[0] = count;
	for (int i = 0; i < d->rank; i++)
		dims[i + 1] = d->dims[i];
	dm_tensor *x = dm_frame_add(out, "x", DM_F32, d->rank + 1, dims, err);
	dm_tensor *lab = NULL;
	if (!x)
		return err->code;
	if (d->label && !(lab = dm_frame_add(out, "label", DM_I32, 1, dims, err)))
		return err->code;
	if (dm_kv_setf(&out->tags, "index", "%lld", (long long)p) ||
	    (o->shard_n > 1 && dm_kv_setf(&out->tags, "stride", "%lld", (long long)o->shard_n)))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	float *xp = x->data;
	for (int64_t k = 0; k < count; k++, p += o->shard_n) {
		int64_t epoch = p / d->n, j = p % d->n;
		if (o->shuffle) {
			if (epoch != l->perm_epoch) {
				dm_data_permutation(o->seed, (uint64_t)epoch, d->n, l->perm);
				l->perm_epoch = epoch;
			}
			j = l->perm[j];
		}
		float *s = xp + k * m;
		dm_dataset_get(d, j, s);
		if (l->scaled)
			for (int64_t e = 0; e < m; e++)
				s[e] = s[e] * l->scale + l->shift;
		if (o->flip) {
			uint32_t r;
			dm_rng_u32(o->seed, DM_RNG_FLIP, (uint64_t)p, 0, &r, 1);
			if (r & 1)
				flip_w(s, m / d->dims[d->rank - 1], d->dims[d->rank - 1]);
		}
		if (lab)
			((int32_t *)lab->data)[k] = d->label[j];
	}
	l->pos = p;
	return 1;
}

void dm_loader_close(dm_loader *l)
{
	if (!l)
		return;
	free(l->perm);
	free(l);
}

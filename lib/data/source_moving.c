/* source_moving.c - toy:moving-fmnist, Fashion-MNIST items bouncing in a
 * canvas (in the manner of Moving MNIST, Srivastava et al. 2015), so that a
 * video model has data on every machine without a download (see data.h).
 *
 * Clip i takes 4 uniforms per item from dm_rng (seed, DM_RNG_TOY, i): the
 * training image, the start position and the direction.  The item, shrunk
 * once to k x k by averaging (k = 28 * min(h, w) / 64, 14 on the default
 * 32 x 32 canvas), moves (room / 12) pixels a frame, room = the canvas side
 * less k, reflecting off the edges, and is drawn at its sub-pixel position
 * by bilinear interpolation; items combine by their maximum. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/data.h"

#define PI 3.14159265358979323846

enum { FM = 28 }; /* Fashion-MNIST's side */

/* src (FM x FM, u8) shrunk to k x k floats: each output pixel the mean of
 * the source area it covers (area weights on the fractional edges). */
static void shrink(const uint8_t *src, int k, float *dst)
{
	double r = (double)FM / k;
	for (int y = 0; y < k; y++)
		for (int x = 0; x < k; x++) {
			double y0 = y * r, y1 = (y + 1) * r, x0 = x * r, x1 = (x + 1) * r, s = 0;
			for (int sy = (int)y0; sy < FM && sy < y1; sy++) {
				double wy = fmin(y1, sy + 1) - fmax(y0, sy);
				for (int sx = (int)x0; sx < FM && sx < x1; sx++) {
					double wx = fmin(x1, sx + 1) - fmax(x0, sx);
					s += wy * wx * src[sy * FM + sx];
				}
			}
			dst[y * k + x] = (float)(s / (r * r));
		}
}

/* Position along one axis after f frames: start p0 moving v a frame in
 * [0, room], reflected at both ends. */
static double bounce(double p0, double v, int f, double room)
{
	if (room <= 0)
		return 0;
	double p = fmod(p0 + v * f, 2 * room);
	if (p < 0)
		p += 2 * room;
	return p > room ? 2 * room - p : p;
}

/* The item (k x k) drawn at (py, px) into the frame (h x w) by bilinear
 * interpolation, kept where it is brighter than what is there. */
static void draw(float *frame, int h, int w, const float *item, int k, double py, double px)
{
	int iy = (int)floor(py), ix = (int)floor(px);
	double fy = py - iy, fx = px - ix;
	for (int y = iy; y <= iy + k && y < h; y++)
		for (int x = ix; x <= ix + k && x < w; x++) {
			if (y < 0 || x < 0)
				continue;
			/* frame (y, x) lies at item (y - py, x - px) */
			int sy = y - iy, sx = x - ix;
			double v = 0;
			for (int a = 0; a < 2; a++)
				for (int b = 0; b < 2; b++) {
					int yy = sy - a, xx = sx - b;
					if (yy < 0 || yy >= k || xx < 0 || xx >= k)
						continue;
					double wgt = (a ? fy : 1 - fy) * (b ? fx : 1 - fx);
					v += wgt * item[yy * k + xx];
				}
			float *o = frame + (size_t)y * w + x;
			if (v > *o)
				*o = (float)v;
		}
}

int dm_data_moving_fmnist(dm_dataset *d, const dm_data_opts *o, dm_error *err)
{
	const char *name = "toy:moving-fmnist";
	int T = o->frames ? o->frames : 8, h = o->h ? o->h : 32, w = o->w ? o->w : 32;
	int items = o->items ? o->items : 2;
	int64_t n = o->n;
	if (T < 1 || T > 1024)
		return dm_error_set(err, DM_ERR_ARG, "%s: --frames must be 1..1024", name);
	if (h < 8 || w < 8 || h > 1024 || w > 1024)
		return dm_error_set(err, DM_ERR_ARG, "%s: --size must be 8x8..1024x1024", name);
	if (items < 1 || items > 16)
		return dm_error_set(err, DM_ERR_ARG, "%s: --items must be 1..16", name);
	if (o->frame_stride != 1 || o->gray || o->clips_per_file)
		return dm_error_set(err, DM_ERR_ARG,
		                    "%s: --frame-stride, --gray and --clips-per-file are for videos",
		                    name);
	size_t clip = (size_t)T * h * w;
	if (n < 1 || (double)n * clip > (double)((int64_t)1 << 34))
		return dm_error_set(err, DM_ERR_ARG,
		                    "%s: --n %lld clips of %dx%dx%d would exceed 16 GiB", name,
		                    (long long)n, T, h, w);
	dm_dataset fm;
	dm_dataset_init(&fm);
	int rc = dm_data_fashion_mnist(&fm, "train", err);
	if (rc)
		return rc;
	int side = h < w ? h : w, k = (int)lround(FM * side / 64.0);
	k = k < 4 ? 4 : k > FM ? FM : k;
	double ry = h - k, rx = w - k;
	double speed = (ry < rx ? ry : rx) / 12.0;
	d->source = strdup(name);
	d->data = malloc(clip * (size_t)n);
	d->label = items == 1 ? malloc(sizeof(int32_t) * (size_t)n) : NULL;
	float *item = malloc(sizeof(float) * (size_t)(items * k * k));
	float *frame = malloc(sizeof(float) * (size_t)h * w);
	float *u = malloc(sizeof(float) * 4 * (size_t)items);
	if (!d->source || !d->data || (items == 1 && !d->label) || !item || !frame || !u) {
		free(item), free(frame), free(u);
		dm_dataset_free(&fm);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
	}
	dm_dataset_set_clips(d, n, 1, T, h, w, DM_U8, 1);
	const uint8_t *imgs = fm.data;
	for (int64_t i = 0; i < n; i++) {
		dm_rng_uniform(o->seed, DM_RNG_TOY, (uint64_t)i, 0, u, 4 * (size_t)items);
		for (int it = 0; it < items; it++) {
			int64_t j = (int64_t)(u[4 * it] * (float)fm.n);
			j = j >= fm.n ? fm.n - 1 : j;
			shrink(imgs + j * FM * FM, k, item + it * k * k);
			if (d->label)
				d->label[i] = fm.label ? fm.label[j] : 0;
		}
		uint8_t *dst = (uint8_t *)d->data + (size_t)i * clip;
		for (int f = 0; f < T; f++) {
			memset(frame, 0, sizeof(float) * (size_t)h * w);
			for (int it = 0; it < items; it++) {
				const float *uu = u + 4 * it;
				double a = 2 * PI * uu[3];
				double py = bounce(uu[1] * ry, speed * sin(a), f, ry);
				double px = bounce(uu[2] * rx, speed * cos(a), f, rx);
				draw(frame, h, w, item + it * k * k, k, py, px);
			}
			for (size_t e = 0; e < (size_t)h * w; e++) {
				float v = frame[e] + 0.5f;
				dst[(size_t)f * h * w + e] = (uint8_t)(v > 255.0f ? 255.0f : v);
			}
		}
	}
	free(item), free(frame), free(u);
	dm_dataset_free(&fm);
	return 0;
}

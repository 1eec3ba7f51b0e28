/* source_volume.c - volumes: NIfTI-1 files (io/nifti) and toy:phantom, a
 * synthetic 3-D head phantom for tests and demos (see data.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/data.h"
#include "io/nifti.h"

int dm_data_nifti(dm_dataset *d, const char *path, dm_error *err)
{
	dm_nifti v;
	int rc = dm_nifti_read(path, &v, err);
	if (rc)
		return rc;
	int64_t n = 1;
	for (int i = 3; i < v.rank; i++)
		n *= v.dim[i];
	if (!(d->source = strdup(path))) {
		free(v.data);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	}
	/* z, y, x as D, H, W */
	dm_dataset_set_clips(d, n, 1, v.rank >= 3 ? v.dim[2] : 1, v.rank >= 2 ? v.dim[1] : 1,
	                     v.dim[0], DM_F32, 0);
	d->data = v.data;
	return 0;
}

/* One ellipsoid: centre, semi-axes (in [-1, 1] coordinates), value added. */
typedef struct ellipsoid {
	double c[3], r[3], v;
} ellipsoid;

enum { LESIONS = 3, PARTS = 2 + LESIONS };

int dm_data_phantom(dm_dataset *d, const dm_data_opts *o, dm_error *err)
{
	const char *name = "toy:phantom";
	int D = o->frames ? o->frames : 32, H = o->h ? o->h : 32, W = o->w ? o->w : 32;
	if (D < 4 || H < 4 || W < 4 || D > 512 || H > 512 || W > 512)
		return dm_error_set(err, DM_ERR_ARG, "%s: --frames (slices) and --size must be 4..512",
		                    name);
	if (o->frame_stride != 1 || o->gray || o->clips_per_file || o->items)
		return dm_error_set(err, DM_ERR_ARG, "%s: takes --n, --frames (slices) and --size only",
		                    name);
	size_t vol = (size_t)D * H * W;
	if ((double)o->n * vol * 4 > (double)((int64_t)1 << 34))
		return dm_error_set(err, DM_ERR_ARG, "%s: --n %lld volumes would exceed 16 GiB", name,
		                    (long long)o->n);
	d->source = strdup(name);
	d->data = malloc(sizeof(float) * vol * (size_t)o->n);
	if (!d->source || !d->data)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
	dm_dataset_set_clips(d, o->n, 1, D, H, W, DM_F32, 1);
	for (int64_t i = 0; i < o->n; i++) {
		float u[4 + 7 * LESIONS];
		dm_rng_uniform(o->seed, DM_RNG_TOY, (uint64_t)i, 0, u, sizeof u / sizeof *u);
		/* skull and brain, jittered in size; lesions inside the brain */
		double s = 0.95 + 0.1 * u[0], sh = 0.1 * (u[1] - 0.5);
		ellipsoid e[PARTS] = {
			{ { sh, 0, 0 }, { 0.9 * s, 0.8 * s, 0.7 * s }, 0.9 },
			{ { sh, 0, 0 }, { 0.8 * s, 0.7 * s, 0.6 * s }, -0.6 },
		};
		for (int l = 0; l < LESIONS; l++) {
			const float *q = u + 4 + 7 * l;
			ellipsoid *le = &e[2 + l];
			for (int a = 0; a < 3; a++) {
				le->c[a] = 0.8 * (q[a] - 0.5);
				le->r[a] = 0.06 + 0.14 * q[3 + a];
			}
			le->v = 0.1 + 0.4 * q[6];
		}
		float *p = (float *)d->data + (size_t)i * vol;
		for (int z = 0; z < D; z++)
			for (int y = 0; y < H; y++)
				for (int x = 0; x < W; x++) {
					double pt[3] = { 2.0 * (z + 0.5) / D - 1, 2.0 * (y + 0.5) / H - 1,
						         2.0 * (x + 0.5) / W - 1 };
					double val = 0;
					for (int k = 0; k < PARTS; k++) {
						double q = 0;
						for (int a = 0; a < 3; a++) {
							double t = (pt[a] - e[k].c[a]) / e[k].r[a];
							q += t * t;
						}
						if (q <= 1)
							val += e[k].v;
					}
					*p++ = (float)(val < 0 ? 0 : val > 1 ? 1 : val);
				}
	}
	return 0;
}

/* data_png.c - PNG files as a data set: all of one size, C x H x W f32 in
 * [0, 1] (the loader maps them to --range). */
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "io/image.h"

int dm_data_png(dm_dataset *d, const char *const *paths, int n, dm_error *err)
{
	if (n < 1)
		return dm_error_set(err, DM_ERR_ARG, "no PNG files given");
	d->source = strdup(paths[0]);
	d->dtype = DM_F32;
	d->div = 1.0f;
	d->unit = 1;
	d->rank = 3;
	int64_t m = 0;
	for (int i = 0; i < n; i++) {
		int w, h, c;
		float *px;
		int rc = dm_png_read(paths[i], &w, &h, &c, &px, err);
		if (rc)
			return rc;
		if (i == 0) {
			d->dims[0] = c;
			d->dims[1] = h;
			d->dims[2] = w;
			m = (int64_t)c * h * w;
			d->data = malloc(sizeof(float) * (size_t)(m * n));
			if (!d->data) {
				free(px);
				return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", paths[0]);
			}
			d->cap = n;
		} else if (d->dims[0] != c || d->dims[1] != h || d->dims[2] != w) {
			free(px);
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: image is %dx%d with %d channel%s, unlike %s "
			                    "(%lldx%lld with %lld)",
			                    paths[i], w, h, c, c == 1 ? "" : "s", paths[0],
			                    (long long)d->dims[2], (long long)d->dims[1],
			                    (long long)d->dims[0]);
		}
		memcpy((float *)d->data + (int64_t)i * m, px, sizeof(float) * (size_t)m);
		free(px);
		d->n = i + 1;
	}
	return 0;
}

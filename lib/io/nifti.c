/* nifti.c - NIfTI-1 read and write (see nifti.h).  The header is 348
 * bytes; the fields used, by byte offset: 0 sizeof_hdr (int32, 348, which
 * also tells the byte order), 40 dim[8] (int16), 70 datatype (int16), 72
 * bitpix (int16), 76 pixdim[8] (float), 108 vox_offset (float), 112
 * scl_slope, 116 scl_inter (float), 344 magic "n+1\0". */
#include "io/nifti.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

enum { HDR = 348, VOX = 352 };

int dm_nifti_name(const char *path)
{
	size_t n = strlen(path);
	if (n > 7 && !strcasecmp(path + n - 7, ".nii.gz"))
		return 2;
	return n > 4 && !strcasecmp(path + n - 4, ".nii");
}

static uint32_t rd32(const uint8_t *p, int swap)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

static int16_t rd16(const uint8_t *p, int swap)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return (int16_t)(swap ? __builtin_bswap16(v) : v);
}

static float rdf(const uint8_t *p, int swap)
{
	uint32_t u = rd32(p, swap);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Bytes per voxel of a NIfTI datatype this reader takes, else 0. */
static int dtype_size(int dt)
{
	switch (dt) {
	case 2: case 256: return 1;           /* u8, i8 */
	case 4: case 512: return 2;           /* i16, u16 */
	case 8: case 768: case 16: return 4;  /* i32, u32, f32 */
	case 64: return 8;                    /* f64 */
	}
	return 0;
}

static double voxel(const uint8_t *p, int dt, int swap)
{
	switch (dt) {
	case 2: return *p;
	case 256: return (int8_t)*p;
	case 4: return rd16(p, swap);
	case 512: return (uint16_t)rd16(p, swap);
	case 8: return (int32_t)rd32(p, swap);
	case 768: return rd32(p, swap);
	case 16: return rdf(p, swap);
	case 64: {
		uint64_t u;
		memcpy(&u, p, 8);
		if (swap)
			u = __builtin_bswap64(u);
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
	}
	return 0;
}

/* Read exactly n bytes; the count read into *got. */
static int read_n(gzFile g, uint8_t *buf, int64_t n, int64_t *got)
{
	*got = 0;
	while (*got < n) {
		int64_t left = n - *got;
		int r = gzread(g, buf + *got, (unsigned)(left > (1 << 30) ? 1 << 30 : left));
		if (r <= 0)
			return r;
		*got += r;
	}
	return 1;
}

int dm_nifti_read(const char *path, dm_nifti *v, dm_error *err)
{
	memset(v, 0, sizeof *v);
	struct stat sb;
	if (stat(path, &sb) != 0)
		return dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s", path,
		                    strerror(errno));
	gzFile g = gzopen(path, "rb");
	if (!g)
		return dm_error_set(err, DM_ERR_IO, "%s: %s", path, strerror(errno));
	uint8_t h[VOX];
	int64_t got;
	int rc = 0;
	uint8_t *raw = NULL;
	if (read_n(g, h, HDR, &got) < 0 || got < HDR) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated NIfTI header (%lld of 348 bytes)",
		                  path, (long long)got);
		goto out;
	}
	int swap = rd32(h, 0) != HDR;
	if (rd32(h, swap) != HDR) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: not a NIfTI-1 file (sizeof_hdr is not 348)",
		                  path);
		goto out;
	}
	if (memcmp(h + 344, "n+1", 4) != 0) {
		rc = dm_error_set(err, DM_ERR_FORMAT, memcmp(h + 344, "ni1", 4) == 0
		                  ? "%s: a .hdr/.img pair; only single-file .nii is read"
		                  : "%s: no NIfTI-1 magic (n+1) at byte 344", path);
		goto out;
	}
	int rank = rd16(h + 40, swap), dt = rd16(h + 70, swap), bitpix = rd16(h + 72, swap);
	if (rank < 1 || rank > 7) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: dim[0] = %d (1..7 expected)", path, rank);
		goto out;
	}
	int es = dtype_size(dt);
	if (!es) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: datatype %d is not read (u8, i8, i16, u16, "
		                  "i32, u32, f32, f64)", path, dt);
		goto out;
	}
	if (bitpix != 8 * es) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: bitpix %d does not match datatype %d", path,
		                  bitpix, dt);
		goto out;
	}
	int64_t count = 1;
	for (int i = 0; i < rank; i++) {
		int d = rd16(h + 42 + 2 * i, swap);
		if (d < 1) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: dim[%d] = %d (>= 1 expected)", path,
			                  i + 1, d);
			goto out;
		}
		v->dim[i] = d;
		count *= d;
	}
	int64_t bytes = count * es;
	if (bytes > DM_NIFTI_MAX_BYTES) {
		rc = dm_error_set(err, DM_ERR_LIMIT, "%s: %lld voxels of %d bytes, over the limit of "
		                  "%lld bytes", path, (long long)count, es,
		                  (long long)DM_NIFTI_MAX_BYTES);
		goto out;
	}
	/* the volume as f32 under the limit every decoder keeps (DM_MAX_BYTES) */
	if ((rc = dm_check_bytes((uint64_t)count * sizeof(float), path, "the NIfTI volume as f32",
	                         err)) < 0)
		goto out;
	float off = rdf(h + 108, swap), slope = rdf(h + 112, swap), inter = rdf(h + 116, swap);
	if (!(off >= VOX) || off > 1e9f || off != floorf(off)) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: vox_offset %g (a whole number >= 352 "
		                  "expected)", path, (double)off);
		goto out;
	}
	int direct = gzdirect(g);
	if (direct && (int64_t)off + bytes > (int64_t)sb.st_size) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: the header claims %lld bytes of voxels at "
		                  "offset %lld, the file has %lld bytes", path, (long long)bytes,
		                  (long long)off, (long long)sb.st_size);
		goto out;
	}
	/* skip to the voxels */
	uint8_t skip[4096];
	for (int64_t left = (int64_t)off - HDR; left > 0;) {
		int64_t n = left < (int64_t)sizeof skip ? left : (int64_t)sizeof skip;
		if (read_n(g, skip, n, &got) < 0 || got < n) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated before vox_offset %lld", path,
			                  (long long)off);
			goto out;
		}
		left -= n;
	}
	/* a gzip stream cannot be sized up front: grow as it expands, so that
	 * a lying header costs only what the data really holds */
	int64_t cap = direct ? bytes : (bytes < ((int64_t)1 << 24) ? bytes : (int64_t)1 << 24);
	raw = malloc((size_t)cap + 1);
	int64_t have = 0;
	while (raw && have < bytes) {
		if (have == cap) {
			cap = cap * 2 < bytes ? cap * 2 : bytes;
			uint8_t *p = realloc(raw, (size_t)cap + 1);
			if (!p)
				break;
			raw = p;
		}
		int r = read_n(g, raw + have, cap - have, &got);
		have += got;
		if (r <= 0)
			break;
	}
	if (!raw || (have < bytes && have == cap)) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory for %lld bytes of voxels", path,
		                  (long long)bytes);
		goto out;
	}
	if (have < bytes) {
		int zerr;
		const char *zmsg = gzerror(g, &zerr);
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated: the voxels end after %lld of "
		                  "%lld bytes%s%s", path, (long long)have, (long long)bytes,
		                  zerr < 0 ? ": " : "", zerr < 0 ? zmsg : "");
		goto out;
	}
	v->data = malloc(sizeof(float) * (size_t)count);
	if (!v->data) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	int scaled = slope != 0 && isfinite(slope) && isfinite(inter);
	for (int64_t i = 0; i < count; i++) {
		double x = voxel(raw + i * es, dt, swap);
		v->data[i] = (float)(scaled ? x * slope + inter : x);
	}
	v->rank = rank;
out:
	free(raw);
	gzclose(g);
	return rc;
}

static void wr16(uint8_t *p, int v)
{
	int16_t s = (int16_t)v;
	memcpy(p, &s, 2);
}

static void wrf(uint8_t *p, float v) { memcpy(p, &v, 4); }

int dm_nifti_write(FILE *f, const char *name, const dm_nifti *v, int gz, dm_error *err)
{
	if (v->rank < 1 || v->rank > 7)
		return dm_error_set(err, DM_ERR_ARG, "%s: a NIfTI volume has 1..7 axes", name);
	int64_t count = 1;
	for (int i = 0; i < v->rank; i++) {
		if (v->dim[i] < 1 || v->dim[i] > 32767)
			return dm_error_set(err, DM_ERR_LIMIT, "%s: axis of %lld (NIfTI-1 holds 1..32767)",
			                    name, (long long)v->dim[i]);
		count *= v->dim[i];
	}
	uint8_t h[VOX];
	memset(h, 0, sizeof h);
	int32_t sz = HDR;
	memcpy(h, &sz, 4);
	wr16(h + 40, v->rank);
	for (int i = 0; i < 7; i++)
		wr16(h + 42 + 2 * i, i < v->rank ? (int)v->dim[i] : 1);
	wr16(h + 70, 16);      /* f32 */
	wr16(h + 72, 32);
	for (int i = 0; i < 8; i++)
		wrf(h + 76 + 4 * i, 1.0f); /* pixdim (pixdim[0], qfac, too) */
	wrf(h + 108, (float)VOX);
	wrf(h + 112, 1.0f);    /* scl_slope: values as stored */
	h[123] = 10;           /* xyzt_units: mm, s */
	memcpy(h + 344, "n+1", 4);
	size_t nb = sizeof(float) * (size_t)count;
	if (!gz) {
		if (fwrite(h, 1, VOX, f) != VOX || fwrite(v->data, 1, nb, f) != nb)
			return dm_error_set(err, DM_ERR_IO, "%s: write error: %s", name, strerror(errno));
		return 0;
	}
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
	uint8_t out[1 << 16];
	int rc = 0;
	const uint8_t *parts[2] = { h, (const uint8_t *)v->data };
	size_t lens[2] = { VOX, nb };
	for (int p = 0; p < 2 && !rc; p++) {
		z.next_in = (uint8_t *)parts[p];
		size_t left = lens[p];
		do {
			unsigned chunk = left > (1u << 30) ? 1u << 30 : (unsigned)left;
			z.next_in = (uint8_t *)parts[p] + (lens[p] - left);
			z.avail_in = chunk;
			left -= chunk;
			int flush = p == 1 && left == 0 ? Z_FINISH : Z_NO_FLUSH;
			do {
				z.next_out = out;
				z.avail_out = sizeof out;
				deflate(&z, flush);
				size_t n = sizeof out - z.avail_out;
				if (n && fwrite(out, 1, n, f) != n) {
					rc = dm_error_set(err, DM_ERR_IO, "%s: write error: %s", name,
					                  strerror(errno));
					break;
				}
			} while (z.avail_out == 0);
		} while (left > 0 && !rc);
	}
	deflateEnd(&z);
	return rc;
}

void dm_nifti_writer_init(dm_nifti_writer *w) { memset(w, 0, sizeof *w); }

void dm_nifti_writer_free(dm_nifti_writer *w)
{
	free(w->v.data);
	dm_nifti_writer_init(w);
}

int dm_nifti_writer_add(dm_nifti_writer *w, const dm_tensor *t, dm_error *err)
{
	if (t->rank < 3)
		return dm_error_set(err, DM_ERR_ARG, "tensor '%s' has %d axes; volumes need at least 3 "
		                    "(... x D x H x W)", t->name, t->rank);
	int r = t->rank;
	int64_t x = t->dims[r - 1], y = t->dims[r - 2], z = t->dims[r - 3], n = 1;
	for (int i = 0; i < r - 3; i++)
		n *= t->dims[i];
	if (w->v.rank && (w->v.dim[0] != x || w->v.dim[1] != y || w->v.dim[2] != z))
		return dm_error_set(err, DM_ERR_ARG, "tensor '%s': volumes of %lldx%lldx%lld, unlike "
		                    "the %lldx%lldx%lld before", t->name, (long long)z, (long long)y,
		                    (long long)x, (long long)w->v.dim[2], (long long)w->v.dim[1],
		                    (long long)w->v.dim[0]);
	int64_t vol = x * y * z, have = w->v.rank ? w->v.dim[3] : 0;
	if ((double)(have + n) * vol * 4 > (double)DM_NIFTI_MAX_BYTES)
		return dm_error_set(err, DM_ERR_LIMIT, "volumes over %lld bytes", (long long)DM_NIFTI_MAX_BYTES);
	if (have + n > w->cap) {
		int64_t cap = w->cap ? w->cap : 4;
		while (cap < have + n)
			cap *= 2;
		float *p = realloc(w->v.data, sizeof(float) * (size_t)(cap * vol));
		if (!p)
			return dm_error_set(err, DM_ERR_NOMEM, "out of memory for the volumes");
		w->v.data = p, w->cap = cap;
	}
	for (int64_t i = 0; i < n * vol; i++)
		w->v.data[have * vol + i] = (float)dm_tensor_get(t, i);
	w->v.rank = 4;
	w->v.dim[0] = x, w->v.dim[1] = y, w->v.dim[2] = z, w->v.dim[3] = have + n;
	return 0;
}

int dm_nifti_writer_finish(dm_nifti_writer *w, FILE *f, const char *name, int gz,
                           dm_error *err)
{
	if (w->v.rank && w->v.dim[3] == 1)
		w->v.rank = 3; /* one volume */
	int rc = w->v.rank ? dm_nifti_write(f, name, &w->v, gz, err)
	                   : dm_error_set(err, DM_ERR_ARG, "%s: no volumes", name);
	dm_nifti_writer_free(w);
	return rc;
}

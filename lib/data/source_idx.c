/* data_idx.c - IDX files as in MNIST (http://yann.lecun.com/exdb/mnist/):
 * magic 0x00 0x00 <type> <rank>, rank big-endian u32 dimensions, then the
 * values.  Read through zlib's gz* functions, which take plain files too.
 * Also Debian's dataset-fashion-mnist, found wherever it is installed. */
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/data.h"

#define IDX_U8 0x08

/* The largest gzip expansion zlib's deflate can produce is about 1032:1. */
#define GZ_MAX_RATIO 1100

/* Read an IDX u8 array: rank and dims out, *data malloc'd. */
static int idx_read(const char *path, int want_rank, int *rank, int64_t *dims, uint8_t **data,
                    dm_error *err)
{
	*data = NULL;
	struct stat sb;
	if (stat(path, &sb) != 0)
		return dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s",
		                    path, strerror(errno));
	gzFile g = gzopen(path, "rb");
	if (!g)
		return dm_error_set(err, DM_ERR_IO, "%s: %s", path, strerror(errno));
	int rc = 0;
	unsigned char h[4 + 4 * 4];
	if (gzread(g, h, 4) != 4) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated IDX header", path);
		goto out;
	}
	if (h[0] != 0 || h[1] != 0 || h[3] < 1 || h[3] > 4) {
		rc = dm_error_set(err, DM_ERR_FORMAT,
		                  "%s: not an IDX file (bad magic %02x %02x %02x %02x)", path, h[0],
		                  h[1], h[2], h[3]);
		goto out;
	}
	if (h[2] != IDX_U8) {
		rc = dm_error_set(err, DM_ERR_FORMAT,
		                  "%s: IDX type 0x%02x is not supported (only unsigned bytes, 0x08)",
		                  path, h[2]);
		goto out;
	}
	*rank = h[3];
	if (*rank != want_rank) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: IDX array of rank %d, expected %d%s",
		                  path, *rank, want_rank,
		                  *rank == 1 ? " (is this a labels file?)" : "");
		goto out;
	}
	int hb = 4 * *rank;
	if (gzread(g, h + 4, (unsigned)hb) != hb) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated IDX header", path);
		goto out;
	}
	uint64_t total = 1;
	for (int i = 0; i < *rank; i++) {
		const unsigned char *b = h + 4 + 4 * i;
		dims[i] = (int64_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		                    (uint32_t)b[2] << 8 | b[3]);
	}
	for (int i = 0; i < *rank && total <= ((uint64_t)1 << 40); i++)
		total *= (uint64_t)dims[i]; /* <= 2^32 per factor: no overflow below 2^40 */
	uint64_t fsize = (uint64_t)sb.st_size;
	uint64_t hdr = 4 + (uint64_t)hb;
	uint64_t bound = gzdirect(g) ? (fsize > hdr ? fsize - hdr : 0)
	                             : fsize * GZ_MAX_RATIO + 4096;
	for (int i = 0; i < *rank; i++)
		if (dims[i] == 0) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: IDX dimension %d of %s is 0 (%s)",
			                  path, i, *rank == 1 ? "the labels" : "the images",
			                  i == 0 ? "no samples" : "empty images");
			goto out;
		}
	if (total > bound || total > DM_MAX_TENSOR_BYTES) {
		rc = dm_error_set(err, DM_ERR_FORMAT,
		                  "%s: IDX header claims %llu bytes of data, more than the file "
		                  "can hold (truncated or corrupt)",
		                  path, (unsigned long long)total);
		goto out;
	}
	if ((rc = dm_check_bytes(total, path, "the IDX array", err)) < 0)
		goto out;
	*data = malloc(total ? total : 1);
	if (!*data) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	uint64_t got = 0;
	while (got < total) {
		unsigned chunk = total - got > (1u << 30) ? (1u << 30) : (unsigned)(total - got);
		int r = gzread(g, *data + got, chunk);
		if (r <= 0)
			break;
		got += (uint64_t)r;
	}
	if (got < total) {
		int zerr;
		const char *zmsg = gzerror(g, &zerr);
		rc = dm_error_set(err, DM_ERR_FORMAT,
		                  "%s: truncated IDX: %llu of %llu data bytes%s%s", path,
		                  (unsigned long long)got, (unsigned long long)total,
		                  zerr && zerr != Z_BUF_ERROR ? ": " : "",
		                  zerr && zerr != Z_BUF_ERROR ? zmsg : "");
		free(*data);
		*data = NULL;
	}
out:
	gzclose(g);
	return rc;
}

/* The labels file beside an images file: "images" -> "labels" and
 * "idx3" -> "idx1" in the file name; NULL when no such file exists. */
static char *labels_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char *s = strdup(path);
	if (!s)
		return NULL;
	char *b = s + (base - path);
	char *p = strstr(b, "images");
	char *q = strstr(b, "idx3");
	if (!p || !q) {
		free(s);
		return NULL;
	}
	memcpy(p, "labels", 6);
	q[3] = '1';
	struct stat sb;
	if (stat(s, &sb) == 0)
		return s;
	free(s);
	return NULL;
}

int dm_data_idx(dm_dataset *d, const char *path, dm_error *err)
{
	int rank;
	int64_t dims[4];
	uint8_t *px;
	int rc = idx_read(path, 3, &rank, dims, &px, err);
	if (rc)
		return rc;
	d->source = strdup(path);
	d->n = d->cap = dims[0];
	d->rank = 3;
	d->dims[0] = 1;
	d->dims[1] = dims[1];
	d->dims[2] = dims[2];
	d->dtype = DM_U8;
	d->div = 255.0f;
	d->unit = 1;
	d->data = px;
	char *lp = labels_path(path);
	if (!lp)
		return 0;
	int lrank;
	int64_t ldims[4];
	uint8_t *lab;
	rc = idx_read(lp, 1, &lrank, ldims, &lab, err);
	if (rc) {
		free(lp);
		return rc;
	}
	if (ldims[0] != d->n) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: %lld labels for the %lld images of %s",
		                  lp, (long long)ldims[0], (long long)d->n, path);
		free(lab);
		free(lp);
		return rc;
	}
	free(lp);
	d->label = malloc(sizeof(int32_t) * (size_t)(d->n ? d->n : 1));
	if (!d->label) {
		free(lab);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	}
	for (int64_t i = 0; i < d->n; i++)
		d->label[i] = lab[i];
	free(lab);
	return 0;
}

int dm_data_fashion_mnist(dm_dataset *d, const char *split, dm_error *err)
{
	const char *stem;
	if (strcmp(split, "train") == 0)
		stem = "train";
	else if (strcmp(split, "test") == 0)
		stem = "t10k";
	else
		return dm_error_set(err, DM_ERR_ARG,
		                    "fashion-mnist:%s: unknown split (train or test)", split);
	static const char *const dirs[] = {
		"/usr/share/datasets/fashion-mnist",
		"/usr/local/share/datasets/fashion-mnist",
		"/usr/share/fashion-mnist",
		"/opt/datasets/fashion-mnist",
	};
	const char *env = getenv("DM_FASHION_MNIST_DIR");
	char path[4096];
	struct stat sb;
	int ndirs = (int)(sizeof dirs / sizeof *dirs);
	for (int i = env && *env ? -1 : 0; i < ndirs; i++) {
		const char *dir = i < 0 ? env : dirs[i];
		for (int gz = 1; gz >= 0; gz--) {
			snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, stem,
			         gz ? ".gz" : "");
			if (stat(path, &sb) == 0) {
				int rc = dm_data_idx(d, path, err);
				if (rc == 0) {
					free(d->source);
					d->source = strdup(split[1] == 'r' ? "fashion-mnist:train"
					                                   : "fashion-mnist:test");
				}
				return rc;
			}
		}
		if (i < 0)
			return dm_error_set(err, DM_ERR_MISSING,
			                    "fashion-mnist:%s: no %s-images-idx3-ubyte[.gz] in "
			                    "DM_FASHION_MNIST_DIR=%s",
			                    split, stem, env);
	}
	return dm_error_set(err, DM_ERR_MISSING,
	                    "fashion-mnist:%s: data set not found: apt-get install "
	                    "dataset-fashion-mnist (or set DM_FASHION_MNIST_DIR)",
	                    split);
}

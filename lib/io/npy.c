/* npy.c - NumPy .npy files (the format is described in numpy's
 * doc/neps/nep-0001-npy-format.rst): magic "\x93NUMPY", version, header
 * length, a Python dict literal padded with spaces, then raw data. */
#include "io/npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char NPY_MAGIC[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
#define NPY_MAX_HEADER 65536

/* descr strings we accept (little-endian or byte-order-free). */
static const struct {
	const char *descr;
	int dtype;
} DESCRS[] = {
	{"<f4", DM_F32}, {"<f8", DM_F64}, {"<f2", DM_F16}, {"|u1", DM_U8}, {"<u1", DM_U8},
	{"|i1", DM_I8},  {"<i1", DM_I8},  {"<i4", DM_I32}, {"<i8", DM_I64},
};

/* The value after 'key': in the dict text, or NULL. */
static const char *dict_value(const char *dict, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof pat, "'%s'", key);
	const char *p = strstr(dict, pat);
	if (!p) {
		snprintf(pat, sizeof pat, "\"%s\"", key);
		p = strstr(dict, pat);
	}
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

static int parse_header(const char *path, const char *dict, int *dtype, int *rank,
                        int64_t *dims, dm_error *err)
{
	const char *d = dict_value(dict, "descr");
	const char *fo = dict_value(dict, "fortran_order");
	const char *sh = dict_value(dict, "shape");
	if (!d || !fo || !sh)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "%s: NPY header lacks descr, fortran_order or shape", path);
	if (*d == '[' || *d == '{')
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "%s: structured NPY arrays are not supported", path);
	if (*d != '\'' && *d != '"')
		return dm_error_set(err, DM_ERR_FORMAT, "%s: NPY descr is not a string", path);
	char q = *d++;
	const char *e = strchr(d, q);
	if (!e || e - d > 15)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: bad NPY descr", path);
	char descr[16];
	memcpy(descr, d, (size_t)(e - d));
	descr[e - d] = 0;
	if (strncmp(fo, "True", 4) == 0)
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "%s: fortran-order NPY is not supported (save with C order)",
		                    path);
	if (strncmp(fo, "False", 5) != 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: bad NPY fortran_order", path);
	*dtype = 0;
	for (size_t i = 0; i < sizeof DESCRS / sizeof *DESCRS; i++)
		if (strcmp(descr, DESCRS[i].descr) == 0)
			*dtype = DESCRS[i].dtype;
	if (!*dtype) {
		if (strchr(descr, 'O'))
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: NPY object arrays (pickle) are not supported", path);
		if (descr[0] == '>')
			return dm_error_set(err, DM_ERR_FORMAT,
			                    "%s: big-endian NPY dtype '%s' is not supported", path,
			                    descr);
		return dm_error_set(err, DM_ERR_FORMAT,
		                    "%s: NPY dtype '%s' is not supported (f32, f64, f16, u8, i8, "
		                    "i32, i64)",
		                    path, descr);
	}
	if (*sh != '(')
		return dm_error_set(err, DM_ERR_FORMAT, "%s: bad NPY shape", path);
	const char *p = sh + 1;
	*rank = 0;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ')')
			break;
		if (*p < '0' || *p > '9')
			return dm_error_set(err, DM_ERR_FORMAT, "%s: bad NPY shape", path);
		if (*rank >= DM_MAX_RANK)
			return dm_error_set(err, DM_ERR_LIMIT, "%s: NPY rank above %d", path,
			                    DM_MAX_RANK);
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (errno || v < 0 || v > DM_MAX_DIM)
			return dm_error_set(err, DM_ERR_LIMIT, "%s: NPY dimension out of range",
			                    path);
		dims[(*rank)++] = v;
		p = end;
		while (*p == 'L') /* Python 2 longs */
			p++;
	}
	return 0;
}

int dm_npy_read(const char *path, dm_frame *f, const char *name, dm_error *err)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s",
		                    path, strerror(errno));
	int rc = 0;
	char *dict = NULL;
	void *data = NULL;
	unsigned char pre[12];
	struct stat sb;
	uint64_t fsize = fstat(fileno(fp), &sb) == 0 ? (uint64_t)sb.st_size : 0;
	if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, NPY_MAGIC, 6) != 0) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: not an NPY file", path);
		goto out;
	}
	uint32_t hlen, off;
	if (pre[6] == 1) {
		hlen = pre[8] | (uint32_t)pre[9] << 8;
		off = 10;
	} else if (pre[6] == 2 || pre[6] == 3) {
		if (fread(pre + 10, 1, 2, fp) != 2) {
			rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated NPY header", path);
			goto out;
		}
		hlen = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
		       (uint32_t)pre[11] << 24;
		off = 12;
	} else {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: NPY version %d.%d is not supported",
		                  path, pre[6], pre[7]);
		goto out;
	}
	if (hlen > NPY_MAX_HEADER || (fsize && off + (uint64_t)hlen > fsize)) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: NPY header length %u is bad", path,
		                  hlen);
		goto out;
	}
	dict = malloc(hlen + 1);
	if (!dict) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	if (fread(dict, 1, hlen, fp) != hlen) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated NPY header", path);
		goto out;
	}
	dict[hlen] = 0;
	if (strlen(dict) != hlen) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: NUL byte in NPY header", path);
		goto out;
	}
	int dtype = 0, rank = 0;
	int64_t dims[DM_MAX_RANK];
	rc = parse_header(path, dict, &dtype, &rank, dims, err);
	if (rc)
		goto out;
	/* the size the header claims, checked against the file before allocating */
	uint64_t n = 1;
	for (int i = 0; i < rank; i++) {
		if (dims[i] && n > DM_MAX_TENSOR_BYTES / (uint64_t)dims[i]) {
			n = UINT64_MAX;
			break;
		}
		n *= (uint64_t)dims[i];
	}
	uint64_t esz = dm_dtype_size(dtype);
	uint64_t nbytes = n == UINT64_MAX ? UINT64_MAX : n * esz;
	uint64_t avail = fsize > off + (uint64_t)hlen ? fsize - off - hlen : 0;
	if (nbytes > DM_MAX_TENSOR_BYTES || (fsize && nbytes > avail)) {
		rc = nbytes > DM_MAX_TENSOR_BYTES
		             ? dm_error_set(err, DM_ERR_FORMAT, "%s: NPY header claims more data than "
		                            "the file holds (over 16 GiB)", path)
		             : dm_error_set(err, DM_ERR_FORMAT, "%s: NPY header claims more data than "
		                            "the file holds (%llu bytes, the file %llu)", path,
		                            (unsigned long long)nbytes, (unsigned long long)avail);
		goto out;
	}
	/* a pipe has no size to check against: the limit is what bounds it */
	if ((rc = dm_check_bytes(nbytes, path, "the NPY array", err)) < 0)
		goto out;
	data = malloc(nbytes ? nbytes : 1);
	if (!data) {
		rc = dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	if (fread(data, 1, nbytes, fp) != nbytes) {
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: truncated NPY data", path);
		goto out;
	}
	if (!dm_frame_add_owned(f, name, dtype, rank, dims, data, err)) {
		data = NULL; /* freed by dm_frame_add_owned */
		rc = err ? err->code : DM_ERR_ARG;
		goto out;
	}
	data = NULL;
out:
	free(dict);
	free(data);
	fclose(fp);
	return rc;
}

int dm_npy_write_header(FILE *f, const char *name, int dtype, int rank, const int64_t *dims,
                        dm_error *err)
{
	const char *descr = NULL;
	for (size_t i = 0; i < sizeof DESCRS / sizeof *DESCRS; i++)
		if (DESCRS[i].dtype == dtype) {
			descr = DESCRS[i].descr;
			break;
		}
	if (!descr || rank < 0 || rank > DM_MAX_RANK)
		return dm_error_set(err, DM_ERR_ARG, "%s: cannot write NPY of dtype %s, rank %d",
		                    name, dm_dtype_name(dtype) ? dm_dtype_name(dtype) : "?", rank);
	char hdr[DM_NPY_HEADER_BYTES + 1];
	char shape[256];
	int sl = 0;
	for (int i = 0; i < rank; i++)
		sl += snprintf(shape + sl, sizeof shape - (size_t)sl, "%lld,%s",
		               (long long)dims[i], i + 1 < rank ? " " : "");
	if (rank > 1) /* "(3, 4)" rather than "(3, 4,)"; one-tuples keep the comma */
		shape[--sl] = 0;
	int len = snprintf(hdr + 10, sizeof hdr - 10,
	                   "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr,
	                   shape);
	if (len < 0 || 10 + len + 1 > DM_NPY_HEADER_BYTES)
		return dm_error_set(err, DM_ERR_LIMIT, "%s: NPY shape too long for the header",
		                    name);
	memcpy(hdr, NPY_MAGIC, 6);
	hdr[6] = 1;
	hdr[7] = 0;
	hdr[8] = (char)(DM_NPY_HEADER_BYTES - 10);
	hdr[9] = 0;
	memset(hdr + 10 + len, ' ', (size_t)(DM_NPY_HEADER_BYTES - 10 - len - 1));
	hdr[DM_NPY_HEADER_BYTES - 1] = '\n';
	if (fwrite(hdr, 1, DM_NPY_HEADER_BYTES, f) != DM_NPY_HEADER_BYTES)
		return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO,
		                    "%s: write failed: %s", name, strerror(errno));
	return 0;
}

/* ---- the concatenating writer --------------------------------------- */

static int write_error(const char *name, dm_error *err)
{
	return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO, "%s: write error: %s",
	                    name, strerror(errno));
}

static int put(FILE *f, const char *name, const void *p, size_t n, dm_error *err)
{
	return n && fwrite(p, 1, n, f) != n ? write_error(name, err) : 0;
}

int dm_npy_writer_open(dm_npy_writer *w, FILE *f, const char *name, int seekable,
                       dm_error *err)
{
	memset(w, 0, sizeof *w);
	w->f = f;
	w->name = name;
	if (!seekable && !(w->stage = tmpfile()))
		return dm_error_set(err, DM_ERR_IO, "%s: cannot make a temporary file: %s", name,
		                    strerror(errno));
	return 0;
}

int dm_npy_writer_add(dm_npy_writer *w, const dm_tensor *t, dm_error *err)
{
	FILE *f = w->stage ? w->stage : w->f;
	int dtype = t->dtype == DM_BF16 ? DM_F32 : t->dtype;
	int rank = t->rank ? t->rank : 1;
	int64_t dims[DM_MAX_RANK] = {1};
	for (int i = 0; i < t->rank; i++)
		dims[i] = t->dims[i];
	if (!w->started) {
		w->dtype = dtype;
		w->rank = rank;
		memcpy(w->dims, dims, sizeof dims);
		w->started = 1;
		int rc = dm_npy_write_header(f, w->name, dtype, rank, dims, err);
		if (rc < 0)
			return rc;
	} else {
		int same = dtype == w->dtype && rank == w->rank;
		for (int i = 1; same && i < rank; i++)
			same = dims[i] == w->dims[i];
		if (!same) {
			char a[256], b[256];
			dm_tensor first = {.dtype = w->dtype, .rank = w->rank};
			memcpy(first.dims, w->dims, sizeof first.dims);
			return dm_error_set(err, DM_ERR_ARG, "tensor '%s' is %s %s, but the first was %s "
			                    "%s; NPY needs them alike but for the first axis", t->name, dm_dtype_name(t->dtype),
			                    dm_tensor_shape_str(t, a, sizeof a), dm_dtype_name(w->dtype),
			                    dm_tensor_shape_str(&first, b, sizeof b));
		}
		w->dims[0] += dims[0];
	}
	if (t->dtype != DM_BF16)
		return put(f, w->name, t->data, dm_tensor_nbytes(t), err);
	int64_t n = dm_tensor_numel(t);
	float buf[1024];
	for (int64_t i = 0; i < n; i += 1024) {
		int64_t k = n - i < 1024 ? n - i : 1024;
		for (int64_t j = 0; j < k; j++)
			buf[j] = (float)dm_tensor_get(t, i + j);
		int rc = put(f, w->name, buf, (size_t)k * sizeof *buf, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int dm_npy_writer_finish(dm_npy_writer *w, dm_error *err)
{
	FILE *f = w->stage ? w->stage : w->f;
	int rc = 0;
	if (fseek(f, 0, SEEK_SET) != 0)
		rc = dm_error_set(err, DM_ERR_IO, "%s: cannot seek back to the NPY header: %s", w->name,
		                  strerror(errno));
	if (!rc)
		rc = dm_npy_write_header(f, w->name, w->dtype, w->rank, w->dims, err);
	if (!rc && w->stage) {
		char buf[65536];
		size_t n;
		if (fseek(w->stage, 0, SEEK_SET) != 0)
			rc = dm_error_set(err, DM_ERR_IO, "%s: temporary file: %s", w->name, strerror(errno));
		while (!rc && (n = fread(buf, 1, sizeof buf, w->stage)) > 0)
			rc = put(w->f, w->name, buf, n, err);
	}
	dm_npy_writer_abort(w);
	return rc;
}

void dm_npy_writer_abort(dm_npy_writer *w)
{
	if (w->stage)
		fclose(w->stage);
	w->stage = NULL;
}

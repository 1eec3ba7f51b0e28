/* tensor.h - dtypes, tensors and frames: the in-memory side of the dm
 * tensor stream (io/stream.h reads and writes them).  A dm_frame owns its
 * tensors and their data.
 */
#ifndef DM_TENSOR_H
#define DM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"

/* dtype codes as stored in the stream (one byte). */
enum dm_dtype {
	DM_F32 = 1,
	DM_F64 = 2,
	DM_F16 = 3,
	DM_BF16 = 4,
	DM_U8 = 5,
	DM_I8 = 6,
	DM_I32 = 7,
	DM_I64 = 8,
};

/* Limits checked before anything is allocated (see dm-stream(5)). */
#define DM_MAX_RANK 8
#define DM_MAX_NAME 255                       /* bytes in a tensor name */
#define DM_MAX_TENSORS 4096                   /* tensors in one frame */
#define DM_MAX_DIM ((int64_t)1 << 40)         /* one dimension */
#define DM_MAX_TENSOR_BYTES ((uint64_t)1 << 34) /* 16 GiB decoded, per tensor */

/* ---- dtypes ---------------------------------------------------------- */

/* Bytes per element, or 0 for an unknown code. */
size_t dm_dtype_size(int dtype);
/* "f32", "u8", ... or NULL for an unknown code. */
const char *dm_dtype_name(int dtype);
/* Parse "f32" etc.; returns the code or 0. */
int dm_dtype_parse(const char *name);

float dm_f16_to_f32(uint16_t h);
uint16_t dm_f32_to_f16(float f);   /* round to nearest even */
float dm_bf16_to_f32(uint16_t h);
uint16_t dm_f32_to_bf16(float f);  /* round to nearest even */
/* ---- tensors and frames ---------------------------------------------- */

typedef struct dm_tensor {
	char name[DM_MAX_NAME + 1];
	int dtype;
	int rank;
	int64_t dims[DM_MAX_RANK];
	void *data;        /* numel * dtype_size bytes, little-endian, owned */
	int compress;      /* on write: 0 none, 1..9 zlib level */
} dm_tensor;

int64_t dm_tensor_numel(const dm_tensor *t);
size_t dm_tensor_nbytes(const dm_tensor *t);
/* Convert all elements to float (any dtype); out has numel floats. */
void dm_tensor_to_f32(const dm_tensor *t, float *out);
/* Element i as double. */
double dm_tensor_get(const dm_tensor *t, int64_t i);
/* Shape as "64x1x28x28" into buf. */
const char *dm_tensor_shape_str(const dm_tensor *t, char *buf, size_t n);

/* A frame: an ordered set of named tensors plus key=value tags.  Tensor
 * pointers stay valid until the tensor is removed or the frame freed. */
typedef struct dm_frame {
	dm_tensor **t;
	int n, cap;
	dm_kv tags;
} dm_frame;

void dm_frame_init(dm_frame *f);
void dm_frame_free(dm_frame *f);   /* frees tensors and tags; f reusable after init */
void dm_frame_clear(dm_frame *f);  /* same as free + init */
/* Add a zero-filled tensor; replaces an existing tensor of the same name
 * (keeping its position).  Returns NULL (and fills err) on a bad name,
 * dtype, rank, dims or on allocation failure. */
dm_tensor *dm_frame_add(dm_frame *f, const char *name, int dtype, int rank,
                        const int64_t *dims, dm_error *err);
/* Add a tensor whose data is already allocated with malloc; the frame takes
 * ownership of data (also on failure, when it is freed). */
dm_tensor *dm_frame_add_owned(dm_frame *f, const char *name, int dtype, int rank,
                              const int64_t *dims, void *data, dm_error *err);
dm_tensor *dm_frame_get(const dm_frame *f, const char *name);
int dm_frame_remove(dm_frame *f, const char *name); /* 1 removed, 0 absent */
/* Detach a tensor from the frame; the caller owns (and must free with
 * dm_tensor_free) the result. */
dm_tensor *dm_frame_take(dm_frame *f, const char *name);
void dm_tensor_free(dm_tensor *t);
/* Append src's tensors to dst's along the first axis (the batch): every
 * tensor of src must exist in dst with the same dtype, rank >= 1 and the
 * same dims past the first, and dst must hold no tensor src lacks; an
 * empty dst becomes a copy of src (tags included).  dst's tags are kept. */
int dm_frame_append(dm_frame *dst, const dm_frame *src, dm_error *err);
/* Make f's tensor of that name f32, in place (a tensor of another dtype is
 * replaced by its f32 conversion, keeping its position), and return it.
 * NULL with err filled when f has no such tensor or memory runs out. */
dm_tensor *dm_frame_make_f32(dm_frame *f, const char *name, dm_error *err);
/* Deep copy of src into dst (dst initialised, replaced). */
int dm_frame_copy(dm_frame *dst, const dm_frame *src, dm_error *err);
/* 1 when a and b hold the same tensors in the same order (names, dtypes,
 * shapes and bytes) and the same tags (in any order); else 0. */
int dm_frame_equal(const dm_frame *a, const dm_frame *b);

/* The most bytes one decoded input object may take (a tensor read from a
 * stream, a decoded PNG, IDX, NPY or CSV array): DM_MAX_BYTES from the
 * environment, a byte count with an optional k, M or G suffix (powers of
 * 1024), default DM_DEFAULT_MAX_BYTES (512 MiB), at most
 * DM_MAX_TENSOR_BYTES.  Readers check a size against it before they
 * allocate, so a small file claiming a huge size fails in a few bytes of
 * memory.  0 and *why NULL, or DM_ERR_ARG with *why a static sentence when
 * DM_MAX_BYTES is malformed (then the default is returned in *limit). */
#define DM_DEFAULT_MAX_BYTES ((uint64_t)512 << 20)
int dm_max_bytes(uint64_t *limit, const char **why);
/* 0 when n bytes of `what` fit the limit; else DM_ERR_LIMIT with one
 * sentence "NAME: WHAT needs N bytes, over the limit of M bytes (set
 * DM_MAX_BYTES to allow more)" (name: the file or stream). */
int dm_check_bytes(uint64_t n, const char *name, const char *what, dm_error *err);

/* A tensor name: 1..DM_MAX_NAME bytes, no control characters.  1 valid. */
int dm_tensor_name_valid(const char *name);
/* Check dtype, rank and dims against the limits; NULL and the decoded byte
 * count in *nbytes, or a static message.  Validity does not depend on the
 * order of the dimensions: any zero dimension makes an empty tensor. */
const char *dm_tensor_check_shape(int dtype, int rank, const int64_t *dims, uint64_t *nbytes);

#endif

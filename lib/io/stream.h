/* stream.h - the dm tensor stream: key=value lists, tensors, frames, and an
 * incremental reader and writer over any FILE (files, pipes, sockets).
 *
 * The byte layout is specified in man/man5/dm-stream.5; this header is the
 * C contract.  Ownership: a dm_frame owns its tensors and their data; a
 * dm_kv owns its strings.  The reader and writer never take ownership of the
 * FILE they are given (the caller closes it).
 */
#ifndef DM_STREAM_H
#define DM_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

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

#define DM_STREAM_MAJOR 1
#define DM_STREAM_MINOR 0

/* Limits a reader enforces before it allocates anything (see dm-stream(5)). */
#define DM_MAX_RANK 8
#define DM_MAX_NAME 255                       /* bytes in a tensor name */
#define DM_MAX_TENSORS 4096                   /* tensors in one frame */
#define DM_MAX_KV_BYTES (1u << 20)            /* header metadata or frame tags */
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

/* ---- key=value lists (stream metadata, frame tags) -------------------- */

/* Keys are 1..64 bytes of [A-Za-z0-9_.-]; values any bytes but '\n' and
 * NUL.  Order of insertion is kept; setting an existing key replaces its
 * value in place. */
typedef struct dm_kv {
	char **key;
	char **val;
	int n, cap;
} dm_kv;

void dm_kv_init(dm_kv *kv);
void dm_kv_free(dm_kv *kv);
int dm_kv_copy(dm_kv *dst, const dm_kv *src); /* dst must be initialised */
/* 0 ok; DM_ERR_ARG for an invalid key or value; DM_ERR_NOMEM. */
int dm_kv_set(dm_kv *kv, const char *key, const char *val);
int dm_kv_setf(dm_kv *kv, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dm_kv_del(dm_kv *kv, const char *key);
/* The value, or NULL when absent. */
const char *dm_kv_get(const dm_kv *kv, const char *key);
/* The value parsed as a number, or def when absent or not a number. */
double dm_kv_get_double(const dm_kv *kv, const char *key, double def);
int dm_kv_valid_key(const char *key);

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
/* Deep copy of src into dst (dst initialised, replaced). */
int dm_frame_copy(dm_frame *dst, const dm_frame *src, dm_error *err);

/* ---- reading --------------------------------------------------------- */

typedef struct dm_reader dm_reader;

/* Read the stream header from f.  name is used in error messages ("-" is
 * shown as "stdin").  On success *r owns its state but not f. */
int dm_reader_open(dm_reader **r, FILE *f, const char *name, dm_error *err);
/* Open path ("-" = stdin) and read its header; the reader owns the FILE. */
int dm_reader_open_path(dm_reader **r, const char *path, dm_error *err);
/* The stream's metadata. */
const dm_kv *dm_reader_meta(const dm_reader *r);
/* Read the next frame into out (cleared first).  Returns 1 when a frame was
 * read, 0 at a clean end of stream, negative on error (a truncated stream,
 * a bad CRC or field gives DM_ERR_FORMAT naming the byte offset). */
int dm_reader_next(dm_reader *r, dm_frame *out, dm_error *err);
/* Bytes consumed so far. */
uint64_t dm_reader_offset(const dm_reader *r);
/* Frames read so far. */
uint64_t dm_reader_frames(const dm_reader *r);
const char *dm_reader_name(const dm_reader *r);
void dm_reader_close(dm_reader *r);

/* ---- writing --------------------------------------------------------- */

typedef struct dm_writer dm_writer;

/* Write the header (magic, version, meta) to f.  meta may be NULL. */
int dm_writer_open(dm_writer **w, FILE *f, const char *name, const dm_kv *meta,
                   dm_error *err);
/* Write one frame.  Tensors with compress > 0 are stored zlib-compressed
 * (unless compression does not make them smaller).  A closed pipe gives
 * DM_ERR_EPIPE. */
int dm_writer_write(dm_writer *w, const dm_frame *f, dm_error *err);
/* Write the end record, flush, and free w (always freed). */
int dm_writer_close(dm_writer *w, dm_error *err);
/* Free w without writing the end record (the stream reads as truncated). */
void dm_writer_abort(dm_writer *w);
uint64_t dm_writer_frames(const dm_writer *w);

#endif

/* stream.h - the dm tensor stream: an incremental reader and writer of
 * key=value lists (core/kv.h) and frames of tensors (core/tensor.h) over
 * any FILE (files, pipes, sockets).
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
#include "core/kv.h"
#include "core/tensor.h"

#define DM_STREAM_MAJOR 1
#define DM_STREAM_MINOR 0

/* Serialised metadata or frame tags, at most (the tensor limits are in
 * core/tensor.h). */
#define DM_MAX_KV_BYTES (1u << 20)

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
/* Read to the end of the stream, keeping only its last frame in out
 * (cleared first): 1 with it, 0 when the stream has no frames, or the
 * first error (out then holds the last good frame). */
int dm_reader_last(dm_reader *r, dm_frame *out, dm_error *err);
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

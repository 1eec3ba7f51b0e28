/* safetensors.h - the safetensors weight format (huggingface/safetensors,
 * the format diffusers, stable-diffusion.cpp and most tools read):
 *
 *   u64 N (little-endian), N bytes of JSON, then the data buffer.
 *   The JSON is one object: "__metadata__" (optional) maps strings to
 *   strings; every other key is a tensor name mapping to
 *   {"dtype": "F32"|"F16"|"BF16"|"F64"|"I64"|"I32"|"I8"|"U8",
 *    "shape": [d0, ...], "data_offsets": [begin, end]}
 *   with offsets relative to the buffer, end - begin = the tensor's bytes
 *   (C order, little-endian), and the tensors covering the buffer exactly,
 *   without holes or overlaps.
 *
 * Writing pads the JSON with spaces to a multiple of 8 bytes (as the
 * reference implementation does) and stores the tensors in frame order.
 * Reading checks N against the file (and 100 MB, the reference's header
 * limit), every offset, dtype and shape, and each tensor against
 * DM_MAX_BYTES before allocating (core/tensor.h). */
#ifndef DM_SAFETENSORS_H
#define DM_SAFETENSORS_H

#include <stdio.h>

#include "core/error.h"
#include "core/kv.h"
#include "core/tensor.h"

/* Write meta (may be NULL: no "__metadata__") and every tensor of fr (f32,
 * f16, bf16, f64, i64, i32, i8, u8) to f.  name names f in errors.  0 or a
 * negative dm_error code (DM_ERR_IO on a failed write, DM_ERR_ARG for a
 * dtype safetensors lacks). */
int dm_safetensors_write(FILE *f, const char *name, const dm_kv *meta, const dm_frame *fr,
                         dm_error *err);

/* Read the safetensors file at path: its metadata into meta and its
 * tensors, in the order of their offsets, into fr (both initialised by the
 * caller).  0, or DM_ERR_FORMAT naming the file and what is wrong,
 * DM_ERR_LIMIT, DM_ERR_IO, DM_ERR_MISSING. */
int dm_safetensors_read(const char *path, dm_kv *meta, dm_frame *fr, dm_error *err);

/* Nonzero when the first 9 bytes b look like a safetensors file (a header
 * length then '{'). */
int dm_safetensors_sniff(const unsigned char *b, size_t n);

#endif

/* nifti.h - NIfTI-1 volumes (the single-file .nii format of medical
 * imaging tools, plain or gzip-compressed .nii.gz), read and written.
 *
 * Reading takes either byte order, the datatypes u8, i8, i16, u16, i32,
 * u32, f32 and f64, applies scl_slope/scl_inter, and checks every size in
 * the header before allocating: dim[0] in 1..7, each dim >= 1, bitpix
 * agreeing with the datatype, vox_offset >= 352, the voxel bytes at most
 * DM_NIFTI_MAX_BYTES, and (plain files) the file long enough to hold them;
 * a gzip stream that ends early is reported as truncated with the byte
 * count.  Writing stores f32 voxels, vox_offset 352, unit voxel sizes, no
 * extensions, no orientation (qform_code = sform_code = 0).
 */
#ifndef DM_NIFTI_H
#define DM_NIFTI_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/tensor.h"

#define DM_NIFTI_MAX_BYTES ((int64_t)1 << 31)

typedef struct dm_nifti {
	int rank;         /* dim[0]: 1..7 */
	int64_t dim[7];   /* dim[1..7]: x (fastest), y, z, t, ... */
	float *data;      /* prod(dim) values, x fastest, malloc'd */
} dm_nifti;

/* Read path (.nii or .nii.gz, told apart by the gzip magic).  0, or an
 * error naming path and what is wrong.  The caller frees v->data. */
int dm_nifti_read(const char *path, dm_nifti *v, dm_error *err);

/* Write v to f as a NIfTI-1 file, gzip-compressed when gz.  name is used
 * in messages. */
int dm_nifti_write(FILE *f, const char *name, const dm_nifti *v, int gz, dm_error *err);

/* Volumes out of stream frames (dm-encode -o x.nii.gz): each frame's
 * tensor is read as volumes whose last three axes are z, y, x (the
 * N x C x D x H x W of clips and volumes, or N x C x H x W: C slices), every
 * axis before them flattened into the fourth NIfTI axis; frames are joined
 * along it.  Values are converted to f32. */
typedef struct dm_nifti_writer {
	dm_nifti v;      /* the volumes so far (v.dim[3] of them) */
	int64_t cap;     /* volumes v.data has room for */
} dm_nifti_writer;

void dm_nifti_writer_init(dm_nifti_writer *w);
/* Add t's volumes.  DM_ERR_ARG when t has fewer than 3 axes or its last
 * three differ from the first frame's. */
int dm_nifti_writer_add(dm_nifti_writer *w, const dm_tensor *t, dm_error *err);
/* Write what was added (see dm_nifti_write) and free it. */
int dm_nifti_writer_finish(dm_nifti_writer *w, FILE *f, const char *name, int gz,
                           dm_error *err);
void dm_nifti_writer_free(dm_nifti_writer *w);

/* 1 when path ends in .nii, 2 in .nii.gz, else 0. */
int dm_nifti_name(const char *path);

#endif

/* image.c - PNG in and out with libpng's classic API (the simplified API
 * would gamma-convert 16-bit data; we want the stored sample values). */
#include "io/image.h"

#include "core/tensor.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libpng reports errors through a callback that must not return; we keep
 * its message and longjmp back to the caller. */
struct png_ctx {
	jmp_buf jmp;
	char msg[256];
};

static void on_png_error(png_structp png, png_const_charp msg)
{
	struct png_ctx *ctx = png_get_error_ptr(png);
	snprintf(ctx->msg, sizeof ctx->msg, "%s", msg);
	longjmp(ctx->jmp, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg; /* warnings (e.g. a bad ancillary chunk) are not fatal */
}

/* The largest image we accept: a bound from the file size (zlib cannot
 * expand data more than about 1032:1) so that a lying header never makes
 * us allocate gigabytes, plus an absolute cap. */
#define PNG_MAX_SIDE 65536
#define PNG_MAX_BYTES ((uint64_t)1 << 31)

struct png_read_state {
	FILE *f;
	uint64_t off; /* bytes libpng has read, for "truncated at byte N" */
	png_structp png;
	png_infop info;
	png_bytep pix;
	png_bytepp rows;
	float *out;
};

static void png_read_cleanup(struct png_read_state *s)
{
	if (s->png)
		png_destroy_read_struct(&s->png, s->info ? &s->info : NULL, NULL);
	free(s->pix);
	free(s->rows);
	free(s->out);
	if (s->f)
		fclose(s->f);
}

/* libpng's own reader says only "Read Error" for a short file. */
static void png_read_counted(png_structp png, png_bytep buf, png_size_t n)
{
	struct png_read_state *s = png_get_io_ptr(png);
	size_t got = fread(buf, 1, n, s->f);
	s->off += got;
	if (got < n) {
		char msg[96];
		snprintf(msg, sizeof msg, "%s at byte %llu (%zu more bytes expected)",
		         ferror(s->f) ? "read error" : "file truncated", (unsigned long long)s->off,
		         n - got);
		png_error(png, msg);
	}
}

/* The size IHDR claims, judged before libpng allocates anything: 0, or an
 * error naming the pixels. */
static int png_check_ihdr(const unsigned char *b, const char *path, dm_error *err)
{
	if (memcmp(b + 4, "IHDR", 4))
		return 0; /* libpng says what is wrong */
	uint32_t w = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
	uint32_t h = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
	if (w == 0 || h == 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: PNG header claims %ux%u pixels (empty)",
		                    path, w, h);
	if (w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
		return dm_error_set(err, DM_ERR_LIMIT, "%s: PNG header claims %ux%u pixels, over the "
		                    "limit of %d per side", path, w, h, PNG_MAX_SIDE);
	static const int channels[7] = {1, 0, 3, 3, 2, 0, 4}; /* by colour type */
	int ct = b[17] < 7 ? channels[b[17]] : 0;
	char what[64];
	snprintf(what, sizeof what, "a %ux%u PNG as f32", w, h);
	return ct ? dm_check_bytes((uint64_t)w * h * (uint64_t)ct * sizeof(float), path, what, err)
	          : 0;
}

int dm_png_read(const char *path, int *w, int *h, int *c, float **data, dm_error *err)
{
	/* volatile: modified between setjmp and a possible longjmp */
	struct png_read_state st = {0};
	struct png_read_state *volatile s = &st;
	struct png_ctx ctx;
	ctx.msg[0] = 0;
	*data = NULL;

	s->f = fopen(path, "rb");
	if (!s->f)
		return dm_error_set(err, errno == ENOENT ? DM_ERR_MISSING : DM_ERR_IO, "%s: %s",
		                    path, strerror(errno));
	struct stat sb;
	uint64_t fsize = fstat(fileno(s->f), &sb) == 0 ? (uint64_t)sb.st_size : 0;
	unsigned char sig[8 + 25];
	if (fread(sig, 1, 8, s->f) != 8 || png_sig_cmp(sig, 0, 8)) {
		png_read_cleanup(s);
		return dm_error_set(err, DM_ERR_FORMAT, "%s: not a PNG file", path);
	}
	/* IHDR (length, type, width, height, depth, colour type, ...) */
	int rc = 0;
	if (fread(sig + 8, 1, 25, s->f) == 25)
		rc = png_check_ihdr(sig + 8, path, err);
	if (rc == 0 && fseek(s->f, 8, SEEK_SET))
		rc = dm_error_set(err, DM_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
	if (rc < 0) {
		png_read_cleanup(s);
		return rc;
	}
	s->off = 8;
	s->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error,
	                                on_png_warning);
	if (s->png)
		s->info = png_create_info_struct(s->png);
	if (!s->png || !s->info) {
		png_read_cleanup(s);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	}
	if (setjmp(ctx.jmp)) {
		png_read_cleanup(s);
		return dm_error_set(err, DM_ERR_FORMAT, "%s: bad PNG: %s", path, ctx.msg);
	}
	png_set_user_limits(s->png, PNG_MAX_SIDE, PNG_MAX_SIDE);
	png_set_read_fn(s->png, s, png_read_counted);
	png_set_sig_bytes(s->png, 8);
	png_read_info(s->png, s->info);

	int ct = png_get_color_type(s->png, s->info);
	int bd = png_get_bit_depth(s->png, s->info);
	/* palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha channel */
	if (ct == PNG_COLOR_TYPE_PALETTE || bd < 8 ||
	    png_get_valid(s->png, s->info, PNG_INFO_tRNS))
		png_set_expand(s->png);
	png_set_interlace_handling(s->png);
	png_read_update_info(s->png, s->info);

	uint32_t pw = png_get_image_width(s->png, s->info);
	uint32_t ph = png_get_image_height(s->png, s->info);
	int ch = png_get_channels(s->png, s->info);
	int depth = png_get_bit_depth(s->png, s->info);
	size_t rowbytes = png_get_rowbytes(s->png, s->info);
	uint64_t total = (uint64_t)rowbytes * ph;
	if (ch < 1 || ch > 4 || (depth != 8 && depth != 16) ||
	    rowbytes != (size_t)pw * (size_t)ch * (size_t)(depth / 8)) {
		png_read_cleanup(s);
		return dm_error_set(err, DM_ERR_FORMAT, "%s: unsupported PNG layout", path);
	}
	if (total > PNG_MAX_BYTES || (fsize && total > fsize * 1100 + 65536)) {
		png_read_cleanup(s);
		return dm_error_set(err, DM_ERR_LIMIT,
		                    "%s: PNG header claims %ux%u pixels, too large for the file",
		                    path, pw, ph);
	}
	char what[64];
	snprintf(what, sizeof what, "a %ux%u PNG as f32", pw, ph);
	if ((rc = dm_check_bytes((uint64_t)pw * ph * (uint64_t)ch * sizeof(float), path, what,
	                         err)) < 0) {
		png_read_cleanup(s);
		return rc;
	}
	s->pix = malloc(total ? total : 1);
	s->rows = malloc(sizeof *s->rows * (ph ? ph : 1));
	s->out = malloc(sizeof(float) * (size_t)pw * ph * (size_t)ch + 1);
	if (!s->pix || !s->rows || !s->out) {
		png_read_cleanup(s);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", path);
	}
	for (uint32_t y = 0; y < ph; y++)
		s->rows[y] = s->pix + (size_t)y * rowbytes;
	png_read_image(s->png, s->rows);
	png_read_end(s->png, NULL);

	/* interleaved big-endian samples -> planar floats in [0, 1] */
	size_t plane = (size_t)pw * ph;
	float *out = s->out;
	for (size_t i = 0; i < plane; i++)
		for (int k = 0; k < ch; k++) {
			size_t j = i * (size_t)ch + (size_t)k;
			float v = depth == 8 ? s->pix[j] / 255.0f
			                     : (float)((s->pix[2 * j] << 8) | s->pix[2 * j + 1]) /
			                               65535.0f;
			out[(size_t)k * plane + i] = v;
		}
	*w = (int)pw;
	*h = (int)ph;
	*c = ch;
	*data = out;
	s->out = NULL; /* now the caller's */
	png_read_cleanup(s);
	return 0;
}

int dm_png_write(FILE *f, const char *name, int w, int h, int c, const uint8_t *pixels,
                 dm_error *err)
{
	static const int types[] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
	                            PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
	if (w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE || c < 1 || c > 4)
		return dm_error_set(err, DM_ERR_ARG, "%s: cannot write a %dx%d PNG of %d channels",
		                    name, w, h, c);
	struct png_ctx ctx;
	ctx.msg[0] = 0;
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_png_error,
	                                          on_png_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!png || !info) {
		png_destroy_write_struct(&png, info ? &info : NULL);
		return dm_error_set(err, DM_ERR_NOMEM, "%s: out of memory", name);
	}
	if (setjmp(ctx.jmp)) {
		png_destroy_write_struct(&png, &info);
		if (ferror(f))
			return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO,
			                    "%s: write failed: %s", name, strerror(errno));
		return dm_error_set(err, DM_ERR_IO, "%s: PNG write failed: %s", name, ctx.msg);
	}
	png_init_io(png, f);
	png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, types[c - 1],
	             PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	size_t stride = (size_t)w * (size_t)c;
	for (int y = 0; y < h; y++)
		png_write_row(png, (png_const_bytep)(pixels + (size_t)y * stride));
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	if (fflush(f) || ferror(f))
		return dm_error_set(err, errno == EPIPE ? DM_ERR_EPIPE : DM_ERR_IO,
		                    "%s: write failed: %s", name, strerror(errno));
	return 0;
}

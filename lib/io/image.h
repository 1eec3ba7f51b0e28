/* image.h - PNG in and out (libpng). */
#ifndef DM_IMAGE_H
#define DM_IMAGE_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

/* Read a PNG (8 or 16 bit; gray, gray+alpha, RGB, RGBA; palette images are
 * expanded to RGB(A)).  On success *data is a malloc'd planar float array
 * of c*h*w values in [0, 1] (channel-major: all of channel 0, then 1...),
 * *c is 1, 2, 3 or 4.  Errors name the path ("x.png: not a PNG file"). */
int dm_png_read(const char *path, int *w, int *h, int *c, float **data, dm_error *err);

/* Write an 8-bit PNG of c (1..4) interleaved channels to f; name is used in
 * messages. */
int dm_png_write(FILE *f, const char *name, int w, int h, int c, const uint8_t *pixels,
                 dm_error *err);

#endif

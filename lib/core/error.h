/* error.h - the one error type of libdm.
 *
 * Every fallible libdm function returns an int status (0 ok, negative error)
 * and fills a dm_error with one human sentence that names the file or stream
 * and, where it applies, the byte offset.  Tools print it as
 * "dm-<tool>: <message>" and exit 1.  lib/ never calls exit().
 */
#ifndef DM_ERROR_H
#define DM_ERROR_H

#include <stdarg.h>

enum {
	DM_OK = 0,
	DM_ERR_IO = -1,      /* read/write failed (disk, pipe) */
	DM_ERR_FORMAT = -2,  /* input is malformed */
	DM_ERR_NOMEM = -3,   /* allocation failed */
	DM_ERR_ARG = -4,     /* bad argument from the caller/user */
	DM_ERR_EPIPE = -5,   /* the reader downstream closed the pipe */
	DM_ERR_LIMIT = -6,   /* a size exceeds a documented limit */
	DM_ERR_MISSING = -7, /* a file/package/resource is absent */
};

typedef struct dm_error {
	int code;
	char msg[768];
} dm_error;

/* Set err (if not NULL) to code and a printf-style message; returns code so
 * that callers can write `return dm_error_set(err, DM_ERR_IO, "...")`. */
int dm_error_set(dm_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int dm_error_setv(dm_error *err, int code, const char *fmt, va_list ap);
void dm_error_clear(dm_error *err);

/* The library version string, e.g. "0.1.0". */
const char *dm_version(void);

#endif

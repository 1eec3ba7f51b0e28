#include "core/error.h"

#include <stdio.h>
#include <string.h>

#ifndef DM_VERSION
#define DM_VERSION "0.0.0"
#endif

int dm_error_setv(dm_error *err, int code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	}
	return code;
}

int dm_error_set(dm_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dm_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void dm_error_clear(dm_error *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

const char *dm_version(void) { return DM_VERSION; }

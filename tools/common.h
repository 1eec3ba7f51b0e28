/* common.h - what every dm tool does the same way: the program name in
 * messages, --help/--version, errors as one line and exit 1, a quiet exit
 * when the reader downstream closes the pipe, and removal of temporary
 * output files when killed.  Linked into each tool (not part of libdm,
 * which never exits). */
#ifndef DM_TOOLS_COMMON_H
#define DM_TOOLS_COMMON_H

#include "core/error.h"

/* Call first: remembers the program name, ignores SIGPIPE (writes then
 * fail with EPIPE, which dm_tool_check turns into a quiet exit), and
 * installs SIGINT/SIGTERM/SIGHUP handlers that remove pending temporaries. */
void dm_tool_init(const char *prog);
const char *dm_tool_name(void);

/* Print "prog: message" and exit 1. */
void dm_tool_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* If rc < 0: exit 0 quietly for DM_ERR_EPIPE, else print err->msg and exit 1. */
void dm_tool_check(int rc, const dm_error *err);
/* Print "prog version" for --version and exit 0. */
void dm_tool_version(void) __attribute__((noreturn));

/* Parse helpers: die with a clear message naming the option on bad input. */
long long dm_tool_int(const char *opt, const char *s, long long lo, long long hi);
double dm_tool_double(const char *opt, const char *s);
/* Threads: apply --threads N (0 = leave the OpenMP default). */
void dm_tool_threads(int n);

#endif

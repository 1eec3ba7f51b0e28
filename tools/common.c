#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/outfile.h"

static const char *prog = "dm";

static void on_signal(int sig)
{
	const char *names[16];
	int n = dm_outfile_pending(names, 16);
	for (int i = 0; i < n; i++)
		unlink(names[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

void dm_tool_init(const char *p)
{
	const char *s = strrchr(p, '/');
	prog = s ? s + 1 : p;
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

const char *dm_tool_name(void) { return prog; }

void dm_tool_die(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void dm_tool_check(int rc, const dm_error *err)
{
	if (rc >= 0)
		return;
	if (rc == DM_ERR_EPIPE || (err && err->code == DM_ERR_EPIPE))
		exit(0);
	dm_tool_die("%s", err && err->msg[0] ? err->msg : "unknown error");
}

void dm_tool_version(void)
{
	printf("%s (dm) %s\n", prog, dm_version());
	exit(0);
}

long long dm_tool_int(const char *opt, const char *s, long long lo, long long hi)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		dm_tool_die("%s: '%s' is not an integer in %lld..%lld", opt, s, lo, hi);
	return v;
}

double dm_tool_double(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end)
		dm_tool_die("%s: '%s' is not a number", opt, s);
	return v;
}

void dm_tool_threads(int n)
{
#ifdef _OPENMP
	if (n > 0)
		omp_set_num_threads(n);
#else
	(void)n;
#endif
}

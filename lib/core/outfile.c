#include "core/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The temporaries that are open, so that a tool's signal handler can unlink
 * them (this is the one piece of global mutable state, and it only lists
 * names owned by live dm_outfile objects). */
#define MAX_PENDING 16
static const char *volatile pending[MAX_PENDING];

static void pending_add(const char *p)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (!pending[i]) {
			pending[i] = p;
			return;
		}
}

static void pending_del(const char *p)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i] == p)
			pending[i] = NULL;
}

int dm_outfile_pending(const char **names, int max)
{
	int n = 0;
	for (int i = 0; i < MAX_PENDING && n < max; i++)
		if (pending[i])
			names[n++] = pending[i];
	return n;
}

int dm_outfile_open(dm_outfile *o, const char *path, dm_error *err)
{
	memset(o, 0, sizeof *o);
	if (strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	size_t n = strlen(path) + 32;
	o->path = strdup(path);
	o->tmp = malloc(n);
	if (!o->path || !o->tmp) {
		free(o->path);
		free(o->tmp);
		memset(o, 0, sizeof *o);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory");
	}
	snprintf(o->tmp, n, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		dm_error_set(err, DM_ERR_IO, "%s: cannot create: %s", path, strerror(e));
		free(o->path);
		free(o->tmp);
		memset(o, 0, sizeof *o);
		return DM_ERR_IO;
	}
	pending_add(o->tmp);
	return 0;
}

int dm_outfile_commit(dm_outfile *o, dm_error *err)
{
	if (!o->f)
		return 0;
	if (!o->tmp) { /* stdout */
		int rc = 0;
		if (fflush(o->f) != 0)
			rc = errno == EPIPE ? dm_error_set(err, DM_ERR_EPIPE, "stdout: broken pipe")
			                    : dm_error_set(err, DM_ERR_IO, "stdout: write error: %s", strerror(errno));
		memset(o, 0, sizeof *o);
		return rc;
	}
	int rc = 0;
	if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
		rc = dm_error_set(err, DM_ERR_IO, "%s: write error: %s", o->path, strerror(errno));
	if (fclose(o->f) != 0 && !rc)
		rc = dm_error_set(err, DM_ERR_IO, "%s: write error: %s", o->path, strerror(errno));
	o->f = NULL;
	if (!rc && rename(o->tmp, o->path) != 0)
		rc = dm_error_set(err, DM_ERR_IO, "%s: cannot rename into place: %s", o->path, strerror(errno));
	if (rc)
		unlink(o->tmp);
	else {
		/* make the rename itself durable */
		char *d = strdup(o->path);
		if (d) {
			int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY);
			if (dfd >= 0) {
				fsync(dfd);
				close(dfd);
			}
			free(d);
		}
	}
	pending_del(o->tmp);
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
	return rc;
}

void dm_outfile_abort(dm_outfile *o)
{
	if (o->tmp) {
		if (o->f)
			fclose(o->f);
		unlink(o->tmp);
		pending_del(o->tmp);
	}
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
}

int dm_outfile_numbered(const char *pattern)
{
	int n = 0;
	for (const char *p = pattern; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
		if (*p != 'd')
			return -1;
		n++;
	}
	return n;
}

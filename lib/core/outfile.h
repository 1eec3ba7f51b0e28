/* outfile.h - atomic output files.
 *
 * Output goes to a temporary file beside the target ("<path>.tmp.<pid>")
 * which is fsync'd and renamed over the target only on commit, so a failure
 * or a kill never leaves a half-written file nor destroys the previous one.
 * The path "-" means stdout (no temporary, no rename).
 */
#ifndef DM_OUTFILE_H
#define DM_OUTFILE_H

#include <stdio.h>

#include "core/error.h"

typedef struct dm_outfile {
	FILE *f;      /* write here */
	char *path;   /* final name (NULL for stdout) */
	char *tmp;    /* temporary name (NULL for stdout) */
} dm_outfile;

/* Open; 0 ok or a negative dm error naming the path. */
int dm_outfile_open(dm_outfile *o, const char *path, dm_error *err);
/* Flush, fsync, close and rename into place.  On failure the temporary is
 * removed and the target left as it was.  o is reset in both cases. */
int dm_outfile_commit(dm_outfile *o, dm_error *err);
/* Close and remove the temporary (no-op for stdout or a reset o). */
void dm_outfile_abort(dm_outfile *o);
/* Temporary file names currently open (for a signal handler that must
 * unlink them): returns the count and fills names (up to max). Async-signal
 * safe to read. */
int dm_outfile_pending(const char **names, int max);

/* How many %d (%0Nd, %Nd) an output name pattern holds (%% is a percent
 * sign), or -1 when it holds another conversion, which printf-style
 * numbering must not meet. */
int dm_outfile_numbered(const char *pattern);

#endif

/* dm-paste - join streams frame by frame along the batch axis, like paste(1)
 * joins lines: frame k of the output holds the samples of frame k of every
 * input, in the order of the arguments.  The way back together for runs
 * split by seed range (dm-noise --first-index), e.g. the trajectories of 4
 * ranges sampled in parallel made into one video. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/outfile.h"
#include "io/stream.h"
#include "cli.h"

static const dm_cli cli = {
	"[OPTION]... FILE...",
	"Join dm streams frame by frame along the first (batch) axis: output frame k\n"
	"holds the tensors of frame k of every FILE (\"-\" is stdin), concatenated in\n"
	"argument order.  Every input must have the same number of frames, and\n"
	"frame k of every input the same tensor names, dtypes and shapes past the\n"
	"first axis.  The header metadata and frame tags are the first input's.",
	NULL,
	DM_CLI_OUTPUT | DM_CLI_COMPRESS,
	"Example: four seed ranges sampled in parallel, then one video:\n"
	"  for i in 0 1 2 3; do dm-noise --prior --shape 16x1x28x28 --first-index $((16*i)) \\\n"
	"    | dm-denoise -m model.dmt --every 10 > part$i.dm & done; wait\n"
	"  dm-paste part0.dm part1.dm part2.dm part3.dm | dm-encode --grid 8x8 -o all.mp4\n",
};

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	dm_cli_common co;
	if (dm_cli_next(&cli, argc, argv, &co) != -1)
		dm_tool_die("try --help");
	const char *output = co.output;
	int n = argc - optind;
	if (n < 1)
		dm_tool_die("no input: give one or more stream files (see --help)");
	dm_error err;
	dm_reader **in = calloc((size_t)n, sizeof *in);
	if (!in)
		dm_tool_die("out of memory");
	int nstdin = 0;
	for (int i = 0; i < n; i++) {
		nstdin += strcmp(argv[optind + i], "-") == 0;
		if (nstdin > 1)
			dm_tool_die("stdin (-) can be given only once");
		dm_tool_check(dm_reader_open_path(&in[i], argv[optind + i], &err), &err);
	}

	dm_outfile out;
	dm_tool_check(dm_outfile_open(&out, output, &err), &err);
	dm_writer *w;
	int rc = dm_writer_open(&w, out.f, output, dm_reader_meta(in[0]), &err);
	if (rc) {
		dm_outfile_abort(&out);
		dm_tool_check(rc, &err);
	}
	dm_frame acc, f;
	dm_frame_init(&acc);
	dm_frame_init(&f);
	for (;;) {
		int ended = 0;
		dm_frame_clear(&acc);
		for (int i = 0; i < n && !rc; i++) {
			int r = dm_reader_next(in[i], &f, &err);
			if (r < 0) {
				rc = r;
				break;
			}
			if (r == 0) {
				ended++;
				continue;
			}
			if (ended) /* an earlier input already ended */
				break;
			rc = dm_frame_append(&acc, &f, &err);
			if (rc) {
				char why[sizeof err.msg];
				snprintf(why, sizeof why, "%s", err.msg);
				dm_error_set(&err, rc, "%s: frame %llu: %s", dm_reader_name(in[i]),
				             (unsigned long long)(dm_reader_frames(in[i]) - 1), why);
			}
		}
		if (rc)
			break;
		if (ended == n)
			break;
		if (ended) {
			rc = dm_error_set(&err, DM_ERR_FORMAT, "the inputs have different numbers of frames (some end after %llu)",
			                  (unsigned long long)dm_writer_frames(w));
			break;
		}
		for (int i = 0; i < acc.n; i++)
			acc.t[i]->compress = co.compress;
		if ((rc = dm_writer_write(w, &acc, &err)) < 0)
			break;
	}
	dm_frame_free(&acc);
	dm_frame_free(&f);
	if (!rc)
		rc = dm_writer_close(w, &err);
	else
		dm_writer_abort(w);
	for (int i = 0; i < n; i++)
		dm_reader_close(in[i]);
	free(in);
	if (rc) {
		dm_outfile_abort(&out);
		dm_tool_check(rc, &err);
	}
	dm_tool_check(dm_outfile_commit(&out, &err), &err);
	return 0;
}

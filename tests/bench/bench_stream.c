/* bench_stream.c - is the stream ever what a pipeline waits for?
 *
 * Writes a stream of ~300 MB (f32 frames of 64x1x28x28 plus label and t,
 * uncompressed) to a file in $TMPDIR, timing the writer; then, in the same
 * run, pushes the file through a real pipe twice:
 *     cat FILE | cat > /dev/null          (the baseline: what a pipe costs)
 *     cat FILE | dm-info --quiet          (read + validate every CRC)
 * and prints MB/s of each and their ratio.  Target: ratio >= 0.5.
 * Each pipeline runs BENCH_REPS times (default 3); the best time counts.
 * BENCH_STREAM_MB sets the size. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/stream.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double best_of(const char *cmd, int reps)
{
	double best = 1e30;
	for (int i = 0; i < reps; i++) {
		double t0 = now();
		if (system(cmd) != 0) {
			fprintf(stderr, "bench_stream: failed: %s\n", cmd);
			return -1;
		}
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	return best;
}

int main(void)
{
	const char *build = getenv("DM_BUILD") ? getenv("DM_BUILD") : "build";
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int mb = getenv("BENCH_STREAM_MB") ? atoi(getenv("BENCH_STREAM_MB")) : 300;
	int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 3;
	char info[4096], path[4096], cmd[8192];
	snprintf(info, sizeof info, "%s/bin/dm-info", build);
	if (access(info, X_OK) != 0) {
		printf("skip bench_stream: %s not built\n", info);
		return 0;
	}
	snprintf(path, sizeof path, "%s/dm-bench-stream-XXXXXX", tmp);
	int fd = mkstemp(path);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	FILE *f = fdopen(fd, "wb");

	/* one frame: x 64x1x28x28 f32 in [-1,1], label i32 64, t f32 64 */
	dm_error err;
	dm_frame fr;
	dm_frame_init(&fr);
	int64_t xd[4] = {64, 1, 28, 28}, nd[1] = {64};
	dm_tensor *x = dm_frame_add(&fr, "x", DM_F32, 4, xd, &err);
	dm_tensor *lab = dm_frame_add(&fr, "label", DM_I32, 1, nd, &err);
	dm_tensor *t = dm_frame_add(&fr, "t", DM_F32, 1, nd, &err);
	float *xv = x->data, *tv = t->data;
	int32_t *lv = lab->data;
	uint32_t s = 12345;
	for (int64_t i = 0; i < dm_tensor_numel(x); i++) {
		s = s * 1664525u + 1013904223u;
		xv[i] = (float)(s >> 8) / 8388608.0f - 1.0f;
	}
	for (int i = 0; i < 64; i++) {
		lv[i] = i % 10;
		tv[i] = (float)(i * 15);
	}
	size_t frame_bytes = dm_tensor_nbytes(x) + dm_tensor_nbytes(lab) + dm_tensor_nbytes(t);
	long nframes = (long)((double)mb * 1e6 / (double)frame_bytes);

	dm_kv meta;
	dm_kv_init(&meta);
	dm_kv_set(&meta, "tool", "bench_stream");
	dm_writer *w;
	double t0 = now();
	int rc = dm_writer_open(&w, f, path, &meta, &err);
	for (long i = 0; i < nframes && rc == 0; i++) {
		dm_kv_setf(&fr.tags, "index", "%ld", i * 64);
		rc = dm_writer_write(w, &fr, &err);
	}
	if (rc == 0)
		rc = dm_writer_close(w, &err);
	if (rc == 0 && fclose(f) != 0)
		rc = DM_ERR_IO;
	double twrite = now() - t0;
	dm_frame_free(&fr);
	dm_kv_free(&meta);
	if (rc) {
		fprintf(stderr, "bench_stream: %s\n", err.msg);
		unlink(path);
		return 1;
	}
	FILE *g = fopen(path, "rb");
	fseek(g, 0, SEEK_END);
	double bytes = (double)ftell(g);
	fclose(g);

	snprintf(cmd, sizeof cmd, "cat '%s' | cat > /dev/null", path);
	double tcat = best_of(cmd, reps);
	snprintf(cmd, sizeof cmd, "cat '%s' | '%s' --quiet", path, info);
	double tinfo = best_of(cmd, reps);
	unlink(path);
	if (tcat < 0 || tinfo < 0)
		return 1;

	double mbs_write = bytes / 1e6 / twrite;
	double mbs_cat = bytes / 1e6 / tcat, mbs_info = bytes / 1e6 / tinfo;
	printf("stream: %.0f MB, %ld frames of 64x1x28x28 f32 + label + t, uncompressed\n",
	       bytes / 1e6, nframes);
	printf("stream write (dm_writer to file):      %8.0f MB/s\n", mbs_write);
	printf("cat | cat > /dev/null (baseline):      %8.0f MB/s\n", mbs_cat);
	printf("cat | dm-info --quiet (CRCs checked):  %8.0f MB/s\n", mbs_info);
	printf("ratio dm-info/cat: %.2f (target >= 0.50) %s\n", mbs_info / mbs_cat,
	       mbs_info / mbs_cat >= 0.5 ? "ok" : "MISSED");
	return 0;
}

/* cli.h - what every dm tool does the same way: the options they share
 * (one table, the same letters in every tool), option parsing and --help
 * generated from the tables, enumerations parsed and listed from one name
 * table each, the program name in messages, errors as one line and exit 1,
 * a quiet exit when the reader downstream closes the pipe, and removal of
 * every pending temporary output file on any exit.  Linked into each tool
 * (not part of libdm, which never exits).
 *
 * A tool declares its own options as a table of dm_cli_opt and which of the
 * shared ones it has (DM_CLI_SEED | ...), then loops over dm_cli_next:
 *
 *     static const dm_cli_opt opts[] = {
 *             {'b', "batch", "N", "samples per frame (default 64)"},
 *             {O_FLIP, "flip", NULL, "random horizontal flips"},
 *             {0},
 *     };
 *     static const dm_cli cli = {"[OPTION]... SOURCE...", "Read data.", opts,
 *                                DM_CLI_SEED | DM_CLI_OUTPUT, NULL};
 *     dm_cli_common c;
 *     int k;
 *     while ((k = dm_cli_next(&cli, argc, argv, &c)) != -1)
 *             switch (k) { case 'b': ... optarg ... }
 *
 * An entry of the tool's table with the key of a shared option the tool has
 * words that option's --help line its own way (the parsing stays shared).
 *
 * The shared letters:  -s --seed S   -j --threads N   -o --output FILE
 *                      -z --compress L   -q --quiet   -h --help   -V --version
 */
#ifndef DM_TOOLS_CLI_H
#define DM_TOOLS_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>

#include "core/error.h"
#include "core/outfile.h"

struct dm_kv;
struct dm_schedule;
struct dm_writer;

/* ---- enumerations ---------------------------------------------------- */

/* The names of an enumeration, value v in [first, first + n): either a
 * table (names[v - first]) or lib's name function (name(v)).  parse, when
 * set, is lib's parser (it may accept aliases); a result outside the range
 * means unknown.  One of these per enumeration drives parsing, the error
 * message and the --help line. */
typedef struct dm_cli_enum {
	const char *const *names;
	const char *(*name)(int);
	int first, n;
	int (*parse)(const char *);
} dm_cli_enum;

/* The value named s, or die "OPT: unknown 'S' (one of: a, b, c)". */
int dm_cli_enum_parse(const char *opt, const char *s, const dm_cli_enum *e);
/* The value the extension of path names (case-insensitive: "a.PNG" is png),
 * or first - 1 when it has none or names no value. */
int dm_cli_enum_ext(const char *path, const dm_cli_enum *e);
/* Name of value v (NULL when out of range). */
const char *dm_cli_enum_name(const dm_cli_enum *e, int v);

/* ---- option tables --------------------------------------------------- */

/* Keys of long-only options start here (a tool numbers its own from it). */
#define DM_CLI_LONG 256

typedef struct dm_cli_opt {
	int key;                    /* short letter, or DM_CLI_LONG + n for long only */
	const char *name;           /* long name */
	const char *arg;            /* argument placeholder ("N"); NULL for a flag */
	const char *help;           /* one or more lines ('\n'); NULL: a hidden alias */
	const dm_cli_enum *values;  /* set: --help lists the names */
} dm_cli_opt;

/* The shared options a tool has. */
enum {
	DM_CLI_SEED = 1 << 0,     /* -s, --seed S */
	DM_CLI_THREADS = 1 << 1,  /* -j, --threads N */
	DM_CLI_OUTPUT = 1 << 2,   /* -o, --output FILE */
	DM_CLI_COMPRESS = 1 << 3, /* -z, --compress L */
	DM_CLI_QUIET = 1 << 4,    /* -q, --quiet */
};

typedef struct dm_cli {
	const char *synopsis;   /* after the program name: "[OPTION]... [FILE]" */
	const char *about;      /* what the tool does, before the options */
	const dm_cli_opt *opts; /* the tool's own options, ended by {0} */
	unsigned common;        /* DM_CLI_* the tool has (help and version always) */
	const char *more;       /* after the options (examples), or NULL */
} dm_cli;

/* The values of the shared options (defaults: seed 0, threads 0 = all
 * cores, output "-", compress 0, quiet 0). */
typedef struct dm_cli_common {
	uint64_t seed;
	int threads;
	const char *output;
	int compress;
	int quiet;
	int seed_given, output_given;
} dm_cli_common;

/* The next option of the tool's own table: returns its key with optarg set.
 * Handles the shared options itself (into *c, set to the defaults on the
 * first call), --help (prints the generated text, exit 0), --version, and
 * bad options (one line, exit 1).  Returns -1 at the end, with optind at
 * the first operand and --threads applied. */
int dm_cli_next(const dm_cli *cli, int argc, char **argv, dm_cli_common *c);
/* The long name of the tool's option `key` ("steps" for 'n'), "?" if none. */
const char *dm_cli_opt_name(const dm_cli *cli, int key);
/* Print the generated --help text on stdout. */
void dm_cli_usage(const dm_cli *cli);

/* ---- messages and exits ---------------------------------------------- */

/* Call first: remembers the program name, ignores SIGPIPE (writes then
 * fail with EPIPE, which dm_tool_check turns into a quiet exit), and makes
 * every exit - exit(), SIGINT, SIGTERM, SIGHUP - remove the temporaries of
 * the output files still open (core/outfile). */
void dm_tool_init(const char *prog);
const char *dm_tool_name(void);
/* From now on SIGINT and SIGTERM set the returned flag (to the signal
 * number) instead of exiting: for a tool that finishes what it does first
 * (dm-train saves its checkpoint).  Reads they interrupt fail with EINTR. */
volatile sig_atomic_t *dm_tool_stop_on_signal(void);

/* Print "prog: message" and exit 1. */
void dm_tool_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* If rc < 0: exit 0 quietly for DM_ERR_EPIPE, else print err->msg and exit 1. */
void dm_tool_check(int rc, const dm_error *err);
/* Print "prog version" for --version and exit 0. */
void dm_tool_version(void) __attribute__((noreturn));

/* Parse helpers: die with a clear message naming the option on bad input. */
long long dm_tool_int(const char *opt, const char *s, long long lo, long long hi);
double dm_tool_double(const char *opt, const char *s);
/* --max-bytes N: the same as DM_MAX_BYTES=N (core/tensor.h) for this run;
 * a malformed N is one line and exit 1. */
void dm_tool_max_bytes(const char *arg);
/* Threads: apply --threads N (0 = leave the OpenMP default). */
void dm_tool_threads(int n);

/* ---- values several tools parse the same way --------------------------- */

/* A list of t: "0,100,250" or START:STOP:STEP (STOP excluded), mixed by
 * commas.  Returns the count (>= 1) and a malloc'd array in *list, or dies
 * naming opt. */
int dm_cli_tlist(const char *opt, const char *arg, double **list);
/* A shape "64x1x28x28" or "NxD": at least two positive sizes, at most
 * DM_MAX_RANK.  Returns the rank, or dies naming opt. */
int dm_cli_shape(const char *opt, const char *arg, int64_t *shape);
/* "AsepB" as two numbers (--range LO:HI, --grid RxC), or dies naming opt. */
void dm_cli_pair(const char *opt, const char *s, char sep, double *a, double *b);
/* A number in [lo, hi], else dies naming opt. */
double dm_cli_double_in(const char *opt, const char *s, double lo, double hi);
/* "LO:HI" with LO < HI, else dies naming opt. */
void dm_cli_interval(const char *opt, const char *s, double *lo, double *hi);
/* "AxB" as two whole numbers in 1..max, or dies naming opt. */
void dm_cli_dims(const char *opt, const char *s, int *a, int *b, int max);
/* "RRGGBB" or "#RRGGBB" as three bytes, or dies naming opt. */
void dm_cli_rgb(const char *opt, const char *s, uint8_t rgb[3]);
/* A numbered output name holds exactly one %d, %0Nd or %Nd (and %% for a
 * literal percent sign): 1 if numbered, 0 if it has no conversion; dies on
 * anything else. */
int dm_cli_numbered(const char *path);
/* "NAME" or "NAME:REST": copies NAME into name (size bytes) and returns
 * REST, or NULL when there is no colon. */
const char *dm_cli_split(const char *arg, char *name, size_t size);

/* The frame tag key as an integer in 0..2^44 (dm-load's index, stride,
 * epoch), def when absent; dies "STREAM: frame N: tag K=V is not ..." when
 * it is there but not such an integer (frame: the reader's frame count). */
uint64_t dm_cli_tag_u64(const struct dm_kv *tags, const char *key, uint64_t def,
                        const char *stream, uint64_t frame);

/* ---- progress ------------------------------------------------------- */

/* Seconds on the monotonic clock. */
double dm_cli_now(void);
/* "\rUNIT STEP[/TOTAL]  WHAT  RATE it/s[  ETA h:mm:ss]" on stderr, the rest
 * of the line cleared; final ends it with a newline.  total 0: unknown. */
void dm_cli_progress(const char *unit, long step, long total, const char *what, double rate,
                     int final);

/* ---- output streams -------------------------------------------------- */

/* A dm stream written to path ("-": stdout) through a temporary renamed into
 * place at the end (core/outfile): dm_cli_out_open writes the header meta
 * (name names the stream in messages) and returns the writer, or dies; any
 * exit before dm_cli_out_close removes the temporary. */
typedef struct dm_cli_out {
	dm_outfile f;
	struct dm_writer *w;
} dm_cli_out;

struct dm_writer *dm_cli_out_open(dm_cli_out *o, const char *path, const char *name,
                                  const struct dm_kv *meta);
/* Writes the end record and renames the file into place, or dies. */
void dm_cli_out_close(dm_cli_out *o);

/* ---- schedule options ------------------------------------------------ */

/* The options that build a noise schedule: -S names the kind; the others
 * set its parameters, applied once the kind is known (whatever the order
 * on the command line).  A tool lists the ones it has in its table under
 * these keys and passes every option to dm_cli_schedule_opt. */
enum {
	DM_CLI_SCHED_PARAM = DM_CLI_LONG + 200, /* keys DM_CLI_BETA_START.. */
	DM_CLI_BETA_START = DM_CLI_SCHED_PARAM, DM_CLI_BETA_END, DM_CLI_COSINE_S, DM_CLI_MAX_BETA,
	DM_CLI_BETA_MIN, DM_CLI_BETA_MAX, DM_CLI_SIGMA_MIN, DM_CLI_SIGMA_MAX, DM_CLI_RHO,
	DM_CLI_T_EPS, DM_CLI_SCHED_END, /* parameters above */
	DM_CLI_ZERO_SNR = DM_CLI_SCHED_END, /* --zero-snr */
};

/* The names of the schedule kinds (-S, --schedule). */
extern const struct dm_cli_enum dm_cli_schedules;

typedef struct dm_cli_schedule {
	int kind;       /* 0 until -S is given */
	long long T;    /* -T, --timesteps; -1 unset */
	int zero_snr;
	int given;      /* any schedule option given */
	const char *param[DM_CLI_SCHED_END - DM_CLI_SCHED_PARAM];
} dm_cli_schedule;

void dm_cli_schedule_init(dm_cli_schedule *cs);
/* Takes key when it is a schedule option ('S', 'T', the keys above):
 * returns 1, else 0. */
int dm_cli_schedule_opt(dm_cli_schedule *cs, int key, const char *arg);
/* The schedule of the options (kind def when -S was not given), predicting
 * predict, initialised; dies with the option's name on a bad value. */
void dm_cli_schedule_make(const dm_cli_schedule *cs, int def, int predict, struct dm_schedule *s);

/* ---- watching a training run (dm-train; eval/watch.h) ----------------- */

enum {
	DM_CLI_WATCH = DM_CLI_LONG + 300,
	DM_CLI_SAMPLE_EVERY = DM_CLI_WATCH, DM_CLI_SAMPLE_OUT, DM_CLI_SAMPLE_N, DM_CLI_SAMPLE_WITH,
	DM_CLI_SAMPLE_LIM, DM_CLI_EVAL_EVERY, DM_CLI_EVAL_DATA, DM_CLI_EVAL_FEATURES, DM_CLI_WATCH_END,
};

/* Their entries of an option table. */
#define DM_CLI_WATCH_OPTIONS                                                                     \
	{DM_CLI_SAMPLE_EVERY, "sample-every", "N", "every N steps draw samples from the EMA weights\n" \
	                     "(fixed noise) into --sample-out (0 = never)", NULL},                     \
	{DM_CLI_SAMPLE_OUT, "sample-out", "FILE", "a .mp4, .gif or .webm video with a frame per\n"    \
	                     "drawing (clips: T frames per drawing), or\n"                              \
	                     "numbered PNGs (one %d: the step; default samples.mp4)", NULL},            \
	{DM_CLI_SAMPLE_N, "sample-n", "N", "samples per drawing (64 images as a grid, 16\n"            \
	                     "clips, 1000 points as a scatter plot)", NULL},                          \
	{DM_CLI_SAMPLE_WITH, "sample-with", "NAME[:K]", "the sampler and its steps (ddim:20)", NULL},   \
	{DM_CLI_SAMPLE_LIM, "sample-lim", "LO:HI", "both axes of the scatter plots of 2-D points\n"   \
	                     "(-4:4)", NULL},                                                           \
	{DM_CLI_EVAL_EVERY, "eval-every", "N", "every N steps print the sliced Wasserstein distance\n" \
	                     "of samples to --eval-data (and FD with\n"                                \
	                     "--eval-features) on stderr (0 = never)", NULL},                          \
	{DM_CLI_EVAL_DATA, "eval-data", "FILE", "held-out clean samples (up to 512 of them used)", NULL}, \
	{DM_CLI_EVAL_FEATURES, "eval-features", "FILE", "a classifier checkpoint: also the Frechet\n"   \
	                     "distance in its features", NULL}

struct dm_watch_opts;
/* Takes key when it is one of the options above: returns 1, else 0; dies
 * on a bad value naming the option. */
int dm_cli_watch_opt(struct dm_watch_opts *o, int key, const char *arg);

#endif

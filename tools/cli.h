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
#include <stdint.h>

#include "core/error.h"

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
/* Print the generated --help text on stdout. */
void dm_cli_usage(const dm_cli *cli);

/* ---- messages and exits ---------------------------------------------- */

/* Call first: remembers the program name, ignores SIGPIPE (writes then
 * fail with EPIPE, which dm_tool_check turns into a quiet exit), and makes
 * every exit - exit(), SIGINT, SIGTERM, SIGHUP - remove the temporaries of
 * the output files still open (core/outfile). */
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

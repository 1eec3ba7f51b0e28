#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/kv.h"
#include "core/outfile.h"
#include "core/tensor.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "eval/watch.h"
#include "io/stream.h"

static const char *prog = "dm";

/* ---- exits ----------------------------------------------------------- */

static void remove_temporaries(void)
{
	const char *names[16];
	int n = dm_outfile_pending(names, 16);
	for (int i = 0; i < n; i++)
		unlink(names[i]);
}

/* SIGINT, SIGTERM (and SIGHUP) to handler h, without SA_RESTART. */
static void catch_signals(void (*h)(int), int hup)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (hup)
		sigaction(SIGHUP, &sa, NULL);
}

static void on_signal(int sig)
{
	remove_temporaries();
	signal(sig, SIG_DFL);
	raise(sig);
}

void dm_tool_init(const char *p)
{
	const char *s = strrchr(p, '/');
	prog = s ? s + 1 : p;
	signal(SIGPIPE, SIG_IGN);
	/* past a file-size limit (ulimit -f) a write fails with EFBIG and the
	 * tool says so, instead of dying of SIGXFSZ with a partial file */
	signal(SIGXFSZ, SIG_IGN);
	atexit(remove_temporaries);
	catch_signals(on_signal, 1);
}

const char *dm_tool_name(void) { return prog; }

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig) { stop_flag = sig; }

volatile sig_atomic_t *dm_tool_stop_on_signal(void)
{
	catch_signals(on_stop, 0);
	return &stop_flag;
}

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

void dm_tool_max_bytes(const char *arg)
{
	uint64_t limit;
	const char *why;
	setenv("DM_MAX_BYTES", arg, 1);
	if (dm_max_bytes(&limit, &why) < 0)
		dm_tool_die("--max-bytes %s: %s", arg, why + strlen("DM_MAX_BYTES "));
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

/* ---- enumerations ---------------------------------------------------- */

const char *dm_cli_enum_name(const dm_cli_enum *e, int v)
{
	if (v < e->first || v >= e->first + e->n)
		return NULL;
	return e->names ? e->names[v - e->first] : e->name(v);
}

int dm_cli_enum_ext(const char *path, const dm_cli_enum *e)
{
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/'))
		return e->first - 1;
	for (int v = e->first; v < e->first + e->n; v++) {
		const char *name = dm_cli_enum_name(e, v);
		if (name && strcasecmp(dot + 1, name) == 0)
			return v;
	}
	return e->first - 1;
}

/* "a, b, c" into buf. */
static void enum_list(const dm_cli_enum *e, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = 0;
	for (int v = e->first; v < e->first + e->n && len < size; v++) {
		const char *s = dm_cli_enum_name(e, v);
		if (s)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "", s);
	}
}

int dm_cli_enum_parse(const char *opt, const char *s, const dm_cli_enum *e)
{
	for (int v = e->first; v < e->first + e->n; v++) {
		const char *name = dm_cli_enum_name(e, v);
		if (name && !strcmp(name, s))
			return v;
	}
	if (e->parse) {
		int v = e->parse(s);
		if (v >= e->first && v < e->first + e->n)
			return v;
	}
	char list[512];
	enum_list(e, list, sizeof list);
	dm_tool_die("%s: unknown '%s' (one of: %s)", opt, s, list);
}

/* ---- the shared options ---------------------------------------------- */

static const dm_cli_opt common_opts[] = {
	{'s', "seed", "S", "seed of every random number (default 0)", NULL},
	{'j', "threads", "N", "threads (default or 0: all cores; results do not\n"
	                             "depend on it)", NULL},
	/* in the order of the DM_CLI_* bits (cli.h): entry i is bit 1 << i */
	{'o', "output", "FILE", "write to FILE (atomically) instead of stdout", NULL},
	{'z', "compress", "L", "zlib level 1..9 for the tensors written (default 0: none)", NULL},
	{'q', "quiet", NULL, "print nothing on stderr but errors", NULL},
	{'h', "help", NULL, "this help", NULL},
	{'V', "version", NULL, "the version", NULL},
};
#define N_COMMON (int)(sizeof common_opts / sizeof common_opts[0])

static int common_on(const dm_cli *cli, int i)
{
	return i >= N_COMMON - 2 || (cli->common & (1u << i));
}

static int count_opts(const dm_cli_opt *o)
{
	int n = 0;
	while (o && o[n].name)
		n++;
	return n;
}

/* A tool's entry with the key of a shared option it has only words that
 * option's --help line its own way ("-o FILE  the checkpoint"). */
static const dm_cli_opt *find_key(const dm_cli_opt *o, int key)
{
	for (int i = 0; o && o[i].name; i++)
		if (o[i].key == key)
			return &o[i];
	return NULL;
}

/* ---- --help ---------------------------------------------------------- */

static void print_opt(const dm_cli_opt *o)
{
	char head[96];
	int n = o->key < DM_CLI_LONG ? snprintf(head, sizeof head, "  -%c, --%s", o->key, o->name)
	                             : snprintf(head, sizeof head, "      --%s", o->name);
	if (o->arg)
		snprintf(head + n, sizeof head - (size_t)n, " %s", o->arg);
	const int col = 24;
	int len = (int)strlen(head);
	fputs(head, stdout);
	const char *h = o->help;
	for (int first = 1; *h || first; first = 0) {
		const char *nl = strchr(h, '\n');
		int w = nl ? (int)(nl - h) : (int)strlen(h);
		if (first && len >= col - 1)
			printf("\n%*s", col, "");
		else
			printf("%*s", first ? col - len : col, "");
		printf("%.*s\n", w, h);
		h += w + (nl ? 1 : 0);
	}
	if (o->values) {
		char list[512];
		enum_list(o->values, list, sizeof list);
		printf("%*s(one of: %s)\n", col, "", list);
	}
}

const char *dm_cli_opt_name(const dm_cli *cli, int key)
{
	for (int i = 0; cli->opts && cli->opts[i].name; i++)
		if (cli->opts[i].key == key)
			return cli->opts[i].name;
	return "?";
}

void dm_cli_usage(const dm_cli *cli)
{
	printf("Usage: %s %s\n", prog, cli->synopsis);
	if (cli->about)
		printf("%s\n", cli->about);
	putchar('\n');
	for (int i = 0, n = count_opts(cli->opts); i < n; i++)
		if (cli->opts[i].help)
			print_opt(&cli->opts[i]);
	for (int i = 0; i < N_COMMON; i++)
		if (common_on(cli, i) && !find_key(cli->opts, common_opts[i].key))
			print_opt(&common_opts[i]);
	if (cli->more)
		printf("\n%s", cli->more);
}

/* ---- parsing --------------------------------------------------------- */

/* The getopt tables, built from the dm_cli on the first call (a tool
 * parses one command line). */
static struct option *longopts;
static char shortopts[160];

static void add_opt(const dm_cli_opt *o, int *nl, size_t *ns)
{
	for (int i = 0; i < *nl; i++)
		if (!strcmp(longopts[i].name, o->name))
			return;
	longopts[*nl] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, o->key};
	(*nl)++;
	if (o->key < DM_CLI_LONG && !strchr(shortopts, o->key) && *ns + 3 < sizeof shortopts) {
		shortopts[(*ns)++] = (char)o->key;
		if (o->arg)
			shortopts[(*ns)++] = ':';
		shortopts[*ns] = 0;
	}
}

static void build(const dm_cli *cli)
{
	int n = count_opts(cli->opts), nl = 0;
	size_t ns = 1;
	longopts = calloc((size_t)(n + N_COMMON + 1), sizeof *longopts);
	if (!longopts)
		dm_tool_die("out of memory");
	shortopts[0] = ':'; /* a missing argument returns ':' */
	for (int i = 0; i < n; i++)
		add_opt(&cli->opts[i], &nl, &ns);
	for (int i = 0; i < N_COMMON; i++)
		if (common_on(cli, i))
			add_opt(&common_opts[i], &nl, &ns);
}

/* The option text argv[optind - 1] as the user wrote it, for messages. */
static const char *bad_opt(char **argv, char *buf, size_t size)
{
	if (optopt && optopt < DM_CLI_LONG && !(optind > 0 && !strncmp(argv[optind - 1], "--", 2)))
		snprintf(buf, size, "-%c", optopt);
	else
		snprintf(buf, size, "%s", argv[optind - 1]);
	char *eq = strchr(buf, '=');
	if (eq && !strncmp(buf, "--", 2))
		*eq = 0;
	return buf;
}

int dm_cli_next(const dm_cli *cli, int argc, char **argv, dm_cli_common *c)
{
	if (!longopts) {
		build(cli);
		*c = (dm_cli_common){.output = "-"};
		opterr = 0;
	}
	for (;;) {
		int k = getopt_long(argc, argv, shortopts, longopts, NULL);
		char buf[128];
		switch (k) {
		case -1:
			dm_tool_threads(c->threads);
			free(longopts);
			return -1;
		case 's':
			if (!(cli->common & DM_CLI_SEED))
				return k;
			c->seed = (uint64_t)dm_tool_int("--seed", optarg, 0, INT64_MAX);
			c->seed_given = 1;
			break;
		case 'j':
			if (!(cli->common & DM_CLI_THREADS))
				return k;
			c->threads = (int)dm_tool_int("--threads", optarg, 0, 4096); /* 0: all cores */
			break;
		case 'z':
			if (!(cli->common & DM_CLI_COMPRESS))
				return k;
			c->compress = (int)dm_tool_int("--compress", optarg, 0, 9);
			break;
		case 'o':
			if (!(cli->common & DM_CLI_OUTPUT))
				return k;
			c->output = optarg;
			c->output_given = 1;
			break;
		case 'q':
			if (!(cli->common & DM_CLI_QUIET))
				return k;
			c->quiet = 1;
			break;
		case 'h': dm_cli_usage(cli); exit(0);
		case 'V': dm_tool_version();
		case ':': dm_tool_die("%s needs an argument (try --help)", bad_opt(argv, buf, sizeof buf));
		case '?': dm_tool_die("unknown option '%s' (try --help)", bad_opt(argv, buf, sizeof buf));
		default: return k;
		}
	}
}

/* ---- values several tools parse the same way --------------------------- */

#define MAX_TLIST 100000

static void tlist_push(const char *opt, double *list, int *n, double v)
{
	if (*n >= MAX_TLIST)
		dm_tool_die("%s: more than %d values", opt, MAX_TLIST);
	list[(*n)++] = v;
}

int dm_cli_tlist(const char *opt, const char *arg, double **list)
{
	double *l = malloc(MAX_TLIST * sizeof *l);
	char *copy = strdup(arg), *save = NULL;
	if (!l || !copy)
		dm_tool_die("out of memory");
	int n = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *c1 = strchr(tok, ':');
		if (!c1) {
			tlist_push(opt, l, &n, dm_tool_double(opt, tok));
			continue;
		}
		char *c2 = strchr(c1 + 1, ':');
		*c1 = 0;
		if (c2)
			*c2 = 0;
		double a = dm_tool_double(opt, tok), b = dm_tool_double(opt, c1 + 1);
		double st = c2 ? dm_tool_double(opt, c2 + 1) : 1.0;
		if (!(st > 0))
			dm_tool_die("%s: the step of START:STOP:STEP must be positive", opt);
		for (long k = 0;; k++) {
			double v = a + (double)k * st;
			if (!(v < b - 1e-9 * st))
				break;
			tlist_push(opt, l, &n, v);
		}
	}
	free(copy);
	if (!n)
		dm_tool_die("%s: '%s' gives no timesteps", opt, arg);
	*list = l;
	return n;
}

int dm_cli_shape(const char *opt, const char *arg, int64_t *shape)
{
	const char *p = arg;
	int rank = 0;
	for (;;) {
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (errno || end == p || v < 1 || v > ((int64_t)1 << 32) || rank == DM_MAX_RANK ||
		    (*end && *end != 'x'))
			dm_tool_die("%s: '%s' is not NxCxHxW or NxD (positive sizes)", opt, arg);
		shape[rank++] = v;
		if (!*end)
			break;
		p = end + 1;
	}
	if (rank < 2)
		dm_tool_die("%s: '%s' needs a batch size and a sample shape (NxD at least)", opt, arg);
	return rank;
}

void dm_cli_pair(const char *opt, const char *s, char sep, double *a, double *b)
{
	char buf[128];
	const char *p = strchr(s, sep);
	if (!p || (size_t)(p - s) >= sizeof buf)
		dm_tool_die("%s: '%s' is not of the form A%cB", opt, s, sep);
	memcpy(buf, s, (size_t)(p - s));
	buf[p - s] = '\0';
	*a = dm_tool_double(opt, buf);
	*b = dm_tool_double(opt, p + 1);
}

double dm_cli_double_in(const char *opt, const char *s, double lo, double hi)
{
	double v = dm_tool_double(opt, s);
	if (!(v >= lo && v <= hi))
		dm_tool_die("%s: '%s' is not a number in %g..%g", opt, s, lo, hi);
	return v;
}

void dm_cli_interval(const char *opt, const char *s, double *lo, double *hi)
{
	dm_cli_pair(opt, s, ':', lo, hi);
	if (!(*hi > *lo))
		dm_tool_die("%s: '%s' is not LO:HI with LO < HI", opt, s);
}

void dm_cli_dims(const char *opt, const char *s, int *a, int *b, int max)
{
	double x, y;
	dm_cli_pair(opt, s, 'x', &x, &y);
	if (x != floor(x) || y != floor(y) || x < 1 || y < 1 || x > max || y > max)
		dm_tool_die("%s: '%s' needs two whole numbers in 1..%d", opt, s, max);
	*a = (int)x;
	*b = (int)y;
}

void dm_cli_rgb(const char *opt, const char *s, uint8_t rgb[3])
{
	char *end;
	unsigned long v = strtoul(s[0] == '#' ? s + 1 : s, &end, 16);
	if (*end || strlen(s) != (size_t)(s[0] == '#' ? 7 : 6))
		dm_tool_die("%s: '%s' is not RRGGBB", opt, s);
	rgb[0] = (uint8_t)(v >> 16);
	rgb[1] = (uint8_t)(v >> 8);
	rgb[2] = (uint8_t)v;
}

int dm_cli_numbered(const char *path)
{
	int n = dm_outfile_numbered(path);
	if (n < 0)
		dm_tool_die("%s: only %%d, %%0Nd and %%%% may appear in an output name", path);
	if (n > 1)
		dm_tool_die("%s: more than one %%d in the output name", path);
	return n;
}

const char *dm_cli_split(const char *arg, char *name, size_t size)
{
	const char *colon = strchr(arg, ':');
	snprintf(name, size, "%.*s", colon ? (int)(colon - arg) : (int)strlen(arg), arg);
	return colon ? colon + 1 : NULL;
}

uint64_t dm_cli_tag_u64(const dm_kv *tags, const char *key, uint64_t def, const char *stream,
                        uint64_t frame)
{
	const char *v = dm_kv_get(tags, key);
	if (!v)
		return def;
	char *end;
	errno = 0;
	unsigned long long u = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || u >= ((uint64_t)1 << 44))
		dm_tool_die("%s: frame %" PRIu64 ": tag %s=%s is not an integer in 0..2^44", stream,
		            frame, key, v);
	return u;
}

/* ---- progress ------------------------------------------------------- */

double dm_cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dm_cli_progress(const char *unit, long step, long total, const char *what, double rate,
                     int final)
{
	char eta[32] = "", tot[32] = "";
	if (total > 0 && rate > 0) {
		long s = (long)((double)(total - step) / rate);
		snprintf(eta, sizeof eta, "  ETA %ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	}
	if (total > 0)
		snprintf(tot, sizeof tot, "/%ld", total);
	fprintf(stderr, "\r%s %ld%s  %s  %.1f it/s%s\033[K%s", unit, step, tot, what, rate, eta,
	        final ? "\n" : "");
	fflush(stderr);
}

/* ---- output streams -------------------------------------------------- */

dm_writer *dm_cli_out_open(dm_cli_out *o, const char *path, const char *name, const dm_kv *meta)
{
	dm_error err;
	dm_tool_check(dm_outfile_open(&o->f, path, &err), &err);
	int rc = dm_writer_open(&o->w, o->f.f, name, meta, &err);
	if (rc) {
		dm_outfile_abort(&o->f);
		dm_tool_check(rc, &err);
	}
	return o->w;
}

void dm_cli_out_close(dm_cli_out *o)
{
	dm_error err;
	int rc = dm_writer_close(o->w, &err);
	o->w = NULL;
	if (rc) {
		dm_outfile_abort(&o->f);
		dm_tool_check(rc, &err);
	}
	dm_tool_check(dm_outfile_commit(&o->f, &err), &err);
}

/* ---- schedule options ------------------------------------------------ */

const dm_cli_enum dm_cli_schedules = {NULL, dm_schedule_kind_name, DM_SCHED_LINEAR,
                                      DM_SCHED_EDM - DM_SCHED_LINEAR + 1, dm_schedule_kind_parse};

void dm_cli_schedule_init(dm_cli_schedule *cs)
{
	memset(cs, 0, sizeof *cs);
	cs->T = -1;
}

int dm_cli_schedule_opt(dm_cli_schedule *cs, int key, const char *arg)
{
	if (key == 'S')
		cs->kind = dm_cli_enum_parse("--schedule", arg, &dm_cli_schedules);
	else if (key == 'T')
		cs->T = dm_tool_int("--timesteps", arg, 1, DM_SCHEDULE_MAX_T);
	else if (key == DM_CLI_ZERO_SNR)
		cs->zero_snr = 1;
	else if (key >= DM_CLI_SCHED_PARAM && key < DM_CLI_SCHED_END)
		cs->param[key - DM_CLI_SCHED_PARAM] = arg;
	else
		return 0;
	cs->given = 1;
	return 1;
}

void dm_cli_schedule_make(const dm_cli_schedule *cs, int def, int predict, dm_schedule *s)
{
	dm_error err;
	int kind = cs->kind ? cs->kind : def;
	dm_tool_check(dm_schedule_defaults(s, kind, &err), &err);
	s->predict = predict;
	s->zero_snr = cs->zero_snr;
	if (cs->T > 0) {
		if (!dm_schedule_is_discrete(s))
			dm_tool_die("--timesteps: the %s schedule is continuous (t in [0,1])",
			            dm_schedule_kind_name(kind));
		s->T = (int)cs->T;
	}
	double *field[DM_CLI_SCHED_END - DM_CLI_SCHED_PARAM] = {
		&s->beta_start, &s->beta_end, &s->cosine_s, &s->max_beta, &s->beta_min,
		&s->beta_max, &s->sigma_min, &s->sigma_max, &s->rho, &s->t_eps,
	};
	for (int i = 0; i < DM_CLI_SCHED_END - DM_CLI_SCHED_PARAM; i++)
		if (cs->param[i])
			*field[i] = dm_tool_double("schedule parameter", cs->param[i]);
	dm_tool_check(dm_schedule_init(s, &err), &err);
}

int dm_cli_watch_opt(dm_watch_opts *o, int key, const char *arg)
{
	char name[32];
	const char *k;
	switch (key) {
	case DM_CLI_SAMPLE_EVERY: o->sample_every = (long)dm_tool_int("--sample-every", arg, 0, 1LL << 40); break;
	case DM_CLI_SAMPLE_OUT: o->out = arg; break;
	case DM_CLI_SAMPLE_N: o->n = (int)dm_tool_int("--sample-n", arg, 1, 1 << 16); break;
	case DM_CLI_SAMPLE_WITH:
		k = dm_cli_split(arg, name, sizeof name);
		if ((o->sampler = dm_sampler_parse(name)) < 0)
			dm_tool_die("--sample-with: unknown sampler '%s'", name);
		if (k)
			o->steps = (int)dm_tool_int("--sample-with", k, 1, 10000);
		break;
	case DM_CLI_SAMPLE_LIM:
		dm_cli_pair("--sample-lim", arg, ':', &o->lim_lo, &o->lim_hi);
		if (!(o->lim_lo < o->lim_hi))
			dm_tool_die("--sample-lim: '%s': LO must be below HI", arg);
		break;
	case DM_CLI_EVAL_EVERY: o->eval_every = (long)dm_tool_int("--eval-every", arg, 0, 1LL << 40); break;
	case DM_CLI_EVAL_DATA: o->ref = arg; break;
	case DM_CLI_EVAL_FEATURES: o->features = arg; break;
	default: return 0;
	}
	return 1;
}

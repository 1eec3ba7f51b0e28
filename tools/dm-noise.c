/* dm-noise - the forward process q(x_t | x_0): pictures of it (--t,
 * --sigma), training examples (--train) and prior samples (--prior).
 * Formulas and conventions: lib/diffusion/schedule.h and dm-noise(1). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "diffusion/forward.h"
#include "diffusion/schedule.h"
#include "io/stream.h"
#include "cli.h"

enum mode { MODE_NONE, MODE_T, MODE_SIGMA, MODE_TRAIN, MODE_PRIOR };

typedef struct opts {
	int mode;
	dm_schedule s;
	uint64_t seed;
	double *tlist;
	int nt;
	double sigma;
	dm_forward_train_opts tr;
	int64_t shape[DM_MAX_RANK];
	int rank;
	int64_t count, batch, first;
	const char *out, *in;
	int compress;
} opts;

enum {
	O_T = DM_CLI_LONG, O_SIGMA, O_TRAIN, O_PRIOR, O_TSAMP, O_SHAPE, O_FIRST,
};

static const dm_cli_enum predicts = {NULL, dm_predict_name, DM_PREDICT_EPS, 3, dm_predict_parse};
static const dm_cli_enum weightings = {NULL, dm_weighting_name, DM_WEIGHT_NONE, 5,
                                       dm_weighting_parse};
static const dm_cli_enum tsamplings = {NULL, dm_tsampling_name, DM_TSAMPLE_UNIFORM, 3,
                                       dm_tsampling_parse};

static const dm_cli_opt options[] = {
	{O_T, "t", "LIST", "mode: per input frame, one output frame per t of LIST\n"
	                   "(\"0,100,250\" or START:STOP:STEP, STOP excluded)", NULL},
	{O_SIGMA, "sigma", "S", "mode: one output frame per input frame with noise of\n"
	                        "level S in data units (x_t/alpha = x_0 + S eps)", NULL},
	{O_TRAIN, "train", NULL, "mode: per sample a random t and eps; emits x (= x_t), t,\n"
	                         "target and w; other tensors (labels) pass through", NULL},
	{O_PRIOR, "prior", NULL, "mode: prior samples, no input: needs --shape", NULL},
	{'S', "schedule", "NAME", "the noise schedule (default linear), written into the\n"
	                          "header; vp, subvp, ve, edm have continuous t in [0,1]", &dm_cli_schedules},
	{'T', "timesteps", "T", "steps of a discrete schedule (default 1000)", NULL},
	{DM_CLI_BETA_START, "beta-start", "B", "linear 1e-4, scaled-linear 0.00085, sigmoid 1e-4", NULL},
	{DM_CLI_BETA_END, "beta-end", "B", "linear 0.02, scaled-linear 0.012, sigmoid 0.02", NULL},
	{DM_CLI_COSINE_S, "cosine-s", "S", "cosine offset (0.008)", NULL},
	{DM_CLI_MAX_BETA, "max-beta", "B", "cosine: largest beta (0.999)", NULL},
	{DM_CLI_BETA_MIN, "beta-min", "B", "vp, subvp (0.1)", NULL},
	{DM_CLI_BETA_MAX, "beta-max", "B", "vp, subvp (20)", NULL},
	{DM_CLI_SIGMA_MIN, "sigma-min", "S", "ve 0.01, edm 0.002", NULL},
	{DM_CLI_SIGMA_MAX, "sigma-max", "S", "ve 50, edm 80", NULL},
	{DM_CLI_RHO, "rho", "R", "edm (default 7)", NULL},
	{DM_CLI_T_EPS, "t-eps", "E", "smallest continuous t (vp/subvp 1e-5; ve/edm 0)", NULL},
	{DM_CLI_ZERO_SNR, "zero-snr", NULL, "rescale to zero terminal SNR (Lin et al. 2024)", NULL},
	{'p', "predict", "P", "the --train target (default eps)", &predicts},
	{O_TSAMP, "t-sampling", "M", "--train: t uniform (default), uniform in log-SNR, or\n"
	                             "lognormal[:MEAN:STD] (ln sigma ~ N(MEAN, STD^2);\n"
	                             "EDM default -1.2:1.2)", &tsamplings},
	{'w', "weighting", "W", "--train loss weights (default none): min-snr[:GAMMA]\n"
	                        "(5), edm[:SIGMA_DATA] (0.5)", &weightings},
	{O_SHAPE, "shape", "NxCxHxW", "--prior: N samples per frame of that sample shape\n"
	                              "(or NxD)", NULL},
	{'n', "count", "K", "--prior: samples in all (default N)", NULL},
	{'b', "batch", "B", "--prior: samples per frame (default N)", NULL},
	{O_FIRST, "first-index", "I", "--prior: emit samples I..I+K-1 of the run (split sampling)", NULL},
	{0},
};

static const dm_cli cli = {
	"MODE [OPTION]... [FILE]",
	"The forward diffusion process x_t = alpha(t) x_0 + sigma(t) eps on the\n"
	"tensor `x` of a dm stream (FILE or stdin), written to stdout.  MODE is one\n"
	"of --t, --sigma, --train, --prior.",
	options,
	DM_CLI_SEED | DM_CLI_THREADS | DM_CLI_COMPRESS | DM_CLI_OUTPUT,
	"Sample i's noise depends only on (seed, i): on nothing else, so results do\n"
	"not depend on threads, batch sizes or ranges.  See dm-noise(1).\n",
};

/* ---- option parsing --------------------------------------------------- */

/* The t of each output frame: --t's list, checked against the schedule, or
 * the one t of --sigma. */
static void make_tlist(opts *o, const char *targ)
{
	if (targ) {
		o->nt = dm_cli_tlist("--t", targ, &o->tlist);
		dm_error err;
		for (int i = 0; i < o->nt; i++)
			if (dm_forward_check_t(&o->s, o->tlist[i], &err) < 0)
				dm_tool_die("--t: %s", err.msg);
	}
	if (o->mode == MODE_SIGMA) {
		if (!(o->sigma >= 0) || !isfinite(o->sigma))
			dm_tool_die("--sigma: must be a finite number >= 0");
		if (!(o->tlist = malloc(sizeof *o->tlist)))
			dm_tool_die("out of memory");
		o->nt = 1;
		double t = dm_schedule_t_from_sigma_ve(&o->s, o->sigma);
		o->tlist[0] = dm_schedule_is_discrete(&o->s) ? round(t) : t;
	}
}

static void parse(opts *o, int argc, char **argv)
{
	dm_cli_schedule cs;
	dm_cli_schedule_init(&cs);
	int predict = DM_PREDICT_EPS, c;
	const char *targ = NULL;
	memset(o, 0, sizeof *o);
	dm_forward_train_opts_default(&o->tr);
	o->count = o->batch = -1;
	dm_error err;
	dm_cli_common co;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		int m = MODE_NONE;
		if (dm_cli_schedule_opt(&cs, c, optarg))
			continue;
		switch (c) {
		case O_T: m = MODE_T; targ = optarg; break;
		case O_SIGMA: m = MODE_SIGMA; o->sigma = dm_tool_double("--sigma", optarg); break;
		case O_TRAIN: m = MODE_TRAIN; break;
		case O_PRIOR: m = MODE_PRIOR; break;
		case 'p': predict = dm_cli_enum_parse("--predict", optarg, &predicts); break;
		case O_TSAMP: dm_tool_check(dm_forward_tsampling_spec(&o->tr, optarg, &err), &err); break;
		case 'w': dm_tool_check(dm_forward_weighting_spec(&o->tr, optarg, &err), &err); break;
		case O_SHAPE: o->rank = dm_cli_shape("--shape", optarg, o->shape); break;
		case 'n': o->count = dm_tool_int("--count", optarg, 0, (long long)1 << 40); break;
		case 'b': o->batch = dm_tool_int("--batch", optarg, 1, (long long)1 << 32); break;
		case O_FIRST: o->first = dm_tool_int("--first-index", optarg, 0, (long long)1 << 44); break;
		}
		if (m != MODE_NONE) {
			if (o->mode != MODE_NONE && o->mode != m)
				dm_tool_die("choose one mode: --t, --sigma, --train or --prior");
			o->mode = m;
		}
	}
	o->seed = co.seed;
	o->out = co.output;
	o->compress = co.compress;
	if (o->mode == MODE_NONE)
		dm_tool_die("no mode: give --t LIST, --sigma S, --train or --prior (see --help)");
	if (optind < argc - 1)
		dm_tool_die("more than one input file");
	o->in = optind < argc ? argv[optind] : "-";
	if (o->mode == MODE_PRIOR && optind < argc)
		dm_tool_die("--prior reads no input, but %s was given", argv[optind]);

	dm_cli_schedule_make(&cs, DM_SCHED_LINEAR, predict, &o->s);
	make_tlist(o, targ);
	if (o->mode == MODE_PRIOR) {
		if (!o->rank)
			dm_tool_die("--prior needs --shape NxCxHxW or NxD");
		if (o->count < 0)
			o->count = o->shape[0];
		if (o->batch < 0)
			o->batch = o->shape[0];
	} else if (o->rank || o->count >= 0 || o->batch >= 0 || o->first) {
		dm_tool_die("--shape, --count, --batch and --first-index go with --prior");
	}
}

/* ---- the work ----------------------------------------------------------- */

/* Where the frame's samples sit in the run (dm-load's tags; see dm-noise(1)). */
static dm_forward_index frame_index(const dm_frame *f, uint64_t seen, const dm_reader *r)
{
	const char *name = dm_reader_name(r);
	uint64_t k = dm_reader_frames(r);
	dm_forward_index ix = {dm_cli_tag_u64(&f->tags, "index", seen, name, k),
	                       dm_cli_tag_u64(&f->tags, "stride", 1, name, k),
	                       dm_cli_tag_u64(&f->tags, "epoch", 0, name, k)};
	return ix;
}

static void run_tlist(const opts *o, dm_reader *r, dm_writer *w)
{
	dm_frame in, out;
	dm_frame_init(&in);
	dm_frame_init(&out);
	dm_error err;
	uint64_t seen = 0;
	int rc;
	while ((rc = dm_reader_next(r, &in, &err)) > 0) {
		dm_forward_index ix = frame_index(&in, seen, r);
		for (int k = 0; k < o->nt; k++) {
			dm_tool_check(dm_forward_noise_frame(&o->s, o->tlist[k], o->seed, &ix, &in,
			                                     dm_reader_name(r), &out, o->compress, &err),
			              &err);
			dm_tool_check(dm_writer_write(w, &out, &err), &err);
		}
		seen = ix.base + (uint64_t)dm_frame_get(&in, "x")->dims[0] * ix.stride;
	}
	dm_tool_check(rc, &err);
	dm_frame_free(&in);
	dm_frame_free(&out);
}

static void run_train(const opts *o, dm_reader *r, dm_writer *w)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_error err;
	uint64_t seen = 0;
	int rc;
	while ((rc = dm_reader_next(r, &f, &err)) > 0) {
		dm_forward_index ix = frame_index(&f, seen, r);
		dm_tool_check(dm_forward_train_frame(&o->s, &o->tr, o->seed, &ix, &f, dm_reader_name(r),
		                                     o->compress, &err), &err);
		dm_tool_check(dm_writer_write(w, &f, &err), &err);
		seen = ix.base + (uint64_t)dm_frame_get(&f, "x")->dims[0] * ix.stride;
	}
	dm_tool_check(rc, &err);
	dm_frame_free(&f);
}

static void run_prior(const opts *o, dm_writer *w)
{
	dm_frame f;
	dm_frame_init(&f);
	dm_error err;
	for (int64_t done = 0; done < o->count;) {
		int64_t n = o->count - done < o->batch ? o->count - done : o->batch;
		dm_tool_check(dm_forward_prior_frame(&o->s, o->seed, (uint64_t)(o->first + done),
		                                     o->rank, o->shape, n, &f, o->compress, &err), &err);
		dm_tool_check(dm_writer_write(w, &f, &err), &err);
		done += n;
	}
	dm_frame_free(&f);
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	opts o;
	parse(&o, argc, argv);
	dm_error err;
	dm_reader *r = NULL;
	dm_kv meta;
	dm_kv_init(&meta);
	if (o.mode != MODE_PRIOR) {
		dm_tool_check(dm_reader_open_path(&r, o.in, &err), &err);
		dm_tool_check(dm_kv_copy(&meta, dm_reader_meta(r)), &err);
	}
	dm_kv_set(&meta, "tool", "dm-noise");
	dm_tool_check(dm_schedule_to_kv(&o.s, &meta, &err), &err);
	static const char *const mode_names[] = {"", "t", "sigma", "train", "prior"};
	dm_kv_set(&meta, "noise_mode", mode_names[o.mode]);
	dm_kv_setf(&meta, "noise_seed", "%" PRIu64, o.seed);
	if (o.mode == MODE_TRAIN) {
		dm_kv_set(&meta, "weighting", dm_weighting_name(o.tr.weighting));
		if (o.tr.gamma > 0)
			dm_kv_setf(&meta, "weighting_gamma", "%.17g", o.tr.gamma);
		dm_kv_set(&meta, "t_sampling", dm_tsampling_name(o.tr.tsampling));
	}
	if (o.mode == MODE_SIGMA)
		dm_kv_setf(&meta, "noise_sigma", "%.17g", o.sigma);

	dm_cli_out out;
	dm_writer *w = dm_cli_out_open(&out, o.out, o.out, &meta);
	if (o.mode == MODE_PRIOR)
		run_prior(&o, w);
	else if (o.mode == MODE_TRAIN)
		run_train(&o, r, w);
	else
		run_tlist(&o, r, w);
	dm_cli_out_close(&out);
	if (r)
		dm_reader_close(r);
	dm_kv_free(&meta);
	dm_schedule_free(&o.s);
	free(o.tlist);
	return 0;
}

/* dm-denoise - the reverse process: start states in (prior noise from
 * dm-noise --prior, or noisy/known images), samples out, with any sampler
 * of lib/diffusion/sampler.h and a checkpoint or the analytic gaussian:MEAN:STD model.
 * See dm-denoise(1). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion/restore.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "diffusion/start.h"
#include "diffusion/trajectory.h"
#include "io/stream.h"
#include "models/denoiser.h"
#include "models/startframe.h"
#include "nn/gemm.h"
#include "cli.h"

typedef struct opts {
	const char *model, *in, *out, *mask, *restore, *gdp, *classifier;
	int cls_class;      /* --class, or -1 */
	double cls_scale;   /* --classifier-scale */
	dm_cli_schedule cs; /* -S, for gaussian: models */
	dm_sampler_opts so;
	dm_restore_spec rs; /* --restore, parsed */
	int label;          /* -1: from the stream */
	int x0_out;
	double from_sigma;
	int sdedit, raw_weights, verbose;
	int precision; /* DM_PREC_FP32 or DM_PREC_BF16 (nn/gemm.h) */
	int clip_set;       /* --clip or --no-clip given */
	int given;          /* --given first:K */
} opts;


enum {
	O_SPACING = DM_CLI_LONG, O_ETA, O_VAR, O_CLIP, O_SNR, O_CORR, O_RTOL, O_ATOL, O_FROMT,
	O_FROMS, O_SDEDIT, O_ENCODE, O_X0, O_LABEL, O_GUIDE, O_MASK, O_RESAMPLE, O_RESTORE, O_RAW,
	O_PRED, O_CHURN, O_NOCLIP, O_LMIN, O_SAMPLER, O_EVERY, O_KEEPEPS, O_DYNTHR, O_PRECISION,
	O_DPS, O_GDP, O_CLS, O_CLASS, O_CLSSCALE,
	O_GIVEN,
};

static const dm_cli_enum samplers = {NULL, dm_sampler_name, DM_SAMPLER_DDPM,
                                     DM_SAMPLER_HEUN - DM_SAMPLER_DDPM + 1, dm_sampler_parse};
static const char *const spacing_names[] = {"linspace", "leading", "trailing", "logsnr", "karras"};
static const dm_cli_enum spacings = {spacing_names, NULL, 1, 5, dm_spacing_parse};

static const dm_cli_enum precisions = {NULL, dm_precision_name, DM_PREC_FP32, 2, NULL};
static const dm_cli_enum variances = {NULL, dm_variance_name, DM_VARIANCE_SMALL, 2, dm_variance_parse};
static const dm_cli_enum predictors = {NULL, dm_predictor_name, DM_PREDICTOR_EM, 2, dm_predictor_parse};

static const dm_cli_opt options[] = {
	{'m', "model", "M", "a checkpoint of dm-train, or gaussian:MEAN:STD[:P]\n"
	                     "(the exact denoiser of N(MEAN, STD^2) data; P = eps,\n"
	                     "x0 or v); its schedule comes from the input stream\n"
	                     "header or --schedule", NULL},
	{'S', "schedule", "NAME", "schedule for gaussian: models (default: the stream's)", &dm_cli_schedules},
	{O_RAW, "raw", NULL, "use a checkpoint's raw weights, not the EMA ones", NULL},
	{O_PRECISION, "precision", "P", "fp32 (default) or bf16: the unet's convolutions\n"
	                     "take bf16 operands with fp32 sums", &precisions},
	{O_SAMPLER, "sampler", "NAME", "the sampler (default ddpm)", &samplers},
	{'n', "steps", "N", "network evaluations on the grid (default: ddpm and\n"
	                     "euler-maruyama T, pc 500, ddim/ode/euler 50, heun\n"
	                     "30, dpm++2m 20)", NULL},
	{O_SPACING, "spacing", "NAME", "grid spacing (default karras for euler/heun,\n"
	                     "logsnr for dpm++2m, else linspace)", &spacings},
	{O_LMIN, "lambda-min", "L", "ddim, dpm++2m, ode: start no noisier than lambda =\n"
	                     "ln(alpha/sigma) = L (default -5.1; 'none': the top\n"
	                     "of the schedule; matters for cosine)", NULL},
	{O_ETA, "eta", "E", "ddim: 0 deterministic (default) .. 1 (ddpm-like)", NULL},
	{O_VAR, "variance", "V", "ddpm: small (beta tilde, default) or large (beta)", &variances},
	{O_CLIP, "clip", NULL, "clip the predicted x0 to the data's range (the\n"
	                     "checkpoint's range=LO:HI, e.g. -1:1 for images, or\n"
	                     "-1:1 when it has none); the default when it has one", NULL},
	{O_NOCLIP, "no-clip", NULL, "never clip the predicted x0", NULL},
	{O_KEEPEPS, "keep-eps", NULL, "when clipping, keep the network's eps (diffusers'\n"
	                     "convention) instead of recomputing it from the\n"
	                     "clipped x0", NULL},
	{O_DYNTHR, "dynamic-threshold", "Q", "instead of clipping, Imagen's dynamic thresholding:\n"
	                     "per sample, s = the Q quantile of |x0| (in units of\n"
	                     "the half-range), x0 clipped to s and divided by s\n"
	                     "when s > 1 (e.g. 0.995)", NULL},
	{O_SNR, "snr", "R", "pc: Langevin signal-to-noise ratio (0.16)", NULL},
	{O_CORR, "corrector-steps", "N", "pc: Langevin steps per level (1)", NULL},
	{O_PRED, "predictor", "P", "pc: euler-maruyama (default) or reverse-diffusion", &predictors},
	{O_RTOL, "rtol", "R", "rk45 relative tolerance (1e-4)", NULL},
	{O_ATOL, "atol", "A", "rk45 absolute tolerance (1e-4)", NULL},
	{O_CHURN, "churn", "S", "euler, heun: EDM stochastic churn S_churn (0)", NULL},
	{O_FROMT, "from-t", "T", "the input is x_t at t = T (e.g. from dm-noise --t T)", NULL},
	{O_FROMS, "from-sigma", "S", "the input is clean data plus noise of std S in data\n"
	                     "units; start at the t where sigma/alpha = S", NULL},
	{O_SDEDIT, "sdedit", NULL, "with --from-t: the input is clean, add the noise", NULL},
	{O_ENCODE, "encode", NULL, "run a deterministic sampler backwards: data -> noise", NULL},
	{O_EVERY, "every", "K", "also emit every K-th state (x and predicted x0,\n"
	                     "tagged t and step) for videos", NULL},
	{O_X0, "x0", NULL, "in those frames, x is the predicted x0", NULL},
	{'o', "output", "FILE", "write here instead of stdout", NULL},
	{'v', "verbose", NULL, "report network evaluations per sample on stderr", NULL},
	{O_LABEL, "label", "L", "class for every sample (default: the stream's label)", NULL},
	{O_GUIDE, "guidance", "W", "classifier-free guidance eps_u + W (eps_c - eps_u)", NULL},
	{O_MASK, "mask", "FILE", "inpainting, RePaint-style: PNG, white = keep the\n"
	                     "input's pixels", NULL},
	{O_RESAMPLE, "resample", "R", "RePaint resampling rounds per step (1)", NULL},
	{O_GIVEN, "given", "first:K", "clips: keep the input clips' first K frames and\n"
	                     "sample the rest (still images: every frame of a clip\n"
	                     "model's clip starts as the image)", NULL},
	{O_RESTORE, "restore", "SPEC", "DDNM projection onto the input: sr:K (K x K average\n"
	                     "pooling), gray (colourisation), mask:FILE; or, with\n"
	                     "--dps, lowlight:GAIN:GAMMA or blur:SIGMA", NULL},
	{O_DPS, "dps", "ZETA", "posterior sampling (DPS; ddpm, ddim): after each step\n"
	                     "x -= ZETA grad_x ||y - A(x0^(x))|| (e.g. 3)", NULL},
	{O_GDP, "gdp", "LIST", "GDP: estimate lowlight's gain, gamma (or all), from\n"
	                     "the spec's values, as tensor gdp", NULL},
	{O_CLS, "classifier", "C", "classifier guidance by C, a classifier of noisy\n"
	                     "states (dm-noise --train | dm-train --model classifier)", NULL},
	{O_CLASS, "class", "K", "the class it guides towards (default 0)", NULL},
	{O_CLSSCALE, "classifier-scale", "S", "eps -= S sigma grad log p(K | x_t) (default 1)", NULL},
	{'j', "threads", "N", "threads (default: all cores)", NULL},
	{0},
};

static const dm_cli cli = {
	"-m MODEL [OPTION]... [FILE]",
	"The reverse diffusion process: reads start states `x` from a dm stream\n"
	"(FILE or stdin; prior noise from dm-noise --prior, or images) and writes\n"
	"the samples as `x` to stdout.  The start is the frame's tag t, as dm-noise\n"
	"writes it, else the top.  --seed seeds the sampler's noise: sample i gets\n"
	"the same noise whatever the batch split or thread count.",
	options,
	DM_CLI_SEED | DM_CLI_THREADS | DM_CLI_OUTPUT,
	NULL,
};

static void parse(int argc, char **argv, opts *o)
{
	const char *sampler = "ddpm";
	dm_sampler_opts tmp;
	dm_sampler_opts_default(&tmp, 0);
	dm_sampler_opts *so = &o->so;
	*so = tmp;
	int spacing = 0, c;
	o->label = -1;
	o->cls_class = -1;
	o->cls_scale = 1;
	o->from_sigma = -1;
	dm_cli_schedule_init(&o->cs);
	dm_cli_common co;
	dm_error err;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		if (dm_cli_schedule_opt(&o->cs, c, optarg))
			continue;
		switch (c) {
		case 'm': o->model = optarg; break;
		case O_SAMPLER: sampler = optarg; break;
		case 'n': so->steps = (int)dm_tool_int("--steps", optarg, 1, 100000); break;
		case O_SPACING: spacing = dm_cli_enum_parse("--spacing", optarg, &spacings); break;
		case O_ETA: so->eta = dm_tool_double("--eta", optarg); break;
		case O_VAR: so->variance = dm_cli_enum_parse("--variance", optarg, &variances); break;
		case O_CLIP: so->clip = 1; o->clip_set = 1; break;
		case O_NOCLIP: so->clip = 0; o->clip_set = 1; break;
		case O_KEEPEPS: so->clip_keep_eps = 1; break;
		case O_DYNTHR:
			so->dyn_threshold = dm_tool_double("--dynamic-threshold", optarg);
			if (!(so->dyn_threshold > 0 && so->dyn_threshold <= 1))
				dm_tool_die("--dynamic-threshold: '%s' is not a quantile in (0, 1]", optarg);
			break;
		case O_SNR: so->snr = dm_tool_double("--snr", optarg); break;
		case O_CORR: so->corrector_steps = (int)dm_tool_int("--corrector-steps", optarg, 0, 1000); break;
		case O_PRED: so->predictor = dm_cli_enum_parse("--predictor", optarg, &predictors); break;
		case O_CHURN: so->churn = dm_tool_double("--churn", optarg); break;
		case O_RTOL: so->rtol = dm_tool_double("--rtol", optarg); break;
		case O_ATOL: so->atol = dm_tool_double("--atol", optarg); break;
		case O_LMIN:
			so->lambda_min = !strcmp(optarg, "none") ? -INFINITY
			                                         : dm_tool_double("--lambda-min", optarg);
			if (isnan(so->lambda_min))
				dm_tool_die("--lambda-min: '%s' is not a number", optarg);
			break;
		case O_FROMT: so->from_t = dm_tool_double("--from-t", optarg); break;
		case O_FROMS: o->from_sigma = dm_tool_double("--from-sigma", optarg); break;
		case O_SDEDIT: o->sdedit = 1; break;
		case O_ENCODE: so->encode = 1; break;
		case O_EVERY: so->every = (int)dm_tool_int("--every", optarg, 1, 1 << 30); break;
		case O_X0: o->x0_out = 1; break;
		case O_LABEL: o->label = (int)dm_tool_int("--label", optarg, 0, 1 << 30); break;
		case O_GUIDE: so->guidance = dm_tool_double("--guidance", optarg); break;
		case O_MASK: o->mask = optarg; break;
		case O_GIVEN: dm_tool_check(dm_start_given_parse(optarg, &o->given, &err), &err); break;
		case O_RESAMPLE: so->resample = (int)dm_tool_int("--resample", optarg, 1, 1000); break;
		case O_RESTORE: o->restore = optarg; break;
		case O_DPS: so->dps = dm_tool_double("--dps", optarg); break;
		case O_GDP: o->gdp = optarg; break;
		case O_CLS: o->classifier = optarg; break;
		case O_CLASS: o->cls_class = (int)dm_tool_int("--class", optarg, 0, 1 << 30); break;
		case O_CLSSCALE: o->cls_scale = dm_tool_double("--classifier-scale", optarg); break;
		case O_RAW: o->raw_weights = 1; break;
		case O_PRECISION: o->precision = dm_cli_enum_parse("--precision", optarg, &precisions); break;
		case 'v': o->verbose = 1; break;
		}
	}
	if (!o->model)
		dm_tool_die("no model: give -m CHECKPOINT or -m gaussian:MEAN:STD");
	so->kind = dm_cli_enum_parse("--sampler", sampler, &samplers);
	so->seed = co.seed;
	o->out = co.output;
	so->spacing = spacing;
	if (optind + 1 < argc)
		dm_tool_die("one input at most, got '%s' and '%s'", argv[optind], argv[optind + 1]);
	o->in = optind < argc ? argv[optind] : "-";
	if (o->sdedit && so->from_t < 0)
		dm_tool_die("--sdedit needs --from-t T");
	if (o->from_sigma >= 0 && so->from_t >= 0)
		dm_tool_die("give --from-t or --from-sigma, not both");
	if ((o->mask != NULL) + (o->restore != NULL) + (o->given > 0) > 1)
		dm_tool_die("give one of --mask (RePaint), --given and --restore");
	memset(&o->rs, 0, sizeof o->rs);
	if (o->restore)
		dm_tool_check(dm_restore_parse(o->restore, &o->rs, &err), &err);
	dm_tool_check(dm_restore_dps_options(&o->rs, o->gdp, so, &err), &err);
	if (!o->classifier && o->cls_class >= 0)
		dm_tool_die("--class goes with --classifier");
}

/* ---- the model ---------------------------------------------------------- */

/* -m, with -S for a gaussian: model (ignored for a checkpoint). */
static void open_model(opts *o, const dm_kv *stream_meta, dm_denoiser *m)
{
	dm_error err;
	dm_schedule gs, *sched = NULL;
	if (!strncmp(o->model, "gaussian:", 9) && o->cs.given) {
		dm_gaussmodel g; /* the spec's errors first */
		dm_tool_check(dm_gaussmodel_parse(o->model, &g, &err), &err);
		dm_cli_schedule_make(&o->cs, DM_SCHED_LINEAR, DM_PREDICT_EPS, &gs);
		sched = &gs;
	}
	dm_tool_check(dm_denoiser_open(m, o->model, o->raw_weights, o->precision, sched, stream_meta,
	                               strcmp(o->in, "-") ? o->in : "stdin", &err), &err);
	dm_denoiser_clip_default(m, &o->so, o->clip_set);
}

/* ---- main loop ------------------------------------------------------------ */

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	opts o;
	memset(&o, 0, sizeof o);
	parse(argc, argv, &o);
	dm_error err;
	dm_reader *r;
	dm_tool_check(dm_reader_open_path(&r, o.in, &err), &err);
	const char *name = dm_reader_name(r);
	dm_denoiser m;
	open_model(&o, dm_reader_meta(r), &m);
	dm_sampler_opts *so = &o.so;
	so->classes = m.classes;
	double user_from_t = so->from_t;
	if (o.from_sigma >= 0) {
		if (!(o.from_sigma > 0))
			dm_tool_die("--from-sigma must be positive");
		so->from_t = dm_schedule_t_from_sigma_ve(&m.s, o.from_sigma);
		user_from_t = so->from_t;
	}
	dm_tool_check(dm_denoiser_check_label(&m, o.label, o.model, &err), &err);
	dm_sampler_model sm = dm_denoiser_model(&m);
	dm_model *cls = NULL;
	if (o.classifier)
		dm_tool_check(dm_denoiser_classifier(so, o.classifier, o.cls_class < 0 ? 0 : o.cls_class,
		                                     o.cls_scale, &cls, &err), &err);
	/* the options as every frame will have them, before the first */
	static const float mask_pending = 1;
	dm_sampler_opts plan = *so;
	plan.mask = o.mask || o.given ? &mask_pending : NULL;
	plan.restore = o.restore ? o.rs.kind : 0;
	dm_tool_check(dm_sampler_check_plan(&m.s, sm.param, &plan, &err), &err);

	dm_kv meta;
	dm_kv_init(&meta);
	dm_tool_check(dm_trajectory_meta(&meta, dm_reader_meta(r), dm_sampler_name(so->kind), so->seed,
	                                 o.model, &m.s, so->encode, &err), &err);
	dm_cli_out out;
	dm_writer *w = dm_cli_out_open(&out, o.out, strcmp(o.out, "-") ? o.out : "stdout", &meta);
	dm_kv_free(&meta);
	int rc;

	dm_frame f;
	dm_frame_init(&f);
	uint64_t seen = 0;
	double nfe_sum = 0;
	dm_startframe st;
	dm_startframe_init(&st);
	dm_startframe_opts sto = {o.mask, &o.rs, o.given, o.label, o.sdedit, o.from_sigma,
	                          user_from_t};
	while ((rc = dm_reader_next(r, &f, &err)) > 0) {
		uint64_t index0 = dm_cli_tag_u64(&f.tags, "index", seen, name, dm_reader_frames(r));
		rc = dm_startframe_begin(&st, &sto, &m, so, &f, name, dm_reader_frames(r), index0, &err);
		dm_tool_check(rc, &err);
		if (!rc)
			continue;
		seen = index0 + (uint64_t)st.B;
		if (so->degrade)
			dm_tool_check(dm_restore_dps_setup(&o.rs, so, st.B, so->C, so->H, so->W, so->clip_lo,
			                                   so->clip_hi, &err), &err);
		dm_trajectory em = {w, &st.shape, index0, o.x0_out};
		so->emit = dm_trajectory_emit;
		so->emit_ctx = &em;
		double nfe = 0;
		rc = dm_sample(&m.s, &sm, so, st.xs, st.labels, st.B, st.D, index0, &nfe, &err);
		dm_tool_check(rc, &err);
		nfe_sum += nfe * st.B;
		/* The final frame: the input frame with x replaced. */
		double t_end = so->encode ? dm_schedule_t_max(&m.s) : dm_schedule_t_clean(&m.s);
		dm_tool_check(dm_trajectory_final(&f, &st.shape, st.xs, index0, t_end, nfe, &err), &err);
		dm_tool_check(dm_restore_dps_finish(&o.rs, &f, st.B, &err), &err);
		if (cls)
			dm_tool_check(dm_trajectory_label(&f, st.B, so->cls_class, &err), &err);
		dm_startframe_end(&st, so);
		dm_tool_check(dm_writer_write(w, &f, &err), &err);
	}
	dm_tool_check(rc, &err);
	if (o.verbose && seen)
		fprintf(stderr, "%s: %s: %.1f network evaluations per sample\n", dm_tool_name(),
		        dm_sampler_name(so->kind), nfe_sum / (double)seen);
	dm_cli_out_close(&out);
	dm_frame_free(&f);
	dm_startframe_free(&st);
	dm_reader_close(r);
	dm_denoiser_free(&m);
	dm_model_free(cls);
	return 0;
}

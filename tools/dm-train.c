/* dm-train - a weighted regression learner: fits a network (mlp or unet of
 * MODELS.md) to frames of (x = x_t, t, target, w, label) as dm-noise
 * --train writes them, with AdamW, and writes checkpoints (train.h).
 *
 * Under mpirun it trains data-parallel (dist.h): every rank holds the whole
 * model and reads its own shard of the input; each step every rank computes
 * the gradient of its micro-batches, one deterministic all-reduce sums the
 * gradient block, and every rank applies the same AdamW/EMA update.  Rank 0
 * alone writes the checkpoint, the log and the progress line. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "train/dist.h"
#include "core/outfile.h"
#include "diffusion/schedule.h"
#include "io/stream.h"
#include "nn/gemm.h"
#include "train/batcher.h"
#include "train/parity.h"
#include "train/trainer.h"
#include "cli.h"


enum {
	O_HIDDEN = DM_CLI_LONG, O_LAYERS, O_TEMB, O_CH, O_CHMULT, O_RESB, O_ATTN, O_GROUPS, O_DROPOUT,
	O_CLASSES, O_LABELDROP, O_ACCUM, O_LR, O_BETAS, O_WD, O_WARMUP, O_DECAY, O_DECAYSTEPS,
	O_CLIP, O_EMA, O_SAVE, O_RESUME, O_LOG, O_DUMP, O_STATS, O_REFERENCE, O_PRECISION,
};

static const char *const lr_decay_names[] = {"none", "cosine"};
static const dm_cli_enum lr_decays = {lr_decay_names, NULL, DM_LR_NONE, 2, NULL};
static const dm_cli_enum precisions = {NULL, dm_precision_name, DM_PREC_FP32, 2, NULL};

static const dm_cli_opt options[] = {
	{'m', "model", "NAME", "mlp-2d (default), unet-s, unet-m, or mlp / unet with\n"
	                     "the sizes below; classifier-fmnist (or classifier\n"
	                     "with --ch, --ch-mult, --res-blocks, --groups and\n"
	                     "--classes N outputs): a CNN fitted by softmax\n"
	                     "cross-entropy to the frames' x and label, straight\n"
	                     "from dm-load (no dm-noise), for dm-score --features", NULL},
	{O_HIDDEN, "hidden", "N", "mlp hidden width (256)", NULL},
	{O_LAYERS, "layers", "N", "mlp hidden layers (3)", NULL},
	{O_TEMB, "temb", "N", "mlp time-embedding width (64)", NULL},
	{O_CH, "ch", "N", "unet base width (32)", NULL},
	{O_CHMULT, "ch-mult", "LIST", "unet width multipliers per level (1,2,2)", NULL},
	{O_RESB, "res-blocks", "N", "unet ResBlocks per level (2)", NULL},
	{O_ATTN, "attn", "LIST", "unet resolutions with self-attention (7; or none)", NULL},
	{O_GROUPS, "groups", "N", "unet GroupNorm groups (8)", NULL},
	{O_DROPOUT, "dropout", "P", "unet dropout in ResBlocks (0)", NULL},
	{O_CLASSES, "classes", "N", "class-conditional with N classes (labels 0..N-1;\n"
	                     "label N is the null label)", NULL},
	{O_LABELDROP, "label-dropout", "P", "probability of training with the null label (0.1)", NULL},
	{'n', "steps", "N", "stop after optimiser step N (0 = when input ends)", NULL},
	{'b', "batch", "N", "samples per micro-batch, re-batching frames (per\n"
	                     "model: mlp 256, unet 64, classifier 128)", NULL},
	{O_ACCUM, "grad-accum", "K", "micro-batches per optimiser step (1)", NULL},
	{O_LR, "lr", "X", "peak learning rate (per model: mlp 2e-3, unet 1e-3,\n"
	                     "classifier 2e-3)", NULL},
	{O_BETAS, "betas", "B1,B2", "AdamW betas (0.9,0.999)", NULL},
	{O_WD, "weight-decay", "X", "AdamW decoupled weight decay (0)", NULL},
	{O_WARMUP, "warmup", "N", "linear warm-up steps (unet 200, classifier 50, mlp 0)", NULL},
	{O_DECAY, "lr-decay", "KIND", "none (default; classifier: cosine) or cosine (to 0\n"
	                     "at --decay-steps)", &lr_decays},
	{O_DECAYSTEPS, "decay-steps", "N", "cosine horizon (default: --steps)", NULL},
	{O_CLIP, "clip-grad", "X", "clip the global gradient norm to X (1; 0 = off)", NULL},
	{O_EMA, "ema", "D", "EMA decay of the weights (0.999, classifier 0.995;\n"
	                     "warm-up min(D, (1+s)/(10+s)) at step s)", NULL},
	{O_REFERENCE, "reference", NULL, "the benchmark setting of MODELS.md instead of the\n"
	                     "per-model defaults: lr 2e-4, batch 128, EMA 0.999,\n"
	                     "no warm-up, decay or clipping (options given\n"
	                     "still override it)", NULL},
	{'j', "threads", "N", "threads (default: all cores; under mpirun, the\n"
	                     "cores a rank may use, shared by the node's ranks)", NULL},
	{'o', "output", "FILE", "checkpoint path (model.dmt; with --resume, its path)", NULL},
	{O_SAVE, "save-every", "N", "also save every N steps (0 = only at the end)", NULL},
	{O_RESUME, "resume", "FILE", "continue from a checkpoint, bit-exactly: its model,\n"
	                     "options and state are used (options given here\n"
	                     "override the training options) and the first\n"
	                     "`samples` input samples it already saw are skipped", NULL},
	{O_LOG, "log", "FILE", "CSV log: step,loss,lr,grad_norm,seconds, one line\n"
	                     "per step, flushed as it goes (appended to with\n"
	                     "--resume)", NULL},
	{O_PRECISION, "precision", "P", "fp32 (default) or bf16: the unet's convolutions\n"
	                     "take bf16 operands with fp32 sums; weights, Adam\n"
	                     "moments, norms, softmax, loss and the checkpoint\n"
	                     "stay fp32", &precisions},
	{O_STATS, "stats", NULL, "print steps/s and the all-reduce time per step on\n"
	                     "stderr at the end", NULL},
	{O_DUMP, "dump-grads", "FILE", "write the first batch, the network output, the loss,\n"
	                     "the weights and their gradients as a stream, then\n"
	                     "exit without training (the PyTorch parity test)", NULL},
	{'q', "quiet", NULL, "no progress line even on a terminal", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]...",
	"Fit a denoising network to the training stream on stdin (frames of x, t,\n"
	"target, optional w and label, as `dm-noise --train` writes them) and write a\n"
	"checkpoint stream.\n"
	"The model's input shape comes from the first frame (see MODELS.md);\n"
	"--seed seeds initialisation, dropout and label dropout.",
	options,
	DM_CLI_SEED | DM_CLI_THREADS | DM_CLI_OUTPUT | DM_CLI_QUIET,
	"SIGINT/SIGTERM save the checkpoint and exit 0.  A non-finite loss stops with\n"
	"exit 1 and keeps the last saved checkpoint.\n"
	"\n"
	"MPI (data parallel; --batch is per rank, the global batch is N times it):\n"
	"  mpirun -np 2 sh -c 'dm-load fashion-mnist:train --shuffle --epochs 0 \\\n"
	"    --shard $OMPI_COMM_WORLD_RANK/$OMPI_COMM_WORLD_SIZE --batch 64 \\\n"
	"    | dm-noise --train | dm-train --model unet-s --batch 64 -j 1 -o m.dmt'\n"
	"\n"
	"Example: dm-load toy:8gaussians --batch 128 --epochs 0 | dm-noise --train \\\n"
	"           | dm-train --model mlp-2d --steps 2000 -o gauss.dmt\n"
#ifdef DM_MPI
	"\nThis dm-train was built with MPI.\n",
#else
	"\nThis dm-train was built without MPI.\n",
#endif
};

/* The training options not given on the command line take the defaults of
 * the network kind (trainer.h: chosen by measurement), or with --reference
 * (kind 0) the benchmark setting of MODELS.md. */
static void net_defaults(dm_train_opts *o, int kind, int reference, const int *set)
{
	dm_train_opts d;
	dm_train_opts_for_net(&d, kind);
	if (reference)
		d.clip = 0;
	if (!set[O_LR]) o->lr = d.lr;
	if (!set['b']) o->batch = d.batch;
	if (!set[O_EMA]) o->ema = d.ema;
	if (!set[O_WARMUP]) o->warmup = d.warmup;
	if (!set[O_DECAY]) o->lr_decay = d.lr_decay;
	if (!set[O_CLIP]) o->clip = d.clip;
}

/* The progress line on stderr (a terminal): step, loss, lr, rate, ETA. */
static void progress(long step, long total, double sloss, float lr, double rate, int final)
{
	char what[64];
	snprintf(what, sizeof what, "loss %.5f  lr %.2e", sloss, (double)lr);
	dm_cli_progress("step", step, total, what, rate, final);
}

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) { stop_requested = sig; }

/* ---- re-batching the input (train/batcher.h) --------------------------- */

/* A read cut short by SIGINT/SIGTERM ends the input (the run then saves). */
static int fill(dm_batcher *b, int B, float *x, float *t, float *tg, float *w, int32_t *lab)
{
	dm_error err;
	int rc = dm_batcher_fill(b, B, x, t, tg, w, lab, &err);
	if (rc < 0 && stop_requested)
		return 0;
	dm_tool_check(rc, &err);
	return rc;
}

static int next_frame(dm_batcher *b)
{
	dm_error err;
	int rc = dm_batcher_next_frame(b, &err);
	if (rc < 0 && stop_requested)
		return 0;
	dm_tool_check(rc, &err);
	return rc;
}

/* ---- data parallelism --------------------------------------------------- */

/* Tell the trainer its rank, check that this rank reads its own shard when
 * the stream says which one it is, and start every rank from rank 0's
 * state (they built it the same way; this makes sure). */
static void join_ranks(dm_trainer *tr, dm_dist *d, const dm_kv *inmeta)
{
	dm_error err;
	tr->rank = d->rank, tr->nranks = d->size;
	const char *sh = dm_kv_get(inmeta, "shard");
	int r, n;
	if (sh && sscanf(sh, "%d/%d", &r, &n) == 2 && (r != d->rank || n != d->size))
		dm_tool_die("stdin: the stream is shard %s but this is rank %d of %d; give each rank "
		            "dm-load --shard $OMPI_COMM_WORLD_RANK/$OMPI_COMM_WORLD_SIZE",
		            sh, d->rank, d->size);
	if (d->size > 1) {
		dm_tool_check(dm_dist_bcast(d, tr->w, tr->P * sizeof(float), &err), &err);
		dm_tool_check(dm_dist_bcast(d, tr->m, 3 * tr->P * sizeof(float), &err), &err);
	}
}

/* ---- main ------------------------------------------------------------- */

static void save(const dm_trainer *tr, const char *path)
{
	dm_error err;
	dm_tool_check(dm_trainer_save(tr, path, &err), &err);
}

static void check_schedule(const dm_kv *meta, float *t_scale)
{
	dm_schedule s;
	dm_error err;
	memset(&s, 0, sizeof s);
	*t_scale = 1;
	if (!dm_kv_get(meta, "schedule"))
		return; /* a bare regression stream: t is used as it is */
	if (dm_schedule_from_kv(meta, &s, &err) < 0)
		dm_tool_die("stdin: %s", err.msg);
	if (!dm_schedule_is_discrete(&s))
		*t_scale = 999; /* MODELS.md: continuous t in [0,1] is embedded as 999 t */
	dm_schedule_free(&s);
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	dm_net_config cfg;
	dm_train_opts o;
	dm_error err;
	dm_dist dist;
	if (dm_dist_init(&dist, &argc, &argv, &err) < 0)
		dm_tool_die("%s", err.msg);
	dm_train_opts_default(&o);
	const char *model = "mlp-2d", *out = NULL, *resume = NULL, *logpath = NULL,
	           *dumppath = NULL;
	long steps = 0, save_every = 0;
	int stats = 0, reference = 0, precision = DM_PREC_FP32;
	/* explicit settings (so that --resume keeps the checkpoint's others) */
	int set_model = 0, set[512] = {0};
	int hidden = -1, layers = -1, temb = -1, ch = -1, resb = -1, groups = -1, classes = -1;
	float dropout = -1;
	const char *chmult = NULL, *attn = NULL;
	int c;
	dm_cli_common co;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		const char *opt = NULL;
		for (int i = 0; options[i].name; i++)
			if (options[i].key == c)
				opt = options[i].name;
		char optbuf[64];
		snprintf(optbuf, sizeof optbuf, "--%s", opt ? opt : "?");
		switch (c) {
		case 'm': model = optarg, set_model = 1; break;
		case O_HIDDEN: hidden = (int)dm_tool_int(optbuf, optarg, 1, 65536), set_model = 1; break;
		case O_LAYERS: layers = (int)dm_tool_int(optbuf, optarg, 1, 62), set_model = 1; break;
		case O_TEMB: temb = (int)dm_tool_int(optbuf, optarg, 2, 65536), set_model = 1; break;
		case O_CH: ch = (int)dm_tool_int(optbuf, optarg, 2, 4096), set_model = 1; break;
		case O_CHMULT: chmult = optarg, set_model = 1; break;
		case O_RESB: resb = (int)dm_tool_int(optbuf, optarg, 1, 16), set_model = 1; break;
		case O_ATTN: attn = optarg, set_model = 1; break;
		case O_GROUPS: groups = (int)dm_tool_int(optbuf, optarg, 1, 4096), set_model = 1; break;
		case O_DROPOUT: dropout = (float)dm_tool_double(optbuf, optarg), set_model = 1; break;
		case O_CLASSES: classes = (int)dm_tool_int(optbuf, optarg, 0, 1000000), set_model = 1;
			break;
		case O_LABELDROP: o.label_dropout = (float)dm_tool_double(optbuf, optarg); break;
		case 'n': steps = (long)dm_tool_int(optbuf, optarg, 0, 1LL << 40); break;
		case 'b': o.batch = (int)dm_tool_int(optbuf, optarg, 1, 1 << 20); break;
		case O_ACCUM: o.grad_accum = (int)dm_tool_int(optbuf, optarg, 1, 1 << 16); break;
		case O_LR: o.lr = (float)dm_tool_double(optbuf, optarg); break;
		case O_BETAS:
			if (sscanf(optarg, "%f,%f", &o.beta1, &o.beta2) != 2 || !(o.beta1 >= 0) ||
			    !(o.beta1 < 1) || !(o.beta2 >= 0) || !(o.beta2 < 1))
				dm_tool_die("--betas: '%s' is not B1,B2 with both in [0, 1)", optarg);
			break;
		case O_WD: o.weight_decay = (float)dm_tool_double(optbuf, optarg); break;
		case O_WARMUP: o.warmup = (long)dm_tool_int(optbuf, optarg, 0, 1LL << 40); break;
		case O_DECAY: o.lr_decay = dm_cli_enum_parse("--lr-decay", optarg, &lr_decays); break;
		case O_DECAYSTEPS: o.decay_steps = (long)dm_tool_int(optbuf, optarg, 1, 1LL << 40); break;
		case O_CLIP: o.clip = (float)dm_tool_double(optbuf, optarg); break;
		case O_EMA: o.ema = (float)dm_tool_double(optbuf, optarg); break;
		case O_SAVE: save_every = (long)dm_tool_int(optbuf, optarg, 0, 1LL << 40); break;
		case O_RESUME: resume = optarg; break;
		case O_LOG: logpath = optarg; break;
		case O_DUMP: dumppath = optarg; break;
		case O_STATS: stats = 1; break;
		case O_REFERENCE: reference = 1; break;
		case O_PRECISION: precision = dm_cli_enum_parse("--precision", optarg, &precisions); break;
		}
		if (c >= 0 && c < 512)
			set[c] = 1;
	}
	const int quiet = co.quiet;
	int threads = co.threads;
	o.seed = co.seed;
	if (co.output_given)
		out = co.output;
	if (optind < argc)
		dm_tool_die("unexpected argument '%s' (the training stream is read from stdin)",
		            argv[optind]);
	if (!(o.lr > 0) || !(o.ema >= 0 && o.ema < 1) || !(o.clip >= 0) ||
	    !(o.weight_decay >= 0) || !(o.label_dropout >= 0 && o.label_dropout <= 1))
		dm_tool_die("--lr must be > 0, --ema in [0,1), --clip-grad and --weight-decay >= 0, "
		            "--label-dropout in [0,1]");
	if (threads == 0 && dist.local_size > 1) {
		/* ranks on one node share its cores (launchers that bind a rank to
		 * a core already show it one) */
		int np = 1;
#ifdef _OPENMP
		np = omp_get_num_procs();
#endif
		threads = np / dist.local_size > 1 ? np / dist.local_size : 1;
	}
	dm_tool_threads(threads);
	if (dumppath && dist.size > 1)
		dm_tool_die("--dump-grads runs on one rank, not under mpirun");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	dm_reader *rd;
	dm_tool_check(dm_reader_open(&rd, stdin, "-", &err), &err);
	const dm_kv *inmeta = dm_reader_meta(rd);
	dm_batcher b;
	dm_batcher_init(&b, rd, 0);

	dm_trainer tr;
	if (resume) {
		if (set_model)
			dm_tool_die("--resume: the model comes from %s; model options cannot change it",
			            resume);
		dm_tool_check(dm_trainer_load(&tr, resume, &err), &err);
		b.labels_only = tr.net.cfg.kind == DM_NET_CLASSIFIER;
		/* options given now override the checkpoint's */
		dm_train_opts *t = &tr.o;
		if (set[O_LR]) t->lr = o.lr;
		if (set[O_BETAS]) t->beta1 = o.beta1, t->beta2 = o.beta2;
		if (set[O_WD]) t->weight_decay = o.weight_decay;
		if (set[O_WARMUP]) t->warmup = o.warmup;
		if (set[O_DECAY]) t->lr_decay = o.lr_decay;
		if (set[O_DECAYSTEPS]) t->decay_steps = o.decay_steps;
		if (set[O_CLIP]) t->clip = o.clip;
		if (set[O_EMA]) t->ema = o.ema;
		if (set[O_LABELDROP]) t->label_dropout = o.label_dropout;
		if (set[O_ACCUM]) t->grad_accum = o.grad_accum;
		/* the checkpoint's batch is global; each of N ranks takes 1/N */
		if (set['b'])
			t->batch = o.batch;
		else if (t->batch % dist.size)
			dm_tool_die("--resume: %s has a global batch of %d, not divisible by %d ranks; "
			            "give --batch (per rank)", resume, t->batch, dist.size);
		else
			t->batch /= dist.size;
		if (!out)
			out = resume;
		if (tr.samples % (uint64_t)dist.size)
			dm_tool_die("--resume: %s has seen %llu samples, not divisible by %d ranks", resume,
			            (unsigned long long)tr.samples, dist.size);
		/* skip what the checkpoint already saw, so that replaying the same
		 * deterministic pipeline continues where it stopped: the first
		 * `samples` of the global order, of which this rank's shard holds
		 * every N-th */
		uint64_t skip = tr.samples / (uint64_t)dist.size;
		while (skip > 0) {
			int k = skip > (1u << 20) ? 1 << 20 : (int)skip;
			if (!fill(&b, k, NULL, NULL, NULL, NULL, NULL))
				dm_tool_die("stdin: input ended while skipping the %llu samples %s already "
				            "trained on",
				            (unsigned long long)tr.samples, resume);
			skip -= (uint64_t)k;
		}
		if (!b.started && !next_frame(&b))
			dm_tool_die("stdin: empty training stream");
		if (b.S != dm_net_sample_size(&tr.net.cfg))
			dm_tool_die("stdin: samples have %zu values but %s was trained on %zu", b.S, resume,
			            dm_net_sample_size(&tr.net.cfg));
	} else {
		if (!out)
			out = "model.dmt";
		dm_tool_check(dm_net_config_named(&cfg, model, &err), &err);
		net_defaults(&o, reference ? 0 : cfg.kind, reference, set);
		b.labels_only = cfg.kind == DM_NET_CLASSIFIER;
		if (!next_frame(&b))
			dm_tool_die("stdin: empty training stream (no frames)");
		if (cfg.kind == DM_NET_MLP) {
			cfg.dim = (int)b.S;
			if (hidden > 0) cfg.hidden = hidden;
			if (layers > 0) cfg.layers = layers;
			if (temb > 0) cfg.temb = temb;
			if (ch > 0 || chmult || resb > 0 || attn || groups > 0 || dropout >= 0)
				dm_tool_die("--ch, --ch-mult, --res-blocks, --attn, --groups and --dropout "
				            "are unet options");
		} else {
			if (b.rank != 3)
				dm_tool_die("stdin: --model %s needs images N x C x H x W, got samples of "
				            "rank %d", model, b.rank);
			cfg.in_ch = (int)b.dims[0], cfg.H = (int)b.dims[1], cfg.W = (int)b.dims[2];
			if (ch > 0) cfg.ch = ch;
			if (resb > 0) cfg.res_blocks = resb;
			if (groups > 0) cfg.groups = groups;
			if (dropout >= 0) cfg.dropout = dropout;
			if (chmult && (cfg.nmult = dm_net_parse_list(chmult, cfg.ch_mult,
			                                             DM_NET_MAX_LEVELS)) < 1)
				dm_tool_die("--ch-mult: '%s' is not a list like 1,2,2", chmult);
			if (attn && (cfg.nattn = dm_net_parse_list(attn, cfg.attn_res,
			                                           DM_NET_MAX_LEVELS)) < 0)
				dm_tool_die("--attn: '%s' is not a list like 16,8 or none", attn);
			if (hidden > 0 || layers > 0 || temb > 0)
				dm_tool_die("--hidden, --layers and --temb are mlp options");
		}
		if (classes > 0 && cfg.kind == DM_NET_CLASSIFIER)
			cfg.outputs = classes; /* the classes it tells apart */
		else if (classes > 0)
			cfg.classes = classes;
		check_schedule(inmeta, &cfg.t_scale);
		if (o.lr_decay == DM_LR_COSINE && o.decay_steps == 0)
			o.decay_steps = steps;
		if (o.lr_decay == DM_LR_COSINE && o.decay_steps == 0 && !set[O_DECAY])
			o.lr_decay = DM_LR_NONE; /* a default decay needs a horizon */
		if (o.lr_decay == DM_LR_COSINE && o.decay_steps == 0)
			dm_tool_die("--lr-decay cosine needs --steps or --decay-steps");
		if (dm_trainer_init(&tr, &cfg, &o, inmeta, &err) < 0)
			dm_tool_die("%s", err.msg);
	}
	dm_net_set_precision(&tr.net, precision);
	if (tr.net.cfg.classes > 0 && !b.has_label)
		dm_tool_die("stdin: --classes needs a 'label' tensor in the training frames");
	join_ranks(&tr, &dist, inmeta);
	int lead = dist.rank == 0;

	/* the log is appended to as training goes (tail -f), not atomic */
	FILE *logf = NULL;
	if (logpath && lead) {
		logf = fopen(logpath, resume ? "a" : "w");
		if (!logf)
			dm_tool_die("%s: %s", logpath, strerror(errno));
		if (ftell(logf) == 0)
			fprintf(logf, "step,loss,lr,grad_norm,seconds\n");
		fflush(logf);
	}

	int B = tr.o.batch;
	size_t S = b.S;
	float *x = malloc((size_t)B * S * 4), *tg = malloc((size_t)B * S * 4);
	float *t = malloc((size_t)B * 4), *w = malloc((size_t)B * 4);
	int32_t *lab = malloc((size_t)B * 4);
	if (!x || !tg || !t || !w || !lab)
		dm_tool_die("out of memory for a batch of %d", B);

	if (dumppath) {
		if (!fill(&b, B, x, t, tg, w, lab))
			dm_tool_die("stdin: fewer than %d samples", B);
		double l;
		if (dm_trainer_micro(&tr, x, t, tg, w, tr.net.cfg.classes || b.labels_only ? lab : NULL, B, &l, &err) < 0)
			dm_tool_die("%s", err.msg);
		dm_tool_check(dm_parity_dump(&tr, dumppath, x, t, tg, w, B, S, l, &err), &err);
		goto done;
	}

	int show = lead && !quiet && isatty(2);
	double t0 = dm_cli_now(), last_show = 0, sloss = 0, sw = 0;
	long step0 = tr.step;
	while (steps == 0 || tr.step < steps) {
		/* vote[]: this rank's loss sum, input ended, stop asked, failed; the
		 * ranks agree on them before the gradient all-reduce, so that all
		 * stop at the same step and none waits for a rank that left */
		double vote[4] = {0, 0, stop_requested != 0, 0}, l;
		uint64_t samples0 = tr.samples;
		for (int a = 0; a < tr.o.grad_accum && !vote[1] && !vote[2] && !vote[3]; a++) {
			if (!fill(&b, B, x, t, tg, w, lab))
				vote[1] = 1;
			else if (dm_trainer_micro(&tr, x, t, tg, w, tr.net.cfg.classes || b.labels_only ? lab : NULL, B, &l,
			                          &err) < 0)
				vote[3] = 1;
			else
				vote[0] += l / tr.o.grad_accum;
		}
		int failed = vote[3] != 0;
		dm_tool_check(dm_dist_sum_doubles(&dist, vote, 4, &err), &err);
		if (vote[3]) {
			if (show)
				fputc('\n', stderr);
			if (logf)
				fclose(logf);
			dm_dist_finalize(&dist);
			if (failed)
				dm_tool_die("%s", err.msg);
			exit(1); /* the rank that failed said why */
		}
		if (vote[1] || vote[2]) {
			/* an unfinished step is not in the checkpoint */
			tr.samples = samples0, tr.accum = 0;
			break;
		}
		double loss = vote[0] / dist.size, gnorm;
		dm_tool_check(dm_dist_allreduce_sum(&dist, tr.g, tr.P, &err), &err);
		float lr = dm_trainer_apply(&tr, &gnorm);
		double el = dm_cli_now() - t0;
		sloss = 0.98 * sloss + 0.02 * loss, sw = 0.98 * sw + 0.02;
		if (logf) {
			fprintf(logf, "%ld,%.9g,%.9g,%.9g,%.3f\n", tr.step, loss, (double)lr, gnorm, el);
			if (fflush(logf) != 0)
				dm_tool_die("%s: %s", logpath, strerror(errno));
		}
		if (lead && save_every > 0 && tr.step % save_every == 0)
			save(&tr, out);
		if (show && (el - last_show > 0.2 || tr.step == steps)) {
			progress(tr.step, steps, sloss / sw, lr, (double)(tr.step - step0) / el, 0);
			last_show = el;
		}
	}
	double el = dm_cli_now() - t0;
	if (lead)
		save(&tr, out);
	if (show)
		progress(tr.step, steps, sw > 0 ? sloss / sw : 0, dm_trainer_lr(&tr.o, tr.step),
		         (double)(tr.step - step0) / (el + 1e-9), 1);
	if (logf && fclose(logf) != 0)
		dm_tool_die("%s: %s", logpath, strerror(errno));
	if (stats && lead) {
		long n = tr.step - step0;
		fprintf(stderr,
		        "dm-train: %ld steps in %.3f s, %.3f steps/s, %d rank%s x %d sample%s, "
		        "all-reduce %.3f ms/step (%zu floats)\n",
		        n, el, n > 0 ? (double)n / el : 0.0, dist.size, dist.size > 1 ? "s" : "", B,
		        B > 1 ? "s" : "", dist.calls ? 1e3 * dist.seconds / (double)dist.calls : 0.0,
		        tr.P);
	}
done:
	/* closing stdin makes the producers upstream stop quietly (EPIPE) */
	dm_batcher_free(&b);
	dm_reader_close(rd);
	fclose(stdin);
	free(x), free(tg), free(t), free(w), free(lab);
	dm_trainer_free(&tr);
	dm_dist_finalize(&dist);
	return 0;
}

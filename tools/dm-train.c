/* dm-train - a weighted regression learner: fits a network (mlp, unet or
 * unet3d of MODELS.md) to frames of (x = x_t, t, target, w, label) as dm-noise
 * --train writes them, with AdamW, and writes checkpoints (train/run.h).
 *
 * Under mpirun it trains data-parallel (dist.h): every rank holds the whole
 * model and reads its own shard of the input; each step every rank computes
 * the gradient of its micro-batches, one deterministic all-reduce sums the
 * gradient block, and every rank applies the same AdamW/EMA update.  Rank 0
 * alone writes the checkpoint, the log and the progress line. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "eval/watch.h"
#include "nn/gemm.h"
#include "train/parity.h"
#include "train/run.h"
#include "cli.h"

enum {
	O_HIDDEN = DM_CLI_LONG, O_LAYERS, O_TEMB, O_CH, O_CHMULT, O_RESB, O_ATTN, O_GROUPS, O_DROPOUT,
	O_CLASSES, O_LABELDROP, O_ACCUM, O_LR, O_BETAS, O_WD, O_WARMUP, O_DECAY, O_DECAYSTEPS,
	O_CLIP, O_EMA, O_SAVE, O_RESUME, O_LOG, O_DUMP, O_STATS, O_REFERENCE, O_PRECISION, O_CONV3D,
};

static const char *const lr_decay_names[] = {"none", "cosine"};
static const dm_cli_enum lr_decays = {lr_decay_names, NULL, DM_LR_NONE, 2, NULL};
static const dm_cli_enum precisions = {NULL, dm_precision_name, DM_PREC_FP32, 2, NULL};

static const dm_cli_opt options[] = {
	{'m', "model", "NAME", "mlp-2d (default), unet-s, unet-m, unet3d-s (clips\n"
	                     "N x C x T x H x W), or mlp / unet / unet3d with the\n"
	                     "sizes below; classifier-fmnist (or classifier with\n"
	                     "--ch, --ch-mult, --res-blocks, --groups, --classes N\n"
	                     "outputs): a CNN fitted by softmax cross-entropy to\n"
	                     "x and label from dm-load, for dm-score --features", NULL},
	{O_HIDDEN, "hidden", "N", "mlp hidden width (256)", NULL},
	{O_LAYERS, "layers", "N", "mlp hidden layers (3)", NULL},
	{O_TEMB, "temb", "N", "time-embedding width: mlp (64); a classifier's\n"
	                     "(0: not told t)", NULL},
	{O_CH, "ch", "N", "unet base width (32)", NULL},
	{O_CHMULT, "ch-mult", "LIST", "unet width multipliers per level (1,2,2)", NULL},
	{O_RESB, "res-blocks", "N", "unet ResBlocks per level (2)", NULL},
	{O_ATTN, "attn", "LIST", "unet resolutions with self-attention (7; or none)", NULL},
	{O_GROUPS, "groups", "N", "unet GroupNorm groups (8)", NULL},
	{O_DROPOUT, "dropout", "P", "unet dropout in ResBlocks (0)", NULL},
	{O_CONV3D, "conv3d", NULL, "unet3d: 3x3x3 convolutions over (T, H, W), for volumes", NULL},
	{O_CLASSES, "classes", "N", "class-conditional with N classes (labels 0..N-1;\n"
	                     "label N is the null label)", NULL},
	{O_LABELDROP, "label-dropout", "P", "probability of training with the null label (0.1)", NULL},
	{'n', "steps", "N", "stop after optimiser step N (0 = when input ends)", NULL},
	{'b', "batch", "N", "samples per micro-batch, re-batching frames (per\n"
	                     "model: mlp 256, unet 64, unet3d 16, classifier 128)", NULL},
	{O_ACCUM, "grad-accum", "K", "micro-batches per optimiser step (1)", NULL},
	{O_LR, "lr", "X", "peak learning rate (per model: mlp 2e-3, unet 1e-3,\n"
	                     "classifier 2e-3)", NULL},
	{O_BETAS, "betas", "B1,B2", "AdamW betas (0.9,0.999)", NULL},
	{O_WD, "weight-decay", "X", "AdamW decoupled weight decay (0)", NULL},
	{O_WARMUP, "warmup", "N", "warm-up steps (unet/unet3d 200, classifier 50, mlp 0)", NULL},
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
	DM_CLI_WATCH_OPTIONS,
	{'q', "quiet", NULL, "no progress line (nor watching lines) even on a terminal", NULL},
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

/* The progress line on stderr (a terminal): step, loss, lr, rate, ETA. */
static void progress(long step, long total, double sloss, float lr, double rate, int final)
{
	char what[64];
	snprintf(what, sizeof what, "loss %.5f  lr %.2e", sloss, (double)lr);
	dm_cli_progress("step", step, total, what, rate, final);
}

/* ---- main ------------------------------------------------------------- */

static void save(const dm_trainer *tr, const char *path)
{
	dm_error err;
	dm_tool_check(dm_trainer_save(tr, path, &err), &err);
}

/* The option's bit in dm_train_opts_merge's mask. */
static unsigned given_bit(int key)
{
	static const int keys[] = {O_LR, O_BETAS, O_WD, O_WARMUP, O_DECAY, O_DECAYSTEPS,
	                           O_CLIP, O_EMA, O_LABELDROP, O_ACCUM, 'b'};
	for (int i = 0; i < (int)(sizeof keys / sizeof *keys); i++)
		if (keys[i] == key)
			return 1u << i; /* DM_TO_* in the same order */
	return 0;
}

/* A read of the training stream: 1, 0 at its end or when a signal asked to
 * stop while it waited; dies on an error. */
static int got(int rc, const dm_error *err, const volatile sig_atomic_t *stop)
{
	if (rc < 0 && *stop)
		return 0;
	dm_tool_check(rc, err);
	return rc;
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	dm_train_opts o;
	dm_error err;
	dm_dist dist;
	if (dm_dist_init(&dist, &argc, &argv, &err) < 0)
		dm_tool_die("%s", err.msg);
	dm_train_opts_default(&o);
	const char *model = "mlp-2d", *out, *resume = NULL, *logpath = NULL, *dumppath = NULL;
	long steps = 0, save_every = 0;
	int stats = 0, reference = 0, precision = DM_PREC_FP32, set_model = 0, c;
	unsigned given = 0; /* the training options given (--resume keeps the others) */
	dm_net_sizes sz;
	dm_net_sizes_none(&sz);
	dm_watch_opts wo;
	dm_watch_opts_default(&wo);
	wo.out = "samples.mp4";
	dm_cli_common co;
	while ((c = dm_cli_next(&cli, argc, argv, &co)) != -1) {
		char opt[64];
		snprintf(opt, sizeof opt, "--%s", dm_cli_opt_name(&cli, c));
		switch (c) {
		case 'm': model = optarg; break;
		case O_HIDDEN: sz.hidden = (int)dm_tool_int(opt, optarg, 1, 65536); break;
		case O_LAYERS: sz.layers = (int)dm_tool_int(opt, optarg, 1, 62); break;
		case O_TEMB: sz.temb = (int)dm_tool_int(opt, optarg, 2, 65536); break;
		case O_CH: sz.ch = (int)dm_tool_int(opt, optarg, 2, 4096); break;
		case O_CHMULT: sz.ch_mult = optarg; break;
		case O_RESB: sz.res_blocks = (int)dm_tool_int(opt, optarg, 1, 16); break;
		case O_ATTN: sz.attn = optarg; break;
		case O_GROUPS: sz.groups = (int)dm_tool_int(opt, optarg, 1, 4096); break;
		case O_DROPOUT: sz.dropout = (float)dm_tool_double(opt, optarg); break;
		case O_CONV3D: sz.kt = 3; break;
		case O_CLASSES: sz.classes = (int)dm_tool_int(opt, optarg, 0, 1000000); break;
		case O_LABELDROP: o.label_dropout = (float)dm_tool_double(opt, optarg); break;
		case 'n': steps = (long)dm_tool_int(opt, optarg, 0, 1LL << 40); break;
		case 'b': o.batch = (int)dm_tool_int(opt, optarg, 1, 1 << 20); break;
		case O_ACCUM: o.grad_accum = (int)dm_tool_int(opt, optarg, 1, 1 << 16); break;
		case O_LR: o.lr = (float)dm_tool_double(opt, optarg); break;
		case O_BETAS:
			if (sscanf(optarg, "%f,%f", &o.beta1, &o.beta2) != 2)
				dm_tool_die("--betas: '%s' is not B1,B2", optarg);
			break;
		case O_WD: o.weight_decay = (float)dm_tool_double(opt, optarg); break;
		case O_WARMUP: o.warmup = (long)dm_tool_int(opt, optarg, 0, 1LL << 40); break;
		case O_DECAY: o.lr_decay = dm_cli_enum_parse(opt, optarg, &lr_decays); break;
		case O_DECAYSTEPS: o.decay_steps = (long)dm_tool_int(opt, optarg, 1, 1LL << 40); break;
		case O_CLIP: o.clip = (float)dm_tool_double(opt, optarg); break;
		case O_EMA: o.ema = (float)dm_tool_double(opt, optarg); break;
		case O_SAVE: save_every = (long)dm_tool_int(opt, optarg, 0, 1LL << 40); break;
		case O_RESUME: resume = optarg; break;
		case O_LOG: logpath = optarg; break;
		case O_DUMP: dumppath = optarg; break;
		case O_STATS: stats = 1; break;
		case O_REFERENCE: reference = 1; break;
		case O_PRECISION: precision = dm_cli_enum_parse(opt, optarg, &precisions); break;
		default: dm_cli_watch_opt(&wo, c, optarg); break;
		}
		given |= given_bit(c);
		set_model |= c == 'm' || (c >= O_HIDDEN && c <= O_CLASSES);
	}
	int threads = co.threads;
	o.seed = co.seed;
	out = co.output_given ? co.output : resume ? resume : "model.dmt";
	if (optind < argc)
		dm_tool_die("unexpected argument '%s' (the training stream is read from stdin)",
		            argv[optind]);
	dm_train_opts chk = o; /* the values given, before any frame is read */
	dm_tool_check(dm_train_opts_check(&chk, 1, given, &err), &err);
	if (resume && set_model)
		dm_tool_die("--resume: the model comes from %s; model options cannot change it",
		            resume);
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
	volatile sig_atomic_t *stop = dm_tool_stop_on_signal();

	dm_reader *rd;
	dm_tool_check(dm_reader_open(&rd, stdin, "-", &err), &err);
	dm_batcher b;
	dm_batcher_init(&b, rd, 0);
	dm_trainer tr;
	if (resume)
		dm_tool_check(dm_run_resume(&tr, &b, resume, &o, given, dist.size, steps, stop, &err),
		              &err);
	else
		dm_tool_check(dm_run_new(&tr, &b, model, &sz, &o, given, reference, steps, stop, &err),
		              &err);
	if (!b.started)
		dm_tool_die("stdin: empty training stream (no frames)");
	dm_net_set_precision(&tr.net, precision);
	if (tr.net.cfg.classes > 0 && !b.has_label)
		dm_tool_die("stdin: --classes needs a 'label' tensor in the training frames");
	dm_tool_check(dm_run_join(&tr, &b, &dist, &err), &err);
	int lead = dist.rank == 0;

	FILE *logf = NULL;
	if (logpath && lead)
		dm_tool_check(dm_run_log_open(&logf, logpath, resume != NULL, &err), &err);
	dm_watch *watch = NULL; /* samples and figures while training, from rank 0 */
	if (lead && (wo.sample_every > 0 || wo.eval_every > 0) && !dumppath) {
		wo.seed = o.seed;
		dm_tool_check(dm_watch_open(&watch, &tr.net.cfg, &tr.meta, &wo, &err), &err);
	}

	dm_batch mb;
	dm_tool_check(dm_batch_alloc(&mb, tr.o.batch, b.S, &err), &err);
	if (dumppath) {
		if (!got(dm_batch_fill(&mb, &b, stop, &err), &err, stop))
			dm_tool_die("stdin: fewer than %d samples", mb.B);
		double l;
		const int32_t *lab = tr.net.cfg.classes || b.labels_only ? mb.lab : NULL;
		dm_tool_check(dm_trainer_micro(&tr, mb.x, mb.t, mb.tg, mb.w, lab, mb.B, &l, &err), &err);
		dm_tool_check(dm_parity_dump(&tr, dumppath, mb.x, mb.t, mb.tg, mb.w, mb.B, mb.S, l, &err),
		              &err);
		goto done;
	}

	int show = lead && !co.quiet && isatty(2);
	double t0 = dm_cli_now(), last_show = 0, sloss = 0, sw = 0;
	long step0 = tr.step;
	dm_step_info si;
	while (steps == 0 || tr.step < steps) {
		int rc = dm_train_step(&tr, &b, &mb, &dist, stop, &si, &err);
		if (rc < 0) {
			if (show)
				fputc('\n', stderr);
			if (logf)
				fclose(logf);
			dm_dist_finalize(&dist);
			dm_tool_check(rc, &err);
		}
		if (rc == 0)
			break; /* the input ended or a signal asked to stop */
		double el = dm_cli_now() - t0;
		sloss = 0.98 * sloss + 0.02 * si.loss, sw = 0.98 * sw + 0.02;
		if (logf)
			dm_tool_check(dm_run_log_step(logf, logpath, tr.step, &si, el, &err), &err);
		if (lead && save_every > 0 && tr.step % save_every == 0)
			save(&tr, out);
		dm_watch_report wr;
		char line[512] = "";
		if (watch)
			dm_tool_check(dm_watch_step(watch, tr.step, tr.ema, &wr, &err), &err);
		if (watch && !co.quiet)
			dm_watch_describe(watch, &wr, tr.step, dm_cli_now() - t0, line, sizeof line);
		if (*line)
			fprintf(stderr, "%sdm-train: %s\n", show ? "\r\033[K" : "", line);
		if (show && (el - last_show > 0.2 || tr.step == steps)) {
			progress(tr.step, steps, sloss / sw, si.lr, (double)(tr.step - step0) / el, 0);
			last_show = el;
		}
	}
	double el = dm_cli_now() - t0;
	if (lead)
		save(&tr, out);
	dm_tool_check(dm_watch_close(watch, &err), &err);
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
		        n, el, n > 0 ? (double)n / el : 0.0, dist.size, dist.size > 1 ? "s" : "", mb.B,
		        mb.B > 1 ? "s" : "", dist.calls ? 1e3 * dist.seconds / (double)dist.calls : 0.0,
		        tr.P);
	}
done:
	/* closing stdin makes the producers upstream stop quietly (EPIPE) */
	dm_batcher_free(&b);
	dm_reader_close(rd);
	fclose(stdin);
	dm_batch_free(&mb);
	dm_trainer_free(&tr);
	dm_dist_finalize(&dist);
	return 0;
}

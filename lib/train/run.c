#include "train/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffusion/schedule.h"

int dm_batch_alloc(dm_batch *mb, int B, size_t S, dm_error *err)
{
	memset(mb, 0, sizeof *mb);
	mb->B = B, mb->S = S;
	mb->x = malloc((size_t)B * S * sizeof(float));
	mb->tg = malloc((size_t)B * S * sizeof(float));
	mb->t = malloc((size_t)B * sizeof(float));
	mb->w = malloc((size_t)B * sizeof(float));
	mb->lab = malloc((size_t)B * sizeof(int32_t));
	if (!mb->x || !mb->tg || !mb->t || !mb->w || !mb->lab) {
		dm_batch_free(mb);
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory for a batch of %d samples of "
		                    "%zu values", B, S);
	}
	return 0;
}

void dm_batch_free(dm_batch *mb)
{
	free(mb->x), free(mb->tg), free(mb->t), free(mb->w), free(mb->lab);
	memset(mb, 0, sizeof *mb);
}

int dm_batch_fill(dm_batch *mb, dm_batcher *b, const volatile sig_atomic_t *stop, dm_error *err)
{
	int rc = dm_batcher_fill(b, mb->B, mb->x, mb->t, mb->tg, mb->w, mb->lab, err);
	return rc < 0 && stop && *stop ? 0 : rc;
}

int dm_train_step(dm_trainer *tr, dm_batcher *b, dm_batch *mb, dm_dist *d,
                  const volatile sig_atomic_t *stop, dm_step_info *info, dm_error *err)
{
	/* vote[]: this rank's loss sum, input ended, stop asked, failed */
	double vote[4] = {0, 0, stop && *stop, 0}, l;
	uint64_t samples0 = tr->samples;
	const int32_t *lab = tr->net.cfg.classes || b->labels_only ? mb->lab : NULL;
	int rc = 0;
	for (int a = 0; a < tr->o.grad_accum && !vote[1] && !vote[2] && !vote[3]; a++) {
		rc = dm_batch_fill(mb, b, stop, err);
		if (rc == 0)
			vote[1] = 1;
		else if (rc > 0 && (rc = dm_trainer_micro(tr, mb->x, mb->t, mb->tg, mb->w, lab, mb->B,
		                                          &l, err)) == 0)
			vote[0] += l / tr->o.grad_accum;
		if (rc < 0)
			vote[3] = 1;
	}
	dm_error e2;
	int rc2 = dm_dist_sum_doubles(d, vote, 4, &e2);
	if (rc < 0)
		return rc;
	if (rc2 < 0) {
		*err = e2;
		return rc2;
	}
	if (vote[3])
		return dm_error_set(err, DM_ERR_ARG, "another rank failed");
	if (vote[1] || vote[2]) {
		tr->samples = samples0, tr->accum = 0;
		return 0;
	}
	info->loss = vote[0] / d->size;
	rc = dm_dist_allreduce_sum(d, tr->g, tr->P, err);
	if (rc < 0)
		return rc;
	info->lr = dm_trainer_apply(tr, &info->gnorm);
	return 1;
}

/* A read: 1, or 0 at the end of the input or when a signal asked to stop
 * while it waited, or the error. */
static int got(int rc, const volatile sig_atomic_t *stop)
{
	return rc < 0 && stop && *stop ? 0 : rc;
}

/* t as the network embeds it: continuous t in [0, 1] as 999 t (MODELS.md),
 * discrete steps and a bare regression stream as they are. */
static int t_scale_of(const dm_kv *meta, float *t_scale, dm_error *err)
{
	dm_schedule s;
	memset(&s, 0, sizeof s);
	*t_scale = 1;
	if (!dm_kv_get(meta, "schedule"))
		return 0;
	int rc = dm_schedule_from_kv(meta, &s, err);
	if (rc < 0)
		return rc;
	if (!dm_schedule_is_discrete(&s))
		*t_scale = 999;
	dm_schedule_free(&s);
	return 0;
}

int dm_run_new(dm_trainer *tr, dm_batcher *b, const char *model, const dm_net_sizes *sizes,
               const dm_train_opts *o, unsigned given, int reference, long steps,
               const volatile sig_atomic_t *stop, dm_error *err)
{
	dm_net_config cfg;
	dm_train_opts d;
	int rc = dm_net_config_named(&cfg, model, err);
	if (rc < 0)
		return rc;
	if (reference)
		dm_train_opts_reference(&d);
	else
		dm_train_opts_for_net(&d, cfg.kind);
	d.seed = o->seed;
	dm_train_opts_merge(&d, o, given);
	if ((rc = dm_train_opts_check(&d, steps, given, err)) < 0)
		return rc;
	b->labels_only = cfg.kind == DM_NET_CLASSIFIER;
	const char *in = dm_reader_name(b->r);
	if ((rc = got(dm_batcher_next_frame(b, err), stop)) <= 0)
		return rc < 0 ? rc : dm_error_set(err, DM_ERR_FORMAT, "%s: empty training stream (no "
		                                  "frames)", in);
	dm_error e;
	if (dm_net_config_fit(&cfg, sizes, b->dims, b->rank, &e) < 0)
		return dm_error_set(err, DM_ERR_ARG, "%s: --model %s: %s", in, model, e.msg);
	const dm_kv *meta = dm_reader_meta(b->r);
	if (t_scale_of(meta, &cfg.t_scale, &e) < 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: %s", in, e.msg);
	return dm_trainer_init(tr, &cfg, &d, meta, err);
}

/* A checkpoint goes on learning the process it learnt: a training stream
 * of another schedule or parametrisation would change what the network
 * means while its header still said the old one. */
static int same_process(const dm_kv *ck, const dm_kv *in_meta, const char *path, const char *in,
                        dm_error *err)
{
	char what[256];
	dm_error e;
	int rc = dm_schedule_kv_differ(ck, in_meta, what, sizeof what, &e);
	if (rc < 0)
		return dm_error_set(err, DM_ERR_FORMAT, "%s: %s", in, e.msg);
	if (rc == 0)
		return 0;
	return dm_error_set(err, DM_ERR_ARG, "--resume: %s and the training stream %s differ in %s; "
	                    "a checkpoint goes on with the process it was trained on", path, in, what);
}

int dm_run_resume(dm_trainer *tr, dm_batcher *b, const char *path, const dm_train_opts *o,
                  unsigned given, int nranks, long steps, const volatile sig_atomic_t *stop,
                  dm_error *err)
{
	int rc = dm_trainer_load(tr, path, err);
	if (rc < 0)
		return rc;
	dm_train_opts *t = &tr->o;
	dm_train_opts_merge(t, o, given & ~(unsigned)DM_TO_BATCH);
	rc = dm_train_opts_check(t, steps, given, err);
	if (rc == 0 && steps > 0 && tr->step > steps)
		rc = dm_error_set(err, DM_ERR_ARG, "--resume: %s is at step %ld, past --steps %ld",
		                  path, tr->step, steps);
	/* the checkpoint's batch is global; each of N ranks takes 1/N */
	if (rc == 0 && (given & DM_TO_BATCH))
		t->batch = o->batch;
	else if (rc == 0 && t->batch % nranks)
		rc = dm_error_set(err, DM_ERR_ARG, "--resume: %s has a global batch of %d, not "
		                  "divisible by %d ranks; give --batch (per rank)", path, t->batch,
		                  nranks);
	else if (rc == 0)
		t->batch /= nranks;
	if (rc == 0 && tr->samples % (uint64_t)nranks)
		rc = dm_error_set(err, DM_ERR_ARG, "--resume: %s has seen %llu samples, not "
		                  "divisible by %d ranks", path, (unsigned long long)tr->samples,
		                  nranks);
	b->labels_only = tr->net.cfg.kind == DM_NET_CLASSIFIER;
	const char *in = dm_reader_name(b->r);
	if (rc == 0)
		rc = same_process(&tr->meta, dm_reader_meta(b->r), path, in, err);
	/* at --steps already: nothing to train, so nothing to skip */
	uint64_t skip = steps > 0 && tr->step >= steps ? 0 : tr->samples / (uint64_t)nranks;
	int k = rc < 0 ? rc : got(dm_batcher_skip(b, skip, err), stop);
	if (k == 0)
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: input ended while skipping the %llu samples "
		                  "%s already trained on", in, (unsigned long long)tr->samples, path);
	else if (k < 0)
		rc = k;
	if (rc == 0 && !b->started && (k = got(dm_batcher_next_frame(b, err), stop)) <= 0)
		rc = k < 0 ? k : dm_error_set(err, DM_ERR_FORMAT, "%s: empty training stream", in);
	if (rc == 0 && b->S != dm_net_sample_size(&tr->net.cfg))
		rc = dm_error_set(err, DM_ERR_FORMAT, "%s: samples have %zu values but %s was trained "
		                  "on %zu", in, b->S, path, dm_net_sample_size(&tr->net.cfg));
	if (rc < 0)
		dm_trainer_free(tr);
	return rc;
}

int dm_run_join(dm_trainer *tr, const dm_batcher *b, dm_dist *d, dm_error *err)
{
	const dm_kv *meta = dm_reader_meta(b->r);
	tr->rank = d->rank, tr->nranks = d->size;
	const char *sh = dm_kv_get(meta, "shard");
	int r, n;
	if (sh && sscanf(sh, "%d/%d", &r, &n) == 2 && (r != d->rank || n != d->size))
		return dm_error_set(err, DM_ERR_ARG, "%s: the stream is shard %s but this is rank %d "
		                    "of %d; give each rank dm-load --shard $OMPI_COMM_WORLD_RANK/"
		                    "$OMPI_COMM_WORLD_SIZE", dm_reader_name(b->r), sh, d->rank,
		                    d->size);
	if (d->size == 1)
		return 0;
	int rc = dm_dist_bcast(d, tr->w, tr->P * sizeof(float), err);
	return rc < 0 ? rc : dm_dist_bcast(d, tr->m, 3 * tr->P * sizeof(float), err);
}

int dm_run_log_open(FILE **f, const char *path, int append, dm_error *err)
{
	*f = fopen(path, append ? "a" : "w");
	if (!*f)
		return dm_error_set(err, DM_ERR_IO, "%s: %s", path, strerror(errno));
	if (ftell(*f) == 0)
		fprintf(*f, "step,loss,lr,grad_norm,seconds\n");
	if (fflush(*f) != 0)
		return dm_error_set(err, DM_ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
}

int dm_run_log_step(FILE *f, const char *path, long step, const dm_step_info *si, double seconds,
                    dm_error *err)
{
	fprintf(f, "%ld,%.9g,%.9g,%.9g,%.3f\n", step, si->loss, (double)si->lr, si->gnorm, seconds);
	if (fflush(f) != 0)
		return dm_error_set(err, DM_ERR_IO, "%s: %s", path, strerror(errno));
	return 0;
}

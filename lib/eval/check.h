/* check.h - why samples come out as noise: a checkpoint measured against
 * held-out clean data (dm-info --check).
 *
 * For each of `bands` equal bands of t across the schedule, every held-out
 * sample is noised at a t drawn in the band (fixed seed) and the loss of
 * the model's prediction against the training target (mean squared error
 * per value, in the checkpoint's parametrisation) is measured for the EMA
 * and the raw weights, beside the two trivial predictors a network should
 * beat at once: zero, and the data mean (x0^ = the per-value mean of the
 * held-out data, turned into the parametrisation: eps^ = (x_t - alpha
 * mean)/sigma, v^ = alpha eps^ - sigma x0^).  Then the checkpoint's schedule
 * and data range against the data, and its weights for NaN/Inf.
 *
 * The verdicts and warnings are plain sentences (dm_check_report).  Their
 * thresholds, in units of the zero predictor's loss (the target's
 * variance, 1 for eps): a band is learned when the model's loss is below
 * the better trivial predictor's by more than 0.02 of it, untrained when
 * above it by more than 0.1, and no better than a constant in between
 * (where, at high noise with eps-prediction, the data mean is close to
 * the best prediction there is: eps^ = (x_t - alpha mean)/sigma).
 */
#ifndef DM_CHECK_H
#define DM_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

#define DM_CHECK_MAX_BANDS 100
#define DM_CHECK_MAX_WARN 16

typedef struct dm_check_opts {
	int bands;            /* bands of t (10) */
	int64_t max_samples;  /* held-out samples used (1024; 0 = all) */
	uint64_t seed;        /* the t and the noise drawn (0) */
} dm_check_opts;

void dm_check_opts_default(dm_check_opts *o);

typedef struct dm_check_band {
	double t_lo, t_hi;    /* the band */
	double ema, raw;      /* the model's loss, EMA and raw weights */
	double zero, mean;    /* the trivial predictors' losses */
	int state;            /* DM_BAND_* for the EMA weights */
} dm_check_band;

enum { DM_BAND_LEARNED, DM_BAND_CONSTANT, DM_BAND_UNTRAINED };

typedef struct dm_check {
	/* the model */
	char model[64];       /* the header's model= */
	long step;            /* training steps (header step=) */
	char schedule[160];   /* "linear T=1000 predict=eps" */
	int has_range;
	double range_lo, range_hi; /* the header's range= */
	double signal_at_top; /* alpha(t_max) std(data) / sigma(t_max): what of
	                         the data is left where sampling starts */
	int64_t nonfinite_ema, nonfinite_raw, nparams;
	/* the data */
	int64_t n, d;
	double data_min, data_max, data_mean, data_std;
	/* the bands */
	int bands;
	dm_check_band band[DM_CHECK_MAX_BANDS];
	double ema_all, raw_all; /* mean over the bands */
	int learned, untrained;  /* bands of each state */
	/* what it means */
	int nwarn;
	char warn[DM_CHECK_MAX_WARN][320];
	const char *verdict;  /* one line: untrained, partly trained, trained */
} dm_check;

/* Measure the checkpoint at model_path on the clean samples (tensor x) of
 * the stream at data_path.  Errors name the file: a checkpoint that does
 * not load, data of another sample size than the model's, no samples. */
int dm_check_run(dm_check *c, const char *model_path, const char *data_path,
                 const dm_check_opts *o, dm_error *err);

/* The report: the model, the data, the table of bands, warnings, verdict. */
void dm_check_print(const dm_check *c, FILE *f);

#endif

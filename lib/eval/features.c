/* features.c - a classifier checkpoint as a feature map. */
#include "eval/features.h"

#include <stdlib.h>
#include <string.h>

#include "models/checkpoint.h"
#include "models/classifier.h"

#define CHUNK 256

int dm_featnet_load(dm_featnet *f, const char *path, dm_error *err)
{
	memset(f, 0, sizeof *f);
	int rc = dm_checkpoint_load_net(path, 1, &f->net, &f->params, &f->meta, err);
	if (rc < 0) {
		memset(f, 0, sizeof *f);
		dm_kv_init(&f->meta);
		return rc;
	}
	if (f->net.cfg.kind != DM_NET_CLASSIFIER)
		return dm_error_set(err, DM_ERR_ARG, "%s: model=%s is not a classifier (train one with "
		                    "dm-train --model classifier-fmnist)", path,
		                    dm_kv_get(&f->meta, "model") ? dm_kv_get(&f->meta, "model") : "?");
	return 0;
}

void dm_featnet_free(dm_featnet *f)
{
	dm_net_free(&f->net);
	free(f->params);
	dm_kv_free(&f->meta);
	memset(f, 0, sizeof *f);
}

size_t dm_featnet_input_size(const dm_featnet *f) { return dm_net_sample_size(&f->net.cfg); }
int dm_featnet_dim(const dm_featnet *f) { return f->net.cfg.cls.feat; }

int dm_featnet_map(dm_featnet *f, const float *x, int64_t n, float *feat, int32_t *pred,
                   dm_error *err)
{
	size_t S = dm_featnet_input_size(f), F = (size_t)f->net.cfg.cls.feat;
	int K = f->net.cfg.cls.outputs;
	float *logits = malloc((size_t)CHUNK * (size_t)K * sizeof *logits);
	/* a noise-conditioned classifier sees the samples as clean (t = 0) */
	float *t0 = f->net.cfg.cls.temb > 0 ? calloc(CHUNK, sizeof *t0) : NULL;
	if (!logits || (f->net.cfg.cls.temb > 0 && !t0)) {
		free(logits), free(t0);
		return dm_error_set(err, DM_ERR_NOMEM, "features: out of memory");
	}
	int rc = 0;
	for (int64_t i = 0; i < n && rc == 0; i += CHUNK) {
		int B = n - i < CHUNK ? (int)(n - i) : CHUNK;
		rc = dm_net_forward(&f->net, f->params, x + (size_t)i * S, t0, NULL, B, logits, 0, 0, 0,
		                    err);
		if (rc < 0)
			break;
		if (feat)
			memcpy(feat + (size_t)i * F, f->net.cls->feat, (size_t)B * F * sizeof *feat);
		for (int b = 0; pred && b < B; b++) {
			const float *z = logits + (size_t)b * (size_t)K;
			int arg = 0;
			for (int k = 1; k < K; k++)
				if (z[k] > z[arg])
					arg = k;
			pred[i + b] = arg;
		}
	}
	free(logits);
	free(t0);
	return rc;
}

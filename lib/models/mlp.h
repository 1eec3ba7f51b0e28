/* mlp.h - the `mlp` network of MODELS.md, for low-dimensional data.
 *
 *   e   = sinusoidal(t * t_scale, temb)  (+ label_emb[label] when classes > 0)
 *   h   = concat(x, e)                    (data first, then the embedding)
 *   h   = SiLU(Linear(dim + temb -> hidden)(h)), then layers-1 times
 *         SiLU(Linear(hidden -> hidden)(h)), then Linear(hidden -> dim).
 *
 * Parameters (PyTorch names): lin.0.weight/bias ... lin.<layers>.weight/bias,
 * label_emb.weight ((classes+1) x temb) when classes > 0.
 */
#ifndef DM_MLP_H
#define DM_MLP_H

#include <stdint.h>

#include "core/error.h"
#include "core/kv.h"
#include "nn/params.h"

/* The mlp's sizes; classes and t_scale are the net's (models/net.h). */
typedef struct dm_mlp_config {
	int dim, hidden, layers, temb;
	int classes;    /* 0 = unconditional; label == classes is the null label */
	float t_scale;  /* t fed to the embedding = t * t_scale */
} dm_mlp_config;

/* mlp-2d of MODELS.md: dim 2, hidden 256, layers 3, temb 64. */
void dm_mlp_config_default(dm_mlp_config *c);
/* Sizes in range; 0 or DM_ERR_ARG. */
int dm_mlp_config_check(const dm_mlp_config *c, dm_error *err);
/* The sizes' keys of a checkpoint header (dim hidden layers temb shape);
 * 0 or DM_ERR_NOMEM. */
int dm_mlp_config_to_kv(const dm_mlp_config *c, dm_kv *kv, dm_error *err);
/* Read them back (name: the file, in messages); 0 or DM_ERR_FORMAT. */
int dm_mlp_config_from_kv(dm_mlp_config *c, const dm_kv *kv, const char *name, dm_error *err);

typedef struct dm_mlp {
	dm_mlp_config cfg;
	int nlin;               /* layers + 1 linear layers */
	size_t w[64], b[64];    /* offsets of each Linear's weight and bias */
	size_t label_emb;       /* offset, when classes > 0 */
	int in[64], outf[64];   /* their sizes */
	/* plan for B samples */
	int B;
	float *buf;
	float *emb, *h0;        /* B x temb, B x (dim+temb) */
	float *pre[64], *act[64]; /* B x hidden per hidden layer */
	float *d0, *d1, *dh0;   /* gradient scratch */
	int32_t *lab;           /* labels of the last forward */
	float *dx;              /* when set, backward writes d/dx there (B x dim) */
} dm_mlp;

/* Add the parameters to L and remember their offsets. */
int dm_mlp_init(dm_mlp *m, const dm_mlp_config *cfg, dm_layout *L, dm_error *err);
void dm_mlp_init_params(const dm_mlp *m, float *params, uint64_t seed);
int dm_mlp_plan(dm_mlp *m, int B, dm_error *err);
/* out: B x dim.  Keeps activations for backward. */
void dm_mlp_forward(dm_mlp *m, const float *p, const float *x, const float *t,
                    const int32_t *label, int B, float *out);
/* g += gradient of the parameters for dout (B x dim) of the last forward. */
void dm_mlp_backward(dm_mlp *m, const float *p, float *g, const float *dout);
void dm_mlp_free(dm_mlp *m);

#endif

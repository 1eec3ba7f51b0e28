#include "models/mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/gemm.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "core/rng.h"
#include "models/net.h"

void dm_mlp_config_default(dm_mlp_config *c)
{
	memset(c, 0, sizeof *c);
	c->dim = 2, c->hidden = 256, c->layers = 3, c->temb = 64, c->t_scale = 1;
}

int dm_mlp_config_check(const dm_mlp_config *c, dm_error *err)
{
	if (c->dim < 1 || c->dim > 1 << 20 || c->hidden < 1 || c->hidden > 1 << 16 ||
	    c->layers < 1 || c->layers > 62 || c->temb < 2 || c->temb > 1 << 16)
		return dm_error_set(err, DM_ERR_ARG,
		                    "mlp sizes out of range (dim %d hidden %d layers %d temb %d)",
		                    c->dim, c->hidden, c->layers, c->temb);
	return 0;
}

int dm_mlp_config_to_kv(const dm_mlp_config *c, dm_kv *kv, dm_error *err)
{
	int rc = 0;
	rc |= dm_kv_setf(kv, "dim", "%d", c->dim);
	rc |= dm_kv_setf(kv, "hidden", "%d", c->hidden);
	rc |= dm_kv_setf(kv, "layers", "%d", c->layers);
	rc |= dm_kv_setf(kv, "temb", "%d", c->temb);
	rc |= dm_kv_setf(kv, "shape", "%d", c->dim);
	return rc ? dm_error_set(err, DM_ERR_NOMEM, "out of memory writing the model config") : 0;
}

int dm_mlp_config_from_kv(dm_mlp_config *c, const dm_kv *kv, const char *name, dm_error *err)
{
	int rc;
	if ((rc = dm_net_kv_int(kv, "dim", name, &c->dim, err)) ||
	    (rc = dm_net_kv_int(kv, "hidden", name, &c->hidden, err)) ||
	    (rc = dm_net_kv_int(kv, "layers", name, &c->layers, err)) ||
	    (rc = dm_net_kv_int(kv, "temb", name, &c->temb, err)))
		return rc;
	return 0;
}

int dm_mlp_init(dm_mlp *m, const dm_mlp_config *cfg, dm_layout *L, dm_error *err)
{
	memset(m, 0, sizeof *m);
	m->cfg = *cfg;
	if (cfg->layers < 1 || cfg->layers > 62)
		return dm_error_set(err, DM_ERR_ARG, "mlp: layers must be 1..62, not %d", cfg->layers);
	m->nlin = cfg->layers + 1;
	for (int i = 0; i < m->nlin; i++) {
		int in = i == 0 ? cfg->dim + cfg->temb : cfg->hidden;
		int outf = i == m->nlin - 1 ? cfg->dim : cfg->hidden;
		char name[64];
		m->in[i] = in;
		m->outf[i] = outf;
		snprintf(name, sizeof name, "lin.%d.weight", i);
		m->w[i] = dm_layout_add(L, name, 2, outf, in, 0, 0);
		snprintf(name, sizeof name, "lin.%d.bias", i);
		m->b[i] = dm_layout_add(L, name, 1, outf, 0, 0, 0);
	}
	if (cfg->classes > 0)
		m->label_emb = dm_layout_add(L, "label_emb.weight", 2, cfg->classes + 1, cfg->temb, 0, 0);
	if (L->oom)
		return dm_error_set(err, DM_ERR_NOMEM, "mlp: out of memory");
	return 0;
}

void dm_mlp_init_params(const dm_mlp *m, float *p, uint64_t seed)
{
	for (int i = 0; i < m->nlin; i++)
		dm_init_linear(p + m->w[i], p + m->b[i], m->outf[i], m->in[i], seed, (uint64_t)i);
	if (m->cfg.classes > 0) /* nn.Embedding: N(0, 1) */
		dm_rng_normal(seed, DM_RNG_INIT, (uint64_t)m->nlin, 0, p + m->label_emb,
		              (size_t)(m->cfg.classes + 1) * (size_t)m->cfg.temb);
}

int dm_mlp_plan(dm_mlp *m, int B, dm_error *err)
{
	if (m->B == B)
		return 0;
	free(m->buf);
	free(m->lab);
	m->buf = NULL;
	m->lab = NULL;
	m->B = 0;
	size_t Bz = (size_t)B, H = (size_t)m->cfg.hidden, D = (size_t)(m->cfg.dim + m->cfg.temb);
	size_t wide = H > D ? H : D;
	size_t n = Bz * (size_t)m->cfg.temb + Bz * D + 2 * (size_t)m->cfg.layers * Bz * H +
	           2 * Bz * wide + Bz * D + Bz;
	m->buf = malloc(n * sizeof(float));
	m->lab = malloc(Bz * sizeof(int32_t));
	if (!m->buf || !m->lab)
		return dm_error_set(err, DM_ERR_NOMEM, "mlp: out of memory planning batch %d", B);
	float *q = m->buf;
	m->emb = q, q += Bz * (size_t)m->cfg.temb;
	m->h0 = q, q += Bz * D;
	for (int l = 0; l < m->cfg.layers; l++) {
		m->pre[l] = q, q += Bz * H;
		m->act[l] = q, q += Bz * H;
	}
	m->d0 = q, q += Bz * wide;
	m->d1 = q, q += Bz * wide;
	m->dh0 = q, q += Bz * D;
	m->B = B;
	return 0;
}

/* The output layer has dim (2 for points) outputs: a GEMM would pad them
 * to a whole register tile and pack its operands for a few hundred
 * FLOPs per row, so up to OUT_DIRECT outputs it runs as plain loops.  Each
 * output value is one thread's fixed-order sum, so the results do not depend
 * on the thread count. */
#define OUT_DIRECT 4

static void out_forward(float *out, const float *h, const float *W, const float *b, int B,
                        int in, int outf)
{
#pragma omp parallel for schedule(static) if ((long)B * in * outf > 2000000)
	for (int r = 0; r < B; r++) {
		const float *x = h + (size_t)r * in;
		for (int o = 0; o < outf; o++) {
			const float *w = W + (size_t)o * in;
			float acc[8] = {0};
			int i = 0;
			for (; i + 8 <= in; i += 8)
#pragma omp simd
				for (int j = 0; j < 8; j++)
					acc[j] += x[i + j] * w[i + j];
			float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
			for (; i < in; i++)
				s += x[i] * w[i];
			out[(size_t)r * outf + o] = s + b[o];
		}
	}
}

/* dx = dout W (written), dW += dout^T h (summed over rows in order). */
static void out_backward(float *dx, float *dW, const float *dout, const float *h,
                         const float *W, int B, int in, int outf)
{
	for (int r = 0; r < B; r++) {
		const float *d = dout + (size_t)r * outf;
		float *xr = dx + (size_t)r * in;
#pragma omp simd
		for (int i = 0; i < in; i++)
			xr[i] = d[0] * W[i];
		for (int o = 1; o < outf; o++)
#pragma omp simd
			for (int i = 0; i < in; i++)
				xr[i] += d[o] * W[(size_t)o * in + i];
	}
	for (int o = 0; o < outf; o++) {
		float *gw = dW + (size_t)o * in;
		for (int r = 0; r < B; r++) {
			float d = dout[(size_t)r * outf + o];
			const float *x = h + (size_t)r * in;
#pragma omp simd
			for (int i = 0; i < in; i++)
				gw[i] += d * x[i];
		}
	}
}

void dm_mlp_forward(dm_mlp *m, const float *p, const float *x, const float *t,
                    const int32_t *label, int B, float *out)
{
	const dm_mlp_config *c = &m->cfg;
	int temb = c->temb;
	/* the scaled time goes through dh0 (free until backward) */
	float *ts = m->dh0;
	for (int b = 0; b < B; b++)
		ts[b] = t[b] * c->t_scale;
	dm_timestep_embedding(m->emb, ts, B, temb);
	if (c->classes > 0) {
		for (int b = 0; b < B; b++) {
			int32_t l = label ? label[b] : c->classes;
			if (l < 0 || l > c->classes)
				l = c->classes;
			m->lab[b] = l;
			const float *e = p + m->label_emb + (size_t)l * (size_t)temb;
			for (int j = 0; j < temb; j++)
				m->emb[(size_t)b * (size_t)temb + (size_t)j] += e[j];
		}
	}
	dm_concat_forward(m->h0, x, m->emb, B, c->dim, temb, 1);
	const float *h = m->h0;
	for (int l = 0; l < c->layers; l++) {
		dm_linear_silu_forward(m->pre[l], m->act[l], h, p + m->w[l], p + m->b[l], B, m->in[l],
		                       m->outf[l]);
		h = m->act[l];
	}
	int L = c->layers;
	if (m->outf[L] <= OUT_DIRECT)
		out_forward(out, h, p + m->w[L], p + m->b[L], B, m->in[L], m->outf[L]);
	else
		dm_linear_forward(out, h, p + m->w[L], p + m->b[L], B, m->in[L], m->outf[L]);
}

void dm_mlp_backward(dm_mlp *m, const float *p, float *g, const float *dout)
{
	const dm_mlp_config *c = &m->cfg;
	int B = m->B, L = c->layers, temb = c->temb;
	/* d0: gradient at act[l]; d1: gradient at pre[l].  d0 and d1 are
	 * written (the first product into each with beta = 0, the SiLU
	 * backward overwriting), so they need no clearing; the parameter
	 * gradients accumulate into g as layers.h promises. */
	if (m->outf[L] <= OUT_DIRECT) {
		out_backward(m->d0, g + m->w[L], dout, m->act[L - 1], p + m->w[L], B, m->in[L],
		             m->outf[L]);
		dm_linear_backward(NULL, NULL, g + m->b[L], dout, NULL, NULL, B, m->in[L], m->outf[L]);
	} else {
		dm_sgemm(0, 0, B, m->in[L], m->outf[L], 1.0f, dout, m->outf[L], p + m->w[L],
		         m->in[L], 0.0f, m->d0, m->in[L]);
		dm_linear_backward(NULL, g + m->w[L], g + m->b[L], dout, m->act[L - 1], p + m->w[L],
		                   B, m->in[L], m->outf[L]);
	}
	for (int l = L - 1; l >= 0; l--) {
		dm_silu_backward_bias(m->d1, g + m->b[l], m->d0, m->pre[l], B, m->outf[l]);
		const float *in = l > 0 ? m->act[l - 1] : m->h0;
		float *din = l > 0 ? m->d0 : c->classes > 0 || m->dx ? m->dh0 : NULL;
		if (din) /* din = d1 W, written */
			dm_sgemm(0, 0, B, m->in[l], m->outf[l], 1.0f, m->d1, m->outf[l], p + m->w[l],
			         m->in[l], 0.0f, din, m->in[l]);
		dm_linear_backward(NULL, g + m->w[l], NULL, m->d1, in, p + m->w[l], B, m->in[l],
		                   m->outf[l]);
	}
	if (m->dx) /* the input's part of d h0 = d concat(x, e) */
		for (int b = 0; b < B; b++)
			memcpy(m->dx + (size_t)b * c->dim, m->dh0 + (size_t)b * (size_t)(c->dim + temb),
			       (size_t)c->dim * sizeof(float));
	if (c->classes > 0) {
		/* the embedding's gradient, summed over the batch in order */
		for (int b = 0; b < B; b++) {
			float *ge = g + m->label_emb + (size_t)m->lab[b] * (size_t)temb;
			const float *d = m->dh0 + (size_t)b * (size_t)(c->dim + temb) + c->dim;
			for (int j = 0; j < temb; j++)
				ge[j] += d[j];
		}
	}
}

void dm_mlp_free(dm_mlp *m)
{
	free(m->buf);
	free(m->lab);
	m->buf = NULL;
	m->lab = NULL;
	m->B = 0;
}

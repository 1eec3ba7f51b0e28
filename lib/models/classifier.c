/* classifier.c - the convolutional classifier of classifier.h: forward as
 * a list of layer calls, backward the same list reversed. */
#include "models/classifier.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/net.h"
#include "nn/conv.h"
#include "nn/init.h"
#include "nn/layers.h"

#define GN_EPS 1e-5f

static int add_conv(dm_classifier *m, dm_layout *L, int cin, int cout, int h, int w, int stride)
{
	if (m->nconv == DM_CLS_MAX_CONVS)
		return -1;
	int l = m->nconv++;
	char name[64];
	m->cv[l].cin = cin, m->cv[l].cout = cout, m->cv[l].h = h, m->cv[l].w = w;
	m->cv[l].stride = stride;
	m->cv[l].ho = dm_conv2d_out_size(h, 3, stride, 1);
	m->cv[l].wo = dm_conv2d_out_size(w, 3, stride, 1);
	if (l > 0) {
		snprintf(name, sizeof name, "norm.%d.weight", l);
		m->cv[l].nw_off = dm_layout_add(L, name, 1, cin, 0, 0, 0);
		snprintf(name, sizeof name, "norm.%d.bias", l);
		m->cv[l].nb_off = dm_layout_add(L, name, 1, cin, 0, 0, 0);
	}
	snprintf(name, sizeof name, "conv.%d.weight", l);
	m->cv[l].w_off = dm_layout_add(L, name, 4, cout, cin, 3, 3);
	snprintf(name, sizeof name, "conv.%d.bias", l);
	m->cv[l].b_off = dm_layout_add(L, name, 1, cout, 0, 0, 0);
	size_t ws = dm_conv2d_workspace(cin, h, w, cout, 3, 3, stride, 1);
	if (ws > m->ws)
		m->ws = ws;
	return 0;
}

void dm_classifier_config_default(dm_classifier_config *c)
{
	memset(c, 0, sizeof *c);
	c->in_ch = 1, c->H = 28, c->W = 28, c->ch = 32;
	c->nmult = 3, c->ch_mult[0] = 1, c->ch_mult[1] = 2, c->ch_mult[2] = 4;
	c->res_blocks = 0, c->groups = 8, c->feat = 128, c->outputs = 10;
	c->temb = 0, c->t_scale = 1;
}

int dm_classifier_config_check(const dm_classifier_config *c, dm_error *err)
{
	if (c->in_ch < 1 || c->in_ch > 64 || c->H < 1 || c->W < 1 || c->H > 4096 || c->W > 4096)
		return dm_error_set(err, DM_ERR_ARG, "classifier: input shape %dx%dx%d out of range",
		                    c->in_ch, c->H, c->W);
	if (c->ch < 1 || c->ch > 4096 || c->nmult < 1 || c->nmult > DM_CLS_MAX_LEVELS ||
	    c->res_blocks < 0 || c->res_blocks > 16 || c->groups < 1)
		return dm_error_set(err, DM_ERR_ARG, "classifier: ch 1..4096, ch_mult 1..%d levels, "
		                    "res_blocks 0..16, groups >= 1", DM_CLS_MAX_LEVELS);
	for (int i = 0; i < c->nmult; i++)
		if (c->ch_mult[i] < 1 || c->ch_mult[i] > 64 || (c->ch * c->ch_mult[i]) % c->groups)
			return dm_error_set(err, DM_ERR_ARG, "classifier: groups %d does not divide width "
			                    "%d (or ch_mult %d out of range)", c->groups,
			                    c->ch * c->ch_mult[i], c->ch_mult[i]);
	if (c->temb < 0 || c->temb > 65536)
		return dm_error_set(err, DM_ERR_ARG, "classifier: temb 0..65536 (got %d)", c->temb);
	if (c->feat < 1 || c->feat > 65536 || c->outputs < 2 || c->outputs > 100000)
		return dm_error_set(err, DM_ERR_ARG, "classifier: feat 1..65536 and outputs 2..100000 "
		                    "(got %d and %d)", c->feat, c->outputs);
	return 0;
}

int dm_classifier_config_to_kv(const dm_classifier_config *c, dm_kv *kv, dm_error *err)
{
	char a[256];
	dm_net_list_str(a, sizeof a, c->ch_mult, c->nmult);
	int rc = dm_net_image_to_kv(kv, c->in_ch, c->H, c->W, c->ch, a, c->res_blocks, c->groups);
	rc |= dm_kv_setf(kv, "feat", "%d", c->feat);
	rc |= dm_kv_setf(kv, "outputs", "%d", c->outputs);
	if (c->temb > 0) /* (absent: t ignored, as every classifier before it) */
		rc |= dm_kv_setf(kv, "temb", "%d", c->temb);
	rc |= dm_kv_setf(kv, "shape", "%dx%dx%d", c->in_ch, c->H, c->W);
	return rc ? dm_error_set(err, DM_ERR_NOMEM, "out of memory writing the model config") : 0;
}

int dm_classifier_config_from_kv(dm_classifier_config *c, const dm_kv *kv, const char *name,
                                 dm_error *err)
{
	int rc = dm_net_image_from_kv(kv, name, &c->in_ch, &c->H, &c->W, &c->ch, c->ch_mult,
	                              &c->nmult, &c->res_blocks, &c->groups, err);
	if (rc < 0 || (rc = dm_net_kv_int(kv, "feat", name, &c->feat, err)) ||
	    (rc = dm_net_kv_int(kv, "outputs", name, &c->outputs, err)))
		return rc;
	c->temb = 0;
	if (dm_kv_get(kv, "temb") && (rc = dm_net_kv_int(kv, "temb", name, &c->temb, err)))
		return rc;
	return 0;
}

int dm_classifier_init(dm_classifier *m, const dm_classifier_config *c, dm_layout *L,
                       dm_error *err)
{
	memset(m, 0, sizeof *m);
	m->cfg = *c;
	int h = c->H, w = c->W, cin = c->in_ch;
	int rc = 0;
	for (int i = 0; i < c->nmult && rc == 0; i++) {
		int width = c->ch * c->ch_mult[i];
		rc |= add_conv(m, L, cin, width, h, w, i == 0 ? 1 : 2);
		h = m->cv[m->nconv - 1].ho, w = m->cv[m->nconv - 1].wo;
		for (int j = 0; j < c->res_blocks && rc == 0; j++)
			rc |= add_conv(m, L, width, width, h, w, 1);
		cin = width;
	}
	if (rc)
		return dm_error_set(err, DM_ERR_ARG, "classifier: more than %d convolutions",
		                    DM_CLS_MAX_CONVS);
	m->C = cin, m->HW = h * w;
	m->now_off = dm_layout_add(L, "norm_out.weight", 1, m->C, 0, 0, 0);
	m->nob_off = dm_layout_add(L, "norm_out.bias", 1, m->C, 0, 0, 0);
	m->fw_off = dm_layout_add(L, "feat.weight", 2, c->feat, m->C, 0, 0);
	m->fb_off = dm_layout_add(L, "feat.bias", 1, c->feat, 0, 0, 0);
	m->hw_off = dm_layout_add(L, "head.weight", 2, c->outputs, c->feat, 0, 0);
	m->hb_off = dm_layout_add(L, "head.bias", 1, c->outputs, 0, 0, 0);
	if (c->temb > 0) {
		m->tw_off = dm_layout_add(L, "time.lin1.weight", 2, c->temb, c->ch, 0, 0);
		m->tb_off = dm_layout_add(L, "time.lin1.bias", 1, c->temb, 0, 0, 0);
		for (int l = 0; l < m->nconv; l++) {
			char name[64];
			snprintf(name, sizeof name, "temb.%d.weight", l);
			m->ew_off[l] = dm_layout_add(L, name, 2, m->cv[l].cout, c->temb, 0, 0);
			snprintf(name, sizeof name, "temb.%d.bias", l);
			m->eb_off[l] = dm_layout_add(L, name, 1, m->cv[l].cout, 0, 0, 0);
		}
	}
	if (L->oom)
		return dm_error_set(err, DM_ERR_NOMEM, "classifier: out of memory");
	return 0;
}

void dm_classifier_init_params(const dm_classifier *m, float *p, uint64_t seed)
{
	uint64_t idx = 0;
	for (int l = 0; l < m->nconv; l++) {
		if (l > 0)
			dm_init_groupnorm(p + m->cv[l].nw_off, p + m->cv[l].nb_off, m->cv[l].cin);
		dm_init_conv2d(p + m->cv[l].w_off, p + m->cv[l].b_off, m->cv[l].cout, m->cv[l].cin, 3, 3,
		               seed, idx++);
	}
	dm_init_groupnorm(p + m->now_off, p + m->nob_off, m->C);
	dm_init_linear(p + m->fw_off, p + m->fb_off, m->cfg.feat, m->C, seed, idx++);
	dm_init_linear(p + m->hw_off, p + m->hb_off, m->cfg.outputs, m->cfg.feat, seed, idx++);
	if (m->cfg.temb > 0) {
		dm_init_linear(p + m->tw_off, p + m->tb_off, m->cfg.temb, m->cfg.ch, seed, idx++);
		for (int l = 0; l < m->nconv; l++)
			dm_init_linear(p + m->ew_off[l], p + m->eb_off[l], m->cv[l].cout, m->cfg.temb, seed,
			               idx++);
	}
}

static size_t out_n(const dm_classifier *m, int l)
{
	return (size_t)m->cv[l].cout * (size_t)m->cv[l].ho * (size_t)m->cv[l].wo;
}

int dm_classifier_plan(dm_classifier *m, int B, dm_error *err)
{
	if (m->B == B)
		return 0;
	free(m->buf), free(m->wsbuf);
	m->buf = m->wsbuf = NULL;
	m->B = 0;
	size_t Bz = (size_t)B, G = (size_t)m->cfg.groups, F = (size_t)m->cfg.feat, big = 0;
	size_t n = 0;
	for (int l = 0; l < m->nconv; l++) {
		size_t o = out_n(m, l);
		n += 2 * Bz * o + 2 * Bz * G; /* y[l], a[l+1] or aout, their GN stats */
		if (o > big)
			big = o;
	}
	n += 2 * Bz * big;                        /* dy, da */
	n += 2 * Bz * (size_t)m->C + 4 * Bz * F;  /* pool, dpool, fpre, feat, dfeat, dfpre */
	size_t E = (size_t)m->cfg.temb, wmax = 0;
	for (int l = 0; l < m->nconv; l++)
		wmax = (size_t)m->cv[l].cout > wmax ? (size_t)m->cv[l].cout : wmax;
	if (E) /* tsc, sinv, epre, emb, demb, depre, proj, dproj */
		n += Bz + Bz * (size_t)m->cfg.ch + 4 * Bz * E + 2 * Bz * wmax;
	m->buf = malloc(n * sizeof(float));
	m->wsbuf = malloc((m->ws + 1) * sizeof(float));
	if (!m->buf || !m->wsbuf)
		return dm_error_set(err, DM_ERR_NOMEM, "classifier: out of memory planning batch %d",
		                    B);
	float *q = m->buf;
	for (int l = 0; l < m->nconv; l++) {
		size_t o = Bz * out_n(m, l);
		m->y[l] = q, q += o;
		if (l + 1 < m->nconv)
			m->a[l + 1] = q;
		else
			m->aout = q;
		q += o;
		m->mean[l + 1] = q, q += Bz * G;
		m->rstd[l + 1] = q, q += Bz * G;
	}
	m->dy = q, q += Bz * big;
	m->da = q, q += Bz * big;
	m->pool = q, q += Bz * (size_t)m->C;
	m->dpool = q, q += Bz * (size_t)m->C;
	m->fpre = q, q += Bz * F;
	m->feat = q, q += Bz * F;
	m->dfeat = q, q += Bz * F;
	m->dfpre = q, q += Bz * F;
	if (E) {
		m->tsc = q, q += Bz;
		m->sinv = q, q += Bz * (size_t)m->cfg.ch;
		m->epre = q, q += Bz * E;
		m->emb = q, q += Bz * E;
		m->demb = q, q += Bz * E;
		m->depre = q, q += Bz * E;
		m->proj = q, q += Bz * wmax;
		m->dproj = q, q += Bz * wmax;
	}
	m->B = B;
	return 0;
}

/* GN params in front of conv l (l >= 1), or norm_out (l == nconv) */
static const float *gn_w(const dm_classifier *m, const float *p, int l)
{
	return p + (l < m->nconv ? m->cv[l].nw_off : m->now_off);
}
static const float *gn_b(const dm_classifier *m, const float *p, int l)
{
	return p + (l < m->nconv ? m->cv[l].nb_off : m->nob_off);
}

void dm_classifier_forward(dm_classifier *m, const float *p, const float *x, const float *t,
                           int B, float *logits)
{
	int G = m->cfg.groups, F = m->cfg.feat, E = m->cfg.temb;
	m->x = x;
	if (E > 0) { /* the time embedding e = SiLU(lin1(sinusoid(t * t_scale))) */
		for (int b = 0; b < B; b++)
			m->tsc[b] = t[b] * m->cfg.t_scale;
		dm_timestep_embedding(m->sinv, m->tsc, B, m->cfg.ch);
		dm_linear_silu_forward(m->epre, m->emb, m->sinv, p + m->tw_off, p + m->tb_off, B,
		                       m->cfg.ch, E);
	}
	for (int l = 0; l < m->nconv; l++) {
		const float *in = l == 0 ? x : m->a[l];
		dm_conv2d_forward(m->y[l], in, p + m->cv[l].w_off, p + m->cv[l].b_off, B, m->cv[l].cin,
		                  m->cv[l].h, m->cv[l].w, m->cv[l].cout, 3, 3, m->cv[l].stride, 1,
		                  m->wsbuf);
		if (E > 0) {
			dm_linear_forward(m->proj, m->emb, p + m->ew_off[l], p + m->eb_off[l], B, E,
			                  m->cv[l].cout);
			dm_channel_bias_forward(m->y[l], m->proj, B, m->cv[l].cout,
			                        m->cv[l].ho * m->cv[l].wo);
		}
		float *next = l + 1 < m->nconv ? m->a[l + 1] : m->aout;
		dm_groupnorm_silu_forward(next, m->mean[l + 1], m->rstd[l + 1], m->y[l], gn_w(m, p, l + 1),
		                          gn_b(m, p, l + 1), B, m->cv[l].cout,
		                          m->cv[l].ho * m->cv[l].wo, G, GN_EPS);
	}
	/* global average pool, in double per (sample, channel) */
	for (int i = 0; i < B * m->C; i++) {
		const float *v = m->aout + (size_t)i * (size_t)m->HW;
		double s = 0;
		for (int k = 0; k < m->HW; k++)
			s += v[k];
		m->pool[i] = (float)(s / m->HW);
	}
	dm_linear_silu_forward(m->fpre, m->feat, m->pool, p + m->fw_off, p + m->fb_off, B, m->C, F);
	dm_linear_forward(logits, m->feat, p + m->hw_off, p + m->hb_off, B, F, m->cfg.outputs);
}

void dm_classifier_backward(dm_classifier *m, const float *p, float *g, const float *dlogits)
{
	int B = m->B, G = m->cfg.groups, F = m->cfg.feat, K = m->cfg.outputs;
	memset(m->dfeat, 0, (size_t)B * (size_t)F * sizeof(float));
	dm_linear_backward(m->dfeat, g + m->hw_off, g + m->hb_off, dlogits, m->feat, p + m->hw_off,
	                   B, F, K);
	dm_silu_backward_bias(m->dfpre, g + m->fb_off, m->dfeat, m->fpre, B, F);
	memset(m->dpool, 0, (size_t)B * (size_t)m->C * sizeof(float));
	dm_linear_backward(m->dpool, g + m->fw_off, NULL, m->dfpre, m->pool, p + m->fw_off, B, m->C,
	                   F);
	/* the pool spreads each channel's gradient evenly over its positions */
	for (int i = 0; i < B * m->C; i++) {
		float d = m->dpool[i] / (float)m->HW;
		float *v = m->da + (size_t)i * (size_t)m->HW;
		for (int k = 0; k < m->HW; k++)
			v[k] = d;
	}
	int L = m->nconv, E = m->cfg.temb;
	if (E > 0)
		memset(m->demb, 0, (size_t)B * (size_t)E * sizeof(float));
	/* da holds dL/d(SiLU(GN(y[l]))); turn it into dy = dL/dy[l] */
	for (int l = L - 1; l >= 0; l--) {
		size_t on = (size_t)B * out_n(m, l);
		int nl = l + 1; /* the GN after conv l */
		float *gw = g + (nl < L ? m->cv[nl].nw_off : m->now_off);
		float *gb = g + (nl < L ? m->cv[nl].nb_off : m->nob_off);
		memset(m->dy, 0, on * sizeof(float));
		dm_groupnorm_silu_backward(m->dy, gw, gb, m->da, m->y[l], m->mean[nl], m->rstd[nl],
		                           gn_w(m, p, nl), gn_b(m, p, nl), B, m->cv[l].cout,
		                           m->cv[l].ho * m->cv[l].wo, G);
		if (E > 0) { /* the time projection's share: per (sample, channel) sums of dy */
			int C = m->cv[l].cout;
			memset(m->dproj, 0, (size_t)B * (size_t)C * sizeof(float));
			dm_channel_bias_backward(m->dproj, m->dy, B, C, m->cv[l].ho * m->cv[l].wo);
			dm_linear_backward(m->demb, g + m->ew_off[l], g + m->eb_off[l], m->dproj, m->emb,
			                   p + m->ew_off[l], B, E, C);
		}
		const float *in = l == 0 ? m->x : m->a[l];
		dm_conv2d_backward_weight(g + m->cv[l].w_off, g + m->cv[l].b_off, m->dy, in, B,
		                          m->cv[l].cin, m->cv[l].h, m->cv[l].w, m->cv[l].cout, 3, 3,
		                          m->cv[l].stride, 1, m->wsbuf);
		if (l > 0 || m->dx)
			dm_conv2d_backward_input(l > 0 ? m->da : m->dx, m->dy, p + m->cv[l].w_off, B,
			                         m->cv[l].cin,
			                         m->cv[l].h, m->cv[l].w, m->cv[l].cout, 3, 3,
			                         m->cv[l].stride, 1, 0, m->wsbuf);
	}
	if (E > 0) { /* through SiLU and lin1 (the sinusoid has no parameters) */
		dm_silu_backward_bias(m->depre, g + m->tb_off, m->demb, m->epre, B, E);
		dm_linear_backward(NULL, g + m->tw_off, NULL, m->depre, m->sinv, p + m->tw_off, B,
		                   m->cfg.ch, E);
	}
}

void dm_classifier_free(dm_classifier *m)
{
	free(m->buf);
	free(m->wsbuf);
	m->buf = m->wsbuf = NULL;
	m->B = 0;
}

/* ---- softmax cross-entropy ---------------------------------------------- */

double dm_xent_forward(const float *logits, const int32_t *label, const float *w, int B, int K,
                       int *correct)
{
	double sum = 0;
	int ok = 0;
	for (int b = 0; b < B; b++) {
		const float *z = logits + (size_t)b * (size_t)K;
		int arg = 0;
		for (int k = 1; k < K; k++)
			if (z[k] > z[arg])
				arg = k;
		double mx = z[arg], s = 0;
		for (int k = 0; k < K; k++)
			s += exp((double)z[k] - mx);
		double l = mx + log(s) - z[label[b]];
		sum += (w ? w[b] : 1.0) * l;
		ok += arg == label[b];
	}
	if (correct)
		*correct = ok;
	return sum / B;
}

void dm_xent_backward(float *dlogits, const float *logits, const int32_t *label, const float *w,
                      int B, int K, float dloss)
{
	for (int b = 0; b < B; b++) {
		const float *z = logits + (size_t)b * (size_t)K;
		float *d = dlogits + (size_t)b * (size_t)K;
		double mx = z[0], s = 0;
		for (int k = 1; k < K; k++)
			if (z[k] > mx)
				mx = z[k];
		for (int k = 0; k < K; k++)
			s += exp((double)z[k] - mx);
		double scale = (double)dloss * (w ? w[b] : 1.0) / B;
		for (int k = 0; k < K; k++)
			d[k] += (float)(scale * (exp((double)z[k] - mx) / s - (k == label[b])));
	}
}

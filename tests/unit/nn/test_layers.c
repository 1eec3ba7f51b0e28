/* Tests of lib/nn/layers.c.
 *
 * Gradient checks: the loss is L = sum(dout * out) with a random dout,
 * accumulated in double over the float forward output.  Each checked input
 * coordinate is moved by +-h (h = 1e-2, inputs are O(1)) and the central
 * difference (L+ - L-) / 2h compared with the analytic gradient.  The float
 * forward contributes an error of about 1e-7 * sqrt(n) * |dout| to L,
 * i.e. ~1e-5 after division by 2h, and the truncation error is O(h^2)
 * ~ 1e-4 times the third derivative, so we require
 *     max |fd - analytic| <= 2e-3 * max(1, max |analytic|)
 * over the checked coordinates; a wrong term in a backward pass misses this
 * by orders of magnitude.  Analytic gradients are computed into buffers
 * pre-filled with 0.5, which is subtracted afterwards: that also checks
 * that backward passes accumulate as layers.h promises. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "nn/layers.h"
#include "harness.h"

/* ---- helpers ----------------------------------------------------------- */

static uint64_t lcg_state = 12345;
static double urand(void)
{
	lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(lcg_state >> 11) / 9007199254740992.0;
}

static float *rnd(size_t n, double lo, double hi)
{
	float *p = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(lo + (hi - lo) * urand());
	return p;
}

static float *filled(size_t n, float v)
{
	float *p = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		p[i] = v;
	return p;
}

#define ACC0 0.5f /* initial content of gradient buffers */

static double dot(const float *a, const float *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

/* A forward pass as a closure: runs and returns L = sum(dout * out). */
typedef double (*loss_fn)(void *ctx);

/* Compare grad (minus ACC0) with central differences of fn over param
 * (n values); checks all coordinates when n <= 64, else 64 spread ones.
 * Returns the error measure, and prints details on failure. */
static double fd_check(const char *what, loss_fn fn, void *ctx, float *param, const float *grad,
                       size_t n)
{
	const float h = 1e-2f;
	double maxerr = 0, maxg = 1.0;
	size_t count = n <= 64 ? n : 64;
	for (size_t t = 0; t < count; t++) {
		size_t i = n <= 64 ? t : (size_t)(urand() * (double)n);
		float keep = param[i];
		param[i] = keep + h;
		double lp = fn(ctx);
		param[i] = keep - h;
		double lm = fn(ctx);
		param[i] = keep;
		double fd = (lp - lm) / (2.0 * (double)h);
		double an = (double)grad[i] - ACC0;
		double e = fabs(fd - an);
		if (fabs(an) > maxg)
			maxg = fabs(an);
		if (e > maxerr)
			maxerr = e;
	}
	double rel = maxerr / maxg;
	if (rel > 2e-3)
		printf("\n    %s: max |fd - analytic| = %g (scale %g)", what, maxerr, maxg);
	return rel;
}

/* ---- GroupNorm (plain and fused with SiLU) ----------------------------- */

struct gn_ctx {
	int B, C, HW, G, fuse;
	float *x, *w, *b, *out, *mean, *rstd, *dout;
};

static double gn_loss(void *p)
{
	struct gn_ctx *c = p;
	if (c->fuse)
		dm_groupnorm_silu_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->B, c->C,
		                          c->HW, c->G, 1e-5f);
	else
		dm_groupnorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->B, c->C, c->HW,
		                     c->G, 1e-5f);
	return dot(c->out, c->dout, (size_t)c->B * c->C * c->HW);
}

static int gn_case(int B, int C, int HW, int G, int fuse)
{
	size_t n = (size_t)B * C * HW;
	struct gn_ctx c = {B, C, HW, G, fuse, rnd(n, -2, 3), rnd((size_t)C, 0.5, 1.5),
	                   rnd((size_t)C, -0.5, 0.5), filled(n, 0), filled((size_t)B * G, 0),
	                   filled((size_t)B * G, 0), rnd(n, -1, 1)};
	float *dx = filled(n, ACC0), *dw = filled((size_t)C, ACC0), *db = filled((size_t)C, ACC0);
	gn_loss(&c);
	if (fuse)
		dm_groupnorm_silu_backward(dx, dw, db, c.dout, c.x, c.mean, c.rstd, c.w, c.b, B, C,
		                           HW, G);
	else
		dm_groupnorm_backward(dx, dw, db, c.dout, c.x, c.mean, c.rstd, c.w, B, C, HW, G);
	int ok = fd_check("dx", gn_loss, &c, c.x, dx, n) <= 2e-3 &&
	         fd_check("dweight", gn_loss, &c, c.w, dw, (size_t)C) <= 2e-3 &&
	         fd_check("dbias", gn_loss, &c, c.b, db, (size_t)C) <= 2e-3;
	/* the output itself against a direct double computation */
	if (ok && !fuse) {
		gn_loss(&c); /* the fd probes left a perturbed output behind */
		int cg = C / G;
		for (int s = 0; s < B && ok; s++)
			for (int g = 0; g < G; g++) {
				const float *xp = c.x + ((size_t)s * C + (size_t)g * cg) * HW;
				size_t m = (size_t)cg * HW;
				double mu = 0, var = 0;
				for (size_t i = 0; i < m; i++)
					mu += xp[i];
				mu /= (double)m;
				for (size_t i = 0; i < m; i++)
					var += (xp[i] - mu) * (xp[i] - mu);
				var /= (double)m;
				for (size_t i = 0; i < m; i++) {
					int ch = g * cg + (int)(i / (size_t)HW);
					double y = (xp[i] - mu) / sqrt(var + 1e-5) * c.w[ch] + c.b[ch];
					if (fabs(y - c.out[(xp - c.x) + i]) > 1e-5 * (1 + fabs(y))) {
						printf("\n    groupnorm out %g, want %g", c.out[(xp - c.x) + i], y);
						ok = 0;
					}
				}
			}
	}
	free(c.x), free(c.w), free(c.b), free(c.out), free(c.mean), free(c.rstd), free(c.dout);
	free(dx), free(dw), free(db);
	return ok;
}

TEST(layers_groupnorm_fd)
{
	CHECK(gn_case(2, 6, 7, 3, 0));
	CHECK(gn_case(1, 3, 17, 1, 0));
	CHECK(gn_case(3, 9, 1, 3, 0));
	CHECK(gn_case(2, 4, 33, 2, 0));
}

TEST(layers_groupnorm_silu_fd)
{
	CHECK(gn_case(2, 6, 7, 3, 1));
	CHECK(gn_case(1, 3, 17, 1, 1));
	CHECK(gn_case(3, 9, 1, 3, 1));
	CHECK(gn_case(2, 4, 33, 2, 1));
}

/* ---- SiLU ---------------------------------------------------------------- */

struct ew_ctx {
	size_t n;
	float *x, *out, *dout;
};

static double silu_loss(void *p)
{
	struct ew_ctx *c = p;
	dm_silu_forward(c->out, c->x, c->n);
	return dot(c->out, c->dout, c->n);
}

TEST(layers_silu_fd)
{
	size_t sizes[] = {1, 7, 33};
	for (int k = 0; k < 3; k++) {
		size_t n = sizes[k];
		struct ew_ctx c = {n, rnd(n, -4, 4), filled(n, 0), rnd(n, -1, 1)};
		float *dx = filled(n, ACC0);
		silu_loss(&c);
		for (size_t i = 0; i < n; i++)
			CHECK_NEAR(c.out[i], c.x[i] / (1 + exp(-c.x[i])), 1e-6);
		dm_silu_backward(dx, c.dout, c.x, n);
		double e = fd_check("silu", silu_loss, &c, c.x, dx, n);
		free(c.x), free(c.out), free(c.dout), free(dx);
		CHECK(e <= 2e-3);
	}
}

/* The vectorisable exp inside SiLU against libm in double, over the whole
 * range where the result is a normal float, and its saturation beyond. */
TEST(layers_silu_accuracy)
{
	enum { N = 4001 };
	float x[N], y[N], d[N];
	for (int i = 0; i < N; i++)
		x[i] = (float)(-100.0 + 200.0 * i / (N - 1));
	dm_silu_forward(y, x, N);
	memset(d, 0, sizeof d);
	float one[N];
	for (int i = 0; i < N; i++)
		one[i] = 1.0f;
	dm_silu_backward(d, one, x, N);
	for (int i = 0; i < N; i++) {
		double s = 1.0 / (1.0 + exp(-(double)x[i]));
		double want = x[i] * s, dwant = s * (1 + x[i] * (1 - s));
		if (x[i] < -87.0f) { /* saturated: e^-x taken as e^87 */
			CHECK(fabs(y[i]) < 1e-34 && fabs(d[i]) < 1e-34);
			continue;
		}
		CHECK_NEAR(y[i], want, 1e-6 * fabs(want) + 1e-37);
		CHECK_NEAR(d[i], dwant, 2e-6 * fabs(dwant) + 1e-30);
	}
	float big[4] = {1e30f, -1e30f, 3e6f, -3e6f}, out[4];
	dm_silu_forward(out, big, 4);
	CHECK(out[0] == 1e30f && out[2] == 3e6f);
	CHECK(fabs(out[1]) < 1e-6 && fabs(out[3]) < 1e-6);
}

/* ---- Linear ---------------------------------------------------------------- */

struct lin_ctx {
	int B, in, out;
	float *x, *W, *b, *y, *dout;
};

static double lin_loss(void *p)
{
	struct lin_ctx *c = p;
	dm_linear_forward(c->y, c->x, c->W, c->b, c->B, c->in, c->out);
	return dot(c->y, c->dout, (size_t)c->B * c->out);
}

static int lin_case(int B, int in, int out)
{
	size_t nx = (size_t)B * in, nw = (size_t)out * in, ny = (size_t)B * out;
	struct lin_ctx c = {B,         in,          out,       rnd(nx, -1, 1), rnd(nw, -1, 1),
	                    rnd((size_t)out, -1, 1), filled(ny, 0), rnd(ny, -1, 1)};
	float *dx = filled(nx, ACC0), *dW = filled(nw, ACC0), *db = filled((size_t)out, ACC0);
	lin_loss(&c);
	int ok = 1;
	for (int r = 0; r < B; r++) /* forward against the definition */
		for (int o = 0; o < out; o++) {
			double s = c.b[o];
			for (int i = 0; i < in; i++)
				s += (double)c.x[r * in + i] * c.W[o * in + i];
			if (fabs(s - c.y[r * out + o]) > 1e-5 * (1 + fabs(s)))
				ok = 0;
		}
	dm_linear_backward(dx, dW, db, c.dout, c.x, c.W, B, in, out);
	ok = ok && fd_check("dx", lin_loss, &c, c.x, dx, nx) <= 2e-3 &&
	     fd_check("dW", lin_loss, &c, c.W, dW, nw) <= 2e-3 &&
	     fd_check("db", lin_loss, &c, c.b, db, (size_t)out) <= 2e-3;
	free(c.x), free(c.W), free(c.b), free(c.y), free(c.dout), free(dx), free(dW), free(db);
	return ok;
}

TEST(layers_linear_fd)
{
	CHECK(lin_case(3, 7, 5));
	CHECK(lin_case(1, 17, 33));
	CHECK(lin_case(7, 1, 3));
	CHECK(lin_case(2, 33, 1));
}

/* ---- Attention ----------------------------------------------------------- */

struct att_ctx {
	int B, C, N;
	float *q, *k, *v, *out, *att, *dout;
};

static double att_loss(void *p)
{
	struct att_ctx *c = p;
	dm_attention_forward(c->out, c->att, c->q, c->k, c->v, c->B, c->C, c->N);
	return dot(c->out, c->dout, (size_t)c->B * c->C * c->N);
}

static int att_case(int B, int C, int N)
{
	size_t n = (size_t)B * C * N, nn = (size_t)B * N * N;
	struct att_ctx c = {B, C, N, rnd(n, -1.5, 1.5), rnd(n, -1.5, 1.5), rnd(n, -1, 1),
	                    filled(n, 0), filled(nn, 0), rnd(n, -1, 1)};
	float *dq = filled(n, ACC0), *dk = filled(n, ACC0), *dv = filled(n, ACC0);
	float *scratch = filled((size_t)N * N, 0);
	att_loss(&c);
	int ok = 1;
	/* forward against the definition, in double */
	for (int s = 0; s < B; s++)
		for (int i = 0; i < N; i++) {
			double sc[64], mx = -1e300, sum = 0;
			for (int j = 0; j < N; j++) {
				double d = 0;
				for (int ch = 0; ch < C; ch++)
					d += (double)c.q[((size_t)s * C + ch) * N + i] *
					     c.k[((size_t)s * C + ch) * N + j];
				sc[j] = d / sqrt((double)C);
				mx = sc[j] > mx ? sc[j] : mx;
			}
			for (int j = 0; j < N; j++)
				sum += (sc[j] = exp(sc[j] - mx));
			for (int ch = 0; ch < C; ch++) {
				double o = 0;
				for (int j = 0; j < N; j++)
					o += c.v[((size_t)s * C + ch) * N + j] * sc[j] / sum;
				if (fabs(o - c.out[((size_t)s * C + ch) * N + i]) > 1e-5)
					ok = 0;
			}
		}
	dm_attention_backward(dq, dk, dv, scratch, c.dout, c.q, c.k, c.v, c.att, B, C, N);
	ok = ok && fd_check("dq", att_loss, &c, c.q, dq, n) <= 2e-3 &&
	     fd_check("dk", att_loss, &c, c.k, dk, n) <= 2e-3 &&
	     fd_check("dv", att_loss, &c, c.v, dv, n) <= 2e-3;
	free(c.q), free(c.k), free(c.v), free(c.out), free(c.att), free(c.dout);
	free(dq), free(dk), free(dv), free(scratch);
	return ok;
}

TEST(layers_attention_fd)
{
	CHECK(att_case(2, 3, 7));
	CHECK(att_case(1, 5, 17));
	CHECK(att_case(1, 1, 33));
	CHECK(att_case(3, 7, 1));
}

/* The layers built on dm_sgemm, under every SIMD path this CPU has. */
TEST(layers_gemm_paths_fd)
{
	int keep = dm_simd();
	for (int level = DM_SIMD_SCALAR; level <= DM_SIMD_AVX512; level++) {
		if (!dm_simd_supported(level))
			continue;
		CHECK(dm_simd_force(level, NULL) == 0);
		int ok = att_case(2, 5, 17) && lin_case(3, 33, 7);
		dm_simd_force(keep, NULL);
		CHECK_MSG(ok, "path %s", dm_simd_name(level));
	}
}

/* ---- Upsample, concat, channel bias: linear maps ------------------------ */

struct up_ctx {
	int B, C, H, W;
	float *x, *out, *dout;
};

static double up_loss(void *p)
{
	struct up_ctx *c = p;
	dm_upsample2x_forward(c->out, c->x, c->B, c->C, c->H, c->W);
	return dot(c->out, c->dout, (size_t)c->B * c->C * c->H * c->W * 4);
}

TEST(layers_upsample_fd)
{
	int shapes[][4] = {{2, 3, 3, 5}, {1, 1, 1, 1}, {1, 2, 7, 1}};
	for (int k = 0; k < 3; k++) {
		int B = shapes[k][0], C = shapes[k][1], H = shapes[k][2], W = shapes[k][3];
		size_t n = (size_t)B * C * H * W;
		struct up_ctx c = {B, C, H, W, rnd(n, -1, 1), filled(4 * n, 0), rnd(4 * n, -1, 1)};
		float *dx = filled(n, ACC0);
		up_loss(&c);
		for (int bc = 0; bc < B * C; bc++)
			for (int y = 0; y < 2 * H; y++)
				for (int x = 0; x < 2 * W; x++)
					CHECK(c.out[((size_t)bc * 2 * H + y) * 2 * W + x] ==
					      c.x[((size_t)bc * H + y / 2) * W + x / 2]);
		dm_upsample2x_backward(dx, c.dout, B, C, H, W);
		double e = fd_check("upsample", up_loss, &c, c.x, dx, n);
		free(c.x), free(c.out), free(c.dout), free(dx);
		CHECK(e <= 2e-3);
	}
}

TEST(layers_concat_split)
{
	int B = 3, Ca = 2, Cb = 5, HW = 7;
	size_t na = (size_t)B * Ca * HW, nb = (size_t)B * Cb * HW, n = na + nb;
	float *a = rnd(na, -1, 1), *b = rnd(nb, -1, 1), *out = filled(n, 0);
	float *a2 = filled(na, 0), *b2 = filled(nb, 0), *da = filled(na, ACC0),
	      *db = filled(nb, ACC0), *dout = rnd(n, -1, 1);
	dm_concat_forward(out, a, b, B, Ca, Cb, HW);
	for (int s = 0; s < B; s++)
		for (int ch = 0; ch < Ca + Cb; ch++)
			for (int p = 0; p < HW; p++) {
				float want = ch < Ca ? a[((size_t)s * Ca + ch) * HW + p]
				                     : b[((size_t)s * Cb + ch - Ca) * HW + p];
				CHECK(out[((size_t)s * (Ca + Cb) + ch) * HW + p] == want);
			}
	dm_split_forward(a2, b2, out, B, Ca, Cb, HW);
	CHECK(!memcmp(a, a2, na * sizeof(float)) && !memcmp(b, b2, nb * sizeof(float)));
	/* backward = split of dout, accumulated */
	dm_concat_backward(da, db, dout, B, Ca, Cb, HW);
	dm_split_forward(a2, b2, dout, B, Ca, Cb, HW);
	for (size_t i = 0; i < na; i++)
		CHECK(da[i] == ACC0 + a2[i]);
	for (size_t i = 0; i < nb; i++)
		CHECK(db[i] == ACC0 + b2[i]);
	free(a), free(b), free(out), free(a2), free(b2), free(da), free(db), free(dout);
}

struct cb_ctx {
	int B, C, HW;
	float *x0, *x, *bias, *dout;
};

static double cb_loss(void *p)
{
	struct cb_ctx *c = p;
	size_t n = (size_t)c->B * c->C * c->HW;
	memcpy(c->x, c->x0, n * sizeof(float));
	dm_channel_bias_forward(c->x, c->bias, c->B, c->C, c->HW);
	return dot(c->x, c->dout, n);
}

TEST(layers_channel_bias_fd)
{
	int B = 3, C = 5, HW = 17;
	size_t n = (size_t)B * C * HW;
	struct cb_ctx c = {B, C, HW, rnd(n, -1, 1), filled(n, 0), rnd((size_t)B * C, -1, 1),
	                   rnd(n, -1, 1)};
	float *db = filled((size_t)B * C, ACC0);
	cb_loss(&c);
	CHECK(c.x[(size_t)(2 * C + 3) * HW + 4] == c.x0[(size_t)(2 * C + 3) * HW + 4] + c.bias[2 * C + 3]);
	dm_channel_bias_backward(db, c.dout, B, C, HW);
	double e = fd_check("dbias", cb_loss, &c, c.bias, db, (size_t)B * C);
	free(c.x0), free(c.x), free(c.bias), free(c.dout), free(db);
	CHECK(e <= 2e-3);
}

/* ---- Time embedding ------------------------------------------------------- */

TEST(layers_timestep_embedding)
{
	float t[3] = {0, 1, 999};
	float out[3 * 33];
	dm_timestep_embedding(out, t, 3, 4); /* half 2: freq = 1, 1e-4 */
	CHECK_NEAR(out[4 + 0], sin(1.0), 1e-6);
	CHECK_NEAR(out[4 + 1], sin(1e-4), 1e-7);
	CHECK_NEAR(out[4 + 2], cos(1.0), 1e-6);
	CHECK_NEAR(out[4 + 3], cos(1e-4), 1e-7);
	CHECK(out[0] == 0 && out[2] == 1 && out[3] == 1);
	dm_timestep_embedding(out, t, 3, 33); /* odd width: half 16, trailing 0 */
	for (int b = 0; b < 3; b++) {
		for (int i = 0; i < 16; i++) {
			double f = exp(-log(10000.0) * i / 15.0);
			/* float t*freq: |error| <= ulp(999) ~ 6e-5 in the argument */
			CHECK_NEAR(out[b * 33 + i], sin(t[b] * f), 2e-4);
			CHECK_NEAR(out[b * 33 + 16 + i], cos(t[b] * f), 2e-4);
		}
		CHECK(out[b * 33 + 32] == 0);
	}
}

/* ---- Weighted MSE ----------------------------------------------------------- */

struct mse_ctx {
	int B;
	size_t D;
	float *pred, *target, *w;
};

static double mse_loss(void *p)
{
	struct mse_ctx *c = p;
	return dm_mse_forward(NULL, c->pred, c->target, c->w, c->B, c->D);
}

TEST(layers_mse)
{
	/* hand-computed: B = 2, D = 2, w = (1, 3):
	 * sample 0: ((1-0)^2 + (2-0)^2)/2 = 2.5, sample 1: (0 + 4)/2 = 2
	 * loss = (1*2.5 + 3*2)/2 = 4.25 */
	float pred[4] = {1, 2, 5, 5}, target[4] = {0, 0, 5, 3}, w[2] = {1, 3};
	double ps[2];
	CHECK_NEAR(dm_mse_forward(ps, pred, target, w, 2, 2), 4.25, 1e-12);
	CHECK_NEAR(ps[0], 2.5, 1e-12);
	CHECK_NEAR(ps[1], 2.0, 1e-12);
	CHECK_NEAR(dm_mse_forward(NULL, pred, target, NULL, 2, 2), 2.25, 1e-12);
	float d[4] = {0, 0, 0, 0};
	dm_mse_backward(d, pred, target, w, 2, 2, 1.0f);
	/* dL/dpred = w * 2 (p - t) / (B D) = w (p - t) / 2 */
	CHECK_NEAR(d[0], 0.5, 1e-7);
	CHECK_NEAR(d[1], 1.0, 1e-7);
	CHECK_NEAR(d[2], 0.0, 1e-7);
	CHECK_NEAR(d[3], 3.0, 1e-7);

	int B = 3;
	size_t D = 17;
	struct mse_ctx c = {B, D, rnd(B * D, -1, 1), rnd(B * D, -1, 1), rnd((size_t)B, 0, 2)};
	float *dp = filled(B * D, ACC0);
	dm_mse_backward(dp, c.pred, c.target, c.w, B, D, 1.0f);
	double e = fd_check("dpred", mse_loss, &c, c.pred, dp, B * D);
	free(c.pred), free(c.target), free(c.w), free(dp);
	CHECK(e <= 2e-3);
}

/* ---- Dropout ----------------------------------------------------------------- */

TEST(layers_dropout)
{
	size_t n = 10007;
	float *x = rnd(n, 0.5, 1.5), *out = filled(n, 0), *out2 = filled(n, 0);
	float *dout = rnd(n, -1, 1), *dx = filled(n, ACC0);
	dm_dropout_forward(out, x, n, 0.3f, 42, 5);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (out[i] != 0) {
			kept++;
			CHECK_NEAR(out[i], x[i] / 0.7f, 1e-6);
		}
	}
	/* binomial(10007, 0.7): sd ~ 46, allow 5 sd */
	CHECK(fabs((double)kept - 0.7 * (double)n) < 230);
	dm_dropout_backward(dx, dout, n, 0.3f, 42, 5);
	for (size_t i = 0; i < n; i++)
		CHECK_NEAR(dx[i] - ACC0, out[i] != 0 ? dout[i] / 0.7f : 0.0f, 1e-6);
	/* same key, same mask whatever the threads; another index, another mask */
	omp_set_num_threads(1);
	dm_dropout_forward(out2, x, n, 0.3f, 42, 5);
	omp_set_num_threads(2);
	CHECK(!memcmp(out, out2, n * sizeof(float)));
	dm_dropout_forward(out2, x, n, 0.3f, 42, 6);
	CHECK(memcmp(out, out2, n * sizeof(float)) != 0);
	/* in place, p = 0 identity */
	memcpy(out2, x, n * sizeof(float));
	dm_dropout_forward(out2, out2, n, 0.3f, 42, 5);
	CHECK(!memcmp(out, out2, n * sizeof(float)));
	dm_dropout_forward(out2, x, n, 0.0f, 42, 5);
	CHECK(!memcmp(x, out2, n * sizeof(float)));
	free(x), free(out), free(out2), free(dout), free(dx);
}

/* ---- Same bits for 1 and 2 threads ------------------------------------------ */

/* Run every layer's forward and backward on shapes large enough to enable
 * the parallel loops; return a checksum buffer of all outputs. */
static float *run_all(int threads, size_t *len)
{
	omp_set_num_threads(threads);
	lcg_state = 777;
	int B = 4, C = 32, H = 12, W = 12, HW = H * W, G = 8;
	size_t n = (size_t)B * C * HW, nn = (size_t)B * HW * HW;
	size_t total = 12 * n + 8 * (size_t)C + (size_t)C * C + nn + 2 * (size_t)B * G + 70000 * 2;
	float *res = filled(total, 0), *r = res;
	float *x = rnd(n, -2, 2), *w = rnd((size_t)C, 0.5, 1.5), *b = rnd((size_t)C, -1, 1);
	float *dout = rnd(n, -1, 1), *k = rnd(n, -1, 1), *v = rnd(n, -1, 1);
	float *scratch = filled((size_t)HW * HW, 0);
	/* GroupNorm + SiLU */
	float *mean = r, *rstd = r + B * G;
	r += 2 * B * G;
	dm_groupnorm_silu_forward(r, mean, rstd, x, w, b, B, C, HW, G, 1e-5f), r += n;
	dm_groupnorm_silu_backward(r, r + n, r + n + C, dout, x, mean, rstd, w, b, B, C, HW, G);
	r += n + 2 * C;
	dm_groupnorm_backward(r, r + n, r + n + C, dout, x, mean, rstd, w, B, C, HW, G);
	r += n + 2 * C;
	/* attention */
	float *att = r;
	r += nn;
	dm_attention_forward(r, att, x, k, v, B, C, HW), r += n;
	dm_attention_backward(r, r + n, r + 2 * n, scratch, dout, x, k, v, att, B, C, HW);
	r += 3 * n;
	/* linear: B*HW rows of C features, W = the first C*C values of k */
	dm_linear_forward(r, x, k, b, B * HW, C, C), r += n;
	dm_linear_backward(r, r + n, r + n + C * C, dout, x, k, B * HW, C, C);
	r += n + C * C + C;
	/* elementwise */
	float *big = rnd(70000, -3, 3), *bigd = rnd(70000, -1, 1);
	dm_silu_forward(r, big, 70000), r += 70000;
	dm_silu_backward(r, bigd, big, 70000), r += 70000;
	*len = (size_t)(r - res);
	free(x), free(w), free(b), free(dout), free(k), free(v), free(scratch), free(big),
		free(bigd);
	return res;
}

TEST(layers_threads_bit_identical)
{
	size_t l1, l2;
	float *a = run_all(1, &l1), *b = run_all(2, &l2);
	omp_set_num_threads(2);
	CHECK(l1 == l2);
	CHECK(!memcmp(a, b, l1 * sizeof(float)));
	free(a), free(b);
}

/* ---- SIMD paths against each other ------------------------------------------ */

/* Runs fn under every SIMD path this CPU has (the first being scalar),
 * restoring the chosen path after; says which paths it skips. */
static int paths_available(int *levels)
{
	int n = 0;
	for (int level = DM_SIMD_SCALAR; level <= DM_SIMD_AVX512; level++) {
		if (dm_simd_supported(level))
			levels[n++] = level;
		else
			fprintf(stderr, "    (path %s: not on this CPU, skipped)\n", dm_simd_name(level));
	}
	return n;
}

/* SiLU forward and backward, and the fused linear+SiLU pair, on every
 * path: accuracy against libm (1e-6 relative), and the paths against each
 * other, at sizes crossing the vector width. */
TEST(layers_silu_paths)
{
	int keep = dm_simd(), levels[3], np = paths_available(levels);
	size_t sizes[] = {1, 7, 8, 9, 17, 33, 70001};
	for (int li = 0; li < np; li++) {
		CHECK(dm_simd_force(levels[li], NULL) == 0);
		for (int k = 0; k < 7; k++) {
			size_t n = sizes[k];
			float *x = rnd(n, -20, 20), *y = filled(n, 0), *d = filled(n, ACC0),
			      *one = filled(n, 1.0f);
			dm_silu_forward(y, x, n);
			dm_silu_backward(d, one, x, n);
			int bad = 0;
			for (size_t i = 0; i < n; i++) {
				double s = 1.0 / (1.0 + exp(-(double)x[i]));
				double want = x[i] * s, dwant = s * (1 + x[i] * (1 - s));
				if (fabs(y[i] - want) > 1e-6 * fabs(want) + 1e-30 ||
				    fabs(d[i] - ACC0 - dwant) > 2e-6 * fabs(dwant) + 1e-7)
					bad++;
			}
			CHECK_MSG(!bad, "path %s n %zu: %d values off", dm_simd_name(levels[li]), n, bad);
			free(x), free(y), free(d), free(one);
		}
		float nan[9], out[9];
		for (int i = 0; i < 9; i++)
			nan[i] = (float)NAN;
		dm_silu_forward(out, nan, 9);
		for (int i = 0; i < 9; i++)
			CHECK_MSG(isnan(out[i]), "path %s: silu(NaN) not NaN", dm_simd_name(levels[li]));
	}
	dm_simd_force(keep, NULL);
}

/* dm_linear_silu_forward and dm_silu_backward_bias against the unfused
 * layers, on every path, with widths that cross 8 and the column blocks. */
TEST(layers_linear_silu_fused)
{
	int keep = dm_simd(), levels[3], np = paths_available(levels);
	int shapes[][3] = {{1, 3, 1}, {5, 7, 9}, {33, 17, 33}, {300, 20, 260}};
	for (int li = 0; li < np; li++) {
		CHECK(dm_simd_force(levels[li], NULL) == 0);
		for (int k = 0; k < 4; k++) {
			int B = shapes[k][0], in = shapes[k][1], out = shapes[k][2];
			size_t ny = (size_t)B * out;
			float *x = rnd((size_t)B * in, -1, 1), *W = rnd((size_t)out * in, -1, 1),
			      *b = rnd((size_t)out, -1, 1), *pre = filled(ny, 7), *act = filled(ny, 7),
			      *ref = filled(ny, 0), *refa = filled(ny, 0), *dact = rnd(ny, -1, 1),
			      *dpre = filled(ny, 7), *refd = filled(ny, 0), *db = filled((size_t)out, ACC0),
			      *refdb = filled((size_t)out, ACC0);
			dm_linear_silu_forward(pre, act, x, W, b, B, in, out);
			dm_linear_forward(ref, x, W, b, B, in, out);
			dm_silu_forward(refa, ref, ny);
			CHECK(!memcmp(pre, ref, ny * sizeof(float)));
			CHECK(!memcmp(act, refa, ny * sizeof(float)));
			dm_silu_backward_bias(dpre, db, dact, pre, B, out);
			dm_silu_backward(refd, dact, pre, ny);
			dm_linear_backward(NULL, NULL, refdb, refd, x, W, B, in, out);
			CHECK(!memcmp(dpre, refd, ny * sizeof(float)));
			CHECK(!memcmp(db, refdb, (size_t)out * sizeof(float)));
			free(x), free(W), free(b), free(pre), free(act), free(ref), free(refa), free(dact),
				free(dpre), free(refd), free(db), free(refdb);
		}
	}
	dm_simd_force(keep, NULL);
}

/* GroupNorm(+SiLU) forward and backward: every path against the scalar
 * one.  The statistics are bit-identical across paths (same lanes, no
 * fused multiply-add); the SiLU may differ in the last bits. */
TEST(layers_groupnorm_paths)
{
	int keep = dm_simd(), levels[3], np = paths_available(levels);
	int shapes[][4] = {{2, 4, 17, 2}, {1, 6, 33, 3}, {3, 8, 49, 4}, {1, 2, 7, 1}};
	for (int k = 0; k < 4; k++) {
		int B = shapes[k][0], C = shapes[k][1], HW = shapes[k][2], G = shapes[k][3];
		size_t n = (size_t)B * C * HW;
		float *x = rnd(n, -2, 3), *w = rnd((size_t)C, 0.5, 1.5), *bb = rnd((size_t)C, -1, 1),
		      *dout = rnd(n, -1, 1);
		float *res[3][5];
		float *mean = filled((size_t)B * G, 0), *rstd = filled((size_t)B * G, 0);
		for (int li = 0; li < np; li++) {
			CHECK(dm_simd_force(levels[li], NULL) == 0);
			for (int fuse = 0; fuse < 2; fuse++) {
				float *y = filled(n, 0), *dx = filled(n, ACC0), *dw = filled((size_t)C, ACC0),
				      *db = filled((size_t)C, ACC0);
				if (fuse) {
					dm_groupnorm_silu_forward(y, mean, rstd, x, w, bb, B, C, HW, G, 1e-5f);
					dm_groupnorm_silu_backward(dx, dw, db, dout, x, mean, rstd, w, bb, B, C,
					                           HW, G);
				} else {
					dm_groupnorm_forward(y, mean, rstd, x, w, bb, B, C, HW, G, 1e-5f);
					dm_groupnorm_backward(dx, dw, db, dout, x, mean, rstd, w, B, C, HW, G);
				}
				if (li == 0) {
					res[fuse][0] = y, res[fuse][1] = dx, res[fuse][2] = dw, res[fuse][3] = db;
					continue;
				}
				float *got[4] = {y, dx, dw, db};
				size_t len[4] = {n, n, (size_t)C, (size_t)C};
				for (int a = 0; a < 4; a++) {
					double e = 0;
					for (size_t i = 0; i < len[a]; i++) {
						double r = res[fuse][a][i];
						double d = fabs(got[a][i] - r) / (1e-3 + fabs(r));
						e = d > e ? d : e;
					}
					CHECK_MSG(e <= (fuse ? 1e-5 : 1e-6) && (fuse || a != 0 || e == 0),
					          "path %s shape %d fuse %d array %d: rel err %g",
					          dm_simd_name(levels[li]), k, fuse, a, e);
				}
				free(y), free(dx), free(dw), free(db);
			}
		}
		for (int f = 0; f < 2; f++)
			for (int a = 0; a < 4; a++)
				free(res[f][a]);
		free(x), free(w), free(bb), free(dout), free(mean), free(rstd);
	}
	dm_simd_force(keep, NULL);
}

/* Tests of unet3d (lib/models/unet3d.c over unet.c's video path): names,
 * the parameter count of unet3d-s, parameter and input gradients against
 * central differences (gradcheck.h), 1 vs 2 threads bit for bit, and the
 * per-frame equivalence that defines the factorisation. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "models/net.h"
#include "gradcheck.h"
#include "harness.h"

/* tiny and odd: 1 x 3 x 8 x 6 clips, ch 8, ch_mult 1,2, attention at 4 */
static void tiny(dm_net_config *c, int classes)
{
	dm_error err;
	dm_net_config_named(c, "unet3d", &err);
	dm_unet_config *u = &c->unet3d.s;
	c->unet3d.T = 3;
	u->in_ch = 1, u->H = 8, u->W = 6, u->ch = 8, u->nmult = 2, u->ch_mult[0] = 1;
	u->ch_mult[1] = 2, u->res_blocks = 1, u->nattn = 1, u->attn_res[0] = 4, u->groups = 2;
	c->classes = classes;
}

TEST(unet3d_s_shape_names_and_parameter_count)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	CHECK(dm_net_config_named(&c, "unet3d-s", &err) == 0 && c.kind == DM_NET_UNET3D);
	int64_t d[4];
	CHECK(dm_net_sample_shape(&c, d) == 4 && d[0] == 1 && d[1] == 8 && d[2] == 32 && d[3] == 32);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	CHECK(dm_layout_find(&net.layout, "down.0.tattn.0.rel") >= 0);
	CHECK(net.layout.p[dm_layout_find(&net.layout, "down.0.tattn.0.rel")].n == 15);
	CHECK(dm_layout_find(&net.layout, "down.2.attn.0.q.weight") >= 0);
	CHECK(dm_layout_find(&net.layout, "down.1.attn.0.q.weight") < 0);
	CHECK(dm_layout_find(&net.layout, "mid.tattn.proj.bias") >= 0);
	CHECK(dm_layout_find(&net.layout, "up.0.tattn.1.norm.weight") >= 0);
	/* the count the PyTorch twin reports for unet3d-s (tests/ref/models.py) */
	CHECK_MSG(net.layout.total == 1243191, "unet3d-s has %zu parameters",
	          net.layout.total);
	dm_net_free(&net);
}

TEST(unet3d_fit_takes_clips_and_refuses_images)
{
	dm_net_config c;
	dm_net_sizes s;
	dm_error err;
	dm_net_sizes_none(&s);
	s.ch = 16;
	dm_net_config_named(&c, "unet3d", &err);
	int64_t clip[4] = {3, 5, 16, 12}, img[3] = {1, 16, 16};
	CHECK(dm_net_config_fit(&c, &s, clip, 4, &err) == 0);
	CHECK(c.unet3d.T == 5 && c.unet3d.s.in_ch == 3 && c.unet3d.s.H == 16 && c.unet3d.s.W == 12);
	CHECK(c.unet3d.s.ch == 16 && dm_net_sample_size(&c) == 3 * 5 * 16 * 12);
	CHECK(dm_net_config_fit(&c, &s, img, 3, &err) < 0 && strstr(err.msg, "unet3d"));
	/* the header round trip */
	dm_kv kv;
	dm_kv_init(&kv);
	dm_net_config back;
	CHECK(dm_net_config_fit(&c, &s, clip, 4, &err) == 0);
	CHECK(dm_net_config_to_kv(&c, &kv, &err) == 0);
	CHECK(!strcmp(dm_kv_get(&kv, "shape"), "3x5x16x12"));
	CHECK(dm_net_config_from_kv(&back, &kv, "h", &err) == 0);
	CHECK(back.kind == DM_NET_UNET3D && back.unet3d.T == 5 && back.unet3d.s.W == 12);
	dm_kv_free(&kv);
}

static void check(int classes, int dropout)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, classes);
	if (dropout)
		c.unet3d.s.dropout = 0.3f;
	CHECK(dm_net_init(&net, &c, &err) == 0);
	int B = 2;
	float x[2 * 144], t[2] = {3, 700};
	int32_t lab[2] = {1, 0};
	dm_rng_normal(1, 98, 0, 0, x, 2 * 144);
	double worst;
	char where[256];
	int bad = gradcheck(&net, x, t, classes ? lab : NULL, B, 4, 1e-2, 3e-3, 2e-2, &worst, where,
	                    sizeof where);
	dm_net_free(&net);
	CHECK_MSG(bad == 0, "%d gradients off; worst %s", bad, where);
}

TEST(unet3d_backward_matches_finite_differences) { check(0, 0); }
TEST(unet3d_class_conditional_dropout_backward_matches_finite_differences) { check(2, 1); }

TEST(unet3d_input_vjp_matches_finite_differences)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, 0);
	c.unet3d.s.in_ch = 2;
	CHECK(dm_net_init(&net, &c, &err) == 0);
	int B = 2;
	float x[2 * 288], t[2] = {3, 700};
	dm_rng_normal(1, 97, 0, 0, x, 2 * 288);
	double worst;
	char where[256];
	int bad = inputcheck(&net, x, t, NULL, B, 7, 1e-2, 3e-3, 2e-2, &worst, where, sizeof where);
	dm_net_free(&net);
	CHECK_MSG(bad == 0, "%d input gradients off; worst %.2f at %s", bad, worst, where);
}

TEST(unet3d_one_and_two_threads_bit_identical)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, 2);
	c.unet3d.s.dropout = 0.2f;
	CHECK(dm_net_init(&net, &c, &err) == 0);
	size_t P = net.layout.total, n = 2 * 144;
	float *p = test_params(&net), x[2 * 144], r[2 * 144], out[2][2 * 144], t[2] = {5, 400};
	float *g[2] = {calloc(P, sizeof(float)), calloc(P, sizeof(float))};
	int32_t lab[2] = {0, 1};
	dm_rng_normal(1, 96, 0, 0, x, n);
	dm_rng_normal(1, 95, 0, 0, r, n);
	int threads = omp_get_max_threads();
	for (int j = 0; j < 2; j++) {
		omp_set_num_threads(j + 1);
		CHECK(dm_net_forward(&net, p, x, t, lab, 2, out[j], 1, 9, 3, &err) == 0);
		dm_net_backward(&net, p, g[j], r);
	}
	omp_set_num_threads(threads);
	CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
	CHECK(memcmp(g[0], g[1], P * sizeof(float)) == 0);
	free(p), free(g[0]), free(g[1]);
	dm_net_free(&net);
}

/* Factorisation: with every temporal attention block's output projection
 * zero (so each block is the identity), a clip's output frames are the
 * image U-Net's outputs of its frames, the same weights loaded by name. */
TEST(unet3d_without_temporal_mixing_is_the_unet_per_frame)
{
	dm_net_config c, ci;
	dm_net v, im;
	dm_error err;
	tiny(&c, 0);
	ci = c;
	ci.kind = DM_NET_UNET, ci.unet = c.unet3d.s;
	CHECK(dm_net_init(&v, &c, &err) == 0 && dm_net_init(&im, &ci, &err) == 0);
	float *p = test_params(&v), *pi = malloc(im.layout.total * sizeof(float));
	for (int i = 0; i < v.layout.n; i++) {
		const dm_param *q = &v.layout.p[i];
		if (strstr(q->name, "tattn") && strstr(q->name, ".proj."))
			memset(p + q->off, 0, q->n * sizeof(float));
		int k = dm_layout_find(&im.layout, q->name);
		if (k >= 0)
			memcpy(pi + im.layout.p[k].off, p + q->off, q->n * sizeof(float));
	}
	enum { T = 3, HW = 48 };
	float x[T * HW], out[T * HW], fr[T * HW], fo[T * HW], t[T] = {40, 40, 40};
	dm_rng_normal(1, 94, 0, 0, x, T * HW);
	CHECK(dm_net_forward(&v, p, x, t, NULL, 1, out, 0, 0, 0, &err) == 0);
	CHECK(dm_net_forward(&im, pi, x, t, NULL, T, fo, 0, 0, 0, &err) == 0); /* frames as images */
	memcpy(fr, out, sizeof fr);
	double worst = 0;
	for (int i = 0; i < T * HW; i++)
		worst = fmax(worst, fabs(fr[i] - fo[i]));
	CHECK_MSG(worst < 1e-5, "frames differ from the unet's by %.3g", worst);
	free(p), free(pi);
	dm_net_free(&v), dm_net_free(&im);
}

/* kt 3: every 3x3 convolution 3x3x3 (Conv3d weights), 1x1 ones unchanged */
TEST(unet3d_conv3d_shapes_and_backward_match_finite_differences)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, 0);
	c.unet3d.kt = 3;
	CHECK(dm_net_init(&net, &c, &err) == 0);
	const dm_param *p = &net.layout.p[dm_layout_find(&net.layout, "conv_in.weight")];
	CHECK(p->rank == 5 && p->dims[0] == 8 && p->dims[1] == 1 && p->dims[2] == 3 && p->dims[4] == 3);
	p = &net.layout.p[dm_layout_find(&net.layout, "down.0.down.weight")];
	CHECK(p->rank == 5 && p->dims[2] == 3);
	p = &net.layout.p[dm_layout_find(&net.layout, "down.1.res.0.skip.weight")];
	CHECK(p->rank == 4 && p->dims[2] == 1);
	int B = 2;
	float x[2 * 144], t[2] = {3, 700};
	dm_rng_normal(1, 93, 0, 0, x, 2 * 144);
	double worst;
	char where[256];
	int bad = gradcheck(&net, x, t, NULL, B, 4, 1e-2, 3e-3, 2e-2, &worst, where, sizeof where);
	CHECK_MSG(bad == 0, "%d gradients off; worst %s", bad, where);
	bad = inputcheck(&net, x, t, NULL, B, 5, 1e-2, 3e-3, 2e-2, &worst, where, sizeof where);
	CHECK_MSG(bad == 0, "%d input gradients off; worst %.2f at %s", bad, worst, where);
	dm_net_free(&net);
}

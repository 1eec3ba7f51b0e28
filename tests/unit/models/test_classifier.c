/* test_classifier.c - the classifier's gradients against finite
 * differences, its cross-entropy against closed forms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "models/classifier.h"
#include "models/net.h"
#include "gradcheck.h"
#include "harness.h"

static void tiny(dm_net_config *c)
{
	dm_error err;
	dm_net_config_named(c, "classifier", &err);
	c->cls.in_ch = 2, c->cls.H = 7, c->cls.W = 6, c->cls.ch = 4, c->cls.nmult = 2, c->cls.ch_mult[0] = 1;
	c->cls.ch_mult[1] = 2, c->cls.res_blocks = 1, c->cls.groups = 2, c->cls.feat = 5, c->cls.outputs = 3;
}

TEST(classifier_fmnist_layout)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	CHECK(dm_net_config_named(&c, "classifier-fmnist", &err) == 0);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	/* convs 1->32, 32->64, 64->128 (3x3), GN 32, 64, 128 (norm_out),
	 * feat 128->128, head 128->10 */
	size_t want = (9 * 32 + 32) + 2 * 32 + (9 * 32 * 64 + 64) + 2 * 64 + (9 * 64 * 128 + 128) +
	              2 * 128 + (128 * 128 + 128) + (128 * 10 + 10);
	CHECK_MSG(net.layout.total == want, "%zu parameters, want %zu", net.layout.total, want);
	CHECK(!strcmp(net.layout.p[0].name, "conv.0.weight"));
	CHECK(dm_layout_find(&net.layout, "norm.2.weight") >= 0);
	CHECK(dm_layout_find(&net.layout, "head.bias") == net.layout.n - 1);
	CHECK(dm_net_output_size(&c) == 10 && dm_net_sample_size(&c) == 784);
	/* 28 -> 14 -> 7 */
	CHECK(net.cls->HW == 49 && net.cls->C == 128);
	/* the config survives the checkpoint header */
	dm_kv kv;
	dm_kv_init(&kv);
	dm_net_config back;
	CHECK(dm_net_config_to_kv(&c, &kv, &err) == 0);
	CHECK(dm_net_config_from_kv(&back, &kv, "test", &err) == 0);
	CHECK(back.kind == DM_NET_CLASSIFIER && back.cls.feat == 128 && back.cls.outputs == 10 &&
	      back.cls.nmult == 3 && back.cls.ch_mult[2] == 4 && back.cls.groups == 8);
	dm_kv_free(&kv);
	dm_net_free(&net);
	c.cls.groups = 5;
	CHECK(dm_net_config_check(&c, &err) == DM_ERR_ARG);
}

TEST(classifier_backward_matches_finite_differences)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	int B = 3;
	float x[3 * 2 * 7 * 6];
	dm_rng_normal(1, 98, 0, 0, x, sizeof x / sizeof *x);
	double worst;
	char where[256];
	int bad = gradcheck(&net, x, NULL, NULL, B, 200, 1e-2, 2e-3, 1e-2, &worst, where,
	                    sizeof where);
	dm_net_free(&net);
	CHECK_MSG(bad == 0, "%d gradients off; worst %s", bad, where);
}

TEST(classifier_forward_is_batch_independent)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	float *p = malloc(net.layout.total * sizeof(float));
	dm_net_init_params(&net, p, 1);
	float x[4 * 84], o4[12], o1[3];
	dm_rng_normal(1, 98, 0, 0, x, 4 * 84);
	CHECK(dm_net_forward(&net, p, x, NULL, NULL, 4, o4, 0, 0, 0, &err) == 0);
	float f2[5];
	memcpy(f2, net.cls->feat + 2 * 5, sizeof f2);
	CHECK(dm_net_forward(&net, p, x + 2 * 84, NULL, NULL, 1, o1, 0, 0, 0, &err) == 0);
	for (int i = 0; i < 3; i++)
		CHECK_NEAR(o1[i], o4[6 + i], 1e-5);
	for (int i = 0; i < 5; i++)
		CHECK_NEAR(net.cls->feat[i], f2[i], 1e-5);
	free(p);
	dm_net_free(&net);
}

TEST(xent_closed_form_and_gradient)
{
	/* equal logits: loss log K, gradient (1/K - onehot) / B */
	float z[6] = {2, 2, 2, 0, 0, 5};
	int32_t lab[2] = {1, 2};
	int correct;
	double L = dm_xent_forward(z, lab, NULL, 1, 3, &correct);
	CHECK_NEAR(L, log(3.0), 1e-12);
	/* second row: log(2 + e^5) - 5 */
	double L2 = dm_xent_forward(z + 3, lab + 1, NULL, 1, 3, &correct);
	CHECK_NEAR(L2, log(2 + exp(5.0)) - 5, 1e-9);
	CHECK(correct == 1);
	float w[2] = {0.5f, 2};
	CHECK_NEAR(dm_xent_forward(z, lab, w, 2, 3, NULL), (0.5 * L + 2 * L2) / 2, 1e-9);
	/* the backward against central differences of the forward */
	float d[6] = {0};
	dm_xent_backward(d, z, lab, w, 2, 3, 1.0f);
	for (int i = 0; i < 6; i++) {
		float s = z[i];
		z[i] = s + 1e-3f;
		double lp = dm_xent_forward(z, lab, w, 2, 3, NULL);
		z[i] = s - 1e-3f;
		double lm = dm_xent_forward(z, lab, w, 2, 3, NULL);
		z[i] = s;
		CHECK_NEAR(d[i], (lp - lm) / 2e-3, 1e-4);
	}
	CHECK_NEAR(d[0] + d[1] + d[2], 0, 1e-7);
}

/* The input VJP of the logits (what classifier guidance needs) against
 * central differences on the odd 2 x 7 x 6 input. */
TEST(classifier_input_vjp_matches_finite_differences)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	float x[3 * 84];
	dm_rng_normal(3, 97, 0, 0, x, 3 * 84);
	double worst;
	char where[256];
	int bad = inputcheck(&net, x, NULL, NULL, 3, 5, 1e-2, 3e-3, 2e-2, &worst, where, sizeof where);
	dm_net_free(&net);
	CHECK_MSG(bad == 0, "%d input gradients off; worst %.2f at %s", bad, worst, where);
}

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "models/net.h"
#include "models/unet.h"
#include "gradcheck.h"
#include "harness.h"

/* MODELS.md's tiny check config: ch 8, ch_mult 1,2, groups 2, on 1x8x8,
 * attention at 4. */
static void tiny(dm_net_config *c, int classes)
{
	dm_error err;
	dm_net_config_named(c, "unet", &err);
	c->unet.in_ch = 1, c->unet.H = 8, c->unet.W = 8, c->unet.ch = 8, c->unet.nmult = 2, c->unet.ch_mult[0] = 1;
	c->unet.ch_mult[1] = 2, c->unet.res_blocks = 1, c->unet.nattn = 1, c->unet.attn_res[0] = 4, c->unet.groups = 2;
	c->classes = classes;
}

TEST(unet_s_parameter_count_and_names)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	CHECK(dm_net_config_named(&c, "unet-s", &err) == 0);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	CHECK(!strcmp(net.layout.p[0].name, "time.lin1.weight"));
	CHECK(dm_layout_find(&net.layout, "conv_in.weight") >= 0);
	CHECK(dm_layout_find(&net.layout, "down.1.res.0.skip.weight") >= 0);
	CHECK(dm_layout_find(&net.layout, "down.2.attn.1.q.weight") >= 0);
	CHECK(dm_layout_find(&net.layout, "down.2.down.weight") < 0);
	CHECK(dm_layout_find(&net.layout, "up.0.res.2.conv2.bias") >= 0);
	CHECK(dm_layout_find(&net.layout, "up.1.up.weight") >= 0);
	CHECK(dm_layout_find(&net.layout, "conv_out.bias") >= 0);
	/* the count the PyTorch twin reports for unet-s (tests/ref/models.py) */
	CHECK_MSG(net.layout.total == 1623169, "unet-s has %zu parameters", net.layout.total);
	dm_net_free(&net);
}

static void check(int classes, int dropout)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, classes);
	if (dropout)
		c.unet.dropout = 0.3f;
	CHECK(dm_net_init(&net, &c, &err) == 0);
	int B = 2;
	float x[128], t[2] = {3, 700};
	int32_t lab[2] = {1, 0};
	dm_rng_normal(1, 98, 0, 0, x, 128);
	double worst;
	char where[256];
	int bad = gradcheck(&net, x, t, classes ? lab : NULL, B, 4, 1e-2, 3e-3, 2e-2, &worst, where,
	                    sizeof where);
	dm_net_free(&net);
	CHECK_MSG(bad == 0, "%d gradients off; worst %s", bad, where);
}

TEST(unet_backward_matches_finite_differences) { check(0, 0); }
TEST(unet_class_conditional_dropout_backward_matches_finite_differences) { check(2, 1); }

/* The input VJP (dm_net_vjp) against central differences, on an odd
 * 2 x 8 x 6 input, class-conditional, and with dropout configured (the
 * VJP runs without it). */
TEST(unet_input_vjp_matches_finite_differences)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, 3);
	c.unet.in_ch = 2, c.unet.W = 6, c.unet.dropout = 0.3f;
	CHECK(dm_net_init(&net, &c, &err) == 0);
	int B = 2;
	float x[192], t[2] = {3, 700};
	int32_t lab[2] = {1, 3};
	dm_rng_normal(1, 97, 0, 0, x, 192);
	double worst;
	char where[256];
	int bad = inputcheck(&net, x, t, lab, B, 7, 1e-2, 3e-3, 2e-2, &worst, where, sizeof where);
	dm_net_free(&net);
	CHECK_MSG(bad == 0, "%d input gradients off; worst %.2f at %s", bad, worst, where);
}

#include <stdlib.h>
#include <string.h>

#include "models/mlp.h"
#include "core/rng.h"
#include "models/net.h"
#include "gradcheck.h"
#include "harness.h"

static void tiny(dm_net_config *c, int classes)
{
	dm_error err;
	dm_net_config_named(c, "mlp", &err);
	c->mlp.dim = 3, c->mlp.hidden = 7, c->mlp.layers = 2, c->mlp.temb = 6, c->classes = classes;
}

TEST(mlp_layout_names_and_count)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	CHECK(dm_net_config_named(&c, "mlp-2d", &err) == 0);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	/* (2+64)*256+256 + 2*(256*256+256) + 256*2+2 */
	CHECK(net.layout.total == (size_t)(66 * 256 + 256 + 2 * (256 * 256 + 256) + 512 + 2));
	CHECK(net.layout.n == 8);
	CHECK(!strcmp(net.layout.p[0].name, "lin.0.weight"));
	CHECK(net.layout.p[0].dims[0] == 256 && net.layout.p[0].dims[1] == 66);
	CHECK(!strcmp(net.layout.p[7].name, "lin.3.bias"));
	dm_net_free(&net);
}

static void check_grads(int classes)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, classes);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	int B = 4;
	float x[12], t[4] = {0, 17, 250, 999};
	int32_t lab[4] = {0, 1, 2, 1};
	dm_rng_normal(1, 98, 0, 0, x, 12);
	double worst;
	char where[256];
	int bad = gradcheck(&net, x, t, classes ? lab : NULL, B, 1000, 1e-2, 2e-3, 1e-2, &worst, where,
	                    sizeof where);
	dm_net_free(&net);
	CHECK_MSG(bad == 0, "%d gradients off; worst %s", bad, where);
}

TEST(mlp_backward_matches_finite_differences) { check_grads(0); }
TEST(mlp_class_conditional_backward_matches_finite_differences) { check_grads(3); }

TEST(mlp_forward_is_deterministic_and_batch_independent)
{
	dm_net_config c;
	dm_net net;
	dm_error err;
	tiny(&c, 0);
	CHECK(dm_net_init(&net, &c, &err) == 0);
	float *p = malloc(net.layout.total * sizeof(float));
	dm_net_init_params(&net, p, 1);
	float x[12], t[4] = {3, 4, 5, 6}, o4[12], o1[3];
	dm_rng_normal(1, 98, 0, 0, x, 12);
	CHECK(dm_net_forward(&net, p, x, t, NULL, 4, o4, 0, 0, 0, &err) == 0);
	CHECK(dm_net_forward(&net, p, x + 6, t + 2, NULL, 1, o1, 0, 0, 0, &err) == 0);
	for (int i = 0; i < 3; i++)
		CHECK_NEAR(o1[i], o4[6 + i], 1e-6);
	free(p);
	dm_net_free(&net);
}

/* The input VJP (dm_net_vjp) against central differences, every value of
 * a dim-3 input, with and without classes. */
TEST(mlp_input_vjp_matches_finite_differences)
{
	for (int classes = 0; classes <= 2; classes += 2) {
		dm_net_config c;
		dm_net net;
		dm_error err;
		tiny(&c, classes);
		CHECK(dm_net_init(&net, &c, &err) == 0);
		float x[15], t[5] = {0, 10, 250, 600, 999};
		int32_t lab[5] = {0, 1, 2, 1, 0};
		dm_rng_normal(2, 97, 0, 0, x, 15);
		double worst;
		char where[256];
		int bad = inputcheck(&net, x, t, classes ? lab : NULL, 5, 1, 1e-2, 1e-3, 1e-2, &worst,
		                     where, sizeof where);
		dm_net_free(&net);
		CHECK_MSG(bad == 0, "classes %d: %d input gradients off; worst %.2f at %s", classes, bad,
		          worst, where);
	}
}

#include <string.h>

#include "models/net.h"
#include "harness.h"

/* Sizes asked for on top of a named model land in the config; sizes of the
 * other kind of network, bad lists and wrong sample ranks are refused. */
TEST(net_config_fit_applies_sizes_and_refuses_the_wrong_kind)
{
	dm_net_config c;
	dm_net_sizes s;
	dm_error err;
	int64_t pts[1] = {3}, img[3] = {1, 8, 8};
	dm_net_sizes_none(&s);
	CHECK(dm_net_config_named(&c, "mlp-2d", &err) == 0);
	CHECK(dm_net_config_fit(&c, &s, pts, 1, &err) == 0);
	CHECK(c.mlp.dim == 3 && c.mlp.hidden == 256 && c.mlp.layers == 3 && c.classes == 0);
	s.hidden = 32, s.classes = 4;
	CHECK(dm_net_config_fit(&c, &s, img, 3, &err) == 0);
	CHECK(c.mlp.dim == 64 && c.mlp.hidden == 32 && c.classes == 4);
	s.ch = 8;
	CHECK(dm_net_config_fit(&c, &s, pts, 1, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "unet options") != NULL);

	dm_net_sizes_none(&s);
	CHECK(dm_net_config_named(&c, "unet", &err) == 0);
	CHECK(dm_net_config_fit(&c, &s, pts, 1, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "rank 1") != NULL);
	s.ch = 8, s.ch_mult = "1,2", s.attn = "none", s.groups = 2, s.res_blocks = 1;
	CHECK(dm_net_config_fit(&c, &s, img, 3, &err) == 0);
	CHECK(c.unet.in_ch == 1 && c.unet.H == 8 && c.unet.W == 8 && c.unet.ch == 8);
	CHECK(c.unet.nmult == 2 && c.unet.ch_mult[1] == 2 && c.unet.nattn == 0);
	CHECK(c.unet.groups == 2 && c.unet.res_blocks == 1);
	CHECK(dm_net_config_check(&c, &err) == 0);
	s.ch_mult = "1,x";
	CHECK(dm_net_config_fit(&c, &s, img, 3, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "--ch-mult") != NULL);
	dm_net_sizes_none(&s);
	s.layers = 2;
	CHECK(dm_net_config_fit(&c, &s, img, 3, &err) == DM_ERR_ARG);
	CHECK(strstr(err.msg, "mlp options") != NULL);

	/* --classes is a classifier's number of outputs */
	dm_net_sizes_none(&s);
	s.classes = 7;
	CHECK(dm_net_config_named(&c, "classifier", &err) == 0);
	CHECK(dm_net_config_fit(&c, &s, img, 3, &err) == 0);
	CHECK(c.cls.outputs == 7 && c.classes == 0);
}

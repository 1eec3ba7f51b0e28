/* unet3d.c - unet3d's configuration; the network is unet.c's, run per
 * frame with temporal attention blocks (dm_unet_init_video). */
#include "models/unet3d.h"

#include <string.h>

#include "models/net.h"

void dm_unet3d_config_default(dm_unet3d_config *c)
{
	memset(c, 0, sizeof *c);
	dm_unet_config_default(&c->s, 0);
	c->T = 8, c->kt = 1;
	c->s.H = c->s.W = 32;
	c->s.res_blocks = 1;
	c->s.attn_res[0] = 8;
}

int dm_unet3d_config_check(const dm_unet3d_config *c, dm_error *err)
{
	if (c->T < 1 || c->T > 1024)
		return dm_error_set(err, DM_ERR_ARG, "unet3d: %d frames, not 1..1024", c->T);
	if (c->kt != 1 && c->kt != 3)
		return dm_error_set(err, DM_ERR_ARG, "unet3d: temporal kernel %d, not 1 or 3", c->kt);
	if ((size_t)c->T * c->s.H * c->s.W > (size_t)1 << 26)
		return dm_error_set(err, DM_ERR_ARG, "unet3d: %dx%dx%d samples are too large", c->T,
		                    c->s.H, c->s.W);
	return dm_unet_config_check(&c->s, err);
}

int dm_unet3d_config_to_kv(const dm_unet3d_config *c, dm_kv *kv, dm_error *err)
{
	int rc = dm_unet_config_to_kv(&c->s, kv, err);
	if (rc < 0)
		return rc;
	if (dm_kv_setf(kv, "sample_frames", "%d", c->T) || dm_kv_setf(kv, "kt", "%d", c->kt) ||
	    dm_kv_setf(kv, "shape", "%dx%dx%dx%d", c->s.in_ch, c->T, c->s.H, c->s.W))
		return dm_error_set(err, DM_ERR_NOMEM, "out of memory writing the model config");
	return 0;
}

int dm_unet3d_config_from_kv(dm_unet3d_config *c, const dm_kv *kv, const char *name,
                             dm_error *err)
{
	int rc = dm_unet_config_from_kv(&c->s, kv, name, err);
	if (rc < 0 || (rc = dm_net_kv_int(kv, "sample_frames", name, &c->T, err)) < 0 ||
	    (rc = dm_net_kv_int(kv, "kt", name, &c->kt, err)) < 0)
		return rc;
	return 0;
}

int dm_unet3d_init(dm_unet **u, const dm_unet3d_config *c, dm_layout *L, dm_error *err)
{
	return dm_unet_init_video(u, &c->s, c->T, c->kt, L, err);
}

#include "unet.h"

#include <stdlib.h>

struct dm_unet {
	int dummy;
};

int dm_unet_init(dm_unet **u, const dm_net_config *cfg, dm_layout *L, dm_error *err)
{
	*u = NULL;
	return dm_error_set(err, DM_ERR_ARG, "unet: not implemented yet");
}
void dm_unet_init_params(const dm_unet *u, float *params, uint64_t seed) {}
int dm_unet_plan(dm_unet *u, int B, dm_error *err) { return DM_ERR_ARG; }
void dm_unet_forward(dm_unet *u, const float *p, const float *x, const float *t,
                     const int32_t *label, int B, float *out, int train, uint64_t seed,
                     uint64_t drop_index)
{
}
void dm_unet_backward(dm_unet *u, const float *p, float *g, const float *dout) {}
void dm_unet_free(dm_unet *u) { free(u); }

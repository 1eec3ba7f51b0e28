#include <stdint.h>
#include <string.h>

#include "core/tensor.h"
#include "harness.h"

/* An i32 tensor becomes f32 in its place, values and shape kept; an f32 one
 * is returned as it is; a missing one is an error naming it. */
TEST(tensor_frame_make_f32)
{
	dm_frame f;
	dm_error err;
	dm_frame_init(&f);
	int64_t dims[2] = {2, 3};
	dm_tensor *a = dm_frame_add(&f, "a", DM_F32, 1, dims, &err);
	dm_tensor *x = dm_frame_add(&f, "x", DM_I32, 2, dims, &err);
	CHECK(a && x);
	for (int i = 0; i < 6; i++)
		((int32_t *)x->data)[i] = i * 7 - 20;
	dm_tensor *y = dm_frame_make_f32(&f, "x", &err);
	CHECK(y && y->dtype == DM_F32 && y->rank == 2 && y->dims[0] == 2 && y->dims[1] == 3);
	CHECK(f.n == 2 && f.t[1] == y && dm_frame_get(&f, "x") == y);
	for (int i = 0; i < 6; i++)
		CHECK(((float *)y->data)[i] == (float)(i * 7 - 20));
	CHECK(dm_frame_make_f32(&f, "a", &err) == a);
	CHECK(dm_frame_make_f32(&f, "b", &err) == NULL && strstr(err.msg, "no tensor b"));
	dm_frame_free(&f);
}

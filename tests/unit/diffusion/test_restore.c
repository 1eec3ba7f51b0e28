#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diffusion/restore.h"
#include "diffusion/sampler.h"
#include "io/image.h"
#include "harness.h"

TEST(restore_parse)
{
	dm_restore_spec r;
	dm_error err;
	CHECK(dm_restore_parse("sr:4", &r, &err) == 0 && r.kind == DM_RESTORE_SR && r.sr_factor == 4);
	CHECK(dm_restore_parse("gray", &r, &err) == 0 && r.kind == DM_RESTORE_GRAY && !r.mask);
	CHECK(dm_restore_parse("mask:a.png", &r, &err) == 0 && r.kind == DM_RESTORE_MASK);
	CHECK(!strcmp(r.mask, "a.png"));
	CHECK(dm_restore_parse("sr:0", &r, &err) == DM_ERR_ARG);
	CHECK(dm_restore_parse("sr:2x", &r, &err) == DM_ERR_ARG);
	CHECK(dm_restore_parse("mask:", &r, &err) == DM_ERR_ARG);
	CHECK(dm_restore_parse("blur", &r, &err) == DM_ERR_ARG && strstr(err.msg, "'blur'"));
}

/* A (A+ y) = y: K x K average pooling of the expanded image gives y back;
 * the gray expansion has the gray value in each channel. */
TEST(restore_expand)
{
	dm_restore_spec r;
	dm_error err;
	CHECK(dm_restore_parse("sr:2", &r, &err) == 0);
	CHECK(dm_restore_fits(&r, 3, 4, 6, 3, 2, 3) && !dm_restore_fits(&r, 3, 4, 6, 3, 2, 2));
	float y[2 * 3 * 2 * 3], full[2 * 3 * 4 * 6];
	for (int i = 0; i < 36; i++)
		y[i] = (float)(i * i % 7) - 3.0f;
	dm_restore_expand(&r, y, 2, 3, 2, 3, 3, 4, 6, full);
	for (int b = 0; b < 2; b++)
		for (int k = 0; k < 3; k++)
			for (int i = 0; i < 2; i++)
				for (int j = 0; j < 3; j++) {
					const float *p = full + ((b * 3 + k) * 4 + 2 * i) * 6 + 2 * j;
					float mean = (p[0] + p[1] + p[6] + p[7]) / 4;
					CHECK(mean == y[((b * 3 + k) * 2 + i) * 3 + j]);
				}
	CHECK(dm_restore_parse("gray", &r, &err) == 0);
	CHECK(dm_restore_fits(&r, 3, 2, 3, 1, 2, 3) && !dm_restore_fits(&r, 1, 2, 3, 1, 2, 3));
	dm_restore_expand(&r, y, 2, 1, 2, 3, 3, 2, 3, full);
	for (int b = 0; b < 2; b++)
		for (int k = 0; k < 3; k++)
			for (int p = 0; p < 6; p++)
				CHECK(full[(b * 3 + k) * 6 + p] == y[b * 6 + p]);
}

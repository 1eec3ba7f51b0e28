/* schedule_fixture.h - a schedule of a kind with its defaults, for the unit
 * tests of the stages that sample from or score with one. */
#ifndef DM_TEST_SCHEDULE_FIXTURE_H
#define DM_TEST_SCHEDULE_FIXTURE_H

#include "diffusion/schedule.h"

/* The defaults of `kind` with the given parametrisation and zero-terminal-SNR
 * flag, initialised.  0, or -1 when the schedule refuses. */
static inline int test_schedule(dm_schedule *s, int kind, int predict, int zero_snr)
{
	dm_error err;
	if (dm_schedule_defaults(s, kind, &err) < 0)
		return -1;
	s->predict = predict;
	s->zero_snr = zero_snr;
	return dm_schedule_init(s, &err);
}

#endif

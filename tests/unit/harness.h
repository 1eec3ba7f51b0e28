/* harness.h - the unit-test harness of libdm.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-6); }
 *
 * Tests register themselves (a constructor per test), so a new test file
 * in tests/unit/ needs no list edited anywhere.  The runner prints one line
 * per test and ends with "N passed, N failed" (", N skipped" when some were
 * skipped), exiting non-zero on any failure.  `unit-tests PATTERN` runs the
 * tests whose name contains PATTERN.
 */
#ifndef DM_TEST_HARNESS_H
#define DM_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>

typedef void (*dm_test_fn)(void);
void dm_test_register(const char *name, dm_test_fn fn);
void dm_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dm_test_skip(const char *why);
int dm_test_failed(void); /* has the current test failed so far? */

#define TEST(name)                                                         \
	static void test_##name(void);                                     \
	__attribute__((constructor)) static void register_##name(void)    \
	{                                                                  \
		dm_test_register(#name, test_##name);                      \
	}                                                                  \
	static void test_##name(void)

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			dm_test_fail(__FILE__, __LINE__, "%s", #cond);     \
			return;                                            \
		}                                                          \
	} while (0)

#define CHECK_MSG(cond, ...)                                               \
	do {                                                               \
		if (!(cond)) {                                             \
			dm_test_fail(__FILE__, __LINE__, __VA_ARGS__);     \
			return;                                            \
		}                                                          \
	} while (0)

#define CHECK_NEAR(a, b, tol)                                              \
	do {                                                               \
		double a_ = (double)(a), b_ = (double)(b);                 \
		if (!(fabs(a_ - b_) <= (tol))) {                           \
			dm_test_fail(__FILE__, __LINE__,                   \
			             "%s = %.9g, %s = %.9g, differ by more than %g", \
			             #a, a_, #b, b_, (double)(tol));       \
			return;                                            \
		}                                                          \
	} while (0)

#define SKIP(why)                                                          \
	do {                                                               \
		dm_test_skip(why);                                         \
		return;                                                    \
	} while (0)

#endif

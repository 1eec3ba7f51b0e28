#include "harness.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TESTS 4096

static struct {
	const char *name;
	dm_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static int cur_failed, cur_skipped;
static char skip_why[256];

void dm_test_register(const char *name, dm_test_fn fn)
{
	if (ntests < MAX_TESTS) {
		tests[ntests].name = name;
		tests[ntests].fn = fn;
		ntests++;
	}
}

void dm_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	if (!cur_failed)
		printf("\n");
	printf("    %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	cur_failed = 1;
}

void dm_test_skip(const char *why)
{
	cur_skipped = 1;
	snprintf(skip_why, sizeof skip_why, "%s", why);
}

int dm_test_failed(void) { return cur_failed; }

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	qsort(tests, (size_t)ntests, sizeof tests[0], by_name);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		cur_failed = cur_skipped = 0;
		printf("unit %-50s", tests[i].name);
		fflush(stdout);
		tests[i].fn();
		if (cur_failed) {
			printf("FAIL unit %s\n", tests[i].name);
			failed++;
		} else if (cur_skipped) {
			printf(" skip (%s)\n", skip_why);
			skipped++;
		} else {
			printf(" ok\n");
			passed++;
		}
	}
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* bench_torch.h - run one of the PyTorch reference scripts of tests/ref/
 * (its interpreter from $DM_PYTHON, default python3) and read the numbers
 * it prints on one line.  Returns 0 when the script ran and printed `n`
 * numbers, -1 otherwise (no python, no torch: the caller says so). */
#ifndef DM_BENCH_TORCH_H
#define DM_BENCH_TORCH_H
#include <stdio.h>

static int torch_numbers(const char *script, const char *model, int B, int threads, int steps,
                         double *v, int n)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "${DM_PYTHON:-python3} tests/ref/%s %s %d %d %d 2>/dev/null", script,
	         model, B, threads, steps);
	FILE *f = popen(cmd, "r");
	if (!f)
		return -1;
	int got = 0;
	while (got < n && fscanf(f, "%lf", &v[got]) == 1)
		got++;
	return pclose(f) == 0 && got == n ? 0 : -1;
}
#endif

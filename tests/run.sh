#!/bin/sh
# tests/run.sh - run the unit tests of lib/ and the shell tests of every
# tool; print one line per test and end with "N passed, N failed"
# (", N skipped" when any were skipped).  Exit 1 on any failure.
#   DM_BUILD  build directory (default: build)
#   sh tests/run.sh [PATTERN]   only the shell test files matching PATTERN
BUILD=${DM_BUILD:-build}
export DM_BUILD=$BUILD
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
status=0

if [ -z "$1" ]; then
	"$BUILD/tests/unit-tests" | tee -a "$LOG" | grep -v '^[0-9]* passed' || status=1
fi
for t in tests/tools/*.sh; do
	case $t in */lib.sh) continue ;; esac
	[ -n "$1" ] && case $t in *$1*) ;; *) continue ;; esac
	sh "$t" 2>&1 | tee -a "$LOG" || status=1
done

passed=$(grep -c '^unit .* ok$\|^ok ' "$LOG")
failed=$(grep -c '^FAIL ' "$LOG")
skipped=$(grep -c '^unit .* skip (\|^skip ' "$LOG")
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ $status -eq 0 ]

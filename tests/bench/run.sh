#!/bin/sh
# tests/bench/run.sh - run every built benchmark ($DM_BUILD/bench/bench_*)
# one after another (never in parallel: they measure the machine), each
# printing its own lines of figures and ratios.  Benchmarks find the tools
# in $DM_BUILD/bin and may use $TMPDIR (default /tmp) for big files.
#   sh tests/bench/run.sh [PATTERN]   only benchmarks whose name has PATTERN
BUILD=${DM_BUILD:-build}
export DM_BUILD=$BUILD
status=0
found=0
echo "dm benchmarks: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
for b in "$BUILD"/bench/bench_*; do
	[ -x "$b" ] || continue
	case $b in *.d) continue ;; esac
	name=$(basename "$b")
	[ -n "$1" ] && case $name in *$1*) ;; *) continue ;; esac
	found=1
	echo "== $name"
	"$b" || { echo "FAIL $name: exit $?"; status=1; }
done
[ $found -eq 1 ] || { echo "no benchmarks built in $BUILD/bench"; status=1; }
exit $status

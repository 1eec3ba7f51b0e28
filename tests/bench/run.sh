#!/bin/sh
# tests/bench/run.sh - run every built benchmark ($DM_BUILD/bench/bench_*)
# and every script tests/bench/bench_*.sh, one after another (never in
# parallel: they measure the machine), each printing its own lines of
# figures and ratios and failing when a target is missed.  Benchmarks find
# the tools in $DM_BUILD/bin and may use $TMPDIR (default /tmp) for big
# files.  A script is a benchmark too long or too shell-like for C, e.g.
# bench_quality.sh (`make bench BENCH=quality`: the demo, the toy sets and
# Fashion-MNIST dm vs its PyTorch twin; hours at its defaults, see its
# header for the smaller settings).  Scripts run only when PATTERN names
# them, so that a plain `make bench` stays the speed benchmarks.
#   sh tests/bench/run.sh [PATTERN]   only benchmarks whose name has PATTERN
BUILD=${DM_BUILD:-build}
export DM_BUILD=$BUILD
# The PyTorch comparisons want a python3 that has torch: Debian's
# python3-torch lives under /usr/bin/python3, which a python3 earlier on
# PATH (pyenv, a venv) may hide.  DM_PYTHON overrides.
if [ -z "$DM_PYTHON" ]; then
	for p in python3 /usr/bin/python3; do
		if "$p" -c 'import torch' 2>/dev/null; then DM_PYTHON=$p; break; fi
	done
fi
export DM_PYTHON=${DM_PYTHON:-python3}
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
for b in "$(dirname "$0")"/bench_*.sh; do
	[ -f "$b" ] || continue
	name=$(basename "$b" .sh)
	[ -n "$1" ] || continue
	case $name in *$1*) ;; *) continue ;; esac
	found=1
	echo "== $name"
	sh "$b" || { echo "FAIL $name: exit $?"; status=1; }
done
[ $found -eq 1 ] || { echo "no benchmarks in $BUILD/bench or tests/bench/bench_*.sh${1:+ matching $1}"; status=1; }
exit $status

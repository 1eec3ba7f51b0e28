# tests/tools/lib.sh - helpers for the shell tests of the tools.
# Each test prints one line: "ok NAME", "FAIL NAME: why" or "skip NAME: why".
#
#   check NAME CMD...            CMD (run by sh -c) must exit 0
#   expect_fail NAME RE CMD...   CMD must exit 1 with exactly one line on
#                                stderr, matching the extended regex RE
#   same_file NAME A B           files A and B must be byte-identical
set -u
BUILD=${DM_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
PATH=$BUILD/bin:$PATH
export PATH
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
HERE=$(pwd)
TESTFILE=$(basename "$0" .sh)

check() {
	name=$1; shift
	if out=$(sh -c "$*" 2>&1); then
		echo "ok   $TESTFILE: $name"
	else
		echo "FAIL $TESTFILE: $name: exit $? from: $*"
		printf '%s\n' "$out" | head -n 5 | sed 's/^/     /'
	fi
}

expect_fail() {
	name=$1; re=$2; shift 2
	sh -c "$*" >"$TMP/ef.out" 2>"$TMP/ef.err"
	rc=$?
	lines=$(wc -l <"$TMP/ef.err")
	if [ $rc -ne 1 ]; then
		echo "FAIL $TESTFILE: $name: exit $rc (wanted 1) from: $*"
		head -n 3 "$TMP/ef.err" | sed 's/^/     /'
	elif [ "$lines" -ne 1 ]; then
		echo "FAIL $TESTFILE: $name: $lines lines on stderr (wanted 1)"
		head -n 3 "$TMP/ef.err" | sed 's/^/     /'
	elif ! grep -Eq -- "$re" "$TMP/ef.err"; then
		echo "FAIL $TESTFILE: $name: stderr does not match /$re/: $(cat "$TMP/ef.err")"
	else
		echo "ok   $TESTFILE: $name"
	fi
}

same_file() {
	if cmp -s "$2" "$3"; then
		echo "ok   $TESTFILE: $1"
	else
		echo "FAIL $TESTFILE: $1: $2 and $3 differ"
	fi
}

pass() { echo "ok   $TESTFILE: $1"; }
fail() { echo "FAIL $TESTFILE: $1: $2"; }
skip() { echo "skip $TESTFILE: $1: $2"; }

# leaves_nothing NAME CMD...: CMD, run by sh -c in an empty directory, must
# exit 1 and leave the directory empty (no output, no <name>.tmp.<pid>):
# every tool removes its pending temporaries on any exit (tools/cli.c).
leaves_nothing() {
	name=$1; shift
	d=$(mktemp -d "$TMP/empty.XXXXXX")
	(cd "$d" && sh -c "$*") >/dev/null 2>&1
	rc=$?
	left=$(ls -A "$d")
	if [ $rc -ne 1 ]; then
		fail "$name" "exit $rc (wanted 1) from: $*"
	elif [ -n "$left" ]; then
		fail "$name" "left behind: $left"
	else
		pass "$name"
	fi
}

#!/bin/sh
# tests/tools/build.sh - the build itself: after a full build (make test
# has just done one) a second make has nothing to compile or link.
RAWBUILD=${DM_BUILD:-build}
. tests/tools/lib.sh

# make -n prints what it would run; dm.pc's rule always runs (it is cheap and
# replaces the file only when PREFIX changed), so look for compiles and links.
make -n --no-print-directory BUILD="$RAWBUILD" all >"$TMP/n.out" 2>&1
if grep -Eq '(^| )(-c |-o )|ar rcs' "$TMP/n.out"; then
	fail "a second make rebuilds nothing" "$(grep -E '(-c |-o )|ar rcs' "$TMP/n.out" | head -n 2 | cut -c1-160)"
else
	pass "a second make rebuilds nothing"
fi

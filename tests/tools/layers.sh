#!/bin/sh
# tests/tools/layers.sh - scripts/check-layers.sh passes on lib/ as it is and
# fails on a copy of lib/ with a planted upward include, a same-level include,
# a bare include and a header cycle.
. tests/tools/lib.sh

check "lib/ includes only downward" "sh scripts/check-layers.sh lib"

plant() { # NAME FILE LINE: copy lib/, add LINE at the top of FILE, expect failure naming FILE
	rm -rf "$TMP/lib" && cp -r lib "$TMP/lib"
	{ echo "$3"; cat "$TMP/lib/$2"; } >"$TMP/x" && mv "$TMP/x" "$TMP/lib/$2"
	if sh scripts/check-layers.sh "$TMP/lib" >"$TMP/out" 2>&1; then
		fail "$1" "check-layers passed"
	elif ! grep -q "$2" "$TMP/out"; then
		fail "$1" "the message does not name $2: $(head -n 2 "$TMP/out")"
	else
		pass "$1"
	fi
}
plant "an upward include fails" core/rng.c '#include "models/net.h"'
plant "a same-level include fails" nn/gemm.c '#include "diffusion/schedule.h"'
plant "a bare include fails" io/npy.c '#include "error.h"'
plant "an include of a missing header fails" data/data.c '#include "data/nothing.h"'

rm -rf "$TMP/lib" && cp -r lib "$TMP/lib"
{ echo '#include "core/rng.h"'; cat "$TMP/lib/core/error.h"; } >"$TMP/x" && mv "$TMP/x" "$TMP/lib/core/error.h"
{ echo '#include "core/error.h"'; cat "$TMP/lib/core/rng.h"; } >"$TMP/x" && mv "$TMP/x" "$TMP/lib/core/rng.h"
if sh scripts/check-layers.sh "$TMP/lib" >"$TMP/out" 2>&1; then
	fail "a header cycle fails" "check-layers passed"
elif ! grep -q cycle "$TMP/out"; then
	fail "a header cycle fails" "no cycle named: $(head -n 2 "$TMP/out")"
else
	pass "a header cycle fails"
fi

#!/bin/sh
# Shell tests of dm-info.
. tests/tools/lib.sh
MK="python3 tests/tools/mkstream.py"

$MK --frames 3 --shape 4x1x8x8 --meta tool=test --extra >"$TMP/s.dm"
check "help" "dm-info --help | grep -q Usage"
check "version" "dm-info --version | grep -q 'dm-info (dm)'"
check "text lists header, tensors, totals" \
	"dm-info '$TMP/s.dm' >'$TMP/o' && grep -q 'tool=test' '$TMP/o' && grep -q 'x  *f32  *4x1x8x8' '$TMP/o' \
	 && grep -q 'label  *i32  *4 ' '$TMP/o' && grep -q 'frame 2: t=0 step=2' '$TMP/o' \
	 && grep -q '^total: 3 frames, 6 tensors' '$TMP/o'"
# the ramp of bytes 0..255 stored as b/255*2-1 has mean 0, min -1, max 1
check "statistics" "dm-info '$TMP/s.dm' | grep -q 'min -1  *max 1  *mean 0  *std 0.5796'"
check "stdin" "dm-info <'$TMP/s.dm' | grep -q '^stdin:'"
check "json is valid and complete" \
	"dm-info --json '$TMP/s.dm' '$TMP/s.dm' | python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d[\"streams\"]
assert len(s) == 2 and s[0][\"meta\"][\"tool\"] == \"test\"
f = s[0][\"frames\"]
assert len(f) == 3 and f[1][\"tags\"][\"step\"] == \"1\"
x = f[0][\"tensors\"][0]
assert x[\"name\"] == \"x\" and x[\"shape\"] == [4, 1, 8, 8] and x[\"dtype\"] == \"f32\"
assert x[\"min\"] == -1 and x[\"max\"] == 1 and abs(x[\"mean\"]) < 1e-12
assert s[0][\"totals\"][\"frames\"] == 3 and s[0][\"totals\"][\"tensors\"] == 6
'"
check "json escapes odd metadata" \
	"$MK --frames 1 --meta 'k=a\"b\\\\c' | dm-info --json | python3 -m json.tool >/dev/null"
check "--frames limits the listing" \
	"dm-info --frames 1 '$TMP/s.dm' >'$TMP/o' && ! grep -q 'frame 1' '$TMP/o' \
	 && grep -q '(2 more frames not shown)' '$TMP/o' && grep -q 'total: 3 frames' '$TMP/o'"
check "--summary" "test \$(dm-info --summary '$TMP/s.dm' | grep -c '^frame') -eq 0"
check "--quiet prints nothing on a valid stream" "test -z \"\$(dm-info --quiet '$TMP/s.dm')\""

# corruption: a flipped byte inside frame 0's payload
cp "$TMP/s.dm" "$TMP/c.dm"
printf '\125' | dd of="$TMP/c.dm" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_fail "--quiet reports a corrupt byte with its offset" \
	'^dm-info: .*c\.dm: byte [0-9]+: .*CRC mismatch' "dm-info --quiet '$TMP/c.dm'"
expect_fail "text mode on a corrupt stream" 'byte [0-9]+' "dm-info '$TMP/c.dm' >/dev/null"
head -c 1000 "$TMP/s.dm" >"$TMP/t.dm"
expect_fail "truncated stream" '^dm-info: stdin: byte 1000: stream truncated' "dm-info -q <'$TMP/t.dm'"
$MK --frames 2 --no-end >"$TMP/ne.dm"
expect_fail "missing end record" 'truncated' "dm-info -q '$TMP/ne.dm'"
expect_fail "empty input" 'empty input' "dm-info </dev/null"
expect_fail "not a stream" 'not a dm stream' "echo hello, this is not a stream | dm-info"
expect_fail "missing file" 'nope\.dm: No such file' "dm-info '$TMP/nope.dm'"
expect_fail "bad option" "unknown option '--bogus'" "dm-info --bogus"
expect_fail "bad --frames" '--frames' "dm-info --frames x '$TMP/s.dm'"

# a closed pipe downstream: quiet exit 0
$MK --frames 3000 --shape 8x2 >"$TMP/big.dm"
check "EPIPE is quiet" \
	"{ dm-info '$TMP/big.dm' 2>'$TMP/pe'; echo \$? >'$TMP/rc'; } | head -n 1 >/dev/null; \
	 test \"\$(cat '$TMP/rc')\" = 0 && test ! -s '$TMP/pe'"

if command -v dm-load >/dev/null 2>&1; then
	check "dm-load toy:swissroll --n 1000 shows one 1000x2 f32 tensor" \
		"dm-load toy:swissroll --n 1000 | dm-info | grep -q 'x  *f32  *1000x2 '"
else
	skip "dm-load toy:swissroll" "dm-load is not built"
fi

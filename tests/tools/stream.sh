#!/bin/sh
# tests/tools/stream.sh - the stream format from the shell: the worked
# example of dm-stream(5) is a valid stream; hostile streams (made by
# patching that example byte by byte) fail in dm-info with one line naming
# the byte offset; and tests/tools/stream_reader.py, an independent Python
# reader written from the man page, agrees with libdm on the example, on a
# compressed dm-load stream, and on where each hostile stream goes wrong.
. tests/tools/lib.sh

if ! command -v dm-info >/dev/null 2>&1; then
	skip dm-info "dm-info not built"
	exit 0
fi
PY=
command -v python3 >/dev/null 2>&1 && PY=python3
READER=$HERE/tests/tools/stream_reader.py

# bytes from "hh hh ..." hex on stdin (no xxd needed)
hex2bin() {
	out=
	for h in $(cat); do
		out="$out$(printf '\\%03o' $((0x$h)))"
	done
	printf "$out"
}

# The worked example, taken from the man page itself.
sed -n '/^0000[0-9a-f]*: /p' man/man5/dm-stream.5 \
	| cut -c11-57 | hex2bin >"$TMP/ex.dms"
EX=$TMP/ex.dms
check "man page example is 187 bytes" "test \$(wc -c <'$EX') -eq 187"
check "man page example reads in dm-info" "dm-info '$EX' | grep -q 'label *i32 *2 '"
check "concatenated streams are one stream" "cat '$EX' '$EX' | dm-info --quiet"

# patch FILE OFFSET HEX...: a copy of the example with bytes replaced
patch_ex() {
	out=$1; at=$2; shift 2
	cp "$EX" "$out"
	echo "$*" | hex2bin | dd of="$out" bs=1 seek="$at" conv=notrunc 2>/dev/null
}

# hostile NAME FILE BYTE REGEX: dm-info and the Python reader both reject
# FILE, naming byte BYTE
hostile() {
	name=$1; file=$2; at=$3; re=$4
	expect_fail "$name" "^dm-info: stdin: byte $at: .*$re" "dm-info --quiet <'$file'"
	if [ -n "$PY" ]; then
		expect_fail "$name (python reader)" "^stream_reader.py: stdin: byte $at: " \
			"$PY '$READER' <'$file'"
	fi
}

expect_fail "empty input" "^dm-info: stdin: empty input" "dm-info </dev/null"
printf 'hello world\n' >"$TMP/text"
hostile "bad magic" "$TMP/text" 0 "bad magic"
patch_ex "$TMP/h1" 8 02;                 hostile "unknown major version" "$TMP/h1" 8 "version 2\\.0"
patch_ex "$TMP/h2" 12 ff ff ff ff;       hostile "metadata length 4 GiB" "$TMP/h2" 12 "metadata length"
patch_ex "$TMP/h3" 16 75;                hostile "wrong header CRC" "$TMP/h3" 29 "header CRC"
patch_ex "$TMP/h4" 37 ff ff ff ff;       hostile "tags length 4 GiB" "$TMP/h4" 37 "tags length 4294967295"
patch_ex "$TMP/h5" 41 00 00 00 80;       hostile "2^31 tensors" "$TMP/h5" 41 "2147483648 tensors"
patch_ex "$TMP/h6" 55 63;                hostile "unknown dtype" "$TMP/h6" 55 "unknown dtype code 99"
patch_ex "$TMP/h7" 56 c8;                hostile "rank 200" "$TMP/h7" 56 "rank 200"
patch_ex "$TMP/h8" 67 00 00 00 00 00 00 00 80
hostile "dimension 2^63" "$TMP/h8" 67 "dimension 1"
patch_ex "$TMP/h9" 59 00 00 00 00 00 01 00 00 00 00 00 00 00 01 00 00
hostile "dims 2^40 x 2^40 overflow" "$TMP/h9" 55 "16 GiB"
patch_ex "$TMP/h10" 75 11;               hostile "stored length lie" "$TMP/h10" 75 "payload is 17 bytes"
patch_ex "$TMP/h11" 139 00 00 00 00 01 00 00 00
hostile "12 zlib bytes claim 4 GiB" "$TMP/h11" 147 "zlib"
patch_ex "$TMP/h12" 83 01;               hostile "wrong frame CRC" "$TMP/h12" 167 "frame 0 CRC mismatch"
patch_ex "$TMP/h13" 180 02;              hostile "wrong end CRC" "$TMP/h13" 183 "end record CRC"
head -c 100 "$EX" >"$TMP/t1";            hostile "truncated payload" "$TMP/t1" 100 "truncated"
head -c 171 "$EX" >"$TMP/t2";            hostile "no end record" "$TMP/t2" 171 "without an end record"
{ cat "$EX"; printf 'GARBAGE!'; } >"$TMP/t3"
hostile "garbage after the end" "$TMP/t3" 187 "bad magic"
# 5 stray bytes after a clean end are not a truncation
{ cat "$EX"; printf 'abcde'; } >"$TMP/t4"
hostile "5 stray bytes after the end" "$TMP/t4" 187 "5 stray bytes after the end record"

# The independent reader agrees with libdm.
if [ -z "$PY" ]; then
	skip "python reader" "python3 not installed"
	exit 0
fi
# reframe OUT PYEXPR: the example with tensor m's stored bytes (b[155:167])
# replaced by PYEXPR of z (its zlib bytes) and every later field and CRC
# rewritten to match
reframe() {
	$PY - "$EX" "$1" "$2" <<'PYEOF'
import struct, sys, zlib
b = open(sys.argv[1], 'rb').read()
z = b[155:167]
p = eval(sys.argv[3])
fr = b[33:147] + struct.pack('<Q', len(p)) + p
fr += struct.pack('<I', zlib.crc32(fr))
end = b'DEND' + struct.pack('<Q', 1)
open(sys.argv[2], 'wb').write(b[:33] + fr + end + struct.pack('<I', zlib.crc32(end)))
PYEOF
}
reframe "$TMP/z1" "z + b'xyz'"
hostile "bytes after the zlib stream inside S" "$TMP/z1" 155 "zlib payload is corrupt"
reframe "$TMP/z2" "z"
check "reframed example still reads (libdm)" "dm-info --quiet '$TMP/z2'"
check "reframed example still reads (python reader)" "$PY '$READER' '$TMP/z2' >/dev/null"
# an end record that miscounts its frames (the python reader has always
# checked; libdm does too now)
$PY -c "import struct,sys,zlib; b=open(sys.argv[1],'rb').read(); e=b'DEND'+struct.pack('<Q',2); open(sys.argv[2],'wb').write(b[:171]+e+struct.pack('<I',zlib.crc32(e)))" "$EX" "$TMP/c2"
hostile "end record counts 2 frames of 1" "$TMP/c2" 175 "end record counts 2 frames"
# a zero dimension makes an empty tensor wherever it stands
MKS="$PY $HERE/tests/tools/mkstream.py --frames 1"
for shape in 0x1099511627776x1099511627776 1099511627776x0x1099511627776 1099511627776x1099511627776x0; do
	$MKS --shape $shape >"$TMP/zd.dms"
	check "dims $shape accepted (libdm)" "dm-info --quiet '$TMP/zd.dms'"
	check "dims $shape accepted (python reader)" "$PY '$READER' '$TMP/zd.dms' >/dev/null"
done
# a CR before the LF is part of the value, in both readers
$PY $HERE/tests/tools/mkstream.py --frames 0 --meta "k=v$(printf '\r')" >"$TMP/cr.dms"
check "CR is part of a value (libdm)" "dm-info --json '$TMP/cr.dms' | grep -q '\"k\":\"v.u000d\"'"
check "CR is part of a value (python reader)" "$PY '$READER' '$TMP/cr.dms' | grep -q \"^meta k=v$(printf '\r')\\\$\""
check "python reader: man page example" \
	"$PY '$READER' '$EX' | tr '\\n' '|' | grep -q 'meta tool=dm-load|frame 0: index=0|  x f32 2x2 sha256=8f33067f996c2f0a|  label i32 2 sha256=d1a01f2820956d6d|  m u8 64 zlib sha256=f5a5fd42d16a2030|total: 1 frames|'"
if command -v dm-load >/dev/null 2>&1 && command -v dm-encode >/dev/null 2>&1; then
	dm-load toy:swissroll --n 1000 --batch 300 --compress 6 >"$TMP/sw.dms"
	check "dm-load --compress stores zlib tensors" "dm-info '$TMP/sw.dms' | grep -q zlib"
	dm-encode -o "$TMP/sw.npy" <"$TMP/sw.dms"
	"$PY" "$READER" --raw x "$TMP/sw.dms" | cksum >"$TMP/py.sum"
	tail -c 8000 "$TMP/sw.npy" | cksum >"$TMP/c.sum"
	same_file "python reader decodes compressed x like libdm" "$TMP/py.sum" "$TMP/c.sum"
	check "python reader and dm-info agree on frame count" \
		"test \$($PY '$READER' '$TMP/sw.dms' | grep -c '^frame ') -eq \$(dm-info --json '$TMP/sw.dms' | grep -o '\"frames\":[0-9][0-9]*' | cut -d: -f2)"
else
	skip "python reader vs libdm" "dm-load/dm-encode not built"
fi

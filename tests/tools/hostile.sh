#!/bin/sh
# tests/tools/hostile.sh - small files that lie about their size, and
# inputs whose errors used to be unclear: each is refused with one line
# naming the file and what is wrong, exit status 1, in bounded memory
# (run under ulimit -v: a reader that believed the header would need GBs).
. tests/tools/lib.sh
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
H="$PY $HERE/tests/tools/mkhostile.py"
# 600 MB of address space: more than a tool needs (libav*, OpenMP), less
# than any of the lies below would cost
CAP="ulimit -v 600000;"
# (AddressSanitizer reserves terabytes of shadow: no address-space cap there)
ldd "$BUILD/bin/dm-load" 2>/dev/null | grep -q libasan && CAP=""

# PNG: the header is judged before libpng allocates
$H png 30000 30000 $TMP/big.png
expect_fail "PNG claiming 30000x30000" "^dm-load: .*big.png: a 30000x30000 PNG as f32 needs 3600000000 bytes, over the limit of 536870912 bytes \(set DM_MAX_BYTES" \
	"$CAP dm-load $TMP/big.png >$TMP/o.dms"
$H png 100000 100000 $TMP/huge.png
expect_fail "PNG claiming 100000x100000" "huge.png: PNG header claims 100000x100000 pixels, over the limit of 65536 per side" \
	"$CAP dm-load $TMP/huge.png >$TMP/o.dms"
# a truncated PNG says so and where
dm-noise --prior --shape 1x1x16x16 --seed 1 | dm-encode -o $TMP/ok.png
head -c 60 $TMP/ok.png >$TMP/cut.png
expect_fail "truncated PNG" "cut.png: bad PNG: file truncated at byte 60 \([0-9]+ more bytes expected\)" \
	"dm-load $TMP/cut.png >$TMP/o.dms"
check "the whole PNG loads" "dm-load $TMP/ok.png >$TMP/o.dms"
# DM_MAX_BYTES below a real image refuses it too, and a bad value is named
expect_fail "DM_MAX_BYTES below a PNG" "ok.png: a 16x16 PNG as f32 needs 1024 bytes, over the limit of 1000 bytes" \
	"DM_MAX_BYTES=1000 dm-load $TMP/ok.png >$TMP/o.dms"
check "DM_MAX_BYTES=1k lets a 1024-byte PNG through" "DM_MAX_BYTES=1k dm-load $TMP/ok.png >$TMP/o.dms"
expect_fail "DM_MAX_BYTES malformed" "DM_MAX_BYTES must be a byte count" \
	"DM_MAX_BYTES=lots dm-load $TMP/ok.png >$TMP/o.dms"
# --max-bytes says the same for one run, and wins over the environment
expect_fail "dm-load --max-bytes below a PNG" "ok.png: a 16x16 PNG as f32 needs 1024 bytes, over the limit of 1000 bytes" \
	"DM_MAX_BYTES=1G dm-load --max-bytes 1000 $TMP/ok.png >$TMP/o.dms"
check "dm-load --max-bytes 1k lets it through" "DM_MAX_BYTES=10 dm-load --max-bytes 1k $TMP/ok.png >$TMP/o.dms"
expect_fail "dm-load --max-bytes malformed" "^dm-load: --max-bytes 0: must be a byte count" "dm-load --max-bytes 0 $TMP/ok.png"
expect_fail "dm-info --max-bytes" "byte [0-9]+: tensor 'x' decodes to 1024 bytes, over the limit of 100" \
	"dm-info --max-bytes 100 -q $TMP/o.dms"

# IDX: zero dimensions are empty images, not a data set
$H idx 5 0 28 $TMP/z-images-idx3-ubyte
expect_fail "IDX of 5x0x28" "z-images-idx3-ubyte: IDX dimension 1 of the images is 0 \(empty images\)" \
	"dm-load $TMP/z-images-idx3-ubyte >$TMP/o.dms"
$H idx 0 28 28 $TMP/n-images-idx3-ubyte
expect_fail "IDX of 0x28x28" "IDX dimension 0 of the images is 0 \(no samples\)" \
	"dm-load $TMP/n-images-idx3-ubyte >$TMP/o.dms"
$H idx 4 28 28 $TMP/s-images-idx3-ubyte
check "IDX of 4x28x28 loads" "dm-load $TMP/s-images-idx3-ubyte --batch 4 | dm-info - | grep -q '^  x  *f32  *4x1x28x28 '"
expect_fail "IDX over DM_MAX_BYTES" "s-images-idx3-ubyte: the IDX array needs 3136 bytes, over the limit of 3000" \
	"DM_MAX_BYTES=3000 dm-load $TMP/s-images-idx3-ubyte >$TMP/o.dms"

# NPY over the limit
$PY -c "import numpy" 2>/dev/null && {
	$PY -c "import numpy, sys; numpy.save(sys.argv[1], numpy.zeros((8, 100), numpy.float64))" $TMP/a.npy
	expect_fail "NPY over DM_MAX_BYTES" "a.npy: the NPY array needs 6400 bytes, over the limit of 4096" \
		"DM_MAX_BYTES=4k dm-load $TMP/a.npy >$TMP/o.dms"
	check "NPY within DM_MAX_BYTES" "DM_MAX_BYTES=7k dm-load $TMP/a.npy >$TMP/o.dms"
}

# NIfTI: a small volume over a small DM_MAX_BYTES
dm-load toy:phantom --n 1 -o $TMP/ph.dms 2>/dev/null && dm-encode -o $TMP/ph.nii <$TMP/ph.dms 2>/dev/null && {
	expect_fail "NIfTI over DM_MAX_BYTES" "ph.nii: the NIfTI volume as f32 needs [0-9]+ bytes, over the limit of 1024" \
		"DM_MAX_BYTES=1k dm-load $TMP/ph.nii >$TMP/o.dms"
	check "NIfTI within the default limit" "dm-load $TMP/ph.nii >$TMP/o.dms"
}

# a stream tensor claiming 1 GiB from a zlib payload: refused at its dtype
# byte before anything is read or allocated, by dm-info and dm-noise alike
$H zstream 1073741824 $TMP/bomb.dms
for tool in "dm-info" "dm-noise --t 10" "dm-train -n 1"; do
	expect_fail "1 GiB zlib tensor ($tool)" "stdin: byte 49: tensor 'x' decodes to 1073741824 bytes, over the limit of 536870912" \
		"$CAP $tool <$TMP/bomb.dms >$TMP/o.dms"
done

# CSV: values that are not finite floats are refused alike, with the cell
csvfail() { # NAME VALUE
	printf 'a,b\n1,2\n3,%s\n' "$2" >$TMP/v.csv
	expect_fail "CSV $1" "v.csv: line 3, column 2: '$2' is not a finite number in float range" \
		"dm-load $TMP/v.csv >$TMP/o.dms"
}
csvfail "1e999" 1e999
csvfail "inf" inf
csvfail "-inf" -inf
csvfail "nan" nan
csvfail "1e39 (beyond float)" 1e39
printf 'a,b\n1,2\n3,x\n' >$TMP/v.csv
expect_fail "CSV text cell" "line 3, column 2: 'x' is not a number" "dm-load $TMP/v.csv >$TMP/o.dms"
printf 'inf,1\n1,2\n' >$TMP/v.csv
expect_fail "CSV inf in the first line is not a header" "line 1, column 1: 'inf' is not a finite" "dm-load $TMP/v.csv >$TMP/o.dms"
printf 'a,b\n1e-999,2\n' >$TMP/v.csv
check "CSV underflow reads as 0" "dm-load $TMP/v.csv | dm-info - | grep -q 'min 0 '"

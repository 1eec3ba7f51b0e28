#!/bin/sh
# tests/tools/load.sh - shell tests of dm-load.
. tests/tools/lib.sh

T=$TMP
export T TMP
have_encode=0
[ -x "$BUILD/bin/dm-encode" ] && have_encode=1

# ---- the basics -----------------------------------------------------------
check help 'dm-load --help | grep -q "Usage: dm-load"'
check version 'dm-load --version | grep -q "dm-load"'
check toy_swissroll '[ "$(dm-load toy:swissroll --n 1000 | dm-info | grep -c "^  x  *f32  1000x2 ")" = 1 ]'
for toy in moons 8gaussians checkerboard circles; do
	check toy_$toy "dm-load toy:$toy --n 300 | dm-info | grep -q '^  x  *f32  300x2 '"
done
check toy_labels 'dm-load toy:8gaussians --n 500 | dm-info | grep -q "label  *i32  500  *min 0  *max 7"'
check toy_batches '[ "$(dm-load toy:moons --n 100 --batch 30 | dm-info | grep -c "^frame")" = 4 ]'
check epochs '[ "$(dm-load toy:moons --n 100 --batch 50 --epochs 3 | dm-info | grep -c "^frame")" = 6 ]'
check limit 'dm-load toy:moons --n 100 --limit 7 | dm-info | grep -q "x  *f32  7x2 "'
check range_points 'dm-load toy:swissroll --n 500 --range 0:1 | dm-info | grep -q "x  *f32  500x2  *min 0  *max 1 "'
check meta 'dm-load toy:moons --n 10 | dm-info | grep -q "^  tool=dm-load"'
# --epochs 0 streams until the reader closes the pipe: exit 0, nothing on stderr
check forever 'dm-load toy:moons --n 100 --batch 10 --epochs 0 2>"$TMP/err" | head -c 100000 >/dev/null; [ ! -s "$TMP/err" ]'
check output_file 'dm-load toy:moons --n 10 -o "$TMP/o.dms" && dm-info --quiet "$TMP/o.dms"'

# ---- shuffle and shards ---------------------------------------------------
dm-load toy:moons --n 200 --shuffle --seed 5 --batch 16 >"$T/s1"
dm-load toy:moons --n 200 --shuffle --seed 5 --batch 16 >"$T/s2"
dm-load toy:moons --n 200 --shuffle --seed 6 --batch 16 >"$T/s3"
dm-load toy:moons --n 200 --batch 16 >"$T/s0"
same_file shuffle_reproducible "$T/s1" "$T/s2"
check shuffle_seed_matters '! cmp -s "$T/s1" "$T/s3" && ! cmp -s "$T/s1" "$T/s0"'
check shuffle_same_set '[ "$(dm-info "$T/s1" | grep total)" = "$(dm-info "$T/s0" | grep total)" ]'

# one sample per frame: list "position values" for the whole run and for shards
positions() { # dm-info text -> "index min max" per frame
	dm-info | awk '/^frame/ { split($3, a, "="); idx = a[2] } /^  x / { print idx, $5, $7 }'
}
dm-load toy:circles --n 40 --shuffle --seed 2 --epochs 2 --batch 1 | positions >"$T/whole"
for r in 0 1 2; do
	dm-load toy:circles --n 40 --shuffle --seed 2 --epochs 2 --batch 1 --shard $r/3 | positions
done | sort -n >"$T/union"
sort -n "$T/whole" >"$T/whole.sorted"
same_file shard_union "$T/whole.sorted" "$T/union"
check shard_stride 'dm-load toy:moons --n 10 --batch 2 --shard 1/3 | dm-info | grep -q "index=1 .*stride=3\|stride=3 .*index=1"'

# ---- IDX, plain and gzip, with labels --------------------------------------
mkdir -p "$T/idx"
# 3 images of 2x2 and their labels
printf '\000\000\010\003\000\000\000\003\000\000\000\002\000\000\000\002\000\377\000\377\177\177\177\177\377\377\377\377' >"$T/idx/t10k-images-idx3-ubyte"
printf '\000\000\010\001\000\000\000\003\001\002\011' >"$T/idx/t10k-labels-idx1-ubyte"
check idx_plain 'dm-load "$T/idx/t10k-images-idx3-ubyte" | dm-info | grep -q "x  *f32  3x1x2x2  *min -1  *max 1 "'
check idx_labels 'dm-load "$T/idx/t10k-images-idx3-ubyte" | dm-info | grep -q "label  *i32  3  *min 1  *max 9 "'
mkdir -p "$T/idxgz"
gzip -c "$T/idx/t10k-images-idx3-ubyte" >"$T/idxgz/t10k-images-idx3-ubyte.gz"
gzip -c "$T/idx/t10k-labels-idx1-ubyte" >"$T/idxgz/t10k-labels-idx1-ubyte.gz"
dm-load "$T/idx/t10k-images-idx3-ubyte" | dm-info | grep '^  [xl]' >"$T/plain.txt"
dm-load "$T/idxgz/t10k-images-idx3-ubyte.gz" | dm-info | grep '^  [xl]' >"$T/gz.txt"
same_file idx_gz_equals_plain "$T/plain.txt" "$T/gz.txt"
check idx_concat 'dm-load "$T/idx/t10k-images-idx3-ubyte" "$T/idxgz/t10k-images-idx3-ubyte.gz" | dm-info | grep -q "x  *f32  6x1x2x2"'

# ---- Fashion-MNIST ---------------------------------------------------------
if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -n "${DM_FASHION_MNIST_DIR:-}" ]; then
	dm-load fashion-mnist:train --limit 64 --batch 64 | dm-info >"$T/fm.txt"
	check fashion_x 'grep -q "^  x  *f32  64x1x28x28 " "$T/fm.txt"'
	check fashion_label 'grep -q "^  label  *i32  64 .*min 0 .*max 9 " "$T/fm.txt"'
	check fashion_test 'dm-load fashion-mnist:test --limit 10 | dm-info | grep -q "x  *f32  10x1x28x28"'
else
	skip fashion_x "dataset-fashion-mnist is not installed"
fi
expect_fail fashion_missing 'apt-get install dataset-fashion-mnist|DM_FASHION_MNIST_DIR' \
	'DM_FASHION_MNIST_DIR=/nonexistent dm-load fashion-mnist:train'

# ---- NPY ------------------------------------------------------------------
npy() { # npy FILE DICT  (data appended by the caller); header padded to 128 bytes
	dict=$2
	pad=$((128 - 10 - ${#dict} - 1))
	{ printf '\223NUMPY\001\000\166\000%s' "$dict"; printf "%${pad}s\n" ""; } >"$1"
}
npy "$T/a.npy" "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }"
printf '\001\000\000\000\002\000\000\000\003\000\000\000\377\377\377\377\000\000\000\000\012\000\000\000' >>"$T/a.npy"
check npy_i32 'dm-load "$T/a.npy" | dm-info | grep -q "x  *f32  2x3  *min -1  *max 10 "'
if [ $have_encode = 1 ]; then
	check npy_round_trip 'dm-load "$T/a.npy" | dm-encode -o "$T/b.npy" && dm-load "$T/b.npy" | dm-encode -o "$T/c.npy" && cmp "$T/b.npy" "$T/c.npy"'
fi
npy "$T/f.npy" "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"
printf '0000000000000000' >>"$T/f.npy"
expect_fail npy_fortran 'f\.npy: .*fortran' 'dm-load "$T/f.npy"'
npy "$T/p.npy" "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"
expect_fail npy_pickle 'p\.npy: .*pickle' 'dm-load "$T/p.npy"'
npy "$T/c8.npy" "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"
expect_fail npy_dtype 'c8\.npy: .*not supported' 'dm-load "$T/c8.npy"'
npy "$T/big.npy" "{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }"
expect_fail npy_lying_shape 'big\.npy: ' 'dm-load "$T/big.npy"'

# ---- CSV ------------------------------------------------------------------
printf 'x,y\n1,2\n3,4\n-5,6.5\n' >"$T/p.csv"
check csv 'dm-load "$T/p.csv" | dm-info | grep -q "x  *f32  3x2  *min -5  *max 6.5 "'
printf '1,2\n3,oops\n' >"$T/bad.csv"
expect_fail csv_not_number 'bad\.csv: line 2, column 2' 'dm-load "$T/bad.csv"'

# ---- PNG ------------------------------------------------------------------
printf 'not a png at all' >"$T/fake.png"
expect_fail png_not_png 'fake\.png: not a PNG' 'dm-load "$T/fake.png"'
if [ $have_encode = 1 ]; then
	# 8-bit gray from the IDX set: load -> png -> load gives the same values
	mkdir -p "$T/png"
	dm-load "$T/idx/t10k-images-idx3-ubyte" --batch 1 | dm-encode -o "$T/png/im_%02d.png"
	check png_folder 'dm-load "$T/png" | dm-info | grep -q "x  *f32  3x1x2x2"'
	check png_glob 'dm-load "$T/png/im_0[01].png" | dm-info | grep -q "x  *f32  2x1x2x2"'
	check png_args 'dm-load "$T"/png/im_*.png | dm-info | grep -q "x  *f32  3x1x2x2"'
	check png_flip 'dm-load "$T/png" --flip --seed 1 | dm-info | grep -q "x  *f32  3x1x2x2"'
	dm-load "$T/png" | dm-encode -o "$T/png.npy"
	dm-load "$T/idx/t10k-images-idx3-ubyte" | dm-encode -o "$T/idx.npy"
	same_file png_round_trip_gray "$T/png.npy" "$T/idx.npy"
	# RGB: an NPY u8 N x 3 x H x W through PNG and back
	npy "$T/rgb.npy" "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3, 2, 2), }"
	printf '\000\001\002\003\100\101\102\103\375\376\377\200' >>"$T/rgb.npy"
	dm-load "$T/rgb.npy" | dm-encode -o "$T/rgb.png"
	dm-load "$T/rgb.png" | dm-encode -o "$T/rgb2.npy"
	dm-load "$T/rgb.npy" | dm-encode -o "$T/rgb1.npy"
	same_file png_round_trip_rgb "$T/rgb1.npy" "$T/rgb2.npy"
	# sizes differ: the odd one is named
	dm-load toy:moons --n 1 >/dev/null
	npy "$T/big.npy" "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 3, 3), }"
	printf '\000\001\002\003\004\005\006\007\010' >>"$T/big.npy"
	dm-load "$T/big.npy" | dm-encode -o "$T/png/zz.png"
	expect_fail png_sizes 'zz\.png: image is 3x3' 'dm-load "$T/png"'
	expect_fail png_sizes_args 'zz\.png: samples are 1x3x3' 'dm-load "$T/png/im_00.png" "$T/png/zz.png"'
else
	skip png_round_trip "dm-encode is not built"
fi

# ---- hostile IDX and other errors -------------------------------------------
printf '\000\001\010\003\000\000\000\001\000\000\000\002\000\000\000\002\000\000\000\000' >"$T/magic-idx"
expect_fail idx_magic 'magic-idx: not an IDX' 'dm-load "$T/magic-idx"'
printf '\000\000\010\003\000\000\000\011\000\000\000\002\000\000\000\002\000\000\000\000' >"$T/trunc-idx"
expect_fail idx_truncated 'trunc-idx: .*(truncated|claims)' 'dm-load "$T/trunc-idx"'
printf '\000\000\010\003\177\377\377\377\177\377\377\377\177\377\377\377' | gzip >"$T/huge-idx.gz"
expect_fail idx_lying_header 'huge-idx.gz: .*claims' 'dm-load "$T/huge-idx.gz"'
head -c 40 "$T/idxgz/t10k-images-idx3-ubyte.gz" >"$T/cut-idx.gz"
expect_fail idx_gz_truncated 'cut-idx.gz: ' 'dm-load "$T/cut-idx.gz"'
expect_fail toy_unknown 'toy:spiral: unknown toy' 'dm-load toy:spiral'
expect_fail missing_file 'nonexistent\.png: No such file' 'dm-load "$T/nonexistent.png"'
expect_fail flip_points 'flip needs images' 'dm-load toy:moons --flip'
expect_fail bad_shard 'shard' 'dm-load toy:moons --shard 3/3'
expect_fail no_source 'no SOURCE' 'dm-load'

# --scale multiplies every value (after the range mapping)
dm-load toy:moons --n 50 -o "$TMP/s1.dm" && dm-load toy:moons --n 50 --scale 4 -o "$TMP/s4.dm" &&
	dm-encode -o "$TMP/s1.csv" <"$TMP/s1.dm" && dm-encode -o "$TMP/s4.csv" <"$TMP/s4.dm"
if paste -d, "$TMP/s1.csv" "$TMP/s4.csv" | awk -F, 'function d(a, b) { return a > b ? a - b : b - a }
	{ if (d($1 * 4, $3) > 1e-6 * (1 + d($3, 0)) || d($2 * 4, $4) > 1e-6 * (1 + d($4, 0))) bad = 1 }
	END { exit bad }'; then
	pass "--scale 4 gives four times the values"
else
	fail "--scale" "values are not four times the unscaled ones"
fi
expect_fail "--scale must be positive" "dm-load: --scale: '-1'" dm-load toy:moons --scale -1

# The header tells the truth about the values after every transform: a later
# tool acts on range= (dm-denoise clips x0^ to it).  The values are checked
# against the key, not just the key against a constant.
range_is() { # NAME FILE WANT: the header's range= is WANT (empty: no key)
	got=$(dm-info "$2" | sed -n 's/^ *range=//p')
	if [ "$got" = "$3" ]; then pass "$1"; else fail "$1" "range='$got', wanted '$3'"; fi
}
dm-load toy:moons --n 50 --range -1:1 --scale 2.5 -o "$TMP/r1.dm"
range_is "--range then --scale: range=-2.5:2.5" "$TMP/r1.dm" -2.5:2.5
check "--range then --scale: the values span that range" \
	"dm-info '$TMP/r1.dm' | grep -q 'min -2.5  *max 2.5 '"
dm-load toy:moons --n 50 --scale 2.5 -o "$TMP/r2.dm"
range_is "toy set with --scale: no range key (the range is not known)" "$TMP/r2.dm" ""
dm-load toy:moons --n 50 -o "$TMP/r3.dm"
range_is "toy set: no range key" "$TMP/r3.dm" ""
python3 -c "
import zlib, struct, sys
w, h = 4, 2
raw = b''.join(b'\0' + bytes([0, 255, 128, 64]) for _ in range(h))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
sys.stdout.buffer.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0))
    + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))" >"$TMP/g.png"
dm-load "$TMP/g.png" -o "$TMP/r4.dm"
range_is "image: range=-1:1" "$TMP/r4.dm" -1:1
dm-load "$TMP/g.png" --scale 2 -o "$TMP/r5.dm"
range_is "image with --scale 2: range=-2:2" "$TMP/r5.dm" -2:2
check "image with --scale 2: the values reach -2 and 2" "dm-info '$TMP/r5.dm' | grep -q 'min -2  *max 2 '"
dm-load "$TMP/g.png" --range 0:1 --scale 3 -o "$TMP/r6.dm"
range_is "image with --range 0:1 --scale 3: range=0:3" "$TMP/r6.dm" 0:3

# a failing run leaves no file
leaves_nothing "a failing run leaves no file" "dm-load toy:moons --shard 0/2 --limit 1 -o out.dms '$TMP/nonexistent.png'"

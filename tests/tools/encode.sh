#!/bin/sh
# Shell tests of dm-encode (pictures and numbers; video further below).
. tests/tools/lib.sh
MK="python3 tests/tools/mkstream.py"
PNG="python3 tests/tools/pngcheck.py"
D=$TMP/out
mkdir -p "$D"

# the bytes mkstream stores in frame f, element i: (i*7 + f*13) % 256
ramp() { python3 -c "import sys; sys.stdout.buffer.write(bytes((i*7 + $2*13) % 256 for i in range($1)))"; }

check "help" "dm-encode --help | grep -q Usage"
check "version" "dm-encode --version | grep -q 'dm-encode (dm)'"

# --- PNG ---
check "grid 8x8 of 28x28 at scale 2 is 448x448" \
	"$MK --frames 1 --shape 64x1x28x28 | dm-encode --grid 8x8 --scale 2 -o '$D/grid.png' && $PNG '$D/grid.png' 448 448 1"
ramp 64 0 >"$TMP/ramp64"
check "one gray image: every pixel exact" \
	"$MK --frames 1 --shape 1x1x8x8 | dm-encode -o '$D/one.png' && $PNG '$D/one.png' 8 8 1 --bytes '$TMP/ramp64'"
check "rank-2 tensor is one gray image" \
	"$MK --frames 1 --shape 8x8 | dm-encode -o '$D/hw.png' && $PNG '$D/hw.png' 8 8 1 --bytes '$TMP/ramp64'"
python3 -c "
import sys
b = [(i*7) % 256 for i in range(3*4*5)]
sys.stdout.buffer.write(bytes(b[c*20 + p] for p in range(20) for c in range(3)))" >"$TMP/rgb"
check "RGB image: planar channels interleaved" \
	"$MK --frames 1 --shape 1x3x4x5 | dm-encode -o '$D/rgb.png' && $PNG '$D/rgb.png' 5 4 3 --bytes '$TMP/rgb'"
check "u8 tensors map 0:255" \
	"$MK --frames 1 --shape 1x1x8x8 --dtype u8 | dm-encode -f png -o '$D/u8.png' && $PNG '$D/u8.png' 8 8 1 --bytes '$TMP/ramp64'"
check "--range and --scale" \
	"$MK --frames 1 --shape 1x1x2x2 | dm-encode --range 0:1 --scale 3 -o '$D/r.png' && $PNG '$D/r.png' 6 6 1"
check "numbered: one PNG per image" \
	"$MK --frames 2 --shape 3x1x5x7 | dm-encode -o '$D/im_%03d.png' && test -f '$D/im_005.png' && ! test -f '$D/im_006.png' \
	 && $PNG '$D/im_000.png' 7 5 1"
check "numbered with --grid: one PNG per frame, blank cells" \
	"$MK --frames 2 --shape 3x1x5x7 | dm-encode --grid 2x2 --gap 1 -o '$D/g_%d.png' && $PNG '$D/g_1.png' 15 11 1 && ! test -f '$D/g_2.png'"
check "PNG to stdout" "$MK --frames 1 --shape 1x1x8x8 | dm-encode -f png >'$D/so.png' && $PNG '$D/so.png' 8 8 1"
expect_fail "several pictures need a numbered name" 'more than one picture.*%04d' \
	"$MK --frames 2 --shape 1x1x4x4 | dm-encode -o '$D/many.png'"
check "... and leave no file" "! ls '$D' | grep -q many"
expect_fail "2 channels" "2 channels; pictures need 1 \\(gray\\) or 3 \\(RGB\\)" \
	"$MK --frames 1 --shape 1x2x4x4 | dm-encode -o '$D/c2.png'"
expect_fail "missing tensor" "frame 0 has no tensor 'y'" \
	"$MK --frames 1 --shape 1x1x4x4 | dm-encode --tensor y -o '$D/y.png'"
expect_fail "bad pattern" 'only %d' "$MK --frames 1 | dm-encode -o '$D/a_%s.png'"
expect_fail "unknown format" "cannot tell the output format" "$MK --frames 1 | dm-encode -o '$D/a.xyz'"
expect_fail "bad --grid" '--grid' "$MK --frames 1 | dm-encode --grid 8 -o '$D/a.png'"
expect_fail "bad --range" '--range' "$MK --frames 1 | dm-encode --range 1:1 -o '$D/a.png'"

# --- NPY ---
python3 -c "
import struct, sys
out = b''
for f in range(3):
    out += struct.pack('<10f', *[((i*7 + f*13) % 256)/255*2-1 for i in range(10)])
sys.stdout.buffer.write(out)" >"$TMP/npy.bin"
check "NPY: frames concatenated, values byte-identical" \
	"$MK --frames 3 --shape 5x2 | dm-encode -o '$D/a.npy' && python3 -c '
import sys
d = open(\"$D/a.npy\", \"rb\").read()
assert d[:6] == b\"\\x93NUMPY\", d[:10]
n = d[8] | d[9] << 8
h = d[10:10 + n].decode()
assert \"<f4\" in h and \"(15, 2)\" in h and \"False\" in h, h
assert d[10 + n:] == open(\"$TMP/npy.bin\", \"rb\").read()
'"
check "NPY to a pipe" "$MK --frames 3 --shape 5x2 | dm-encode -f npy | cmp -s - '$D/a.npy'"
check "NPY keeps i32" \
	"$MK --frames 2 --shape 3 --dtype i32 | dm-encode -o '$D/i.npy' && python3 -c '
d = open(\"$D/i.npy\", \"rb\").read(); h = d[10:128].decode()
assert \"<i4\" in h and \"(6,)\" in h, h
assert len(d) == 128 + 24'"
expect_fail "truncated stream" 'byte [0-9]+: stream truncated' \
	"$MK --frames 3 --shape 5x2 | head -c 300 | dm-encode -o '$D/trunc.npy'"
check "... leaves no partial file" "! ls -a '$D' | grep -q trunc"
expect_fail "empty stream" 'no frames' "$MK --frames 0 | dm-encode -o '$D/empty.npy'"
check "... leaves no file" "! ls -a '$D' | grep -q empty"

# --- CSV ---
check "CSV: header and one row per sample" \
	"$MK --frames 2 --shape 3x1x2x2 | dm-encode --header -o '$D/a.csv' && test \$(wc -l <'$D/a.csv') -eq 7 \
	 && head -n 1 '$D/a.csv' | grep -qx 'x_0,x_1,x_2,x_3' && sed -n 2p '$D/a.csv' | grep -qx '\\-1,-0.945098042,-0.890196085,-0.835294127'"
check "CSV integers" "$MK --frames 1 --shape 2x2 --dtype i32 | dm-encode -f csv | head -n 1 | grep -qx '0,7'"

# --- through dm-load, when it is built ---
if command -v dm-load >/dev/null 2>&1; then
	check "PNG round trip: dm-load then dm-encode gives the same pixels" \
		"dm-load '$D/one.png' | dm-encode -o '$D/back.png' && $PNG '$D/back.png' 8 8 1 --bytes '$TMP/ramp64'"
	check "RGB PNG round trip" \
		"dm-load '$D/rgb.png' | dm-encode -o '$D/back3.png' && $PNG '$D/back3.png' 5 4 3 --bytes '$TMP/rgb'"
	check "NPY round trip: identical values" \
		"dm-load '$D/a.npy' | dm-encode -o '$D/b.npy' && cmp -s '$D/a.npy' '$D/b.npy'"
else
	skip "round trips through dm-load" "dm-load is not built"
fi

# --- video: every container read back by an independent parser -----------
VID="python3 tests/tools/vidcheck.py"
# 4 gray 27x27 images per frame: the default grid is 2x2, 54x54
check "GIF: size, frame count, delay, loops forever" \
	"$MK --frames 5 --shape 4x1x27x27 | dm-encode -o '$D/a.gif' && $VID '$D/a.gif' | grep -qx 'gif 54 54 5 loop=0 delay=10'"
check "GIF: --fps, --loop, --hold-last" \
	"$MK --frames 4 --shape 4x1x27x27 | dm-encode --fps 25 --loop 3 --hold-last 1 -o '$D/b.gif' \
	 && $VID '$D/b.gif' | grep -qx 'gif 54 54 29 loop=2 delay=4'"
check "caption: a negative t (dm-denoise's final frame) is drawn as 'clean', whatever its value" \
	"$MK --frames 1 --t0 -5 | dm-encode --grid 2x2 --scale 8 --caption -o '$D/cap5.png' && \
	 $MK --frames 1 --t0 -6 | dm-encode --grid 2x2 --scale 8 --caption -o '$D/cap6.png' && \
	 cmp -s '$D/cap5.png' '$D/cap6.png' && \
	 $MK --frames 1 --t0 5 | dm-encode --grid 2x2 --scale 8 --caption -o '$D/capp5.png' && \
	 $MK --frames 1 --t0 6 | dm-encode --grid 2x2 --scale 8 --caption -o '$D/capp6.png' && \
	 ! cmp -s '$D/capp5.png' '$D/capp6.png' && ! cmp -s '$D/cap5.png' '$D/capp5.png'"
check "GIF: colour, caption, --loop 1 plays once" \
	"$MK --frames 3 --shape 2x3x9x9 | dm-encode --grid 1x2 --scale 4 --caption --loop 1 -o '$D/c.gif' \
	 && $VID '$D/c.gif' | grep -qx 'gif 72 36 3 loop=None delay=10'"
check "MP4: odd size padded to even" \
	"$MK --frames 5 --shape 4x3x27x27 | dm-encode --grid 1x3 -o '$D/a.mp4' && $VID '$D/a.mp4' | grep -Eqx 'mp4 82 28 5 (avc1|mp4v)'"
check "MP4 to a pipe (fragmented)" \
	"$MK --frames 5 --shape 4x1x16x16 | dm-encode -f mp4 --crf 30 >'$D/p.mp4' && $VID '$D/p.mp4' | grep -Eqx 'mp4 32 32 5 (avc1|mp4v)'"
check "MP4 --bitrate" \
	"$MK --frames 3 --shape 1x1x32x32 | dm-encode --bitrate 200000 -o '$D/b.mp4' && $VID '$D/b.mp4' | grep -Eq '^mp4 32 32 3 '"
check "WebM (VP9)" \
	"$MK --frames 4 --shape 1x3x20x30 | dm-encode --scale 2 -o '$D/a.webm' && $VID '$D/a.webm' | grep -qx 'webm 60 40 4'"
check "Y4M to stdout" \
	"$MK --frames 3 --shape 2x1x8x8 | dm-encode -f y4m -o - | $VID /dev/stdin | grep -qx 'y4m 16 8 3'"
check "scatter: fixed axes, one frame per stream frame" \
	"$MK --frames 6 --shape 50x2 | dm-encode --scatter --xlim -1:1 --ylim -1:1 --size 200x100 --caption -o '$D/s.gif' \
	 && $VID '$D/s.gif' | grep -q '^gif 200 100 6 '"
check "scatter PNG" \
	"$MK --frames 1 --shape 50x2 | dm-encode --scatter --point 0 --color ff0000 -o '$D/s.png' && $PNG '$D/s.png' 512 512 3"
check "scatter --color-by label" \
	"$MK --frames 2 --shape 10x2 --extra | dm-encode --scatter --color-by label -o '$D/cb.gif' && $VID '$D/cb.gif' | grep -q '^gif 512 512 2 '"
expect_fail "--color-by a missing tensor" "no tensor 'label' for --color-by" \
	"$MK --frames 1 --shape 10x2 | dm-encode --scatter --color-by label -o '$D/cb2.gif'"
expect_fail "points without --scatter" 'is 10x2 points: draw them with --scatter' \
	"$MK --frames 1 --shape 10x2 | dm-encode -o '$D/pts.gif'"
check "input from a file argument" \
	"$MK --frames 1 --shape 1x1x8x8 >'$TMP/in.dm' && dm-encode -o '$D/arg.png' '$TMP/in.dm' && $PNG '$D/arg.png' 8 8 1"
expect_fail "scatter of images" 'not N x D points' \
	"$MK --frames 1 --shape 1x1x4x4 | dm-encode --scatter -o '$D/bad.gif'"
expect_fail "truncated stream mid-video" 'stream truncated' \
	"$MK --frames 4 --shape 4x1x16x16 | head -c 5000 | dm-encode -o '$D/trunc.mp4'"
check "... leaves no partial video" "! ls -a '$D' | grep -q 'trunc\\.mp4'"
expect_fail "empty stream" 'no frames' "$MK --frames 0 | dm-encode -o '$D/empty.gif'"
check "... leaves no file" "! ls -a '$D' | grep -q 'empty\\.gif'"
expect_fail "unknown format" "--format: unknown 'avi'" "$MK --frames 1 | dm-encode -f avi"
expect_fail "frames of changing size" 'every frame must be alike' \
	"{ $MK --frames 1 --shape 1x1x8x8; $MK --frames 1 --shape 1x1x9x9; } | dm-encode --grid 1x1 -o '$D/chg.gif'"
check "... leaves no file" "! ls -a '$D' | grep -q 'chg'"
expect_fail "bad --hold-last" 'hold-last' "$MK --frames 1 | dm-encode --hold-last -1 -o '$D/h.gif'"
expect_fail "bad --fps" 'fps' "$MK --frames 1 | dm-encode --fps 0 -o '$D/h.gif'"

# --last: only the final frame (the samples at the end of a trajectory)
dm-noise --prior --shape 4x1x8x8 | dm-denoise -m gaussian:0:0.5 --steps 10 --every 5 >"$TMP/traj.dm"
dm-noise --prior --shape 4x1x8x8 | dm-denoise -m gaussian:0:0.5 --steps 10 | dm-encode -o "$TMP/final.npy"
check "--last encodes the final frame only" "dm-encode --last -o '$TMP/last.npy' '$TMP/traj.dm' && cmp -s '$TMP/last.npy' '$TMP/final.npy'"
check "--last makes one grid PNG of a trajectory" "dm-encode --last --grid 2x2 -o '$TMP/last.png' '$TMP/traj.dm' && test -s '$TMP/last.png'"
head -c 2000 "$TMP/traj.dm" >"$TMP/traj-cut.dm"
expect_fail "--last on a truncated stream fails, no file" "dm-encode: .*truncated" dm-encode --last -o "$TMP/lastbad.png" "$TMP/traj-cut.dm"

# a failing run leaves no file (its temporary is removed on exit)
python3 "$HERE/tests/tools/mkstream.py" --frames 2 --shape 2x2 --meta schedule=linear --name y >"$TMP/nox.dms"
for f in npy csv png gif; do
	leaves_nothing "a failing run leaves no file ($f)" "dm-encode -o out.$f '$TMP/nox.dms'"
done

#!/bin/sh
# dm-paste: join streams frame by frame along the batch axis; the way back
# together for sampling split by seed ranges (issue 9).
. tests/tools/lib.sh

# 3 ranges of a sampling run with its trajectory, pasted, equal one run
for i in 0 1 2; do
	dm-noise --prior --shape 4x1x8x8 --first-index $((i * 4)) --count 4 --seed 5 \
		| dm-denoise -m gaussian:0:0.5 --steps 10 --every 5 >"$TMP/p$i.dm"
done
dm-noise --prior --shape 12x1x8x8 --seed 5 | dm-denoise -m gaussian:0:0.5 --steps 10 --every 5 >"$TMP/whole.dm"
dm-paste "$TMP/p0.dm" "$TMP/p1.dm" "$TMP/p2.dm" >"$TMP/joined.dm"
same_file "3 pasted ranges equal one run, trajectory included" "$TMP/joined.dm" "$TMP/whole.dm"
check "stdin as one input" "dm-paste '$TMP/p0.dm' - '$TMP/p2.dm' <'$TMP/p1.dm' | cmp -s - '$TMP/whole.dm'"
check "-o writes atomically" "dm-paste -o '$TMP/o.dm' '$TMP/p0.dm' '$TMP/p1.dm' '$TMP/p2.dm' && cmp -s '$TMP/o.dm' '$TMP/whole.dm'"

# errors: different frame counts, shapes, truncated input; no file left
cat "$TMP/p0.dm" "$TMP/p0.dm" >"$TMP/twice.dm" # concatenated streams: 8 frames
expect_fail "different frame counts" "dm-paste: .*different numbers of frames" \
	dm-paste -o "$TMP/bad.dm" "$TMP/twice.dm" "$TMP/p1.dm"
dm-noise --prior --shape 4x1x4x4 | dm-denoise -m gaussian:0:0.5 --steps 10 --every 5 >"$TMP/small.dm"
expect_fail "different sample shapes" "dm-paste: .*small.dm: frame 0: tensor 'x' cannot be joined" \
	dm-paste -o "$TMP/bad.dm" "$TMP/p0.dm" "$TMP/small.dm"
head -c 300 "$TMP/p1.dm" >"$TMP/cut.dm"
expect_fail "truncated input" "dm-paste: .*cut.dm: byte 300: stream truncated" \
	dm-paste -o "$TMP/bad.dm" "$TMP/p0.dm" "$TMP/cut.dm"
check "no output file after the failures" "test ! -e '$TMP/bad.dm' && ! ls '$TMP'/bad.dm.tmp.* 2>/dev/null"
expect_fail "no input" "dm-paste: no input" dm-paste
check "--help" "dm-paste --help | grep -q Usage"

# pipelines/split.mk: 4 ranges in parallel, joined into one grid and one
# video, and proved equal to one run
check "split.mk: 4 parallel ranges equal one run" \
	"make -s -f pipelines/split.mk BUILD='$BUILD' OUT='$TMP/split' PER=2 SHAPE=1x8x8 GRID=2x4 SAMPLER='--steps 10' -j4 >/dev/null && grep -q 'byte for byte' '$TMP/split/check.txt' && test -s '$TMP/split/grid.png' && test -s '$TMP/split/denoise.mp4'"
# (make -q answers by its exit status, not by make's chatter, which make -s
# silences)
check "split.mk: a second run does nothing" \
	"make -q -f pipelines/split.mk BUILD='$BUILD' OUT='$TMP/split' PER=2 SHAPE=1x8x8 GRID=2x4 SAMPLER='--steps 10'"

# a failing run leaves no file (its temporary is removed on exit)
python3 "$HERE/tests/tools/mkstream.py" --frames 2 --shape 2x2 >"$TMP/two.dms"
python3 "$HERE/tests/tools/mkstream.py" --frames 3 --shape 2x2 >"$TMP/three.dms"
leaves_nothing "a failing run leaves no file" "dm-paste -o out.dms '$TMP/two.dms' '$TMP/three.dms'"

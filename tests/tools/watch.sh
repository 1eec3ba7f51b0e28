#!/bin/sh
# dm-train --sample-every / --eval-every: watching a model learn (issue 18).
. tests/tools/lib.sh
OMP_NUM_THREADS=1 # tiny models: threads only contend
export OMP_NUM_THREADS

train() { # train STEPS CHECKPOINT [OPTION]...
	n=$1 ck=$2; shift 2
	dm-load toy:swissroll --batch 128 --epochs 0 | dm-noise --train \
		| dm-train --hidden 64 --steps "$n" -o "$ck" "$@"
}
dm-load toy:swissroll --n 300 --seed 9 >"$TMP/held.dm"

# numbered PNGs, one per --sample-every steps, a scatter plot of the samples
train 60 "$TMP/w.dmt" --sample-every 20 --sample-out "$TMP/s-%04d.png" --eval-every 20 \
	--eval-data "$TMP/held.dm" 2>"$TMP/log.txt"
check "a PNG every 20 steps" "test -s '$TMP/s-0020.png' && test -s '$TMP/s-0040.png' && test -s '$TMP/s-0060.png' && test \$(ls '$TMP'/s-*.png | wc -l) -eq 3"
check "512x512 RGB scatter plots" "python3 tests/tools/pngcheck.py '$TMP/s-0060.png' 512 512 3"
check "the cost in the log" "grep -Eq '^dm-train: step 20: 1000 samples \(ddim, 20 steps\) in [0-9.]+ s;.* watching took [0-9.]+% of the run so far' '$TMP/log.txt'"
check "a quality figure every 20 steps" "test \$(grep -c 'sliced W2 [0-9.e-]* over 300 samples' '$TMP/log.txt') -eq 3"

# the picture is the checkpoint's EMA samples from the same noise, as
# dm-denoise draws them (below the caption: 32 rows at 512 wide)
dm-noise --prior --shape 1000x2 | dm-denoise -m "$TMP/w.dmt" --sampler ddim --steps 20 \
	| dm-encode --scatter -o "$TMP/d.png"
check "the last picture is dm-denoise's samples of the EMA weights" "python3 - '$TMP/s-0060.png' '$TMP/d.png' <<'P'
import sys; sys.path.insert(0, 'tests/tools')
from pngcheck import read
(w, h, c, a), (_, _, _, b) = read(sys.argv[1]), read(sys.argv[2])
row = w * c
assert a[32 * row:] == b[32 * row:], 'pictures differ below the caption'
assert a[:32 * row] != b[:32 * row], 'no caption'
P"

# watching does not change the training
train 60 "$TMP/plain.dmt" -q
same_file "a run watched trains bit for bit as one not" "$TMP/w.dmt" "$TMP/plain.dmt"

# the figure falls as the model learns: 5 steps against 400
train 400 "$TMP/long.dmt" -q --eval-every 395 --eval-data "$TMP/held.dm" 2>"$TMP/long.txt"
train 5 "$TMP/short.dmt" -q --eval-every 5 --eval-data "$TMP/held.dm" 2>"$TMP/short.txt"
check "-q: no watching lines" "test ! -s '$TMP/long.txt'"
train 400 "$TMP/long.dmt" --eval-every 400 --eval-data "$TMP/held.dm" 2>"$TMP/long.txt"
train 5 "$TMP/short.dmt" --eval-every 5 --eval-data "$TMP/held.dm" 2>"$TMP/short.txt"
check "sliced W2 after 400 steps below half of it after 5" \
	"a=\$(sed -n 's/.*sliced W2 \([0-9.e-]*\) .*/\1/p' '$TMP/short.txt'); b=\$(sed -n 's/.*sliced W2 \([0-9.e-]*\) .*/\1/p' '$TMP/long.txt'); echo \"\$a \$b\"; awk -v a=\"\$a\" -v b=\"\$b\" 'BEGIN { exit !(a > 0 && b > 0 && b < 0.5 * a) }'"

# a video: a frame per drawing
train 40 "$TMP/v.dmt" -q --sample-every 10 --sample-n 200 --sample-with ddim:5 --sample-out "$TMP/w.mp4"
check "an MP4 with a frame per drawing" "python3 tests/tools/vidcheck.py '$TMP/w.mp4' | grep -Eq '^mp4 512 512 4( |$)'"
train 20 "$TMP/g.dmt" -q --sample-every 10 --sample-n 100 --sample-with ddpm:4 --sample-out "$TMP/w.gif"
check "a GIF, another sampler" "python3 tests/tools/vidcheck.py '$TMP/w.gif' | grep -Eq '^gif 512 512 2( |$)'"

# images: a captioned grid
dm-load fashion-mnist:train --batch 4 --epochs 0 | dm-noise --train \
	| dm-train --model unet --ch 8 --ch-mult 1,2 --res-blocks 1 --attn none --groups 4 --steps 1 -q \
		--sample-every 1 --sample-n 4 --sample-with ddim:2 --sample-out "$TMP/i-%d.png" -o "$TMP/u.dmt"
check "images as a 2x2 grid, upscaled 2x" "python3 tests/tools/pngcheck.py '$TMP/i-1.png' 113 113 1"

# errors, before training starts
expect_fail "--sample-out neither numbered nor a video" "sample-out '.*x.png': neither a numbered PNG name" \
	"dm-load toy:moons --batch 8 | dm-noise --train | dm-train --steps 2 -o '$TMP/e.dmt' --sample-every 1 --sample-out '$TMP/x.png'"
expect_fail "--eval-every without --eval-data" "eval-every needs --eval-data" \
	"dm-load toy:moons --batch 8 | dm-noise --train | dm-train --steps 2 -o '$TMP/e.dmt' --eval-every 1"
dm-noise --prior --shape 10x3 >"$TMP/three.dm"
expect_fail "held-out samples of another size" "three.dm: held-out samples of 3 values, the model makes 2" \
	"dm-load toy:moons --batch 8 | dm-noise --train | dm-train --steps 2 -o '$TMP/e.dmt' --eval-every 1 --eval-data '$TMP/three.dm'"
expect_fail "an unknown sampler" "--sample-with: unknown sampler 'fast'" \
	"dm-load toy:moons --batch 8 | dm-noise --train | dm-train --steps 2 -o '$TMP/e.dmt' --sample-with fast"
check "no checkpoint after the failures" "test ! -e '$TMP/e.dmt'"

#!/bin/sh
# pipelines/demo.sh BIN OUT - the README's demo (`make demo`): train a small
# diffusion model on a built-in 2-D toy set and film it turning noise into
# data.  Writes OUT/model.dmt, OUT/forward.gif, OUT/denoise.gif and
# OUT/denoise.mp4 (beside the data, the trajectory and fresh true points).
# About half a minute on 2 idle cores.
# Smaller runs (the shell test) through the environment:
#   DEMO_TOY (swissroll)  DEMO_STEPS (4000 training steps)  DEMO_N (2000 points)
#   DEMO_SAMPLE_STEPS (200 DDPM steps)  DEMO_EVERY (4: a video frame every 4 steps)
set -eu
BIN=$1
OUT=$2
TOY=${DEMO_TOY:-swissroll}
STEPS=${DEMO_STEPS:-4000}
N=${DEMO_N:-2000}
SSTEPS=${DEMO_SAMPLE_STEPS:-200}
EVERY=${DEMO_EVERY:-4}
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
PATH=$BIN:$PATH
mkdir -p "$OUT"
ENC="--scatter --xlim -5:5 --ylim -5:5 --size 384x384 --caption --fps 12"

# The toy sets lie in about [-1.3, 1.3]; scaled by 2.5 their structure
# survives longer under the linear schedule and a small network learns it
# (see pipelines/toy2d.mk).
DATA="toy:$TOY --n 10000 --scale 2.5"

echo "demo: the forward process (data -> noise) -> $OUT/forward.gif"
dm-load $DATA --limit "$N" | dm-noise --t 0:1000:20 --seed 4 -j1 \
	| dm-encode $ENC --hold-last 1 -o "$OUT/forward.gif"

echo "demo: training mlp-2d for $STEPS steps -> $OUT/model.dmt"
dm-load $DATA --batch 256 --shuffle --epochs 0 | dm-noise --train --seed 1 -j1 \
	| dm-train --model mlp-2d --hidden 128 --steps "$STEPS" --batch 256 --lr 2e-3 \
		--ema 0.995 --threads 1 -o "$OUT/model.dmt"

echo "demo: sampling $N points with DDPM ($SSTEPS steps), a frame every $EVERY"
dm-noise --prior --shape "${N}x2" --seed 5 -j1 \
	| dm-denoise -m "$OUT/model.dmt" --sampler ddpm --steps "$SSTEPS" --every "$EVERY" -j1 \
		-o "$OUT/reverse.dm"

echo "demo: the reverse process (noise -> data) -> $OUT/denoise.gif, $OUT/denoise.mp4"
dm-encode $ENC --hold-last 2 -o "$OUT/denoise.gif" "$OUT/reverse.dm"
dm-encode $ENC --hold-last 2 -o "$OUT/denoise.mp4" "$OUT/reverse.dm"
# How good the samples are: their sliced Wasserstein distance to fresh true
# points, beside the floor (two independent true sets of the same size are
# not at distance 0).  Written to OUT/score.txt; the shell test bounds the
# ratio of a small demo, so a regression (such as clipping the samples to a
# wrong range) fails `make test`.
dm-load "toy:$TOY" --n "$N" --seed 11 --scale 2.5 -o "$OUT/true.dm"
dm-load "toy:$TOY" --n "$N" --seed 12 --scale 2.5 -o "$OUT/true2.dm"
SW=$(dm-score --last "$OUT/reverse.dm" "$OUT/true.dm")
FLOOR=$(dm-score "$OUT/true2.dm" "$OUT/true.dm")
RATIO=$(awk -v a="$SW" -v b="$FLOOR" 'BEGIN { printf "%.2f", a / b }')
printf 'samples %s\nfloor %s\nratio %s\n' "$SW" "$FLOOR" "$RATIO" >"$OUT/score.txt"
echo "demo: sliced Wasserstein distance to fresh true points: $SW (floor of two true sets: $FLOOR; $RATIO x the floor)"
echo "demo: done; see $OUT/ (denoise.gif, denoise.mp4, forward.gif)"

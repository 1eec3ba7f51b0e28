#!/bin/sh
# pipelines/conventions.sh BIN MODEL CLS N OUT - the table of dm-denoise(1)
# "CLIPPING AND DETERMINISTIC SAMPLERS, MEASURED": N samples of the image
# checkpoint MODEL (cosine schedule) per sampler and x0 convention, each
# scored by FD and KID against N Fashion-MNIST test images in the features
# of the classifier CLS (dm-train --model classifier-fmnist), beside the
# floor of N training images.  Writes OUT/results.txt.  Slow: DDPM-200 on
# 128 images of unet-s is some minutes on 2 cores.
set -eu
BIN=$1 MODEL=$2 CLS=$3 N=$4 OUT=$5
case $BIN in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
PATH=$BIN:$PATH
mkdir -p "$OUT"
dm-load fashion-mnist:test --limit "$N" --batch "$N" -o "$OUT/test.dm"
dm-load fashion-mnist:train --limit "$N" --batch "$N" -o "$OUT/train.dm"
: >"$OUT/results.txt"
run() { # NAME dm-denoise options...
	name=$1; shift
	dm-noise --prior --shape "${N}x1x28x28" --seed 7 --schedule cosine \
		| dm-denoise -m "$MODEL" "$@" -o "$OUT/$name.dm"
	printf '%-18s %s\n' "$name" "$(dm-score --fd --kid -m "$CLS" "$OUT/$name.dm" "$OUT/test.dm" \
		--floor "$OUT/train.dm" | tr '\n' ' ')" | tee -a "$OUT/results.txt"
}
run ddpm200 --sampler ddpm -n 200
run ddim50 --sampler ddim -n 50
run ddim50-keep-eps --sampler ddim -n 50 --keep-eps
run ddim50-dynamic --sampler ddim -n 50 --dynamic-threshold 0.995
run ddim50-no-clip --sampler ddim -n 50 --no-clip
run ddim50-lambda-none --sampler ddim -n 50 --lambda-min none
run ddim50-trailing --sampler ddim -n 50 --spacing trailing
run ddim50-leading --sampler ddim -n 50 --spacing leading
run dpm20 --sampler dpm++2m -n 20
run dpm20-dynamic --sampler dpm++2m -n 20 --dynamic-threshold 0.995

#!/bin/sh
# tests/bench/sampler_toy.sh - sample quality of every sampler on a toy set:
# trains mlp-2d on toy:8gaussians (3000 steps, one thread, ~1-2 minutes),
# samples 2000 points with each sampler at its default steps and prints the
# sliced 2-Wasserstein distance to 2000 fresh true points beside the floor
# (two true sets) and the prior.  Long: not part of `make bench`.
#   DM_BUILD=build sh tests/bench/sampler_toy.sh
set -e
B=${DM_BUILD:-build}/bin
case $B in /*) ;; *) B=$(pwd)/$B ;; esac
SW="python3 $(pwd)/tests/bench/sliced_w.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T"
$B/dm-load toy:8gaussians --batch 512 --shuffle --epochs 0 | $B/dm-noise --train --seed 1 \
	| $B/dm-train --model mlp-2d --steps 3000 --batch 512 --lr 1e-3 --ema 0.995 --threads 1 -o m.dmt
$B/dm-load toy:8gaussians --n 2000 --seed 11 | $B/dm-encode -f csv -t x >true1.csv
$B/dm-load toy:8gaussians --n 2000 --seed 12 | $B/dm-encode -f csv -t x >true2.csv
$B/dm-noise --prior --shape 2000x2 --seed 5 >prior.dm
$B/dm-encode -f csv <prior.dm >prior.csv
echo "floor (two true sets): $($SW true1.csv true2.csv)   prior: $($SW prior.csv true1.csv)"
for s in ddpm ddim euler-maruyama "pc --steps 200" ode rk45 dpm++2m euler heun; do
	$B/dm-denoise -m m.dmt --sampler $s -v <prior.dm 2>nfe | $B/dm-encode -f csv >s.csv
	echo "$s: sliced W2 $($SW s.csv true1.csv), $(grep -o '[0-9.]* network evaluations' nfe) per sample"
done

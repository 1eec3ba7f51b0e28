#!/bin/sh
# Shell tests of dm-denoise: the analytic gaussian model through every
# sampler, reproducibility, trajectories, restoration, errors, and a tiny
# trained mlp-2d run end to end through every sampler.
. tests/tools/lib.sh

# $TMP/near FILE MEAN STD TOL: the values of x in the stream FILE have that
# mean and std (a script, since check runs its command in a new sh)
cat >"$TMP/near" <<'EOF'
dm-encode -f csv <"$1" | tr ',' '\n' | awk -v m="$2" -v s="$3" -v t="$4" \
	'{a += $1; q += $1 * $1; n++}
	 END {mu = a / n; sd = sqrt(q / n - mu * mu); d1 = mu - m; d2 = sd - s;
	      if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2;
	      if (d1 > t || d2 > t) { print "mean " mu " std " sd; exit 1 } }'
EOF
near="sh $TMP/near"

check "help" "dm-denoise --help | grep -q Usage"
check "version" "dm-denoise --version | grep -q 'dm-denoise'"

dm-noise --prior --shape 1000x2 --seed 3 >"$TMP/prior.dm"
dm-noise --prior --shape 1000x2 --seed 3 --batch 300 >"$TMP/prior300.dm"
dm-noise --prior --schedule vp --shape 1000x2 --seed 3 >"$TMP/prior_vp.dm"
dm-noise --prior --schedule edm --shape 1000x2 --seed 3 >"$TMP/prior_edm.dm"

# Every sampler turns the prior into N(0.5, 0.3^2): mean and std within 0.03
# (2000 values: sampling error about 0.007; first-order samplers at 50
# steps are biased by up to 0.025 in the std, see test_sampler.c).
for s in ddpm ddim euler-maruyama pc ode rk45 dpm++2m euler heun; do
	check "gaussian $s (linear)" \
		"dm-denoise -m gaussian:0.5:0.3 --sampler $s --seed 1 <'$TMP/prior.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"
done
for s in pc rk45 dpm++2m; do
	check "gaussian $s (vp)" \
		"dm-denoise -m gaussian:0.5:0.3 --sampler $s --seed 1 <'$TMP/prior_vp.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"
done
for s in heun euler-maruyama; do
	check "gaussian $s (edm)" \
		"dm-denoise -m gaussian:0.5:0.3 --sampler $s --seed 1 <'$TMP/prior_edm.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"
done
check "gaussian pc with the reverse-diffusion predictor (vp)" \
	"dm-denoise -m gaussian:0.5:0.3 --sampler pc --predictor reverse-diffusion --steps 300 <'$TMP/prior_vp.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"
check "gaussian ddpm --variance large" \
	"dm-denoise -m gaussian:0.5:0.3 --sampler ddpm --variance large <'$TMP/prior.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"
check "gaussian heun --churn 5 (edm)" \
	"dm-denoise -m gaussian:0.5:0.3 --sampler heun --churn 5 <'$TMP/prior_edm.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"
check "gaussian v-prediction, --schedule overrides" \
	"dm-denoise -m gaussian:0.5:0.3:v --schedule cosine --sampler ddpm --steps 200 <'$TMP/prior.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"

# Reproducibility: batch split and thread count do not change a sample.
dm-denoise -m gaussian:0.5:0.3 --sampler pc --steps 50 --seed 9 <"$TMP/prior.dm" | dm-encode -f csv >"$TMP/a.csv"
dm-denoise -m gaussian:0.5:0.3 --sampler pc --steps 50 --seed 9 <"$TMP/prior300.dm" | dm-encode -f csv >"$TMP/b.csv"
same_file "batch split gives the same samples" "$TMP/a.csv" "$TMP/b.csv"
dm-noise --prior --shape 400x2 --count 600 --first-index 400 --seed 3 \
	| dm-denoise -m gaussian:0.5:0.3 --sampler pc --steps 50 --seed 9 | dm-encode -f csv >"$TMP/c.csv"
tail -n 600 "$TMP/a.csv" >"$TMP/a2.csv"
same_file "a split by --first-index (another machine) gives the same samples" "$TMP/a2.csv" "$TMP/c.csv"
OMP_NUM_THREADS=1 dm-denoise -m gaussian:0.5:0.3 --sampler ddpm --steps 50 --seed 9 <"$TMP/prior.dm" >"$TMP/t1.dm"
OMP_NUM_THREADS=2 dm-denoise -m gaussian:0.5:0.3 --sampler ddpm --steps 50 --seed 9 <"$TMP/prior.dm" >"$TMP/t2.dm"
same_file "1 or 2 threads give the same stream" "$TMP/t1.dm" "$TMP/t2.dm"
check "another seed gives other samples" \
	"dm-denoise -m gaussian:0.5:0.3 --sampler ddpm --steps 50 --seed 10 <'$TMP/prior.dm' >'$TMP/t3.dm' && ! cmp -s '$TMP/t3.dm' '$TMP/t1.dm'"

# Trajectories: --every 10 of 50 steps emits steps 0,10,20,30,40,49 + final.
check "--every emits x and x0 tagged with t and step" \
	"dm-denoise -m gaussian:0.5:0.3 --sampler ddim --steps 50 --every 10 <'$TMP/prior.dm' | dm-info >'$TMP/i' \
	 && test \$(grep -c '^frame' '$TMP/i') -eq 7 && grep -q 'step=49' '$TMP/i' \
	 && test \$(grep -c '^  x0 ' '$TMP/i') -eq 6 && grep -q 'final=1' '$TMP/i'"
check "--x0 emits predictions as x" \
	"dm-denoise -m gaussian:0.5:0.3 --sampler ddim --steps 20 --every 5 --x0 <'$TMP/prior.dm' | dm-info | grep -c '^  x0 ' | grep -qx 0"

# Encoding then decoding (probability-flow ODE, Heun 50) returns the data:
# RMS error below 0.002 for N(0.5, 0.3^2) data.
dm-denoise -m gaussian:0.5:0.3 --sampler ddpm --seed 2 <"$TMP/prior.dm" >"$TMP/data.dm"
dm-denoise -m gaussian:0.5:0.3 --sampler ode --encode <"$TMP/data.dm" >"$TMP/enc.dm"
dm-denoise -m gaussian:0.5:0.3 --sampler ode <"$TMP/enc.dm" | dm-encode -f csv | tr ',' '\n' >"$TMP/dec.txt"
dm-encode -f csv <"$TMP/data.dm" | tr ',' '\n' >"$TMP/orig.txt"
check "encode -> decode returns the data (rms < 0.002)" \
	"paste '$TMP/orig.txt' '$TMP/dec.txt' | awk '{d = \$1 - \$2; s += d * d; n++} END {exit !(sqrt(s / n) < 0.002)}'"
check "encoded data look like the prior" "$near '$TMP/enc.dm' 0 1 0.06"

# SDEdit and noisy-image starts.
check "--from-t with --sdedit" \
	"dm-denoise -m gaussian:0.5:0.3 --sampler ddim --from-t 500 --sdedit --steps 25 <'$TMP/data.dm' >'$TMP/o.dm' && $near '$TMP/o.dm' 0.5 0.3 0.03"
check "--from-sigma on data plus noise of std 0.5" \
	"dm-noise --sigma 0.5 --schedule edm <'$TMP/data.dm' | dm-denoise -m gaussian:0.5:0.3 --sampler heun --from-sigma 0.5 >'$TMP/o.dm' \
	 && $near '$TMP/o.dm' 0.5 0.3 0.03"

check "a frame of dm-noise --t 300 starts at t = 300" \
	"dm-noise --t 300 <'$TMP/data.dm' | dm-denoise -m gaussian:0.5:0.3 --sampler ddim --steps 20 -v 2>'$TMP/v' >'$TMP/o.dm' \
	 && grep -q ' 20.0 network evaluations' '$TMP/v' && $near '$TMP/o.dm' 0.5 0.3 0.03"

# Errors: one line, exit 1.
expect_fail "no model" "^dm-denoise: no model" "dm-denoise <'$TMP/prior.dm'"
expect_fail "unknown sampler" "^dm-denoise: --sampler: unknown 'x'" \
	"dm-denoise -m gaussian:0:1 --sampler x <'$TMP/prior.dm'"
expect_fail "bad gaussian spec" "^dm-denoise: gaussian:0: expected" "dm-denoise -m gaussian:0 <'$TMP/prior.dm'"
expect_fail "missing checkpoint" "^dm-denoise: .*nonexistent" "dm-denoise -m '$TMP/nonexistent.dmt' <'$TMP/prior.dm'"
expect_fail "--encode with ddpm" "deterministic" "dm-denoise -m gaussian:0:1 --encode <'$TMP/prior.dm'"
expect_fail "rk45 refuses --every" "rk45 has no fixed grid" \
	"dm-denoise -m gaussian:0:1 --sampler rk45 --every 2 <'$TMP/prior.dm'"
expect_fail "guidance without labels" "needs labels" \
	"dm-denoise -m gaussian:0:1 --guidance 3 <'$TMP/prior.dm'"
head -c 300 "$TMP/prior.dm" >"$TMP/trunc.dm"
expect_fail "truncated input" "^dm-denoise: stdin: " "dm-denoise -m gaussian:0:1 <'$TMP/trunc.dm'"
check "-o writes the file" \
	"dm-denoise -m gaussian:0:1 --sampler ddim --steps 5 -o '$TMP/out.dm' <'$TMP/prior.dm' && dm-info -q '$TMP/out.dm'"
check "-o leaves no file behind on an error" \
	"! dm-denoise -m gaussian:0:1 -o '$TMP/none.dm' <'$TMP/trunc.dm' 2>/dev/null && ! ls '$TMP' | grep -q none"
check "quiet exit on a closed pipe" \
	"dm-noise --prior --shape 4000x16 | dm-denoise -m gaussian:0:1 --sampler ddim --steps 5 --every 1 | head -c 10 >/dev/null"

# Restoration on images: a 3x8x8 gaussian "image" with its left half known.
if command -v python3 >/dev/null 2>&1; then
	python3 - "$TMP/mask.png" <<'EOF'
import struct, sys, zlib
w = h = 8
raw = b''.join(b'\0' + bytes(255 if x < 4 else 0 for x in range(w)) for y in range(h))
def chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)) \
    + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
open(sys.argv[1], 'wb').write(png)
EOF
	dm-noise --prior --shape 50x3x8x8 --seed 4 | dm-denoise -m gaussian:-0.2:0.1 --sampler ddpm --steps 100 >"$TMP/img.dm"
	for r in "--mask $TMP/mask.png --resample 2" "--restore mask:$TMP/mask.png" "--restore sr:2" "--restore gray"; do
		check "restoration $r runs and keeps the shape" \
			"dm-denoise -m gaussian:0.5:0.3 --sampler ddim $r <'$TMP/img.dm' | dm-info | grep -q 'x  *f32  *50x3x8x8'"
	done
	check "inpainting keeps the known half exactly" \
		"dm-denoise -m gaussian:0.5:0.3 --sampler ddim --restore mask:$TMP/mask.png <'$TMP/img.dm' | dm-encode -f csv -t x >'$TMP/r.csv' \
		 && dm-encode -f csv <'$TMP/img.dm' >'$TMP/y.csv' \
		 && paste -d, '$TMP/y.csv' '$TMP/r.csv' | awk -F, '{n = NF / 2; for (i = 1; i <= n; i++) { j = (i - 1) % 8;
		      d = \$i - \$(i + n); if (d < 0) d = -d; if (j < 4 && d > 1e-5) exit 1 } }'"
else
	skip "restoration" "python3 not found (writes the mask PNG)"
fi

# A tiny trained mlp-2d: every sampler runs end to end on a checkpoint.
if dm-load toy:moons --batch 128 --epochs 0 2>/dev/null | dm-noise --train | \
	dm-train --model mlp-2d --steps 30 -o "$TMP/m.dmt" 2>/dev/null; then
	dm-noise --prior --shape 64x2 >"$TMP/p2.dm"
	for s in ddpm ddim euler-maruyama pc ode rk45 dpm++2m euler heun; do
		check "checkpoint: $s" \
			"dm-denoise -m '$TMP/m.dmt' --sampler $s --steps 10 <'$TMP/p2.dm' | dm-info | grep -q 'x  *f32  *64x2'"
	done
	if dm-load toy:8gaussians --batch 128 --epochs 0 2>/dev/null | dm-noise --train | \
		dm-train --model mlp-2d --classes 8 --steps 20 -o "$TMP/c.dmt" 2>/dev/null; then
		check "checkpoint: classifier-free guidance evaluates twice" \
			"dm-denoise -m '$TMP/c.dmt' --sampler dpm++2m --label 3 --guidance 2 -v <'$TMP/p2.dm' 2>'$TMP/v' >/dev/null \
			 && grep -q ' 40.0 network evaluations' '$TMP/v'"
		expect_fail "checkpoint: label out of range" "classes 0..7" \
			"dm-denoise -m '$TMP/c.dmt' --label 8 <'$TMP/p2.dm'"
	fi
	expect_fail "checkpoint: wrong sample size" "wants 2" \
		"dm-noise --prior --shape 4x3 | dm-denoise -m '$TMP/m.dmt'"
else
	skip "checkpoint samplers" "could not train a tiny mlp-2d"
fi

# A tiny unet checkpoint: restoration from measurement-sized inputs (a
# 4x4 image for sr:2 of 8x8 samples, a gray image for gray).
dm-noise --prior --shape 8x3x8x8 --seed 1 >"$TMP/img8.dm"
if dm-noise --train <"$TMP/img8.dm" | dm-train --model unet --ch 8 --ch-mult 1,2 --res-blocks 1 \
	--attn none --groups 4 --steps 2 --batch 8 -o "$TMP/u.dmt" 2>/dev/null; then
	check "checkpoint: --restore sr:2 from a 4x4 input gives 8x8 samples" \
		"dm-noise --prior --shape 2x3x4x4 | dm-denoise -m '$TMP/u.dmt' --sampler ddim --steps 3 --restore sr:2 \
		 | dm-info | grep -q 'x  *f32  *2x3x8x8'"
	check "checkpoint: --restore gray from a 1-channel input gives RGB" \
		"dm-noise --prior --shape 2x1x8x8 | dm-denoise -m '$TMP/u.dmt' --sampler ddim --steps 3 --restore gray \
		 | dm-info | grep -q 'x  *f32  *2x3x8x8'"
	expect_fail "checkpoint: a measurement of the wrong size" "wants 192" \
		"dm-noise --prior --shape 2x1x4x4 | dm-denoise -m '$TMP/u.dmt' --restore gray"
else
	skip "unet restoration" "could not train a tiny unet"
fi

# Image checkpoints (training data of range -1:1) clip x0^ by default: an
# untrained network's x0^ at high noise is far outside the data range.
dm-load fashion-mnist:test --limit 8 --batch 8 | dm-noise --train --seed 2 \
	| dm-train --model unet --ch 8 --ch-mult 1,2 --res-blocks 1 --attn none --groups 4 \
		--steps 1 --batch 8 -q -o "$TMP/img.dmt"
check "image checkpoint records range=-1:1" "dm-info --summary '$TMP/img.dmt' | grep -q 'range=-1:1'"
dm-noise --prior --shape 4x1x28x28 --seed 3 | dm-denoise -m "$TMP/img.dmt" --sampler ddim --steps 5 >"$TMP/clip.dm"
dm-noise --prior --shape 4x1x28x28 --seed 3 | dm-denoise -m "$TMP/img.dmt" --sampler ddim --steps 5 --no-clip >"$TMP/noclip.dm"
maxabs() { dm-encode -f csv "$1" | tr ',' '\n' | awk '{ v = $1 < 0 ? -$1 : $1; if (v > m) m = v } END { print m }'; }
mc=$(maxabs "$TMP/clip.dm"); mn=$(maxabs "$TMP/noclip.dm")
if awk -v a="$mc" -v b="$mn" 'BEGIN { exit !(a <= 1.000001 && b > 1.5) }'; then
	pass "image checkpoint: samples clipped to [-1,1] by default ($mc), not with --no-clip ($mn)"
else
	fail "default clip" "max |x| with default $mc, with --no-clip $mn"
fi

# The clip follows the range the data really has: images loaded with
# --scale 2 lie in [-2, 2] (range=-2:2), and clipping them to [-1, 1] would
# squash every sample (the swiss-roll-as-a-square bug of dm-load --scale).
dm-load fashion-mnist:test --limit 8 --batch 8 --scale 2 | dm-noise --train --seed 2 \
	| dm-train --model unet --ch 8 --ch-mult 1,2 --res-blocks 1 --attn none --groups 4 \
		--steps 1 --batch 8 -q -o "$TMP/img2.dmt"
check "--scale 2 image checkpoint records range=-2:2" "dm-info --summary '$TMP/img2.dmt' | grep -q 'range=-2:2'"
dm-noise --prior --shape 4x1x28x28 --seed 3 | dm-denoise -m "$TMP/img2.dmt" --sampler ddim --steps 5 >"$TMP/clip2.dm"
mc2=$(maxabs "$TMP/clip2.dm")
if awk -v a="$mc2" 'BEGIN { exit !(a <= 2.000001 && a > 1.5) }'; then
	pass "range=-2:2 checkpoint: samples clipped to [-2,2], not [-1,1] (max |x| $mc2)"
else
	fail "clip follows range" "max |x| $mc2, wanted in (1.5, 2]"
fi

# a failing run leaves no file: the header has schedule=linear, the first
# frame no tensor x (this used to leave out.dms.tmp.<pid>)
python3 "$HERE/tests/tools/mkstream.py" --frames 2 --shape 2x2 --meta schedule=linear --name y >"$TMP/nox.dms"
leaves_nothing "a failing run leaves no file" "dm-denoise -m gaussian:0:1 -o out.dms '$TMP/nox.dms'"
# options are judged before the first frame: the option's error, not the
# frame's (that stream's first frame has no x)
expect_fail "bad option before the first frame" "^dm-denoise: --eta must be in" "dm-denoise -m gaussian:0:1 --sampler ddim --eta 2 '$TMP/nox.dms'"
expect_fail "a grid that cannot be, before the first frame" "^dm-denoise: --steps 900 is more than" "dm-denoise -m gaussian:0:1 --from-t 500 -n 900 '$TMP/nox.dms'"
# leading and trailing grids start at the top: no silent linspace instead
expect_fail "trailing with --from-t" "^dm-denoise: --spacing trailing starts at the top" "dm-denoise -m gaussian:0:1 --sampler ddim --spacing trailing --from-t 500 <'$TMP/prior.dm'"

# Dynamic thresholding (Imagen): x0^ of data N(0, 3^2) is rescaled into
# [-1, 1] per sample rather than piled on the bounds: every value within
# [-1, 1], and far fewer at the bounds than with --clip (measured 25% vs
# 73%).  --keep-eps changes the trajectory but not the clipped range.
bound_frac() { dm-encode -f csv "$1" | tr ',' '\n' | awk '{ v = $1 < 0 ? -$1 : $1; if (v > m) m = v; if (v > 0.9999) e++; n++ }
	END { printf "%.6f %.4f\n", m, e / n }'; }
dm-noise --prior --shape 2000x4 --seed 3 | dm-denoise -m gaussian:0:3 --sampler ddim -n 20 --clip -o "$TMP/dc.dm"
dm-noise --prior --shape 2000x4 --seed 3 | dm-denoise -m gaussian:0:3 --sampler ddim -n 20 --dynamic-threshold 0.995 -o "$TMP/dt.dm"
dm-noise --prior --shape 2000x4 --seed 3 | dm-denoise -m gaussian:0:3 --sampler ddim -n 20 --clip --keep-eps -o "$TMP/dk.dm"
set -- $(bound_frac "$TMP/dc.dm") $(bound_frac "$TMP/dt.dm") $(bound_frac "$TMP/dk.dm")
if awk -v cm="$1" -v cf="$2" -v tm="$3" -v tf="$4" -v km="$5" 'BEGIN { exit !(cm <= 1 && tm <= 1 && km <= 1 && tf < 0.5 * cf) }'; then
	pass "--dynamic-threshold keeps x0 in range with fewer values on the bounds ($4 vs --clip $2)"
else
	fail "--dynamic-threshold" "max/bound fraction: clip $1 $2, dynamic $3 $4, keep-eps $5 $6"
fi
if cmp -s "$TMP/dc.dm" "$TMP/dk.dm"; then
	fail "--keep-eps" "the same samples as recomputing eps from the clipped x0"
else
	pass "--keep-eps changes the trajectory"
fi
expect_fail "--dynamic-threshold must be a quantile" "dynamic-threshold.*quantile" \
	"dm-noise --prior --shape 2x2 | dm-denoise -m gaussian:0:1 --dynamic-threshold 2"

# DPS (--restore lowlight/blur --dps) and GDP (--gdp).  The measurements
# come from pipelines/degrade.py, an independent Python twin of
# lib/diffusion/degrade.c.
DEG="python3 $HERE/pipelines/degrade.py"
psnr() { dm-score --psnr "$1" "$2"; }
# Truth from N(0, 0.3^2) measured through lowlight 0.5:2 without noise:
# invertible on [-1, 1], so posterior sampling must land near the truth
# (unit test_degrade.c derives it): PSNR at least 10 dB above an unguided
# sample's (about 15 dB: RMS distance sqrt(2) 0.3); measured 35 dB.
dm-noise --prior --shape 16x1x28x28 --seed 4 | dm-denoise -m gaussian:0:0.3 --sampler ddim -n 20 -o "$TMP/g.dm"
$DEG --measure lowlight:0.5:2 "$TMP/g.dm" "$TMP/gy.dm"
dm-noise --prior --shape 16x1x28x28 --seed 9 | dm-denoise -m gaussian:0:0.3 -S linear --sampler ddpm -n 100 -o "$TMP/gu.dm"
dm-denoise -m gaussian:0:0.3 --restore lowlight:0.5:2 --dps 3 --sampler ddpm -n 100 -o "$TMP/gd.dm" "$TMP/gy.dm"
pu=$(psnr "$TMP/gu.dm" "$TMP/g.dm"); pd=$(psnr "$TMP/gd.dm" "$TMP/g.dm")
if awk -v u="$pu" -v d="$pd" 'BEGIN { exit !(u > 13 && u < 17 && d > u + 10) }'; then
	pass "--dps on lowlight:0.5:2 (gaussian): $pd dB vs unguided $pu dB"
else
	fail "--dps lowlight" "PSNR $pd dB, unguided $pu dB"
fi
# GDP: the gain estimated from guesses 2x too high and 2x too low lands
# within 10% of 0.5 (measured 0.486 from both).
for g0 in 1 0.25; do
	check "--gdp gain from $g0 lands near the true 0.5" \
		"dm-denoise -m gaussian:0:0.3 --restore lowlight:$g0:2 --dps 3 --gdp gain --sampler ddpm -n 100 '$TMP/gy.dm' \
		 | dm-encode -f csv -t gdp | awk -F, '{ a += \$1; if (\$2 != 2) exit 1; n++ } END { g = a / n; exit !(n == 16 && g > 0.45 && g < 0.55) }'"
done
# blur: the restored image is consistent with the measurement, A x near y
# (measured 37 dB), where an unguided sample is not: blur:1 keeps sum k^2
# = 1/(4 pi) of the variance 2 0.3^2 of x - x*, RMS 0.12, 24 dB.
$DEG --measure blur:1 "$TMP/g.dm" "$TMP/gb.dm"
dm-denoise -m gaussian:0:0.3 --restore blur:1 --dps 2 --sampler ddpm -n 100 -o "$TMP/gbd.dm" "$TMP/gb.dm"
$DEG --measure blur:1 "$TMP/gbd.dm" "$TMP/gbd_a.dm"
$DEG --measure blur:1 "$TMP/gu.dm" "$TMP/gu_a.dm"
pc=$(psnr "$TMP/gbd_a.dm" "$TMP/gb.dm"); pu=$(psnr "$TMP/gu_a.dm" "$TMP/gb.dm")
if awk -v c="$pc" -v u="$pu" 'BEGIN { exit !(u > 22 && u < 27 && c > u + 8) }'; then
	pass "--dps on blur:1: A(x) matches y at $pc dB (unguided $pu dB)"
else
	fail "--dps blur" "A(x) vs y $pc dB, unguided $pu dB"
fi
expect_fail "--restore lowlight needs --dps" "give --dps ZETA" "dm-denoise -m gaussian:0:0.3 --restore lowlight:0.5:2 '$TMP/gy.dm'"
expect_fail "--dps needs a degradation" "dps needs a degradation" "dm-denoise -m gaussian:0:0.3 --dps 1 '$TMP/gy.dm'"
expect_fail "--dps needs ddpm or ddim" "needs ddpm or ddim, not heun" "dm-denoise -m gaussian:0:0.3 --sampler heun --restore blur:1 --dps 1 '$TMP/gy.dm'"
expect_fail "--dps must not be negative" "dps must be a step size" "dm-denoise -m gaussian:0:0.3 --restore blur:1 --dps -1 '$TMP/gy.dm'"
expect_fail "--restore lowlight with a bad gamma" "0.1 <= GAMMA <= 10" "dm-denoise -m gaussian:0:0.3 --restore lowlight:0.5:50 --dps 1 '$TMP/gy.dm'"
expect_fail "--gdp of blur" "cannot be estimated" "dm-denoise -m gaussian:0:0.3 --restore blur:1 --dps 1 --gdp all '$TMP/gy.dm'"
expect_fail "--gdp of an unknown parameter" "'exposure' is not a parameter" "dm-denoise -m gaussian:0:0.3 --restore lowlight:1:1 --dps 1 --gdp gain,exposure '$TMP/gy.dm'"

# A tiny trained model (an mlp on 8x8 ramps of random brightness, 300
# steps): DPS from a noisy low-light measurement beats both the
# measurement and an unguided sample (measured 21.6 dB vs 10.5 and 15).
python3 - "$TMP/ramps.npy" <<'EOF2'
import random, struct, sys
r = random.Random(3)
v = []
for n in range(1024):
    b = r.uniform(0.3, 1.0)
    v += [-1 + 2 * b * (j / 7.0) for i in range(8) for j in range(8)]
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (1024, 1, 8, 8), }"
h += ' ' * (118 - len(h)) + '\n'
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode()
                              + struct.pack('<%df' % len(v), *v))
EOF2
if dm-load "$TMP/ramps.npy" --range -1:1 --batch 64 --shuffle --epochs 0 --seed 1 | dm-noise --train --seed 2 \
	| dm-train --model mlp --hidden 128 --layers 2 --steps 300 --batch 64 -q -o "$TMP/ramp.dmt"; then
	dm-load "$TMP/ramps.npy" --limit 16 --batch 16 -o "$TMP/r.dm"
	$DEG --measure lowlight:0.3:2:0.02 "$TMP/r.dm" "$TMP/ry.dm"
	dm-noise --prior --shape 16x1x8x8 --seed 5 | dm-denoise -m "$TMP/ramp.dmt" --sampler ddpm -n 20 -o "$TMP/ru.dm"
	dm-denoise -m "$TMP/ramp.dmt" --restore lowlight:0.3:2 --dps 3 --sampler ddpm -n 20 --seed 1 -o "$TMP/rd.dm" "$TMP/ry.dm"
	py=$(psnr "$TMP/ry.dm" "$TMP/r.dm"); pu=$(psnr "$TMP/ru.dm" "$TMP/r.dm"); pd=$(psnr "$TMP/rd.dm" "$TMP/r.dm")
	if awk -v y="$py" -v u="$pu" -v d="$pd" 'BEGIN { exit !(d > y + 3 && d > u + 3) }'; then
		pass "trained model: --dps $pd dB beats the measurement ($py) and an unguided sample ($pu)"
	else
		fail "trained --dps" "PSNR $pd dB, measurement $py, unguided $pu"
	fi
else
	fail "trained --dps" "could not train the tiny mlp"
fi

# Classifier guidance (--classifier): on 8x8 ramps rising (class 0) or
# falling (class 1), an unconditional mlp, a classifier trained on noisy
# states (dm-noise --train) and one on clean images.  The clean one's
# accuracy on the samples (labelled with --class) is the fraction guided
# into class 1: about one half unguided (the data are half each: 0.5 +-
# 0.1 at 3 sigma for 256 samples), rising with the scale (measured 0.55,
# 0.83, 0.98 at S = 0, 1, 3 with ddpm, 30 steps).
R="python3 $HERE/tests/tools/ramps.py"
$R "$TMP/ru.dm" 12800 1 0; $R "$TMP/rl.dm" 12800 2 1
if dm-noise --train --seed 2 <"$TMP/ru.dm" | dm-train --model mlp --hidden 128 --layers 2 --steps 200 --batch 64 -q -o "$TMP/rmlp.dmt" \
	&& dm-noise --train --seed 3 <"$TMP/rl.dm" | dm-train --model classifier --ch 8 --ch-mult 1,2 --groups 4 --classes 2 \
		--steps 200 --batch 64 -q -o "$TMP/rnoisy.dmt" \
	&& dm-train --model classifier --ch 8 --ch-mult 1,2 --groups 4 --classes 2 --steps 100 --batch 64 -q \
		-o "$TMP/rclean.dmt" <"$TMP/rl.dm"; then
	# guided GUIDE NAME: class-1 accuracy at scales 0, 1, 3 within the bounds
	acc() { dm-noise --prior --shape 256x1x8x8 --seed 3 | dm-denoise -m "$TMP/rmlp.dmt" --sampler ddpm -n 30 \
		--classifier "$1" --class 1 --classifier-scale "$2" | dm-score --accuracy -m "$TMP/rclean.dmt" - \
		| awk '{ print $2 }'; }
	guided() {
		a0=$(acc "$1" 0); a1=$(acc "$1" 1); a3=$(acc "$1" 3)
		if awk -v a="$a0" -v b="$a1" -v c="$a3" \
			'BEGIN { exit !(a > 0.4 && a < 0.6 && b > a + 0.15 && c > b && c > 0.9) }'; then
			pass "$2: class-1 accuracy $a0 $a1 $a3 at scales 0 1 3"
		else
			fail "$2" "class-1 accuracy $a0 $a1 $a3 at scales 0 1 3"
		fi
	}
	guided "$TMP/rnoisy.dmt" "classifier guidance"
	# the same with a classifier told t (--temb): the same bounds
	if dm-noise --train --seed 3 <"$TMP/rl.dm" | dm-train --model classifier --ch 8 --ch-mult 1,2 --groups 4 --classes 2 \
		--temb 16 --steps 200 --batch 64 -q -o "$TMP/rnoisyt.dmt"; then
		guided "$TMP/rnoisyt.dmt" "classifier guidance told t"
	else
		fail "classifier guidance told t" "could not train the classifier"
	fi
	expect_fail "--classifier must be a classifier" "not a classifier" \
		"dm-noise --prior --shape 2x1x8x8 | dm-denoise -m '$TMP/rmlp.dmt' --classifier '$TMP/rmlp.dmt'"
	expect_fail "--class out of range" "tells apart classes 0..1" \
		"dm-noise --prior --shape 2x1x8x8 | dm-denoise -m '$TMP/rmlp.dmt' --classifier '$TMP/rnoisy.dmt' --class 2"
	expect_fail "--class without --classifier" "goes with --classifier" \
		"dm-noise --prior --shape 2x1x8x8 | dm-denoise -m '$TMP/rmlp.dmt' --class 1"
else
	fail "classifier guidance" "could not train the tiny models"
fi

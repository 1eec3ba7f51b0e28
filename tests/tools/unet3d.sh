#!/bin/sh
# tests/tools/unet3d.sh - the video model end to end: dm-noise --train on
# 5-D clips, dm-train --model unet3d a few steps (the loss falls), dm-denoise
# samples clips from the checkpoint (shape, range, finite), and the errors
# for clips given to an image model and images given to unet3d.
. tests/tools/lib.sh
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

# 50 frames of 8 clips 1 x 4 x 8 x 8: a blob moving a pixel a frame
$PY $HERE/tests/tools/mkclips.py 50 8 4 8 >"$TMP/clips.dms"
U3D="-m unet3d --ch 8 --ch-mult 1,2 --groups 2 --attn 4 --res-blocks 1"
check "noise --train keeps the clips' shape" \
	"dm-noise --train --seed 2 $TMP/clips.dms | dm-info - | grep -q 'target   f32  8x1x4x8x8'"
dm-noise --train --seed 2 "$TMP/clips.dms" |
	dm-train $U3D -j 1 -b 8 -n 50 --warmup 5 --lr 2e-3 --log "$TMP/log.csv" -o "$TMP/u.dmt"
check "checkpoint names the clip shape" \
	"dm-info --summary $TMP/u.dmt | grep -q 'model=unet3d' && dm-info --summary $TMP/u.dmt | grep -q 'shape=1x4x8x8'"
# eps-prediction starts near loss 1 (the network's output is near 0 at
# init); on these clips it reaches ~0.1 within 50 steps: require the last
# 10 steps' mean below half the first 5 steps' mean
check "loss falls" "awk -F, 'NR >= 2 && NR <= 6 {a += \$2} NR >= 42 {b += \$2; n++}
	END {if (n != 10 || !(b / 10 < 0.5 * a / 5)) {print a / 5, b / 10; exit 1}}' $TMP/log.csv"

# two clips sampled from the checkpoint: shape N x C x T x H x W, finite,
# within the data's range -1:1 (the checkpoint's range, so clipped), and
# closer to the data's mean (-0.7) than the prior's (0)
dm-noise --prior --shape 2x1x4x8x8 --seed 1 |
	dm-denoise -m "$TMP/u.dmt" -j 1 --sampler ddim -n 20 >"$TMP/s.dms"
check "samples are 2 clips" "dm-info $TMP/s.dms | grep -q 'x        f32  2x1x4x8x8'"
check "samples finite, in range, near the data" "dm-encode -f csv <$TMP/s.dms | tr ',' '\n' |
	awk '{if (!(\$1 >= -1 && \$1 <= 1)) bad++; s += \$1; n++}
	     END {if (bad || n != 512 || !(s / n < -0.35)) {print bad, n, s / n; exit 1}}'"

# errors
python3 $HERE/tests/ref/mktrain.py 1 4 1x8x8 >"$TMP/img.dms"
expect_fail "images to unet3d" "unet3d needs clips" "dm-train $U3D -b 4 -o $TMP/x.dmt <$TMP/img.dms"
expect_fail "clips to unet" "clips: --model unet3d" \
	"dm-noise --train $TMP/clips.dms | dm-train -m unet --ch 8 --ch-mult 1,2 --groups 2 -b 8 -o $TMP/y.dmt"
check "no partial checkpoint" "test ! -e $TMP/x.dmt && test ! -e $TMP/y.dmt"
expect_fail "prior of the wrong shape" "model wants" \
	"dm-noise --prior --shape 2x1x8x8 | dm-denoise -m $TMP/u.dmt -n 2 --sampler ddim"
expect_fail "--conv3d is for unet3d" "--conv3d is a unet3d option" \
	"dm-train -m unet --conv3d -b 4 -o $TMP/z.dmt <$TMP/img.dms"
check "a --conv3d checkpoint records kt=3" "dm-noise --train $TMP/clips.dms | dm-train $U3D --conv3d -j 1 -b 8 -n 1 -o $TMP/c3.dmt && dm-info --summary $TMP/c3.dmt | grep -q 'kt=3'"

# watching a clip model learn: each --sample-every draw plays the sampled
# clips once (T video frames of the grid); PNG pictures are refused
dm-noise --train --seed 2 "$TMP/clips.dms" |
	dm-train $U3D -j 1 -b 8 -n 4 --sample-every 2 --sample-n 4 --sample-with ddim:2 \
	  --sample-out "$TMP/watch.gif" -q -o "$TMP/w.dmt"
check "watching clips: 2 draws of 4 frames" \
	"[ \"\$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 '$TMP/watch.gif')\" = 8 ]"
expect_fail "watching clips as PNG" "clips are watched as a video" \
	"dm-noise --train $TMP/clips.dms | dm-train $U3D -b 8 -n 2 --sample-every 1 --sample-out '$TMP/w_%04d.png' -o $TMP/w2.dmt"

# a still image animated: --given first:1 on images for a clip model gives
# clips whose first frame is the image, bit for bit
dm-noise --prior --shape 2x1x8x8 --seed 5 >"$TMP/stills.dms"
dm-denoise -m "$TMP/u.dmt" --given first:1 --sampler ddim --steps 5 <"$TMP/stills.dms" >"$TMP/anim.dms"
check "given still: clips out" "dm-info $TMP/anim.dms | grep -q 'x  *f32  2x1x4x8x8 '"
dm-encode -o "$TMP/stills.npy" <"$TMP/stills.dms"
dm-encode -o "$TMP/anim.npy" <"$TMP/anim.dms"
check "given still: the first frame is the image" \
	"$PY -c \"import numpy as np, sys; a = np.load('$TMP/stills.npy'); b = np.load('$TMP/anim.npy'); sys.exit(0 if np.array_equal(a, b[:, :, 0]) else 1)\""

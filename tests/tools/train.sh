#!/bin/sh
# tests/tools/train.sh - dm-train: options, parity with the PyTorch twin,
# resume bit-exactness, thread independence, broken checkpoints, errors.
. tests/tools/lib.sh
MK="python3 $HERE/tests/ref/mktrain.py"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

check "help" "dm-train --help | grep -q -- --resume"
check "version" "dm-train --version | grep -q dm-train"

# a fixed training stream (2-D) and a tiny image one
$MK 40 32 2 >"$TMP/d2.dms"
$MK 6 4 1x8x8 3 --labels 2 >"$TMP/img.dms"
UNET="-m unet --ch 8 --ch-mult 1,2 --groups 2 --attn 4 --res-blocks 1"

# parity with the PyTorch twin (tests/ref/parity.py states the tolerance)
check "parity mlp-2d" "dm-train -b 16 --dump-grads $TMP/p1.dms <$TMP/d2.dms && $PY $HERE/tests/ref/parity.py $TMP/p1.dms"
check "parity mlp with classes" "$MK 1 16 2 --labels 3 | dm-train -b 16 --hidden 32 --layers 2 --temb 16 --classes 3 --dump-grads $TMP/p2.dms && $PY $HERE/tests/ref/parity.py $TMP/p2.dms"
check "parity tiny unet with classes" "dm-train $UNET --classes 2 -b 4 --dump-grads $TMP/p3.dms <$TMP/img.dms && $PY $HERE/tests/ref/parity.py $TMP/p3.dms"
# unet3d on 1x4x8x8 clips: at init, and after 3 steps so that the frame-position biases are
# not zero
$MK 4 3 1x4x8x8 3 --labels 2 >"$TMP/clip.dms"
U3D="-m unet3d --ch 8 --ch-mult 1,2 --groups 2 --attn 4 --res-blocks 1 --classes 2"
check "parity tiny unet3d" "dm-train $U3D -b 3 --dump-grads $TMP/p4.dms <$TMP/clip.dms && $PY $HERE/tests/ref/parity.py $TMP/p4.dms"
check "parity tiny unet3d trained" "dm-train $U3D -b 3 -n 3 --lr 0.05 --warmup 0 -o $TMP/u3.dmt <$TMP/clip.dms && dm-train --resume $TMP/u3.dmt -n 4 --dump-grads $TMP/p5.dms <$TMP/clip.dms && $PY $HERE/tests/ref/parity.py $TMP/p5.dms"
check "parity tiny unet3d, 3x3x3 convolutions" "dm-train $U3D --conv3d -b 3 -n 2 --lr 0.05 --warmup 0 -o $TMP/u3c.dmt <$TMP/clip.dms && dm-train --resume $TMP/u3c.dmt -n 3 --dump-grads $TMP/p6.dms <$TMP/clip.dms && $PY $HERE/tests/ref/parity.py $TMP/p6.dms"

# the classifier (the feature network of dm-score and the guide of
# dm-denoise --classifier) against its twin, softmax cross-entropy on the
# labels: at init, and trained 3 steps with a stride-1 extra conv per level
CLS="-m classifier --ch 8 --ch-mult 1,2 --groups 4"
check "parity tiny classifier" "dm-train $CLS -b 4 --dump-grads $TMP/p7.dms <$TMP/img.dms && $PY $HERE/tests/ref/parity.py $TMP/p7.dms"
check "parity tiny classifier trained, res-blocks 1" "dm-train $CLS --res-blocks 1 -b 4 -n 3 --lr 0.05 --warmup 0 -o $TMP/c3.dmt <$TMP/img.dms && dm-train --resume $TMP/c3.dmt -n 4 --dump-grads $TMP/p8.dms <$TMP/img.dms && $PY $HERE/tests/ref/parity.py $TMP/p8.dms"
# noise-conditioned (--temb: the guide of dm-denoise --classifier), on the
# training stream's x_t and t, trained 3 steps so the time path is not at init
check "parity tiny noise-conditioned classifier trained" "dm-train $CLS --temb 16 -b 4 -n 3 --lr 0.05 --warmup 0 -o $TMP/c4.dmt <$TMP/img.dms && dm-train --resume $TMP/c4.dmt -n 4 --dump-grads $TMP/p9.dms <$TMP/img.dms && $PY $HERE/tests/ref/parity.py $TMP/p9.dms && $PY -c 'import sys; sys.path.insert(0, \"$HERE/tests/ref\"); from dmstream import read_stream; m, f = read_stream(open(\"$TMP/p9.dms\", \"rb\")); t = f[0][1][\"t\"][2]; sys.exit(len(set(t)) < 2)'"
check "a noise-conditioned classifier's checkpoint keeps temb" "dm-info $TMP/c4.dmt | grep -q 'temb=16'"
expect_fail classifier_hidden 'hidden and --layers are mlp options, not classifier' "dm-train $CLS --hidden 8 <$TMP/img.dms"

# training writes a checkpoint dm-info reads; the CSV log has a row per step
check "train mlp" "dm-train -n 20 -b 32 -o $TMP/m.dmt --log $TMP/log.csv <$TMP/d2.dms && dm-info -q $TMP/m.dmt"
check "log rows" "test \$(wc -l <$TMP/log.csv) -eq 21 && head -1 $TMP/log.csv | grep -q '^step,loss,lr,grad_norm,seconds$'"
check "checkpoint header" "dm-info --summary $TMP/m.dmt | grep -q 'schedule=linear' && dm-info --summary $TMP/m.dmt | grep -q 'step=20'"

# resume: N steps then M steps equals N+M steps in one run, byte for byte
OPTS="-b 24 --lr-decay cosine --decay-steps 30 --warmup 4 --ema 0.9 --seed 3 -j 1"
dm-train $OPTS -n 30 -o $TMP/full.dmt <$TMP/d2.dms
dm-train $OPTS -n 12 -o $TMP/part.dmt <$TMP/d2.dms
dm-train --resume $TMP/part.dmt -n 30 -j 1 <$TMP/d2.dms
same_file "resume 12+18 = 30 (mlp)" $TMP/full.dmt $TMP/part.dmt
dm-train $UNET --dropout 0.2 --classes 2 -b 5 -n 4 -j 1 -o $TMP/uf.dmt <$TMP/img.dms
dm-train $UNET --dropout 0.2 --classes 2 -b 5 -n 2 -j 1 -o $TMP/up.dmt <$TMP/img.dms
dm-train --resume $TMP/up.dmt -n 4 -j 1 <$TMP/img.dms
same_file "resume 2+2 = 4 (unet, dropout, labels)" $TMP/uf.dmt $TMP/up.dmt

# thread count does not change the checkpoint
dm-train $OPTS -n 10 -j 1 -o $TMP/t1.dmt <$TMP/d2.dms
dm-train $OPTS -n 10 -j 2 -o $TMP/t2.dmt <$TMP/d2.dms
same_file "1 vs 2 threads (mlp)" $TMP/t1.dmt $TMP/t2.dmt
dm-train $UNET -b 6 -n 2 -j 1 -o $TMP/u1.dmt <$TMP/img.dms
dm-train $UNET -b 6 -n 2 -j 2 -o $TMP/u2.dmt <$TMP/img.dms
same_file "1 vs 2 threads (unet)" $TMP/u1.dmt $TMP/u2.dmt

# grad accumulation of 2 x 12 runs
check "grad-accum" "dm-train -b 12 --grad-accum 2 -n 3 -o $TMP/ga.dmt <$TMP/d2.dms && dm-info --summary $TMP/ga.dmt | grep -q samples=72"

# broken checkpoints are refused with one line
head -c 3000 $TMP/m.dmt >$TMP/trunc.dmt
expect_fail "truncated checkpoint" "trunc.dmt" "dm-train --resume $TMP/trunc.dmt -n 30 <$TMP/d2.dms"
$PY -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[len(b)//2]^=1; open(sys.argv[2],'wb').write(b)" $TMP/m.dmt $TMP/flip.dmt
expect_fail "corrupt checkpoint" "CRC|crc" "dm-train --resume $TMP/flip.dmt -n 30 <$TMP/d2.dms"
# a checkpoint past --steps is refused, not trained on after skipping its
# samples of an endless stream (it used to spin there)
expect_fail "resume past --steps" "step 20, past --steps 5" "timeout 30 sh -c 'dm-load toy:8gaussians --batch 64 --epochs 0 | dm-noise --train | dm-train --resume $TMP/m.dmt -n 5'"
expect_fail "bad --ema before any input" "--ema" "dm-train --ema 1 </dev/null"
expect_fail "not a checkpoint" "not a dm-train checkpoint" "dm-train --resume $TMP/d2.dms <$TMP/d2.dms"

# input errors
expect_fail "unknown model" "unknown model" "dm-train -m resnet <$TMP/d2.dms"
expect_fail "unet on points" "needs images" "dm-train -m unet-s <$TMP/d2.dms"
expect_fail "not a training stream" "dm-noise --train" "dm-load toy:moons --n 64 | dm-train"
$PY - "$TMP/shape.dms" <<'PYEOF'
import sys; sys.path.insert(0, 'tests/ref'); from dmstream import write_stream
fr = lambda d: ([], [('x', 'f32', [2, d], [0.0] * 2 * d), ('t', 'f32', [2], [1.0, 2.0]), ('target', 'f32', [2, d], [0.0] * 2 * d)])
write_stream(open(sys.argv[1], 'wb'), [], [fr(2), fr(3)])
PYEOF
expect_fail "shape change" "shape 2x3 but the first frame.s samples are 2" "dm-train -b 4 <$TMP/shape.dms"
$PY - "$TMP/nan.dms" <<'PYEOF'
import sys; sys.path.insert(0, 'tests/ref'); from dmstream import write_stream
fr = lambda v: ([], [('x', 'f32', [4, 2], [0.5] * 8), ('t', 'f32', [4], [1.0] * 4), ('target', 'f32', [4, 2], [v] * 8)])
write_stream(open(sys.argv[1], 'wb'), [], [fr(0.0)] * 3 + [fr(float('nan'))])
PYEOF
cp $TMP/m.dmt $TMP/keep.dmt
expect_fail "NaN loss names the step" "step 4" "dm-train -b 4 --save-every 1 -o $TMP/keep.dmt <$TMP/nan.dms"
check "last good checkpoint kept" "dm-info --summary $TMP/keep.dmt | grep -q step=3"

# SIGTERM saves and exits 0
$MK 400 64 2 >$TMP/big.dms
dm-train -b 64 -o $TMP/sig.dmt -j 1 <$TMP/big.dms &
pid=$!
sleep 1
kill -TERM $pid
if wait $pid && dm-info -q $TMP/sig.dmt; then pass "SIGTERM saves"; else fail "SIGTERM saves" "exit or checkpoint"; fi

# the log is written as training goes (tail -f works), and --resume appends
dm-load toy:8gaussians --batch 64 --epochs 0 | dm-noise --train | dm-train -b 64 -j 1 -q -o $TMP/tail.dmt --log $TMP/tail.csv &
pid=$!
i=0
while [ $i -lt 50 ] && [ "$(cat $TMP/tail.csv 2>/dev/null | wc -l)" -lt 4 ]; do sleep 0.1; i=$((i + 1)); done
rows=$(wc -l <$TMP/tail.csv)
kill -TERM $pid
wait $pid
if [ "$rows" -ge 4 ]; then pass "log rows appear while training runs"; else fail "log as it goes" "$rows lines after ${i}00 ms"; fi
n=$(dm-info --summary $TMP/tail.dmt | sed -n 's/^ *step=//p')
check "resume appends to the log" "dm-load toy:8gaussians --batch 64 --epochs 0 | dm-noise --train | dm-train -j 1 -q --resume $TMP/tail.dmt -n \$(($n + 3)) --log $TMP/tail.csv && test \$(grep -c '^step' $TMP/tail.csv) -eq 1 && tail -1 $TMP/tail.csv | grep -q '^$(($n + 3)),'"

# the pipeline: 8 Gaussians, loss falls well below the untrained one
check "pipeline loss falls" "dm-load toy:8gaussians --batch 128 --epochs 0 | dm-noise --train --seed 2 | dm-train -n 300 -j 1 -b 128 --lr 1e-3 -o $TMP/g.dmt --log $TMP/g.csv && awk -F, 'NR>1&&NR<=21{a+=\$2} NR>281{b+=\$2} END{exit !(b/20 < 0.6*a/20)}' $TMP/g.csv"

# a failing run leaves no file (its temporary is removed on exit)
python3 "$HERE/tests/tools/mkstream.py" --frames 2 --shape 2x2 --meta schedule=linear --name y >"$TMP/nox.dms"
leaves_nothing "a failing run leaves no file" "dm-train -n 2 -o out.dmt <'$TMP/nox.dms'"

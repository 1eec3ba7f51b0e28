#!/bin/sh
# tests/tools/checkpoint.sh - checkpoints that are valid streams but not
# valid models: dm-train --resume and dm-denoise read them through one
# loader (models/checkpoint) and give one verdict, with one line each.
. tests/tools/lib.sh
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
ED="$PY $HERE/tests/tools/ckedit.py"

$PY $HERE/tests/ref/mktrain.py 40 32 2 >"$TMP/d2.dms"
dm-train -n 4 -b 16 -j 1 -q -o $TMP/m.dmt <$TMP/d2.dms
dm-noise --prior --shape 8x2 --seed 1 >$TMP/prior.dms
# the edit itself is harmless: an unedited rewrite still loads everywhere
$ED $TMP/m.dmt $TMP/same.dmt
check "rewritten checkpoint loads (denoise)" "dm-denoise -m $TMP/same.dmt --steps 3 <$TMP/prior.dms >/dev/null"
check "rewritten checkpoint loads (resume)" "dm-train --resume $TMP/same.dmt -n 5 -q -o $TMP/same2.dmt <$TMP/d2.dms"

# both tools refuse each damaged checkpoint with the same sentence
verdict() { # NAME RE FILE
	expect_fail "$1 (dm-denoise)" "$2" "dm-denoise -m $3 --steps 3 <$TMP/prior.dms >/dev/null"
	expect_fail "$1 (dm-denoise --raw)" "$2" "dm-denoise -m $3 --raw --steps 3 <$TMP/prior.dms >/dev/null"
	expect_fail "$1 (dm-train --resume)" "$2" "dm-train --resume $3 -n 9 -q -o $TMP/out.dmt <$TMP/d2.dms"
}
$ED $TMP/m.dmt $TMP/nan_w.dmt --nan weights:lin.0.weight
verdict "NaN weight" "nan_w.dmt: tensor lin.0.weight in the weights frame holds nan at element 0" $TMP/nan_w.dmt
$ED $TMP/m.dmt $TMP/nan_e.dmt --nan ema:lin.3.bias
verdict "NaN EMA weight" "nan_e.dmt: tensor lin.3.bias in the ema frame holds nan" $TMP/nan_e.dmt
$ED $TMP/m.dmt $TMP/nan_m.dmt --nan adam_v:lin.3.bias
verdict "NaN Adam moment" "nan_m.dmt: tensor lin.3.bias in the adam_v frame holds nan" $TMP/nan_m.dmt
$ED $TMP/m.dmt $TMP/extra_w.dmt --extra weights
verdict "extra tensor in weights" "extra_w.dmt: weights frame has [0-9]+ tensors, the model config needs" $TMP/extra_w.dmt
$ED $TMP/m.dmt $TMP/extra_e.dmt --extra ema
verdict "extra tensor in ema" "extra_e.dmt: ema frame has" $TMP/extra_e.dmt
$ED $TMP/m.dmt $TMP/nostate.dmt --frames 4
verdict "no state frame" "nostate.dmt: checkpoint ends before its state frame" $TMP/nostate.dmt
$ED $TMP/m.dmt $TMP/sched.dmt --set schedule=nope
verdict "schedule=nope" "sched.dmt: .*unknown schedule=nope" $TMP/sched.dmt
$ED $TMP/m.dmt $TMP/pred.dmt --set predict=banana
verdict "predict=banana" "pred.dmt: .*unknown predict=banana" $TMP/pred.dmt
$ED $TMP/m.dmt $TMP/T0.dmt --set T=0
verdict "T=0" "T0.dmt: .*T" $TMP/T0.dmt
$ED $TMP/m.dmt $TMP/shape.dmt --set hidden=8
verdict "config unlike the tensors" "shape.dmt: tensor lin.0.weight in the weights frame is f32 256x66, the config needs f32 8x66$" $TMP/shape.dmt
# a bias's shape is written as it is ([2] is "2", not "2x1")
$ED $TMP/m.dmt $TMP/rank.dmt --reshape weights:lin.3.bias:1x2
verdict "rank-1 tensor of another rank" "rank.dmt: tensor lin.3.bias in the weights frame is f32 1x2, the config needs f32 2$" $TMP/rank.dmt

# --resume goes on with the process the checkpoint learnt, or says why not
$PY $HERE/tests/ref/mktrain.py 40 32 2 >$TMP/d2.dms
$ED $TMP/d2.dms $TMP/cos.dms --set schedule=cosine
expect_fail "resume on another schedule" "m.dmt and the training stream .* differ in schedule \(linear vs cosine\)" "dm-train --resume $TMP/m.dmt -n 9 -q -o $TMP/out.dmt <$TMP/cos.dms"
$ED $TMP/d2.dms $TMP/v.dms --set predict=v
expect_fail "resume on another parametrisation" "differ in predict \(eps vs v\)" "dm-train --resume $TMP/m.dmt -n 9 -q -o $TMP/out.dmt <$TMP/v.dms"
$ED $TMP/d2.dms $TMP/T5.dms --set T=500
expect_fail "resume on another T" "differ in T \(1000 vs 500\)" "dm-train --resume $TMP/m.dmt -n 9 -q -o $TMP/out.dmt <$TMP/T5.dms"
# the same process spelt differently (a default left out) is the same
$ED $TMP/d2.dms $TMP/sp.dms --set beta_end=2e-2
check "resume on the same process spelt otherwise" "dm-train --resume $TMP/m.dmt -n 6 -q -o $TMP/out.dmt <$TMP/sp.dms"

# dm-denoise's output says which denoiser made it in denoiser=, and model=
# keeps its one meaning (a checkpoint's network family)
check "denoise output names denoiser=" "dm-denoise -m $TMP/m.dmt --steps 3 <$TMP/prior.dms | dm-info --summary - | grep -q '^  denoiser=$TMP/m.dmt\$'"
check "denoise output has no model=" "! dm-denoise -m $TMP/m.dmt --steps 3 <$TMP/prior.dms | dm-info --summary - | grep -q '^  model='"

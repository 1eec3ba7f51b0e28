#!/bin/sh
# tests/tools/weights.sh - dm-weights: a checkpoint's weights out as
# safetensors, read by a reader written from the safetensors specification
# (tests/ref/safetensors_check.py, numpy + json) and loaded into the
# PyTorch twin, whose output on dm's batch agrees to float32 rounding; and
# a twin's state_dict in, sampled and trained on by dm.
. tests/tools/lib.sh
PY=/usr/bin/python3
C=$HERE/tests/ref/safetensors_check.py
MK="$PY $HERE/tests/ref/mktrain.py"

check "help" "dm-weights --help | grep -q safetensors"
check "version" "dm-weights --version | grep -q dm-weights"
if ! $PY -c "import numpy, torch" 2>/dev/null; then
	skip "safetensors with the twin" "python3 with numpy and torch not installed"
	exit 0
fi

# unet-s, two training steps on a tiny 28x28 stream (labels: class-conditional)
$MK 4 2 1x28x28 >$TMP/img.dms
dm-train -m unet-s -b 2 -n 2 -j 1 -q -o $TMP/u.dmt <$TMP/img.dms
check "export (EMA)" "dm-weights -o $TMP/u.st $TMP/u.dmt && $PY $C read $TMP/u.st | grep -q '^metadata model=unet weights=ema'"
check "export (--raw)" "dm-weights --raw -o $TMP/ur.st $TMP/u.dmt && $PY $C read $TMP/ur.st | grep -q 'weights=raw'"
check "the spec reader finds every parameter" \
	"test \$($PY $C read $TMP/u.st | grep -vc '^metadata') -eq \$(dm-info $TMP/u.dmt | sed -n '/kind=weights/,/kind=ema/p' | grep -c ' f32 ')"
# dm's output on a batch with the raw weights (dm-train --dump-grads) against
# the twin loaded from the export
dm-train --resume $TMP/u.dmt -b 2 --dump-grads $TMP/dump.dms <$TMP/img.dms
check "unet-s export in the twin: outputs agree to float32 rounding" "$PY $C compare $TMP/ur.st $TMP/dump.dms"
# and the EMA weights are other weights: the same check must fail on them
check "the comparison can fail (EMA weights against the raw run)" "$PY $C compare $TMP/u.st $TMP/dump.dms | grep -q '^FAIL unet'"

# in: a freshly initialised twin (other weights) made into a checkpoint; a
# small unet with classes, to keep the suite fast
$MK 3 4 1x8x8 5 --labels 2 >$TMP/small.dms
dm-train -m unet --ch 8 --ch-mult 1,2 --groups 2 --attn 4 --res-blocks 1 --classes 2 -b 2 -n 1 -j 1 -q -o $TMP/s.dmt <$TMP/small.dms
dm-weights -o $TMP/s.st $TMP/s.dmt
$PY $C twin $TMP/s.st $TMP/tw.st 7
check "import a twin's state_dict" "dm-weights -o $TMP/tw.dmt $TMP/tw.st && dm-info -q $TMP/tw.dmt"
dm-train --resume $TMP/tw.dmt -b 2 --dump-grads $TMP/dump2.dms <$TMP/small.dms
check "the imported weights give the twin's outputs" "$PY $C compare $TMP/tw.st $TMP/dump2.dms"
check "dm-denoise samples the imported model" \
	"dm-noise --prior --shape 2x1x8x8 | dm-denoise -m $TMP/tw.dmt --steps 3 --label 1 | dm-info - | grep -q 'x  *f32  *2x1x8x8'"
check "dm-train goes on training it" "dm-train --resume $TMP/tw.dmt -b 2 -n 1 -q <$TMP/small.dms && dm-info --summary $TMP/tw.dmt | grep -q '^  step=1\$'"
check "export then import keeps the weights bit for bit" \
	"dm-weights -o $TMP/back.dmt $TMP/ur.st && dm-weights --raw -o $TMP/back.st $TMP/back.dmt && $PY $C read $TMP/back.st | grep -v '^metadata' >$TMP/a && $PY $C read $TMP/ur.st | grep -v '^metadata' >$TMP/b && cmp $TMP/a $TMP/b"

# refusals, one line each
$PY -c "
import sys; sys.path.insert(0, '$HERE/tests/ref'); import safetensors_check as s
meta, ts = s.read('$TMP/ur.st')
ts['stray'] = ts['conv_in.bias'][:1]
s.write('$TMP/extra.st', meta, ts)
del ts['stray']; ts['conv_in.bias'] = ts['conv_in.bias'].copy(); ts['conv_in.bias'][3] = float('nan')
s.write('$TMP/nan.st', meta, ts)
s.write('$TMP/nometa.st', {}, ts)
"
expect_fail "an extra tensor" "extra.st: weights frame has [0-9]+ tensors, the model config needs" "dm-weights -o $TMP/x.dmt $TMP/extra.st"
expect_fail "a NaN weight" "nan.st: tensor conv_in.bias in the weights frame holds nan at element 3" "dm-weights -o $TMP/x.dmt $TMP/nan.st"
expect_fail "no model config" "nometa.st: no model= in its __metadata__" "dm-weights -o $TMP/x.dmt $TMP/nometa.st"
check "nothing written on a refusal" "test ! -e $TMP/x.dmt"
expect_fail "neither format" "img.dms.*neither a dm checkpoint nor a safetensors file|not a dm-train checkpoint" "dm-weights -o $TMP/x.st $TMP/img.dms"
expect_fail "--raw on an import" "--raw is for exporting" "dm-weights --raw -o $TMP/x.dmt $TMP/tw.st"

#!/bin/sh
# tests/tools/mpi.sh - data-parallel dm-train under mpirun (issue 9):
#   2 ranks with per-rank batch B/2 match 1 rank with batch B (tolerance
#   below), reruns with the same rank count are byte-identical, and --resume
#   works with a different rank count.
# Tolerance: after 20 AdamW steps, every weight and EMA weight of the two
# runs differs by at most 1e-3 * lr * steps, a thousandth of the farthest
# AdamW can move a weight in those steps (|update| <~ lr per step).  What is
# left is float32 rounding: the 2-rank gradient sums each half of the batch
# and then adds the halves, the 1-rank one sums all at once.  One exception:
# the attention key biases (attn.*.k.bias) have a gradient that is exactly 0
# in exact arithmetic (softmax over keys ignores a shift q.b common to all
# keys), so theirs is pure rounding noise, which AdamW normalises into real
# steps; any two summation orders move them apart.  They get 1e-2 * lr *
# steps (seen: 1.9e-5 of 2e-4 on the tiny unet; everything else <= 3e-7).
# A build without MPI fails here when mpirun exists (CI installs Open MPI,
# so a silent pass would hide a broken build); without mpirun it skips.
. tests/tools/lib.sh
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

if ! dm-train --help | grep -q 'built with MPI'; then
	if OMPI_COMM_WORLD_SIZE=2 dm-train </dev/null 2>"$TMP/e"; then
		fail "no-MPI build refuses mpirun" "exit 0"
	elif grep -q 'built without MPI' "$TMP/e"; then
		pass "no-MPI build refuses to run as one of several ranks"
	else
		fail "no-MPI build refuses mpirun" "$(cat "$TMP/e")"
	fi
	if command -v mpirun >/dev/null; then
		fail "MPI build" "mpirun is installed but dm-train was built without MPI (pkg-config ompi-c; libopenmpi-dev?)"
	else
		skip "mpirun tests" "no mpirun and dm-train built without MPI"
	fi
	exit 0
fi
if ! command -v mpirun >/dev/null; then
	fail "mpirun" "dm-train was built with MPI but there is no mpirun (apt-get install openmpi-bin)"
	exit 0
fi

# loopback, any user, no shared-memory single-copy (containers forbid ptrace)
MPI="mpirun --oversubscribe --mca btl_vader_single_copy_mechanism none"
[ "$(id -u)" = 0 ] && MPI="$MPI --allow-run-as-root"
# Open MPI's own allocations at exit are not ours
ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0
export ASAN_OPTIONS
SHARD='--shard $OMPI_COMM_WORLD_RANK/$OMPI_COMM_WORLD_SIZE'

# compare the weights and EMA frames of two checkpoints within TOL, and
# their headers exactly (the checkpoint does not depend on the rank count)
close() {
	$PY - "$@" <<'PYEOF'
import sys
sys.path.insert(0, 'tests/ref')
from dmstream import read_stream
ma, fa = read_stream(open(sys.argv[1], 'rb'))
mb, fb = read_stream(open(sys.argv[2], 'rb'))
tol = float(sys.argv[3])
worst = kb = 0.0
for (ta, A), (tb, B) in zip(fa[:2], fb[:2]):
    assert ta == tb and set(A) == set(B)
    for k in A:
        d = max(abs(x - y) for x, y in zip(A[k][2], B[k][2]))
        if k.endswith('k.bias'):
            kb = max(kb, d)
        else:
            worst = max(worst, d)
diff = {k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k)}
print('max |dw| %.3g (tolerance %.3g)%s, header keys differing: %s' % (worst, tol,
      ', attention k.bias %.3g (%.3g)' % (kb, 10 * tol) if kb else '', sorted(diff) or 'none'))
sys.exit(0 if worst <= tol and kb <= 10 * tol and not diff and worst > 0 else 1)
PYEOF
}
# the weights must have moved (else any two runs would "match")
moved() {
	$PY - "$@" <<'PYEOF'
import sys
sys.path.insert(0, 'tests/ref')
from dmstream import read_stream
_, fa = read_stream(open(sys.argv[1], 'rb'))
_, fb = read_stream(open(sys.argv[2], 'rb'))
d = max(abs(x - y) for k in fa[0][1] for x, y in zip(fa[0][1][k][2], fb[0][1][k][2]))
sys.exit(0 if d > 1e-4 else 1)
PYEOF
}

# ---- mlp-2d, class-conditional with label dropout ---------------------
STEPS=20 LR=1e-3
TOL=$($PY -c "print(1e-3 * $LR * $STEPS)")
SRC="dm-load toy:moons --n 512 --batch 16 --shuffle --epochs 0 --seed 4"
NOISE="dm-noise --train --seed 5"
TR="dm-train --classes 2 --label-dropout 0.3 --lr $LR --ema 0.9 --seed 6 -j 1 -q"
sh -c "$SRC | $NOISE | $TR -b 32 -n $STEPS -o $TMP/m1.dmt" 2>"$TMP/err" || fail "mlp 1 rank" "$(cat "$TMP/err")"
$MPI -np 2 sh -c "$SRC $SHARD | $NOISE | $TR -b 16 -n $STEPS -o $TMP/m2.dmt --log $TMP/m2.csv" >"$TMP/out" 2>&1 \
	|| fail "mlp 2 ranks" "$(head -5 "$TMP/out")"
if r=$(close $TMP/m1.dmt $TMP/m2.dmt $TOL); then pass "mlp-2d: 2 ranks x 16 = 1 rank x 32 ($r)"
else fail "mlp-2d 2 ranks vs 1" "$r"; fi
check "checkpoint holds the global batch" "dm-info --summary $TMP/m2.dmt | grep -q 'batch=32'"
check "log: one header and a row per step from rank 0" "test \$(wc -l <$TMP/m2.csv) -eq 21"
$MPI -np 2 sh -c "$SRC $SHARD | $NOISE | $TR -b 16 -n $STEPS -o $TMP/m2b.dmt" >"$TMP/out" 2>&1
same_file "mlp-2d: 2-rank rerun is byte-identical" $TMP/m2.dmt $TMP/m2b.dmt

# resume with a different rank count: 2 ranks to step 8, then 1 rank to
# 20, against 2 ranks to 20; and 1 rank to 8, then 2 ranks to 20
$MPI -np 2 sh -c "$SRC $SHARD | $NOISE | $TR -b 16 -n 8 -o $TMP/r2.dmt" >"$TMP/out" 2>&1
sh -c "$SRC | $NOISE | dm-train -q -j 1 --resume $TMP/r2.dmt -n $STEPS" 2>"$TMP/err" || fail "resume on 1 rank" "$(cat "$TMP/err")"
if r=$(close $TMP/m2.dmt $TMP/r2.dmt $TOL); then pass "resume: 2 ranks to 8, 1 rank to 20 = 2 ranks to 20 ($r)"
else fail "resume 2 -> 1 rank" "$r"; fi
sh -c "$SRC | $NOISE | $TR -b 32 -n 8 -o $TMP/r1.dmt"
cp $TMP/r1.dmt $TMP/r8.dmt
if moved $TMP/r8.dmt $TMP/m1.dmt; then pass "the weights moved from step 8 to 20 by more than 1e-4"
else fail "weights moved" "steps 8 and 20 are (nearly) the same; the comparisons above mean nothing"; fi
$MPI -np 2 sh -c "$SRC $SHARD | $NOISE | dm-train -q -j 1 --resume $TMP/r1.dmt -n $STEPS" >"$TMP/out" 2>&1 \
	|| fail "resume on 2 ranks" "$(head -5 "$TMP/out")"
if r=$(close $TMP/m1.dmt $TMP/r1.dmt $TOL); then pass "resume: 1 rank to 8, 2 ranks to 20 = 1 rank to 20 ($r)"
else fail "resume 1 -> 2 ranks" "$r"; fi
check "resumed checkpoint: step and global samples" "dm-info --summary $TMP/r1.dmt | grep -q 'step=20' && dm-info --summary $TMP/r1.dmt | grep -q 'samples=640'"

# ---- a tiny unet on 8x8 images ------------------------------------------
$PY - "$TMP/img.npy" <<'PYEOF'
import sys, struct, random
random.seed(1)
n = 64
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 1, 8, 8), }" % n
hdr += ' ' * (118 - len(hdr)) + '\n'
vals = [random.uniform(-1, 1) for _ in range(n * 64)]
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode() + struct.pack('<%df' % len(vals), *vals))
PYEOF
USRC="dm-load $TMP/img.npy --batch 8 --shuffle --epochs 0"
UNET="-m unet --ch 8 --ch-mult 1,2 --groups 2 --attn 4 --res-blocks 1 --lr $LR --seed 2 -j 1 -q"
sh -c "$USRC | $NOISE | dm-train $UNET -b 8 -n $STEPS -o $TMP/u1.dmt" 2>"$TMP/err" || fail "unet 1 rank" "$(cat "$TMP/err")"
$MPI -np 2 sh -c "$USRC $SHARD | $NOISE | dm-train $UNET -b 4 -n $STEPS -o $TMP/u2.dmt" >"$TMP/out" 2>&1 \
	|| fail "unet 2 ranks" "$(head -5 "$TMP/out")"
if r=$(close $TMP/u1.dmt $TMP/u2.dmt $TOL); then pass "tiny unet: 2 ranks x 4 = 1 rank x 8 ($r)"
else fail "tiny unet 2 ranks vs 1" "$r"; fi
$MPI -np 2 sh -c "$USRC $SHARD | $NOISE | dm-train $UNET -b 4 -n $STEPS -o $TMP/u2b.dmt" >"$TMP/out" 2>&1
same_file "tiny unet: 2-rank rerun is byte-identical" $TMP/u2.dmt $TMP/u2b.dmt

# ---- errors -------------------------------------------------------------
$MPI -np 2 sh -c "$SRC --shard 0/2 | $NOISE | $TR -b 16 -n 2 -o $TMP/bad.dmt" >"$TMP/out" 2>&1
if grep -q 'the stream is shard 0/2 but this is rank 1 of 2' "$TMP/out"; then pass "a rank reading another rank's shard is refused"
else fail "wrong shard" "$(head -3 "$TMP/out")"; fi

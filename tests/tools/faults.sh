#!/bin/sh
# tests/tools/faults.sh - faults a run must survive: kill -9 of dm-train at
# random moments (mostly inside its saves, which dominate a --save-every 1
# run), a full disk (a file-size limit), a reader that vanishes, a writer
# that stalls, SIGINT in the middle of a save.
#   DM_CHAOS_KILLS  kill -9 rounds (default 20; `make chaos` runs 200)
. tests/tools/lib.sh
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
KILLS=${DM_CHAOS_KILLS:-20}
$PY $HERE/tests/ref/mktrain.py 150 32 2 >$TMP/d.dms
RS="dm-train -n 300 -b 16 -j 1 -q"
TR="$RS --hidden 32 --temb 16"
$TR -o $TMP/ref.dmt <$TMP/d.dms
rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }

# kill -9, again and again: the checkpoint on disk always loads, and a
# resume from it to step 300 gives the bytes of the uninterrupted run
bad=0 killed=0 steps=""
for i in $(seq 1 $KILLS); do
	if [ -f $TMP/k.dmt ]; then
		$RS --save-every 1 --resume $TMP/k.dmt <$TMP/d.dms 2>/dev/null &
	else
		$TR --save-every 1 -o $TMP/k.dmt <$TMP/d.dms 2>/dev/null &
	fi
	pid=$!
	sleep 0.$(printf '%03d' $(($(rnd) % 400 + 10)))
	kill -9 $pid 2>/dev/null && killed=$((killed + 1))
	wait $pid 2>/dev/null
	rm -f $TMP/k.dmt.tmp.*    # what kill -9 leaves: never the checkpoint itself
	[ -f $TMP/k.dmt ] || continue
	if ! dm-info -q $TMP/k.dmt 2>$TMP/err; then
		bad=1; fail "kill -9 round $i" "checkpoint does not load: $(cat $TMP/err)"; break
	fi
	s=$(dm-info --summary $TMP/k.dmt | sed -n 's/^  step=//p')
	steps="$steps $s"
	cp $TMP/k.dmt $TMP/r.dmt
	$RS --resume $TMP/r.dmt <$TMP/d.dms
	if ! cmp -s $TMP/r.dmt $TMP/ref.dmt; then
		bad=1; fail "kill -9 round $i" "resume from step $s differs from the uninterrupted run"; break
	fi
	[ "$s" = 300 ] && rm $TMP/k.dmt    # finished: the next round starts afresh
done
[ $bad -eq 0 ] && [ -n "$steps" ] && [ $killed -gt 0 ] \
	&& pass "kill -9 x$KILLS ($killed mid-run, at steps$steps): checkpoint loads, resume = uninterrupted"
[ -n "$steps" ] || fail "kill -9" "no checkpoint was ever saved"

# a full disk: a file-size limit below the checkpoint's size.  The save
# fails with one line, exit 1; the previous checkpoint keeps its bytes;
# no temporary is left
$TR -n 10 -o $TMP/full.dmt <$TMP/d.dms
cp $TMP/full.dmt $TMP/before.dmt
mkdir $TMP/fd && cp $TMP/full.dmt $TMP/fd/
expect_fail "save past ulimit -f" "^dm-train: .*full.dmt.*(File too large|write)" \
	"cd $TMP/fd && ulimit -f 40 && $RS --resume full.dmt --save-every 5 <$TMP/d.dms"
same_file "the previous checkpoint is intact after a failed save" $TMP/fd/full.dmt $TMP/before.dmt
check "no temporary left after a failed save" "test \$(ls $TMP/fd | wc -l) -eq 1"
check "it still resumes" "cd $TMP/fd && $RS --resume full.dmt <$TMP/d.dms && cmp full.dmt $TMP/ref.dmt"
# a stream written to a full disk: clear error, no partial output
expect_fail "dm-load -o past ulimit -f" "^dm-load: .*(File too large|write)" \
	"cd $TMP/fd && ulimit -f 20 && dm-load toy:moons --n 100000 --batch 1000 -o big.dms"
check "no partial stream left" "test ! -e $TMP/fd/big.dms && test \$(ls $TMP/fd | wc -l) -eq 1"
expect_fail "stdout past ulimit -f" "^dm-load: .*(File too large|write)" \
	"ulimit -f 20 && dm-load toy:moons --n 100000 --batch 1000 >$TMP/fd/out.dms"

# SIGINT in the middle of a save (every step saves): exit 0, the
# checkpoint loads and resumes to the uninterrupted bytes
$TR --save-every 1 -o $TMP/int.dmt <$TMP/d.dms &
pid=$!
sleep 0.5
kill -INT $pid
if wait $pid; then pass "SIGINT during saves exits 0"; else fail "SIGINT during saves exits 0" "exit $?"; fi
check "after SIGINT the checkpoint resumes to the uninterrupted bytes" \
	"dm-info -q $TMP/int.dmt && $RS --resume $TMP/int.dmt <$TMP/d.dms && cmp $TMP/int.dmt $TMP/ref.dmt"

# a reader that vanishes mid-stream: the writer ends quietly, at once
check "reader vanishes: dm-load on an endless stream stops quietly" \
	"timeout 20 sh -c 'dm-load toy:moons --batch 64 --epochs 0 | head -c 100000 >/dev/null'"
check "reader vanishes: dm-noise stops quietly" \
	"timeout 20 sh -c 'dm-load toy:moons --batch 64 --epochs 0 | dm-noise --train | head -c 100000 >/dev/null'"
# a writer that stalls (a slow pipe): the reader waits without spinning
# and loses no frame
$PY $HERE/tests/tools/mkstream.py --frames 6 --shape 4x2 >$TMP/fast.dms
mkfifo $TMP/slow
( $PY $HERE/tests/tools/mkstream.py --frames 6 --shape 4x2 | $PY -c "
import sys, time
b = sys.stdin.buffer.read()
for i in range(0, len(b), 7):
    sys.stdout.buffer.write(b[i:i + 7]); sys.stdout.buffer.flush(); time.sleep(0.01)
" >$TMP/slow ) &
/usr/bin/time -f '%U %S' -o $TMP/cpu dm-info --json <$TMP/slow >$TMP/slow.json
wait
dm-info --json <$TMP/fast.dms >$TMP/fast.json
check "stalling writer: every frame arrives" "cmp $TMP/slow.json $TMP/fast.json"
check "stalling writer: no busy wait (CPU under 0.5 s over the stalls)" \
	"awk '{ exit !(\$1 + \$2 < 0.5) }' $TMP/cpu"

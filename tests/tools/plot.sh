#!/bin/sh
# dm-plot: CSV logs as line plots (issue 18).  The pixels are tested in
# tests/unit/io/test_plot.c; here the tool end to end and its errors.
. tests/tools/lib.sh

printf 'step,loss,lr,grad_norm,seconds\n' >"$TMP/a.csv"
i=1
while [ $i -le 50 ]; do
	echo "$i,$(echo "1/$i" | bc -l),0.001,0.5,$i" >>"$TMP/a.csv"
	i=$((i + 1))
done
check "a loss plot of a log" "dm-plot --log-y -o '$TMP/loss.png' '$TMP/a.csv' && python3 tests/tools/pngcheck.py '$TMP/loss.png' 800 480 3"
check "--size, several columns" "dm-plot --size 320x200 -y loss,grad_norm -o '$TMP/two.png' '$TMP/a.csv' && python3 tests/tools/pngcheck.py '$TMP/two.png' 320 200 3"
check "two runs, stdin as one" "dm-plot --labels 'run a,run b' -o '$TMP/runs.png' '$TMP/a.csv' - <'$TMP/a.csv' && test -s '$TMP/runs.png'"
# a training run's own log
check "dm-train --log plotted" "dm-load toy:moons --batch 64 --epochs 0 | dm-noise --train | dm-train --steps 30 --log '$TMP/train.csv' -o '$TMP/m.dmt' -q && dm-plot --log-y --smooth 0.5 -o '$TMP/train.png' '$TMP/train.csv' && test -s '$TMP/train.png'"

printf 'step,loss\n1,0.5\n2,x\n' >"$TMP/bad.csv"
expect_fail "a field that is not a number" "^dm-plot: .*bad.csv: line 3: column 'loss': 'x' is not a number$" \
	dm-plot -o "$TMP/out.png" "$TMP/bad.csv"
printf 'step,loss\n1,0.5,7\n' >"$TMP/wide.csv"
expect_fail "a row too wide" "wide.csv: line 2: 3 fields, the header has 2" dm-plot -o "$TMP/out.png" "$TMP/wide.csv"
expect_fail "a missing column" "a.csv: no column 'acc' \(columns: step, loss, lr, grad_norm, seconds\)" \
	dm-plot -y acc -o "$TMP/out.png" "$TMP/a.csv"
: >"$TMP/empty.csv"
expect_fail "an empty file" "empty.csv: empty" dm-plot -o "$TMP/out.png" "$TMP/empty.csv"
printf 'step,loss\n1,-1\n2,0\n' >"$TMP/neg.csv"
expect_fail "nothing positive on a log axis" "neg.csv: nothing to plot: no finite positive values" \
	dm-plot --log-y -o "$TMP/out.png" "$TMP/neg.csv"
expect_fail "a file that is not there" "nope.csv: No such file" dm-plot -o "$TMP/out.png" "$TMP/nope.csv"
expect_fail "--labels of another count" "--labels: 1 names for 2 lines" \
	dm-plot --labels x -o "$TMP/out.png" "$TMP/a.csv" "$TMP/a.csv"
expect_fail "--smooth out of range" "--smooth: 1 is outside" dm-plot --smooth 1 "$TMP/a.csv"
expect_fail "no input" "no input" dm-plot
check "no output left by the failures" "test ! -e '$TMP/out.png'"
leaves_nothing "a failing plot leaves nothing" "dm-plot '$TMP/bad.csv'"
check "--help" "dm-plot --help | grep -q Usage"

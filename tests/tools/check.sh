#!/bin/sh
# dm-info --check MODEL DATA: an untrained, a half-trained and a trained
# tiny model give three different reports (issue 18).
#
# The bounds, for eps-prediction on the swiss roll (1000 held-out samples,
# 2 values each, so 2000 squared errors per band):
# - the zero predictor's loss is E[eps^2] = 1; its mean over 2000 values
#   has a standard deviation sqrt(2/2000) = 0.032, so 0.85..1.15 in every
#   band (4.7 sigma);
# - the data mean's loss for eps is alpha^2/sigma^2 Var(x0): above 10 in
#   the first band (alpha^2/sigma^2 = 1/t-ish large at t < 100) and below
#   2e-4 in the last (alpha_bar(900) = 2.9e-4 on the linear schedule, times
#   Var(x0) < 0.5);
# - an untrained network (one step from its initialisation) outputs values
#   small against the unit-variance target: its loss is the zero
#   predictor's to 0.05 in every band (measured: 0.003);
# - a trained one (600 steps) beats the zero predictor by more than 10% at
#   t in 100..400 (measured 0.66, 0.34, 0.16 against 1) and is nowhere worse
#   than the better constant by more than 0.02 (measured at most 0.0003).
#   It does not beat the data mean at high t, and cannot by much: there
#   eps^ = (x_t - alpha mean)/sigma is nearly the best prediction.
. tests/tools/lib.sh
OMP_NUM_THREADS=1 # tiny models: threads only contend
export OMP_NUM_THREADS

dm-load toy:swissroll --n 1000 --seed 9 >"$TMP/held.dm"
for s in 1 20 600; do
	dm-load toy:swissroll --batch 256 --epochs 0 | dm-noise --train \
		| dm-train --hidden 64 --steps $s -o "$TMP/m$s.dmt" -q
	dm-info --check "$TMP/m$s.dmt" "$TMP/held.dm" >"$TMP/r$s.txt"
	grep -E '^ +[0-9]+ ' "$TMP/r$s.txt" >"$TMP/b$s.txt" # the table of bands
done

check "every report has 10 bands" "test \$(wc -l <'$TMP/b1.txt') -eq 10 && test \$(wc -l <'$TMP/b600.txt') -eq 10"
check "zero predictor: loss 1 = E[eps^2] in every band" \
	"awk '\$6 < 0.85 || \$6 > 1.15 { exit 1 }' '$TMP/b600.txt'"
check "data mean predictor: alpha^2/sigma^2 Var large at low t, tiny at high t" \
	"awk '\$1 == 1 && \$7 < 10 { exit 1 } \$1 == 10 && \$7 > 2e-4 { exit 1 }' '$TMP/b600.txt'"

# untrained
check "untrained: the loss of predicting zero in every band" \
	"awk '{ d = \$4 - \$6; if (d < -0.05 || d > 0.05) exit 1 }' '$TMP/b1.txt'"
check "untrained: verdict" "grep -q '^verdict: untrained' '$TMP/r1.txt'"
check "untrained: the high-noise warning" "grep -q '^warning: untrained at high noise' '$TMP/r1.txt'"

# half-trained: low t learned, high t not yet; the EMA lags
check "half-trained: some low band learned, the top bands untrained" \
	"awk '\$1 <= 2 && \$9 == \"learned\" { l = 1 } \$1 >= 8 && \$9 != \"untrained\" { exit 1 } END { exit !l }' '$TMP/b20.txt'"
check "half-trained: verdict and warnings" \
	"grep -q '^verdict: partly trained' '$TMP/r20.txt' && grep -q '^warning: untrained at high noise' '$TMP/r20.txt' && grep -q '^warning: the EMA weights are' '$TMP/r20.txt'"

# trained
check "trained: beats zero by 10% at t 100..400" \
	"awk '\$1 >= 2 && \$1 <= 4 && \$4 > 0.9 * \$6 { exit 1 }' '$TMP/b600.txt'"
check "trained: nowhere worse than a constant by more than 0.02" \
	"awk '\$8 > 0.02 { exit 1 }' '$TMP/b600.txt'"
check "trained: verdict, no warnings" \
	"grep -q '^verdict: trained' '$TMP/r600.txt' && grep -q '^no warnings' '$TMP/r600.txt'"
check "three different verdicts" \
	"test \$(cat '$TMP/r1.txt' '$TMP/r20.txt' '$TMP/r600.txt' | grep '^verdict' | sort -u | wc -l) -eq 3"

# the data's range against the checkpoint's, and the schedule's reach
dm-load toy:swissroll --range -1:1 --batch 256 --epochs 0 | dm-noise --train \
	| dm-train --hidden 64 --steps 5 -o "$TMP/r.dmt" -q
dm-load toy:swissroll --n 500 --scale 40 >"$TMP/big.dm"
dm-info --check "$TMP/r.dmt" "$TMP/big.dm" >"$TMP/big.txt"
check "range mismatch warned" "grep -q '^warning: range mismatch: the data spans .* in \[-1, 1\]' '$TMP/big.txt'"
check "a schedule that does not reach noise warned" "grep -q '^warning: the schedule does not reach pure noise' '$TMP/big.txt'"
check "the same data in range: no range warning" \
	"dm-info --check '$TMP/r.dmt' '$TMP/held.dm' | grep -vq 'range mismatch'"

# errors
dm-load toy:swissroll --n 10 >"$TMP/two.dm"
dm-noise --prior --shape 4x1x4x4 >"$TMP/img.dm"
expect_fail "data of another size" "img.dm: samples of 16 values, the model .* takes 2" \
	dm-info --check "$TMP/m1.dmt" "$TMP/img.dm"
expect_fail "a model that is not a checkpoint" "two.dm" dm-info --check "$TMP/two.dm" "$TMP/held.dm"
expect_fail "one operand" "--check takes MODEL DATA" dm-info --check "$TMP/m1.dmt"
expect_fail "a missing file" "nope.dm" dm-info --check "$TMP/m1.dmt" "$TMP/nope.dm"

# a diverged run: NaN weights, which every loader refuses, still get a report
/usr/bin/python3 "$HERE/tests/tools/ckedit.py" "$TMP/m1.dmt" "$TMP/nan.dmt" --nan ema:lin.0.weight
dm-info --check "$TMP/nan.dmt" "$TMP/held.dm" >"$TMP/nan.txt"
check "NaN weights: verdict broken" "grep -q '^verdict: broken' '$TMP/nan.txt'"
check "NaN weights: said in words" "grep -q '1 of the EMA weights and 0 of the raw weights are NaN or infinite' '$TMP/nan.txt'"

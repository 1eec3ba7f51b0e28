#!/bin/sh
# Shell tests of dm-score's Frechet distance, KID and classifier features:
# a tiny classifier trained for a few steps on a small slice of
# Fashion-MNIST, then the figures it gives must order as they should.
. tests/tools/lib.sh
T=$TMP

# raw vectors: a set against itself, and a shifted copy (FD = |shift|^2 = 4 * 3)
dm-noise --prior --shape 300x3 --seed 1 >"$T/g.dm"
check "dm-score --fd: a set against itself is 0" \
	"dm-score --fd '$T/g.dm' '$T/g.dm' | grep -q '^fd 0.0000 n 300/300\$'"
check "dm-score --fd --kid: one line each with the sample sizes" \
	"test \"\$(dm-score --fd --kid '$T/g.dm' '$T/g.dm' | cut -d' ' -f1,3,4 | tr '\n' ' ')\" = 'fd n 300/300 kid n 300/300 '"
expect_fail "dm-score --fd: bad input is one line" "g.dm.*samples of 3 values|samples of 3 values" \
	"dm-noise --prior --shape 10x2 >'$T/g2.dm' && dm-score --fd '$T/g2.dm' '$T/g.dm'"
expect_fail "dm-score --fd: a corrupt stream is one line" "junk" \
	"printf 'not a stream' >'$T/junk' && dm-score --fd '$T/g.dm' '$T/junk'"
expect_fail "dm-score --fd: one sample is too few" "at least 2 samples" \
	"dm-noise --prior --shape 1x3 >'$T/g1.dm' && dm-score --fd '$T/g1.dm' '$T/g.dm'"
expect_fail "dm-score --floor needs --fd or --kid" "--floor" "dm-score --floor '$T/g.dm' '$T/g.dm' '$T/g.dm'"
check "dm-score --fd: unequal sizes warn on stderr" \
	"dm-noise --prior --shape 100x3 --seed 2 >'$T/g3.dm' && dm-score --fd '$T/g3.dm' '$T/g.dm' 2>&1 >/dev/null | grep -q 'equal n'"

if ! dm-load fashion-mnist:test --limit 1 >/dev/null 2>&1; then
	skip "dm-score --features" "no Fashion-MNIST (apt-get install dataset-fashion-mnist)"
	exit 0
fi
dm-load fashion-mnist:train --limit 512 --batch 32 --shuffle --epochs 0 \
	| dm-train --model classifier --ch 4 --ch-mult 1,2 --groups 2 --steps 6 --lr 3e-3 -j 1 -q \
	  -o "$T/c.dmt" 2>"$T/train.err"
check "dm-train --model classifier: a checkpoint dm-info reads" \
	"dm-info --summary '$T/c.dmt' | grep -q 'model=classifier' && dm-info --summary '$T/c.dmt' | grep -q 'outputs=10'"
dm-load fashion-mnist:test --limit 400 --batch 100 >"$T/te.dm"
dm-load fashion-mnist:test --limit 400 --shard 0/2 --batch 100 >"$T/h1.dm"
dm-load fashion-mnist:test --limit 400 --shard 1/2 --batch 100 >"$T/h2.dm"
dm-noise --prior --shape 200x1x28x28 --seed 3 >"$T/noise.dm"
check "dm-score --accuracy: a fraction of the 400 labelled samples" \
	"dm-score --accuracy -m '$T/c.dmt' '$T/te.dm' | awk '\$1 == \"accuracy\" && \$2 >= 0 && \$2 <= 1 && \$4 == 400 { ok = 1 } END { exit !ok }'"
check "dm-score --fd -m: a set against itself is ~0" \
	"dm-score --fd -m '$T/c.dmt' '$T/h1.dm' '$T/h1.dm' | awk '{ exit !(\$2 < 1e-3) }'"
for space in pixels features; do
	m=; [ $space = features ] && m="-m '$T/c.dmt'"
	check "dm-score --fd ($space): two halves of the data far below data vs noise" \
		"a=\$(dm-score --fd $m '$T/h1.dm' '$T/h2.dm' | cut -d' ' -f2) && b=\$(dm-score --fd $m '$T/noise.dm' '$T/h2.dm' | cut -d' ' -f2) && awk -v a=\$a -v b=\$b 'BEGIN { exit !(a > 0 && 10 * a < b) }'"
	check "dm-score --kid ($space): the same order" \
		"a=\$(dm-score --kid $m '$T/h1.dm' '$T/h2.dm' | cut -d' ' -f2) && b=\$(dm-score --kid $m '$T/noise.dm' '$T/h2.dm' | cut -d' ' -f2) && awk -v a=\$a -v b=\$b 'BEGIN { exit !(5 * a < b) }'"
done
check "dm-score --floor: the floor and the ratio beside the figure" \
	"dm-score --fd -m '$T/c.dmt' '$T/noise.dm' '$T/h2.dm' --floor '$T/h1.dm' | awk '\$1 == \"fd\" && \$5 == \"floor\" && \$7 == \"n\" && \$8 == \"200/200\" && \$10 > 10 { ok = 1 } END { exit !ok }'"
expect_fail "dm-score -m: a checkpoint that is not a classifier" "not a classifier" \
	"dm-load toy:moons --n 256 --batch 64 --epochs 0 | dm-noise --train | dm-train --steps 1 -j 1 -q -o '$T/mlp.dmt' && dm-score --fd -m '$T/mlp.dmt' '$T/h1.dm' '$T/h2.dm'"
expect_fail "dm-score -m: samples of the wrong size" "takes 784" \
	"dm-score --fd -m '$T/c.dmt' '$T/g.dm' '$T/g.dm'"
expect_fail "dm-score --accuracy: a stream without labels" "no tensor label" \
	"dm-score --accuracy -m '$T/c.dmt' '$T/noise.dm'"
expect_fail "dm-train --model classifier: frames without labels" "label" \
	"dm-noise --prior --shape 8x1x28x28 | dm-train --model classifier-fmnist --steps 1 -j 1 -q -o '$T/x.dmt'"

# --bpd: 8-bit data spread evenly over [-1, 1] (mkstream's bytes; the header
# carries the schedule) under N(0, 1/3), its own variance, and under N(0, 4):
# the cross-entropies of U(-1, 1) differ by 0.5 ln 12 + 1/24 - 1/2 = 0.784
# nats = 1.13 bits/dim, and both measures must see it (measured 1.14, 1.13)
python3 "$HERE/tests/tools/mkstream.py" --frames 4 --shape 128x4 --meta schedule=linear \
	--meta T=1000 --meta predict=eps >"$T/u8.dm"
for how in "" "--ode"; do
	check "dm-score --bpd $how: the closed-form 1.13 bits/dim between two gaussian models" \
		"a=\$(dm-score --bpd $how -m gaussian:0:0.57735 '$T/u8.dm' | awk '\$1 == \"bpd\" { print \$2 }') && b=\$(dm-score --bpd $how -m gaussian:0:2 '$T/u8.dm' | awk '\$1 == \"bpd\" { print \$2 }') && awk -v a=\$a -v b=\$b 'BEGIN { exit !(b - a > 0.93 && b - a < 1.33) }'"
done
check "dm-score --bpd: the bound's terms sum to it" \
	"dm-score --bpd -m gaussian:0:1 '$T/u8.dm' | awk '\$1 == \"bpd\" { b = \$2 } \$1 == \"L_T\" { s = \$2 + \$4 + \$6 } END { d = b - s; exit !(d < 0.001 && d > -0.001) }'"
dm-noise --prior --shape 64x4 --seed 4 >"$T/n01.dm"
expect_fail "dm-score --bpd: data that is not 8-bit" "not one of the 256" "dm-score --bpd -m gaussian:0:1 '$T/n01.dm'"
# the ODE takes any data, from stdin too (it read the header twice once):
# N(0, 1) under itself is 0.5 ln(2 pi e) nats a value, 9.04 bits/dim in bins
# of 2/255 (measured 9.06, se 0.06)
check "dm-score --bpd --ode: N(0, 1) data on stdin at its closed form" \
	"dm-score --bpd --ode -m gaussian:0:1 - <'$T/n01.dm' | awk '\$1 == \"bpd\" { d = \$2 - 9.0427; ok = d < 0.25 && d > -0.25 } END { exit !ok }'"
expect_fail "dm-score --bpd: no model" "needs the model" "dm-score --bpd '$T/u8.dm'"
expect_fail "dm-score --ode without --bpd" "go with --bpd" "dm-score --ode '$T/u8.dm' '$T/u8.dm'"
expect_fail "dm-score --bpd: a checkpoint that is no diffusion model" "no schedule" \
	"dm-score --bpd -m '$T/c.dmt' '$T/u8.dm'"

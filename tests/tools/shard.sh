#!/bin/sh
# Sharded input (dm-load --shard R/N) through dm-noise --train gets, sample
# for sample, the same t and noise as the unsharded run (issue 9: each rank
# reads its own shard; the RNG is keyed by the global sample index).
. tests/tools/lib.sh
PY=/usr/bin/python3

for tensor in x t target; do
	dm-load toy:moons --n 24 --batch 5 --epochs 2 | dm-noise --train --seed 3 \
		| dm-encode --tensor $tensor -o "$TMP/all.npy" 2>"$TMP/err" || fail "$tensor: full run" "$(cat "$TMP/err")"
	for r in 0 1 2; do
		dm-load toy:moons --n 24 --batch 3 --epochs 2 --shard $r/3 | dm-noise --train --seed 3 \
			| dm-encode --tensor $tensor -o "$TMP/s$r.npy"
	done
	# interleave the shards' rows back and compare bytes with the full run
	if $PY - "$TMP" <<'PYEOF'
import sys, ast
d = sys.argv[1]
def load(p):
    b = open(p, 'rb').read()
    hl = int.from_bytes(b[8:10], 'little')
    h = ast.literal_eval(b[10:10 + hl].decode())
    shape = h['shape']
    row = 4
    for s in shape[1:]:
        row *= s
    data = b[10 + hl:]
    return [data[i * row:(i + 1) * row] for i in range(shape[0])]
full = load(d + '/all.npy')
shards = [load(d + '/s%d.npy' % r) for r in range(3)]
inter = [shards[i % 3][i // 3] for i in range(len(full))]
sys.exit(0 if inter == full and len(full) == 48 else 1)
PYEOF
	then pass "3 shards of 2 epochs give the same $tensor as one run"
	else fail "shards $tensor" "interleaved shards differ from the full run"
	fi
done

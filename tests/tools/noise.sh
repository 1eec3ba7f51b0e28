#!/bin/sh
# Shell tests of dm-noise: options and errors, the statistics of x_t against
# the schedule computed independently (in Python, from the closed forms),
# the target identities, bit-identical results across batch sizes, thread
# counts and --first-index ranges.
. tests/tools/lib.sh

command -v dm-noise >/dev/null || { skip noise "dm-noise not built"; exit 0; }
command -v python3 >/dev/null || { skip noise "python3 missing"; exit 0; }

check help 'dm-noise --help | grep -q -- --first-index'
check version 'dm-noise --version | grep -q "dm-noise (dm)"'
expect_fail no-mode '^dm-noise: no mode' 'dm-noise </dev/null'
expect_fail two-modes '^dm-noise: choose one mode' 'dm-noise --train --prior </dev/null'
expect_fail bad-schedule '^dm-noise: --schedule: unknown' 'dm-noise --train -S foo </dev/null'
expect_fail t-range '^dm-noise: --t: 1000 is outside' 'dm-noise --t 1000 </dev/null'
expect_fail t-integer '^dm-noise: --t: 2.5 is not an integer' 'dm-noise --t 2.5 </dev/null'
expect_fail prior-shape '^dm-noise: --prior needs --shape' 'dm-noise --prior'
expect_fail bad-shape '^dm-noise: --shape' 'dm-noise --prior --shape 4xx2'
expect_fail zero-snr-ve '^dm-noise: noise schedule: zero terminal SNR' 'dm-noise --prior --shape 1x2 -S ve --zero-snr'
expect_fail bad-weighting '^dm-noise: --weighting' 'dm-noise --train -w foo </dev/null'
expect_fail not-a-stream '^dm-noise: stdin' 'echo hello | dm-noise --train'
expect_fail no-x '^dm-noise: .*no tensor x' 'python3 tests/tools/mkstream.py --name y | dm-noise --train'
check epipe 'dm-noise --prior --shape 100x1000 --count 100000 | head -c 100 >/dev/null'
expect_fail atomic-output '^dm-noise: ' "echo junk | dm-noise --train -o $TMP/never.dms; rc=\$?; ls $TMP/never.dms* >&2 2>/dev/null; exit \$rc"

# ---- helpers: NPY reader and the schedules, independently of libdm -------
cat >"$TMP/h.py" <<'EOF'
import json, math, struct, sys
def npy(path):
    b = open(path, 'rb').read()
    hl = struct.unpack('<H', b[8:10])[0]
    hdr = b[10:10 + hl].decode()
    assert "'<f4'" in hdr, hdr
    d = b[10 + hl:]
    return list(struct.unpack('<%df' % (len(d) // 4), d))
def abar(kind, T=1000):
    out, p = [], 1.0
    for t in range(T):
        x = t / (T - 1)
        if kind == 'linear':
            b = 1e-4 + x * (0.02 - 1e-4)
        else:  # cosine
            f = lambda u: math.cos((u / T + 0.008) / 1.008 * math.pi / 2) ** 2
            b = min(1 - f(t + 1) / f(t), 0.999)
        p *= 1 - b
        out.append(p)
    return out
def info(path):
    return json.load(open(path))['streams'][0]
EOF
export TMP

# constant data x0 = 0.5: 4000 samples of 4 values
python3 -c "
for i in range(4000): print('0.5,0.5,0.5,0.5')" >"$TMP/c.csv"
dm-load "$TMP/c.csv" -o "$TMP/c.dms" || fail load-constant "dm-load failed"

# ---- x_t statistics: mean sqrt(abar) x0, std sqrt(1 - abar) ---------------
for sched in linear cosine; do
	dm-noise --t 0,250,500,750,999 -S $sched --seed 3 "$TMP/c.dms" | dm-info --json >"$TMP/s.json"
	if python3 - "$TMP/s.json" $sched <<'EOF'
import os, sys, math
exec(open(os.environ['TMP'] + '/h.py').read())
st = info(sys.argv[1]); ab = abar(sys.argv[2]); n = 16000
for fr in st['frames']:
    t = int(fr['tags']['t']); x = fr['tensors'][0]
    m, s = math.sqrt(ab[t]) * 0.5, math.sqrt(1 - ab[t])
    assert abs(x['mean'] - m) < 5 * s / math.sqrt(n), (t, x['mean'], m)
    assert abs(x['std'] - s) < 5 * s / math.sqrt(2 * n), (t, x['std'], s)
    assert abs(float(fr['tags']['sigma']) - math.sqrt((1 - ab[t]) / ab[t])) < 1e-6 * float(fr['tags']['sigma'])
assert st['meta']['schedule'] == sys.argv[2] and st['meta']['T'] == '1000'
EOF
	then pass "moments-$sched"; else fail "moments-$sched" "x_t statistics do not match"; fi
done

# continuous: vp at t = 0.5 and ve via --sigma
dm-noise --t 0.5 -S vp "$TMP/c.dms" | dm-info --json >"$TMP/vp.json"
dm-noise --sigma 0.1 -S ve "$TMP/c.dms" | dm-info --json >"$TMP/ve.json"
if python3 - <<'EOF'
import os, math
exec(open(os.environ['TMP'] + '/h.py').read())
x = info(os.environ['TMP'] + '/vp.json')['frames'][0]['tensors'][0]
ab = math.exp(-(0.1 * 0.5 + 0.5 * 19.9 * 0.25))
assert abs(x['mean'] - 0.5 * math.sqrt(ab)) < 5 * math.sqrt(1 - ab) / math.sqrt(16000), x
assert abs(x['std'] - math.sqrt(1 - ab)) < 0.03, x
fr = info(os.environ['TMP'] + '/ve.json')['frames'][0]
x = fr['tensors'][0]
assert abs(float(fr['tags']['sigma']) - 0.1) < 1e-6, fr['tags']
assert abs(x['mean'] - 0.5) < 5 * 0.1 / math.sqrt(16000) and abs(x['std'] - 0.1) < 0.003, x
EOF
then pass moments-continuous; else fail moments-continuous "vp/ve statistics do not match"; fi

# ---- --train: the targets satisfy their identities -------------------------
dm-load toy:swissroll --n 300 --batch 64 -o "$TMP/roll.dms"
for p in eps x0 v; do
	dm-noise --train -p $p --seed 5 -w min-snr:5 "$TMP/roll.dms" -o "$TMP/tr_$p.dms"
	for k in x t target w; do
		dm-encode -t $k -o "$TMP/${p}_$k.npy" "$TMP/tr_$p.dms"
	done
done
dm-encode -o "$TMP/x0.npy" "$TMP/roll.dms"
if python3 - <<'EOF'
import os, math
exec(open(os.environ['TMP'] + '/h.py').read())
T = os.environ['TMP']
ab = abar('linear')
x0 = npy(T + '/x0.npy')
eps = npy(T + '/eps_target.npy'); tgx0 = npy(T + '/x0_target.npy'); v = npy(T + '/v_target.npy')
xt = npy(T + '/eps_x.npy'); t = npy(T + '/eps_t.npy')
assert xt == npy(T + '/v_x.npy') == npy(T + '/x0_x.npy')   # x, t do not depend on predict
assert t == npy(T + '/v_t.npy')
assert tgx0 == x0
W = {p: npy(T + '/%s_w.npy' % p) for p in ('eps', 'x0', 'v')}
assert len(t) == 300 and all(0 <= u <= 999 and u == int(u) for u in t)
for i in range(300):
    a, s = math.sqrt(ab[int(t[i])]), math.sqrt(1 - ab[int(t[i])])
    for k in range(2):
        j = 2 * i + k
        assert abs(xt[j] - (a * x0[j] + s * eps[j])) < 1e-5, (i, k)
        assert abs(v[j] - (a * eps[j] - s * x0[j])) < 1e-5, (i, k)
    snr = ab[int(t[i])] / (1 - ab[int(t[i])])
    for p, want in (('eps', min(snr, 5) / snr), ('x0', min(snr, 5)), ('v', min(snr, 5) / (snr + 1))):
        w = W[p][i]
        assert abs(w - want) < 1e-5 * max(1, want), (p, i, w, want)
# t is uniform over 0..999: mean 499.5, sd 288.7
m = sum(t) / len(t)
assert abs(m - 499.5) < 5 * 288.7 / math.sqrt(300), m
EOF
then pass train-identities; else fail train-identities "targets, weights or t wrong"; fi
check train-labels 'dm-load toy:moons --n 10 | dm-noise --train | dm-info | grep -q "label  *i32  10 "'

# ---- bit-identical across batch sizes and thread counts -------------------
for b in 1 7 128; do
	dm-load toy:swissroll --n 300 --batch $b | dm-noise --train --seed 9 -p v -o "$TMP/b$b.dms"
	for k in x t target w; do dm-encode -t $k -o "$TMP/b${b}_$k.npy" "$TMP/b$b.dms"; done
done
for k in x t target w; do
	same_file "batch-1-7-$k" "$TMP/b1_$k.npy" "$TMP/b7_$k.npy"
	same_file "batch-1-128-$k" "$TMP/b1_$k.npy" "$TMP/b128_$k.npy"
done
OMP_NUM_THREADS=1 dm-noise --train --seed 9 -p v "$TMP/roll.dms" -o "$TMP/th1.dms"
OMP_NUM_THREADS=2 dm-noise --train --seed 9 -p v "$TMP/roll.dms" -o "$TMP/th2.dms"
same_file threads-1-2 "$TMP/th1.dms" "$TMP/th2.dms"
dm-load toy:swissroll --n 300 --batch 7 | dm-noise --t 0:1000:333 --seed 9 | dm-encode -o "$TMP/tl7.npy"
dm-load toy:swissroll --n 300 --batch 300 | dm-noise --t 0:1000:333 --seed 9 >"$TMP/tl300.dms"
check tlist-frames 'test "$(dm-info --json "$TMP/tl300.dms" | grep -c "\"t\":\"")" -eq 4'

# ---- --prior: ranges with --first-index concatenate to one run ------------
dm-noise --prior --shape 8x1x4x4 --count 30 --batch 8 --seed 7 -o "$TMP/p_all.dms"
dm-noise --prior --shape 8x1x4x4 --count 11 --batch 4 --seed 7 --first-index 0 -o "$TMP/p_0.dms"
dm-noise --prior --shape 8x1x4x4 --count 10 --seed 7 --first-index 11 -o "$TMP/p_1.dms"
dm-noise --prior --shape 8x1x4x4 --count 9 --batch 1 --seed 7 --first-index 21 -o "$TMP/p_2.dms"
for f in all 0 1 2; do dm-encode -o "$TMP/p_$f.npy" "$TMP/p_$f.dms"; done
if python3 - <<'EOF'
import os
exec(open(os.environ['TMP'] + '/h.py').read())
T = os.environ['TMP']
a = npy(T + '/p_all.npy')
assert len(a) == 30 * 16
assert a == npy(T + '/p_0.npy') + npy(T + '/p_1.npy') + npy(T + '/p_2.npy')
m = sum(a) / len(a); v = sum((u - m) ** 2 for u in a) / len(a)
assert abs(m) < 0.25 and abs(v - 1) < 0.25, (m, v)
EOF
then pass prior-ranges; else fail prior-ranges "ranges do not concatenate to the one run"; fi
dm-noise --prior --shape 8x1x4x4 --count 30 --batch 8 --seed 8 | dm-encode -o "$TMP/p_s8.npy"
check prior-seed-differs '! cmp -s "$TMP/p_all.npy" "$TMP/p_s8.npy"'
check prior-edm-std 'dm-noise --prior --shape 500x4 -S edm | dm-info | grep -Eq "std +(7[6-9]|8[0-4])\."'
check prior-header 'dm-noise --prior --shape 2x2 -S cosine --zero-snr -p v | dm-info | grep -q "zero_snr=1"'

# ---- issue 9: a 3-way split through dm-denoise equals one run, byte for byte
if command -v dm-denoise >/dev/null; then
	den='dm-denoise -m gaussian:0.3:0.5 --sampler ddpm --steps 50 --seed 3'
	dm-noise --prior --shape 8x1x4x4 --count 30 --seed 7 | $den | dm-encode -o "$TMP/d_all.npy"
	for r in "0 11 4" "11 10 8" "21 9 1"; do
		set -- $r
		dm-noise --prior --shape 8x1x4x4 --first-index $1 --count $2 --batch $3 --seed 7 \
			| $den | dm-encode -o "$TMP/d_$1.npy"
	done
	if python3 - <<'PYEOF'
import os, struct
T = os.environ['TMP']
def raw(p):
    b = open(p, 'rb').read(); hl = struct.unpack('<H', b[8:10])[0]; return b[10 + hl:]
a = raw(T + '/d_all.npy')
assert len(a) == 30 * 16 * 4
assert a == raw(T + '/d_0.npy') + raw(T + '/d_11.npy') + raw(T + '/d_21.npy')
PYEOF
	then pass split-sampling-denoise; else fail split-sampling-denoise "3 ranges differ from one run"; fi
else
	skip split-sampling-denoise "dm-denoise not built"
fi

# a failing run leaves no file (its temporary is removed on exit)
python3 "$HERE/tests/tools/mkstream.py" --frames 2 --shape 2x2 --meta schedule=linear --name y >"$TMP/nox.dms"
leaves_nothing "a failing run leaves no file" "dm-noise --train -o out.dms '$TMP/nox.dms'"

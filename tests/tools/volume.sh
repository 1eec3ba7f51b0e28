#!/bin/sh
# tests/tools/volume.sh - volumes: NIfTI-1 written by nibabel (another
# program) read by dm-load, dm-encode's .nii/.nii.gz read back by nibabel,
# toy:phantom, and hostile headers.
. tests/tools/lib.sh

T=$TMP
export T
PY=/usr/bin/python3
export PY

# nibabel writes int16 volumes with a scale (v * 2 + 1), big- and little-endian
$PY - "$T" <<'PYEOF'
import sys, numpy as np, nibabel as nib
d = sys.argv[1]
a = (np.arange(5 * 6 * 7 * 2, dtype=np.int16).reshape(5, 6, 7, 2) % 97) - 40  # x, y, z, t
for name, order in (("le.nii.gz", "<"), ("be.nii", ">")):
    h = nib.Nifti1Header()
    h.set_data_dtype(np.dtype(order + "i2"))
    img = nib.Nifti1Image(a, np.eye(4), h)
    img.header.set_slope_inter(2.0, 1.0)
    if order == ">":
        img = nib.Nifti1Image(a, np.eye(4), img.header.as_byteswapped(">"))
        img.header.set_slope_inter(2.0, 1.0)
    nib.save(img, d + "/" + name)
np.save(d + "/want.npy", (a.astype(np.float32) * 2 + 1).transpose(3, 2, 1, 0)[:, None])
PYEOF
for f in le.nii.gz be.nii; do
	check nibabel_${f%%.*}_shape "dm-load '$T/$f' | dm-info | grep -q 'x  *f32  2x1x7x6x5 '"
	dm-load "$T/$f" | dm-encode -o "$T/$f.npy"
	if $PY -c "import sys,numpy as np; a=np.load(sys.argv[1]); b=np.load(sys.argv[2]); sys.exit(0 if a.shape==b.shape and (a==b).all() else 1)" "$T/$f.npy" "$T/want.npy"
	then pass nibabel_${f%%.*}_values; else fail nibabel_${f%%.*}_values "values differ from nibabel's (x 2 + 1)"; fi
done

# dm-encode's volumes read by nibabel: the phantom, 3 volumes of 8 x 12 x 16
dm-load toy:phantom --n 3 --frames 8 --size 12x16 --range 0:1 >"$T/ph.dms"
dm-encode -o "$T/ph.npy" <"$T/ph.dms"
for f in ph.nii ph.nii.gz; do
	dm-encode -o "$T/$f" <"$T/ph.dms"
	if $PY -c "
import sys, numpy as np, nibabel as nib
img = nib.load(sys.argv[1]); a = np.asanyarray(img.dataobj)
want = np.load(sys.argv[2])[:, 0].transpose(3, 2, 1, 0)  # N,D,H,W -> x,y,z,t
sys.exit(0 if a.shape == (16, 12, 8, 3) and np.array_equal(a, want) else 1)" "$T/$f" "$T/ph.npy"
	then pass nibabel_reads_$f; else fail nibabel_reads_$f "nibabel sees other values or shape"; fi
done
dm-load toy:phantom --n 2 --seed 3 >"$T/ph3.dms"
check phantom_seeded 'dm-load toy:phantom --n 2 --seed 3 | cmp -s - "$T/ph3.dms" && ! dm-load toy:phantom --n 2 --seed 4 | cmp -s - "$T/ph3.dms"'
# the phantom's parts: background 0, skull 0.9, brain 0.3 (+ lesions up to 0.8)
check phantom_levels 'dm-load toy:phantom --n 4 --range 0:1 | dm-info | grep -q "x  *f32  4x1x32x32x32  *min 0  *max 0\.[89]"'

# ---- hostile headers: one line, exit 1, memory bounded ---------------------
mkhdr() { # NAME DIM1 DIM2 DIM3 DATATYPE BITPIX MAGIC [GZ]
	$PY - "$T/$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8:-}" <<'PYEOF'
import sys, struct, gzip
p, x, y, z, dt, bp, magic, gz = sys.argv[1:9]
h = bytearray(352)
struct.pack_into("<i", h, 0, 348)
struct.pack_into("<8h", h, 40, 3, int(x), int(y), int(z), 1, 1, 1, 1)
struct.pack_into("<hh", h, 70, int(dt), int(bp))
struct.pack_into("<f", h, 108, 352.0)
h[344:348] = magic.encode() + b"\0"
data = bytes(h) + bytes(1000)
open(p, "wb").write(gzip.compress(data) if gz else data)
PYEOF
}
# memory capped as hostile.sh caps it (not under AddressSanitizer, whose
# shadow memory a cap would refuse)
CAP="ulimit -v 400000;"
ldd "$BUILD/bin/dm-load" 2>/dev/null | grep -q libasan && CAP=""
mkhdr huge.nii 32767 32767 32767 16 32 n+1
expect_fail nifti_huge_claim 'huge\.nii: .*over the limit' 'dm-load "$T/huge.nii"'
mkhdr big.nii 1000 1000 100 2 8 n+1
expect_fail nifti_file_too_short 'big\.nii: the header claims 100000000 bytes of voxels at offset 352, the file has 1352' 'dm-load "$T/big.nii"'
mkhdr big.nii.gz 1000 1000 100 2 8 n+1 gz
expect_fail nifti_gz_truncated 'big\.nii\.gz: truncated: the voxels end after 1000 of 100000000 bytes' "($CAP dm-load '$T/big.nii.gz')"
mkhdr magic.nii 2 2 2 16 32 abc
expect_fail nifti_magic 'magic\.nii: no NIfTI-1 magic' 'dm-load "$T/magic.nii"'
mkhdr pair.nii 2 2 2 16 32 ni1
expect_fail nifti_pair 'pair\.nii: a \.hdr/\.img pair' 'dm-load "$T/pair.nii"'
mkhdr bitpix.nii 2 2 2 16 8 n+1
expect_fail nifti_bitpix 'bitpix\.nii: bitpix 8 does not match datatype 16' 'dm-load "$T/bitpix.nii"'
mkhdr cplx.nii 2 2 2 32 64 n+1
expect_fail nifti_datatype 'cplx\.nii: datatype 32 is not read' 'dm-load "$T/cplx.nii"'
mkhdr zero.nii 2 0 2 16 32 n+1
expect_fail nifti_zero_dim 'zero\.nii: dim\[2\] = 0' 'dm-load "$T/zero.nii"'
printf 'short' >"$T/short.nii"
expect_fail nifti_short 'short\.nii: truncated NIfTI header \(5 of 348' 'dm-load "$T/short.nii"'
expect_fail nifti_encode_2d 'volumes need at least 3' 'dm-load toy:moons --n 4 | dm-encode -o "$T/m.nii"'
check nifti_encode_no_partial '[ ! -e "$T/m.nii" ]'

# ---- volumes as pictures: slices along any axis, maximum projections -------
dm-load toy:phantom --n 1 --frames 8 --size 12x16 --range 0:1 >"$T/v.dms"
check slices_along_h 'dm-encode --range 0:1 --slice-axis h -o "$T/sh_%02d.png" <"$T/v.dms" && [ -e "$T/sh_11.png" ] && [ ! -e "$T/sh_12.png" ] && [ "$($PY tests/tools/pngcheck.py "$T/sh_00.png")" = "16 8 1" ]'
check slices_along_w 'dm-encode --range 0:1 --slice-axis w -o "$T/sw_%02d.png" <"$T/v.dms" && [ -e "$T/sw_15.png" ] && [ ! -e "$T/sw_16.png" ] && [ "$($PY tests/tools/pngcheck.py "$T/sw_00.png")" = "12 8 1" ]'
# the MIP along t is the maximum of the t slices: its bytes against numpy's
dm-encode --range 0:1 --mip -o "$T/mip.png" <"$T/v.dms"
dm-encode -o "$T/v.npy" <"$T/v.dms"
$PY -c "
import sys, numpy as np
v = np.load(sys.argv[1])[0, 0]            # D x H x W in [0, 1]
m = np.clip(np.floor(v.max(axis=0).astype(np.float64) * 255 + 0.5), 0, 255).astype(np.uint8)
m.tofile(sys.argv[2])" "$T/v.npy" "$T/mip.bin"
check mip_values '$PY tests/tools/pngcheck.py "$T/mip.png" 16 12 1 --bytes "$T/mip.bin"'
expect_fail slice_axis_bad 'slice-axis: unknown .z.' 'dm-encode --slice-axis z -o "$T/x.png" <"$T/v.dms"'

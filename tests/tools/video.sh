#!/bin/sh
# tests/tools/video.sh - clips: dm-load reading videos made by the ffmpeg
# program (values checked against ffmpeg's own conversion), PNG frame
# sequences, toy:moving-fmnist, and dm-encode playing clips back.
. tests/tools/lib.sh

T=$TMP
export T
PY=/usr/bin/python3
FF="ffmpeg -v error -nostdin -y"

# ---- a third-party video: ffmpeg's test source, lossless H.264 ----------
$FF -f lavfi -i testsrc=size=64x48:rate=10:duration=2 -pix_fmt yuv444p -c:v libx264 -crf 0 "$T/t.mp4"
$FF -i "$T/t.mp4" -pix_fmt gray -f rawvideo "$T/t.gray"
$FF -i "$T/t.mp4" -pix_fmt rgb24 -f rawvideo "$T/t.rgb"
check mp4_shape 'dm-load "$T/t.mp4" --frames 5 | dm-info | grep -q "x  *f32  4x3x5x48x64 "'
check mp4_batch_default '[ "$(dm-load "$T/t.mp4" --frames 1 | dm-info | grep -c "^frame")" = 2 ]'
check mp4_stride_clips 'dm-load "$T/t.mp4" --frames 3 --frame-stride 2 --clips-per-file 2 | dm-info | grep -q "x  *f32  2x3x3x48x64 "'
check mp4_size_crop 'dm-load "$T/t.mp4" --frames 4 --size 24x40 --gray | dm-info | grep -q "x  *f32  5x1x4x24x40 "'
# the bytes: with --range 0:255 dm-load's values are the decoded bytes
cmp_raw() { # FILE.npy RAW CHANNELS: the clip's frames against ffmpeg's raw frames
	$PY - "$1" "$2" "$3" <<'EOF'
import sys, numpy as np
a = np.load(sys.argv[1]); c = int(sys.argv[3])
raw = np.fromfile(sys.argv[2], np.uint8).reshape(20, 48, 64, c).transpose(3, 0, 1, 2)
got = a[0]  # C x T x H x W
sys.exit(0 if got.shape == raw.shape and np.abs(got - raw).max() == 0 else 1)
EOF
}
dm-load "$T/t.mp4" --gray --frames 20 --range 0:255 | dm-encode -o "$T/g.npy"
if cmp_raw "$T/g.npy" "$T/t.gray" 1; then pass mp4_gray_values; else fail mp4_gray_values "bytes differ from ffmpeg's gray"; fi
dm-load "$T/t.mp4" --frames 20 --range 0:255 | dm-encode -o "$T/c.npy"
if cmp_raw "$T/c.npy" "$T/t.rgb" 3; then pass mp4_rgb_values; else fail mp4_rgb_values "bytes differ from ffmpeg's rgb24"; fi

# other containers: WebM (VP9), AVI (MJPEG), Y4M, each 20 frames
$FF -f lavfi -i testsrc=size=64x48:rate=10:duration=2 -c:v libvpx-vp9 -b:v 200k "$T/t.webm"
$FF -f lavfi -i testsrc=size=64x48:rate=10:duration=2 -c:v mjpeg "$T/t.avi"
$FF -f lavfi -i testsrc=size=64x48:rate=10:duration=2 -pix_fmt yuv420p "$T/t.y4m"
for f in webm avi y4m; do
	check ${f}_frames "dm-load '$T/t.$f' --frames 10 --gray | dm-info | grep -q 'x  *f32  2x1x10x48x64 '"
done

# a folder of videos, one clip each, of one size after --size
mkdir -p "$T/vids" && cp "$T/t.mp4" "$T/vids/a.mp4" && cp "$T/t.webm" "$T/vids/b.webm"
$FF -f lavfi -i testsrc=size=80x60:rate=10:duration=1 -c:v libx264 "$T/vids/c.mp4"
check folder_of_videos 'dm-load "$T/vids" --frames 8 --clips-per-file 1 --size 32x32 | dm-info | grep -q "x  *f32  3x3x8x32x32 "'
expect_fail folder_sizes_differ 'c\.mp4: frames are 80x60, unlike the 64x48.*--size' \
	'dm-load "$T/vids" --frames 8 -o "$T/never.dms"'
check no_partial_output '[ ! -e "$T/never.dms" ]'

# numbered frame PNGs as clips
mkdir -p "$T/frames"
$FF -f lavfi -i testsrc=size=32x24:rate=10:duration=1 "$T/frames/f%03d.png"
check png_sequence_clips 'dm-load "$T/frames" --frames 4 | dm-info | grep -q "x  *f32  2x3x4x24x32 "'

# ---- errors: one line naming the file -----------------------------------
head -c 3000 "$T/t.mp4" >"$T/cut.mp4" # (its index is at the end: cut off)
expect_fail truncated_mp4_index 'cut\.mp4: cannot open as a video' 'dm-load "$T/cut.mp4" --frames 4'
$FF -f lavfi -i testsrc=size=64x48:rate=10:duration=2 -c:v libx264 -crf 0 -movflags +faststart "$T/fs.mp4"
head -c 9000 "$T/fs.mp4" >"$T/fscut.mp4" # (index first: cut in the frames)
expect_fail truncated_mp4_frames 'fscut\.mp4: frame [0-9]+: damaged or truncated' 'dm-load "$T/fscut.mp4" --frames 1'
expect_fail not_a_file 'nope\.mp4: .*No such file' 'dm-load "$T/nope.mp4"'
printf 'not a video at all' >"$T/junk.mp4"
expect_fail junk_mp4 'junk\.mp4: cannot open as a video' 'dm-load "$T/junk.mp4"'
expect_fail too_short 't\.mp4: 20 frames, fewer than --frames 30' 'dm-load "$T/t.mp4" --frames 30'
{ printf 'YUV4MPEG2 W100000 H100000 F25:1 Ip A1:1 C420jpeg\nFRAME\n'; head -c 1000 /dev/zero; } >"$T/huge.y4m"
expect_fail hostile_y4m_header 'huge\.y4m: cannot open as a video' 'dm-load "$T/huge.y4m" --frames 1'
expect_fail frame_stride_toy 'for videos' 'dm-load toy:moving-fmnist --frame-stride 2 --n 2'

# ---- toy:moving-fmnist and clips out --------------------------------------
check moving_fmnist_shape 'dm-load toy:moving-fmnist --n 3 --frames 6 --size 24x40 | dm-info | grep -q "x  *f32  3x1x6x24x40 "'
check moving_fmnist_seeded 'dm-load toy:moving-fmnist --n 2 --seed 4 | cmp -s - "$(dm-load toy:moving-fmnist --n 2 --seed 4 -o "$T/m4.dms"; echo "$T/m4.dms")"'
dm-load toy:moving-fmnist --n 4 >"$T/m.dms"
check clips_png_per_step 'dm-encode -o "$T/step_%02d.png" <"$T/m.dms" && [ -e "$T/step_07.png" ] && [ ! -e "$T/step_08.png" ]'
# a clip through a GIF and back: 8 frames, values within GIF quantisation
dm-encode --fps 8 -o "$T/m.gif" <"$T/m.dms"
check clips_gif_round_trip 'dm-load "$T/m.gif" --gray --frames 8 | dm-info | grep -q "x  *f32  1x1x8x64x64 "'
check clips_mp4_frames '[ "$(dm-encode --fps 8 -o - --format mp4 <"$T/m.dms" | ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 -)" = 8 ]'

# ---- scoring clips: per-frame FD and the temporal-change figure -----------
dm-load toy:moving-fmnist --n 100 --seed 1 >"$T/m1.dms"
dm-load toy:moving-fmnist --n 100 --seed 2 >"$T/m2.dms"
check score_frames_count 'dm-score --frames --fd "$T/m1.dms" "$T/m2.dms" | grep -q "^fd [0-9.]* n 800/800$"'
# two draws of one generator move alike (each figure a mean of 716800 values)
check score_temporal_alike 'dm-score --temporal "$T/m1.dms" "$T/m2.dms" | awk "{ exit !(\$5 > 0.9 && \$5 < 1.1) }"'
# noise changes every pixel independently from frame to frame: far more motion
check score_temporal_noise 'dm-noise --t 300 <"$T/m1.dms" | dm-score --temporal - "$T/m2.dms" | awk "{ exit !(\$5 > 3) }"'
# a still clip (one image repeated) does not move at all
mkdir -p "$T/still" && for i in 1 2 3 4; do cp "$T/frames/f001.png" "$T/still/s$i.png"; done
check score_temporal_still 'dm-load "$T/still" --frames 4 >"$T/still.dms" && dm-score --temporal "$T/still.dms" "$T/still.dms" | grep -q "^temporal 0.000000 0.000000"'
dm-load toy:moons --n 10 >"$T/moons.dms"
expect_fail score_temporal_not_clips 'needs clips' 'dm-score --temporal "$T/moons.dms" "$T/moons.dms"'

# ---- frame conditioning: dm-denoise --given first:K ------------------------
# The exact Gaussian denoiser draws every value independently: the given
# frames come back exactly, the others as N(0.5, 0.3^2) (16384 values: the
# mean within 0.02, the std within 0.02 of 0.3 less DDPM's small deficit)
dm-load toy:moving-fmnist --n 2 --range 0:1 >"$T/g_in.dms"
dm-encode -o "$T/g_in.npy" <"$T/g_in.dms"
dm-denoise -m gaussian:0.5:0.3 -S linear --given first:3 --no-clip <"$T/g_in.dms" | dm-encode -o "$T/g_out.npy"
if $PY -c "
import sys, numpy as np
a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); s = b[:, :, 3:]
sys.exit(0 if a.shape == b.shape and np.array_equal(a[:, :, :3], b[:, :, :3])
         and abs(s.mean() - 0.5) < 0.02 and abs(s.std() - 0.3) < 0.02 else 1)" "$T/g_in.npy" "$T/g_out.npy"
then pass given_gaussian; else fail given_gaussian "given frames changed or the rest not N(0.5, 0.3^2)"; fi
expect_fail given_nothing_left 'first:8 leaves nothing to sample in clips of 8 frames' \
	'dm-denoise -m gaussian:0.5:0.3 -S linear --given first:8 <"$T/g_in.dms"'
expect_fail given_stills_gaussian 'given needs clips' \
	'dm-load "$T/frames/f001.png" | dm-denoise -m gaussian:0:1 -S linear --given first:1'
expect_fail given_spec 'given: .last:2. is not first:K' 'dm-denoise -m gaussian:0:1 --given last:2 <"$T/g_in.dms"'
expect_fail given_and_mask 'one of --mask' 'dm-denoise -m gaussian:0:1 --given first:1 --mask x.png <"$T/g_in.dms"'

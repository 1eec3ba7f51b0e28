#!/bin/sh
# scripts/deps.sh - install the Debian packages dm needs to build, test and
# run its demo.  As root it runs apt-get; otherwise it prints the exact
# command to run and exits 1.  `scripts/deps.sh --check` only reports.
#   build:  a C compiler, make, pkg-config, zlib, libpng, ffmpeg's libraries
#   tests:  python3-torch (PyTorch twin parity test), python3-numpy, ffmpeg
#           (the ffmpeg program makes third-party videos for dm-load's tests),
#           python3-nibabel (third-party NIfTI volumes)
#   data:   dataset-fashion-mnist
PKGS="build-essential pkg-config zlib1g-dev libpng-dev libavcodec-dev libavformat-dev
libavutil-dev libswscale-dev libavfilter-dev dataset-fashion-mnist python3 python3-numpy
python3-torch python3-nibabel ffmpeg"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
[ "${1:-}" = "--check" ] && { echo "missing:$missing"; exit 1; }
if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y --no-install-recommends $missing
else
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi

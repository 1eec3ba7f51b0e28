#!/bin/sh
# pipelines/demo.sh BIN OUT - the demo pipeline (see README.md).
set -eu
BIN=$1
OUT=$2
PATH=$BIN:$PATH
echo "demo: 64 Fashion-MNIST images -> $OUT/fashion-mnist.png"
dm-load fashion-mnist:train --limit 64 --batch 64 | dm-encode --grid 8x8 --scale 2 -o "$OUT/fashion-mnist.png"
echo "demo: the swiss roll -> $OUT/swissroll.csv"
dm-load toy:swissroll --n 1000 | dm-encode -o "$OUT/swissroll.csv"
echo "demo: done; see $OUT/"

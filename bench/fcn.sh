#!/bin/sh
# fcn.sh [--build] [NET] - compare the engine with PyTorch 1.13 on FCN-AlexNet
# 256x256 batch 1, 2 threads: images/s forward and forward+backward, peak
# RSS, as ratios.  Builds bench/fcn_bench with the Makefile's flags.
set -eu
cd "$(dirname "$0")/.."
build_only=0
if [ "${1:-}" = --build ]; then build_only=1; shift; fi
NET=${1:-nets/fcn-alexnet.prototxt}
ITERS=${ITERS:-5}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
make -s build/libfcn.a build/libstream.a >&2
mkdir -p build/bench
${CC:-cc} -std=c17 -D_GNU_SOURCE -O2 -g -fopenmp -Ilibfcn \
	$(pkg-config --cflags openblas) -o build/bench/fcn_bench bench/fcn_bench.c \
	build/libfcn.a $(pkg-config --libs openblas) -lm
[ $build_only = 1 ] && exit 0
ours=$(build/bench/fcn_bench "$NET" 1 3 256 256 "$ITERS" "$THREADS")
theirs=$("$PYTHON" bench/fcn_torch.py "$ITERS" "$THREADS")
echo "# ours ($NET)"; echo "$ours"
echo "# pytorch"; echo "$theirs"
get() { echo "$1" | sed -n "s/^$2=//p"; }
awk -v a="$(get "$ours" forward_img_s)" -v b="$(get "$theirs" forward_img_s)" \
    -v c="$(get "$ours" train_img_s)" -v d="$(get "$theirs" train_img_s)" \
    'BEGIN { printf "ratio_forward=%.2f\nratio_train=%.2f\n", a / b, c / d }'

#!/bin/sh
# peers.sh [NET...] - our engine against PyTorch 2.x, ONNX Runtime and
# OpenVINO (from PyPI, in a venv under build/peers) on the benchmark nets,
# batch 1 (BATCHES), 256x256, THREADS threads: inference and training-step times,
# best of ITERS after a warm-up, ROUNDS rounds interleaving the engines so
# that a loaded machine slows all of them alike, one table with the ratios
# (bench/compare.py), after the machine's FMA peak and SGEMM rate
# (bench/peak.c).  NETs: unet16 unet32 fcn-alexnet fcn-8s (default: all).
# BATCHES="1 8" adds rows of 8 images a pass (times per image).
#   ITERS=5 ROUNDS=3 THREADS=2 bench/peers.sh unet16 unet32
set -eu
cd "$(dirname "$0")/.."
V=build/peers
if [ ! -x $V/bin/python ] || ! $V/bin/python -c 'import torch, onnxruntime, openvino, onnx, msgpack' 2>/dev/null; then
	/usr/bin/python3 -m venv $V
	$V/bin/pip install -q torch onnxruntime openvino onnx numpy msgpack
fi
bench/fcn.sh --build
mkdir -p build/bench
${CC:-cc} -std=c17 -D_GNU_SOURCE -O2 $(pkg-config --cflags openblas) -o build/bench/peak \
	bench/peak.c $(pkg-config --libs openblas) -lpthread
[ $# -gt 0 ] || set -- unet16 unet32 fcn-alexnet fcn-8s
for n in "$@"; do
	for b in ${BATCHES:-1}; do
		f=build/bench/$n$([ "$b" = 1 ] || echo "-b$b").onnx
		[ -f $f ] && [ $f -nt bench/peers.py ] ||
			$V/bin/python -W ignore bench/peers.py export "$n" 5 2 both "$b"
	done
done
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
build/bench/peak "${THREADS:-2}" 1 | sed 's/^/# /'
exec /usr/bin/python3 bench/compare.py "$@"

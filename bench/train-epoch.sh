#!/bin/sh
# train-epoch.sh [STREAM] - one whole fcn-train epoch of the lab recipe
# (nets/unet.prototxt: MVN input, U-Net 16; softmax+dice per image, AdamW,
# batch BATCH) against the same epoch in PyTorch 2.x (bench/train_epoch_torch.py,
# in bench/peers.sh's venv), THREADS threads, ROUNDS rounds interleaving the
# two.  STREAM: training records (image + label); default N (224) synthetic
# records of SIZE x SIZE (128, the recipe's crop; tests/ref/numpy_fcn_data.py).
# Each side is timed as a whole process (start-up, reading the stream and
# writing the model included) and by its own epoch clock (fcn-train's
# images_per_s; the peer's loop).  Prints key=value lines per round and the
# ratios peer/ours (> 1: we are faster; peak RSS: > 1 we use less).
#   ROUNDS=3 THREADS=2 bench/train-epoch.sh
set -eu
cd "$(dirname "$0")/.."
N=${N:-224}
SIZE=${SIZE:-128}
BATCH=${BATCH:-4}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
V=${VENV:-build/peers}
if [ ! -x "$V/bin/python" ] || ! "$V/bin/python" -c 'import torch, msgpack' 2>/dev/null; then
	/usr/bin/python3 -m venv "$V"
	"$V/bin/pip" install -q torch numpy msgpack
fi
make -s bin/fcn-train >&2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ $# -gt 0 ]; then
	data=$1
else
	data=$T/data.st
	/usr/bin/python3 tests/ref/numpy_fcn_data.py "$data" "$N" "$SIZE" "$SIZE" 1
fi
n=$(bin/tensor-info -s --json "$data" | sed -n 's/.*"records": *\([0-9]*\).*/\1/p' | head -n1)
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); $n records, batch $BATCH, $THREADS threads; $("$V/bin/python" -c 'import torch; print("torch", torch.__version__)')"
peak() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
wall() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" |
	awk -F: '{s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s}'; }
r=1
while [ $r -le "$ROUNDS" ]; do
	/usr/bin/time -v -o "$T/ours.time" bin/fcn-train --net nets/unet.prototxt --train "$data" \
		--epochs 1 --loss softmax+dice --dice-over image --solver adamw --lr 3e-3 \
		--weight-decay 1e-4 --batch "$BATCH" --threads "$THREADS" --seed 1 \
		-o "$T/m.fcn" >"$T/ours.tsv" 2>/dev/null
	/usr/bin/time -v -o "$T/peer.time" "$V/bin/python" -W ignore bench/train_epoch_torch.py \
		"$data" "$BATCH" "$THREADS" >"$T/peer.kv"
	ours_ips=$(awk -F'\t' 'NR == 2 {print $8}' "$T/ours.tsv")
	peer_ips=$(sed -n 's/^images_per_s=//p' "$T/peer.kv")
	ow=$(wall "$T/ours.time") pw=$(wall "$T/peer.time")
	om=$(peak "$T/ours.time") pm=$(peak "$T/peer.time")
	echo "round=$r ours_wall_s=$ow peer_wall_s=$pw ours_epoch_images_per_s=$ours_ips peer_epoch_images_per_s=$peer_ips ours_peak_rss_mb=$((om / 1024)) peer_peak_rss_mb=$((pm / 1024))"
	echo "$ow $pw $ours_ips $peer_ips $om $pm" |
		awk -v r=$r '{printf "round=%d ratio_wall=%.2f ratio_epoch=%.2f ratio_rss=%.2f\n", r, $2 / $1, $3 / $4, $6 / $5}'
	r=$((r + 1))
done

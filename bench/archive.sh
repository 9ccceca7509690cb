#!/bin/sh
# archive.sh [DIR] - a whole DICOM archive to masks and a per-case report,
# end to end, frames/s: ours
#   dcm2tensor FILES | fcn-predict -m MODEL | tee masks.ts | lv-volume
# against what a Python user writes (bench/archive_peer.py: pydicom +
# ONNX Runtime on the same net with the same weights, per frame, masks
# as .npy, the same kind of per-case report), THREADS threads each, in
# the same run, ROUNDS rounds interleaving the two.  Also the net alone
# (fcn-predict on the pre-decoded stream to /dev/null), so that "cost
# beyond the net" = (end to end - net alone) / end to end; net_ratio: the
# peer's time in ONNX Runtime alone over our net alone (the whole
# fcn-predict program on the decoded stream); and the
# agreement of the two sides' masks (bench/archive_compare.py).
# DIR: a tree with dicoms/ (default ../shared/data/sunnybrook, all its
# frames); without it a phantom tree of 920 frames is made.
# The model: bench/unet16.prototxt trained for one epoch on 2 phantom
# frames (speed does not depend on training), exported to ONNX through
# its PyTorch twin (bench/archive_export.py, Debian's torch).
#   THREADS=2 ROUNDS=1 FRAMES=0 VENV=build/peers bench/archive.sh
# FRAMES=N: only the first N files (0: all).  DRY=1: our side only (no
# venv, no peer), for a quick check; prints the same key=value lines.
# WORK: where the model and the ONNX file are kept (default build/archive);
# SIZE: the phantom training frames' size (default 256x256; the net takes
# any multiple of 16); OUT=DIR: keep the last round's masks.ts, report.tsv
# (and the peer's peer.tsv, peer/CASE.npy) in DIR.
# VENV: a venv with onnxruntime and numpy (bench/peers.sh's build/peers
# has them; made here like peers.sh does when missing, onnxruntime only).
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-1}
FRAMES=${FRAMES:-0}
DRY=${DRY:-0}
V=${VENV:-build/peers}
DIR=${1:-../shared/data/sunnybrook}
B=${WORK:-build/archive}
SIZE=${SIZE:-256x256}
OUT=${OUT:-}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
if [ -z "${BIN:-}" ]; then # BIN: the programs' folder (tests set it); else make them
	make -s bin/dcm2tensor bin/fcn-predict bin/fcn-train bin/lv-volume bin/phantom \
		bin/sunnybrook-index bin/contour2mask >&2
fi
P=${BIN:-bin}
mkdir -p $B
if [ ! -d "$DIR/dicoms" ]; then
	echo "note: $DIR/dicoms not found, using a phantom tree of 920 frames" >&2
	DIR=$T/phantom
	"$P"/phantom -o "$DIR" --cases 23 --slices 2 --phases 20 >&2
fi
find "$DIR/dicoms" -name '*.dcm' | sort >"$T/all"
if [ "$FRAMES" -gt 0 ]; then head -n "$FRAMES" "$T/all" >"$T/files"; else cp "$T/all" "$T/files"; fi
n=$(wc -l <"$T/files")
[ "$n" -gt 0 ] || { echo "archive.sh: no .dcm files under $DIR/dicoms" >&2; exit 1; }

M=$B/unet16.fcn
if [ ! -f $M ] || [ bench/unet16.prototxt -nt $M ]; then
	rm -rf "$T/ph"
	"$P"/phantom -o "$T/ph" --size "$SIZE" --cases 1 --slices 1 --phases 2 >&2
	"$P"/sunnybrook-index "$T/ph" | "$P"/dcm2tensor --list - | "$P"/contour2mask >"$T/train.ts"
	"$P"/fcn-train --net bench/unet16.prototxt --train "$T/train.ts" --epochs 1 \
		--lr 1e-3 --scale 0.01 --seed 1 --threads "$THREADS" -o $M >&2
fi
if [ "$DRY" = 0 ]; then
	if [ ! -x "$V/bin/python" ] || ! "$V/bin/python" -c 'import onnxruntime, numpy' 2>/dev/null; then
		/usr/bin/python3 -m venv "$V"
		"$V/bin/pip" install -q onnxruntime numpy
	fi
	if [ ! -f $B/unet16.onnx ] || [ $M -nt $B/unet16.onnx ] ||
		[ bench/archive_export.py -nt $B/unet16.onnx ]; then
		/usr/bin/python3 -W ignore bench/archive_export.py $M 16 $B/unet16.onnx >&2
	fi
fi

xargs cat <"$T/files" >/dev/null # warm the page cache
xargs "$P"/dcm2tensor <"$T/files" >"$T/images.ts"
now() { date +%s.%N; }
sub() { echo "$1 $2" | awk '{printf "%.3f", $2 - $1}'; }
ours() {
	mkdir -p "$T/ours"
	xargs "$P"/dcm2tensor <"$T/files" | "$P"/fcn-predict -m $M --threads "$THREADS" |
		tee "$T/ours/masks.ts" | "$P"/lv-volume >"$T/ours/report.tsv"
}
net() { "$P"/fcn-predict -m $M --threads "$THREADS" <"$T/images.ts" >/dev/null; }
peer() {
	"$V/bin/python" -W ignore bench/archive_peer.py $B/unet16.onnx "$T/peer" "$THREADS" \
		<"$T/files" >"$T/peer.tsv" 2>"$T/peer.err" || { cat "$T/peer.err" >&2; exit 1; }
	sed -n 's/^net_s=//p' "$T/peer.err"
}
best() { # best (smallest) of the space-separated times
	echo "$1" | tr ' ' '\n' | grep . | sort -g | head -n 1
}
to=""; tn=""; tp=""; tpn=""
r=0
while [ "$r" -lt "$ROUNDS" ]; do
	s=$(now); ours; e=$(now); o=$(sub "$s" "$e"); to="$to $o"
	s=$(now); net; e=$(now); t=$(sub "$s" "$e"); tn="$tn $t"
	line="ours $o s, net alone $t s"
	if [ "$DRY" = 0 ]; then
		s=$(now); pn=$(peer); e=$(now); p=$(sub "$s" "$e"); tp="$tp $p"; tpn="$tpn $pn"
		line="$line, peer $p s (ONNX Runtime alone $pn s), ratio $(echo "$p $o" | awk '{printf "%.2f", $1 / $2}')"
	fi
	echo "round $((r + 1)): $line; load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
	r=$((r + 1))
done
bo=$(best "$to"); bn=$(best "$tn")
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "frames=$n"
echo "dir=$DIR"
echo "threads=$THREADS"
echo "rounds=$ROUNDS"
echo "ours_s=$bo"
echo "ours_frames_per_s=$(echo "$n $bo" | awk '{printf "%.2f", $1 / $2}')"
echo "net_alone_s=$bn"
echo "beyond_net_pct=$(echo "$bo $bn" | awk '{printf "%.1f", 100 * ($1 - $2) / $1}')"
echo "masks_bytes=$(wc -c <"$T/ours/masks.ts")"
sed 's/^/ours_report: /' "$T/ours/report.tsv"
if [ "$DRY" = 0 ]; then
	bp=$(best "$tp")
	echo "peer_s=$bp"
	echo "peer_frames_per_s=$(echo "$n $bp" | awk '{printf "%.2f", $1 / $2}')"
	echo "ratio=$(echo "$bp $bo" | awk '{printf "%.2f", $1 / $2}')"
	bpn=$(best "$tpn")
	echo "peer_net_s=$bpn"
	echo "net_ratio=$(echo "$bpn $bn" | awk '{printf "%.2f", $1 / $2}')"
	sed 's/^/peer_report: /' "$T/peer.tsv"
	/usr/bin/python3 bench/archive_compare.py "$T/ours/masks.ts" "$T/peer"
fi
if [ -n "$OUT" ]; then
	mkdir -p "$OUT"
	cp "$T/ours/masks.ts" "$T/ours/report.tsv" "$OUT/"
	if [ "$DRY" = 0 ]; then cp "$T/peer.tsv" "$OUT/"; cp -r "$T/peer" "$OUT/"; fi
fi

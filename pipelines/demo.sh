#!/usr/bin/env bash
# demo.sh [DATA] - the main job, end to end, with our best recipe
# (pipelines/lab.mk's `unet` target): a Sunnybrook-layout tree (the built-in
# phantom unless DATA names a real one) -> dataset split by case -> augment
# | fcn-train (nets/unet.prototxt with deep supervision) -> fcn-predict --tta=dihedral --largest --hull ->
# dice-score -> tensor2png.  Prints the training log, the Dice table and
# where the pictures and the learning curve are.
#
# Environment: OUT (work folder, default build/demo), EPOCHS (default 12),
# WARMUP (warm-up iterations, default lab.mk's 50),
# THREADS (default 2), SEED (default 1), VAL_CASES (default: one case drawn
# from SEED), CASES and SLICES of the phantom (default 5 and 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${BIN:-$root/bin}:$PATH"
data=${1:-}
out=${OUT:-$root/build/demo}
epochs=${EPOCHS:-12}
say() { printf 'demo: %s\n' "$*" >&2; }

if [ -n "$data" ] && [ ! -d "$data" ]; then
	echo "demo: $data: not a directory" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out"
args=(OUT="$out" BIN="${BIN:-$root/bin}" THREADS="${THREADS:-2}" SEED="${SEED:-1}"
	UNET_EPOCHS="$epochs" ${WARMUP:+UNET_WARMUP=$WARMUP}
	PHANTOM="--cases ${CASES:-5} --slices ${SLICES:-3} --phases 10")
[ -n "$data" ] && args+=(DATA="$data")
[ -n "${VAL_CASES:-}" ] && args+=(VAL="$VAL_CASES")
say "${data:-phantom} -> split by case -> augment | fcn-train (U-Net, $epochs epochs) -> fcn-predict"
make -s --no-print-directory -f "$root/pipelines/lab.mk" unet "${args[@]}" >&2
run=$out/unet
echo "Training log ($run/log.tsv):"
cat "$run/log.tsv"
echo
echo "Dice on the validation cases (per record in $run/dice.tsv):"
awk 'h {print} /^$/ {h = 1}' "$run/dice.tsv"
echo
echo "Pictures (label green, prediction red): $run/png/"
echo "Learning curve: $run/curve.png"

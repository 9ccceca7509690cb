#!/usr/bin/env bash
# demo.sh [DATA] - the main job, end to end: a Sunnybrook-layout tree (the
# built-in phantom unless DATA names a real one) -> dataset split by case ->
# fcn-train -> fcn-predict -> dice-score -> tensor2png.  Prints the Dice
# table and where the pictures are.
#
# Environment: OUT (work folder, default build/demo), NET (default
# nets/fcn-tiny.prototxt), EPOCHS (default 6), LR (default 0.01), THREADS
# (default 2), SEED (default 1), VAL_CASES (default: one case drawn from SEED),
# CASES and SLICES of the phantom (default 5 and 3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="${BIN:-$root/bin}:$PATH"
data=${1:-}
out=${OUT:-$root/build/demo}
net=${NET:-$root/nets/fcn-tiny.prototxt}
epochs=${EPOCHS:-6}
lr=${LR:-0.01}
threads=${THREADS:-2}
seed=${SEED:-1}
cases=${CASES:-5}
slices=${SLICES:-3}
say() { printf 'demo: %s\n' "$*" >&2; }

if [ -n "$data" ] && [ ! -d "$data" ]; then
	echo "demo: $data: not a directory" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out"
if [ -z "$data" ]; then
	data=$out/phantom
	say "phantom: $cases synthetic cases ($slices slices x 10 phases) in $data"
	phantom -o "$data" --cases "$cases" --slices "$slices" --phases 10 \
		--seed "$seed"
fi
split=(--seed "$seed")
[ -n "${VAL_CASES:-}" ] && split=(--val-cases "$VAL_CASES")
say "dataset: $data -> $out/train.ts, $out/val.ts (split by case)"
"$root/pipelines/dataset.sh" "${split[@]}" "$data" "$out"
say "fcn-train: $(basename "$net"), $epochs epochs, lr $lr, class weights auto"
fcn-train --net "$net" --train "$out/train.ts" --val "$out/val.ts" \
	--epochs "$epochs" --lr "$lr" --class-weights auto --seed "$seed" \
	--threads "$threads" -o "$out/model.fcn" >"$out/train.log"
say "fcn-predict: validation cases -> $out/pred.ts"
fcn-predict -m "$out/model.fcn" --threads "$threads" "$out/val.ts" >"$out/pred.ts"
dice-score --per-record "$out/pred.ts" >"$out/dice.tsv"
tensor2png -o "$out/png" "$out/pred.ts" >/dev/null
echo "Training log ($out/train.log):"
cat "$out/train.log"
echo
echo "Dice on the validation cases (per record in $out/dice.tsv):"
dice-score "$out/pred.ts"
echo
echo "Pictures (label green, prediction red): $out/png/"

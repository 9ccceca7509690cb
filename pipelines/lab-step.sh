#!/usr/bin/env bash
# lab-step.sh - one training experiment of pipelines/lab.mk, with everything
# it leaves behind:
#   DIR/cmd.sh       the exact commands (rerunnable from the repository root)
#   DIR/model.fcn    the model;  DIR/log.tsv  fcn-train's per-epoch TSV
#   DIR/time.txt     wall seconds and peak RSS (KiB) of training, and the host
#   DIR/pred.ts      the validation records with 'pred'
#   DIR/dice.tsv     dice-score per record, then the summary
#   DIR/curve.png    loss, pixel accuracy and Dice per epoch (gnuplot)
#   DIR/png/         validation overlays (label green, prediction red)
# Usage: lab-step.sh DIR VAL.ts [--pre "COMMAND"] [--aug "AUGMENT OPTIONS"]
#                    [--predict "OPTS"] -- FCN-TRAIN OPTIONS...
# --pre runs COMMAND (bash) before training and records it in cmd.sh.
# With --aug, training reads `augment OPTIONS TRAIN` through a pipe (the
# FCN-TRAIN OPTIONS then say --train - --epoch-size N and the augment options
# name the training file).  Outputs appear only when every stage succeeded.
set -euo pipefail
prog=lab-step.sh
die() { printf '%s: %s\n' "$prog" "$1" >&2; exit 1; }
[ $# -ge 3 ] || { echo "usage: $prog DIR VAL.ts [--aug OPTS] [--predict OPTS] -- FCN-TRAIN OPTIONS" >&2; exit 2; }
dir=$1 val=$2
shift 2
aug= predict= pre=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	case $1 in
	--pre) pre=$2; shift ;;
	--aug) aug=$2; shift ;;
	--predict) predict=$2; shift ;;
	*) echo "$prog: unknown option '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ "${1:-}" = -- ] || { echo "$prog: expected -- before the fcn-train options" >&2; exit 2; }
shift
threads=${THREADS:-2}
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/.step.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

q() { printf '%q ' "$@"; }
{
	echo "# $(date -u +%FT%TZ) on $(hostname), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
	[ -z "$pre" ] || echo "$pre"
	if [ -n "$aug" ]; then
		echo "augment $aug | fcn-train $(q "$@") -o $dir/model.fcn > $dir/log.tsv"
	else
		echo "fcn-train $(q "$@") -o $dir/model.fcn > $dir/log.tsv"
	fi
	echo "fcn-predict -m $dir/model.fcn $predict --threads $threads $val > $dir/pred.ts"
	echo "dice-score --per-record $dir/pred.ts > $dir/dice.tsv"
} >"$tmp/cmd.sh"

if [ -n "$pre" ]; then
	bash -euo pipefail -c "$pre" || die "failed: $pre"
fi
start=$(date +%s.%N)
if [ -n "$aug" ]; then
	# shellcheck disable=SC2086
	/usr/bin/time -f '%e %M' -o "$tmp/rss" augment $aug |
		/usr/bin/time -f '%e %M' -o "$tmp/rss2" \
			fcn-train "$@" -o "$tmp/model.fcn" >"$tmp/log.tsv" ||
		die "training failed (see its message above)"
else
	/usr/bin/time -f '%e %M' -o "$tmp/rss2" \
		fcn-train "$@" -o "$tmp/model.fcn" >"$tmp/log.tsv" ||
		die "training failed (see its message above)"
fi
end=$(date +%s.%N)
printf 'wall_s\t%.1f\npeak_rss_kib\t%s\nhost\t%s\ncores\t%s\n' \
	"$(awk -v a="$start" -v b="$end" 'BEGIN {print b - a}')" "$(cut -d' ' -f2 "$tmp/rss2")" \
	"$(hostname)" "$(nproc)" >"$tmp/time.txt"

# shellcheck disable=SC2086
fcn-predict -m "$tmp/model.fcn" $predict --threads "$threads" "$val" >"$tmp/pred.ts" ||
	die "fcn-predict failed"
dice-score --per-record "$tmp/pred.ts" >"$tmp/dice.tsv" || die "dice-score failed"
tensor2png -o "$tmp/png" "$tmp/pred.ts" >/dev/null || die "tensor2png failed"

# The curve: train_loss and val_loss (left axis), val_accuracy and val_dice
# (right axis, 0..1) against the epoch.
if [ "$(wc -l <"$tmp/log.tsv")" -ge 2 ]; then
	gnuplot <<GP || die "gnuplot failed"
set terminal png size 800,480 noenhanced
set output "$tmp/curve.png"
set datafile separator "\t"
set key autotitle columnhead outside bottom center horizontal
set title "$(basename "$dir")"
set xlabel "epoch"
set ylabel "loss"
set y2label "accuracy, Dice"
set y2range [0:1]
set ytics nomirror
set y2tics
set datafile missing "nan"
plot "$tmp/log.tsv" using 1:4 with linespoints, \
     "" using 1:5 with linespoints, \
     "" using 1:6 axes x1y2 with linespoints, \
     "" using 1:7 axes x1y2 with linespoints
GP
fi
rm -rf "$dir/png"
for f in cmd.sh model.fcn log.tsv time.txt pred.ts dice.tsv curve.png png; do
	[ -e "$tmp/$f" ] && mv -f -- "$tmp/$f" "$dir/$f"
done
printf '%s: %s: val Dice %s (mean per record), %s s\n' "$prog" "$dir" \
	"$(awk -F'\t' 'h && $1 == 1 {print $3} /^class\t/ {h = 1}' "$dir/dice.tsv")" \
	"$(awk -F'\t' '$1 == "wall_s" {print $2}' "$dir/time.txt")" >&2

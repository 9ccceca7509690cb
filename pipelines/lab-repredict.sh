#!/usr/bin/env bash
# lab-repredict.sh --predict "OPTS" DIR... - lab runs (pipelines/lab-step.sh
# folders of the recipe's folds: model.fcn, cmd.sh, data/val.ts) predicted
# again with fcn-predict OPTS, the model unchanged: pred.ts, dice.tsv and
# png/ are replaced, and cmd.sh's fcn-predict line, after a comment saying
# when.  Each folder's outputs are replaced only when all of them were made.
set -euo pipefail
prog=lab-repredict.sh
die() { printf '%s: %s\n' "$prog" "$1" >&2; exit 1; }
[ $# -ge 3 ] && [ "$1" = --predict ] ||
	{ echo "usage: $prog --predict OPTS DIR..." >&2; exit 2; }
predict=$2 threads=${THREADS:-2}
shift 2
tmp=
trap '[ -z "$tmp" ] || rm -rf -- "$tmp"' EXIT
for dir in "$@"; do
	dir=${dir%/} val=${dir%/}/data/val.ts
	for f in cmd.sh model.fcn data/val.ts; do [ -f "$dir/$f" ] || die "$dir/$f: no such file"; done
	tmp=$(mktemp -d "$dir/.repredict.XXXXXX")
	line="fcn-predict -m $dir/model.fcn $predict --threads $threads $val > $dir/pred.ts"
	awk -v l="$line" -v c="# $(date -u +%FT%TZ): fcn-predict again, $predict" \
		'/^fcn-predict -m / {print c; print l; next} /: fcn-predict again, / {next} {print}' \
		"$dir/cmd.sh" >"$tmp/cmd.sh"
	# shellcheck disable=SC2086 # the options are words
	fcn-predict -m "$dir/model.fcn" $predict --threads "$threads" "$val" >"$tmp/pred.ts" ||
		die "$dir: fcn-predict failed"
	dice-score --per-record "$tmp/pred.ts" >"$tmp/dice.tsv" || die "$dir: dice-score failed"
	tensor2png -o "$tmp/png" "$tmp/pred.ts" >/dev/null || die "$dir: tensor2png failed"
	rm -rf "$dir/png"
	for f in cmd.sh pred.ts dice.tsv png; do mv -f -- "$tmp/$f" "$dir/$f"; done
	rm -rf -- "$tmp"
	tmp=
	printf '%s\t%s\n' "$dir" "$(awk -F'\t' 'h && $1 == 1 {print $3} /^class\t/ {h = 1}' "$dir/dice.tsv")"
done

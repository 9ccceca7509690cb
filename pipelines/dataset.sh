#!/usr/bin/env bash
# dataset.sh - a Sunnybrook tree to training and validation streams:
#   sunnybrook-index DIR | dcm2tensor --list - | contour2mask | tensor-split
# leaving OUTDIR/train.ts, OUTDIR/val.ts and the index OUTDIR/index.tsv.
# Split by case (never by frame).  Outputs appear only when every stage
# succeeded (written under temporary names, then renamed).
# Programs are taken from PATH, else from the repository's bin/.
set -euo pipefail

prog=dataset.sh
usage() {
	cat <<EOF
Usage: $prog [OPTION]... DIR OUTDIR
Build OUTDIR/train.ts and OUTDIR/val.ts (and OUTDIR/index.tsv) from the
Sunnybrook tree DIR (either layout sunnybrook-index knows), split by case.

  --val-cases A,B     validation cases (env LVSEG_VAL_CASES; default: one
                      case drawn with --seed)
  --val-fraction F    instead, a fraction of the cases drawn with --seed
  --seed S            seed of the draw (env LVSEG_SEED; default 0)
  --contours SET      i, o or io (io: o-contour class 2, i-contour class 1
                      over it) (default i)
  --unknown V         with --contours io, a frame with its i-contour but no
                      o-contour gets V (e.g. 255, a loss's ignore_label)
                      outside the i-contour, where background and
                      myocardium are not told apart (default 0)
  --rule RULE         contour2mask rule, centre or digits (default centre)
  --all-frames        keep unlabelled frames too (they have no label)
  --strict            fail when sunnybrook-index leaves a contour out
  -q, --quiet         no summary of the split on stderr
  -h, --help          show this help and exit

Exit status: 0 ok, 1 a stage failed (its message is on stderr), 2 usage error.
EOF
}

usage_error() {
	printf '%s: %s\nTry '\''%s --help'\'' for more information.\n' "$prog" "$1" "$prog" >&2
	exit 2
}

die() {
	printf '%s: %s\n' "$prog" "$1" >&2
	exit 1
}

val_cases=${LVSEG_VAL_CASES:-}
val_fraction=
seed=${LVSEG_SEED:-0}
contours=i
unknown=
rule=centre
all_frames=
strict=
verbose=--verbose
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--val-cases) [ $# -ge 2 ] || usage_error "$1 needs a value"; val_cases=$2; shift ;;
	--val-cases=*) val_cases=${1#*=} ;;
	--val-fraction) [ $# -ge 2 ] || usage_error "$1 needs a value"; val_fraction=$2; shift ;;
	--val-fraction=*) val_fraction=${1#*=} ;;
	--seed) [ $# -ge 2 ] || usage_error "$1 needs a value"; seed=$2; shift ;;
	--seed=*) seed=${1#*=} ;;
	--contours) [ $# -ge 2 ] || usage_error "$1 needs a value"; contours=$2; shift ;;
	--contours=*) contours=${1#*=} ;;
	--unknown) [ $# -ge 2 ] || usage_error "$1 needs a value"; unknown=$2; shift ;;
	--unknown=*) unknown=${1#*=} ;;
	--rule) [ $# -ge 2 ] || usage_error "$1 needs a value"; rule=$2; shift ;;
	--rule=*) rule=${1#*=} ;;
	--all-frames) all_frames=--all-frames ;;
	--strict) strict=--strict ;;
	-q | --quiet) verbose= ;;
	-h | --help) usage; exit 0 ;;
	--) shift; args+=("$@"); break ;;
	-*) usage_error "unknown option '$1'" ;;
	*) args+=("$1") ;;
	esac
	shift
done
[ ${#args[@]} -eq 2 ] || usage_error "expected DIR and OUTDIR, got ${#args[@]} arguments"
dir=${args[0]} outdir=${args[1]}
[[ $seed =~ ^[0-9]+$ ]] || usage_error "--seed: '$seed' is not a non-negative integer"
[[ $contours =~ ^(i|o|io)$ ]] || usage_error "--contours: '$contours' is not i, o or io"
[ -z "$unknown" ] || [[ $unknown =~ ^[0-9]+$ && $unknown -le 255 ]] ||
	usage_error "--unknown: '$unknown' is not a value 0-255"
[ -z "$unknown" ] || [ "$contours" = io ] || usage_error "--unknown applies to --contours io only"
[[ $rule =~ ^(centre|center|digits)$ ]] || usage_error "--rule: '$rule' is not centre or digits"
if [ -n "$val_cases" ] && [ -n "$val_fraction" ]; then
	usage_error "give --val-cases or --val-fraction, not both"
fi

# Each program from PATH, else from the repository's bin/.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
find_prog() {
	if command -v "$1" >/dev/null 2>&1; then
		command -v "$1"
	elif [ -x "$here/../bin/$1" ]; then
		echo "$here/../bin/$1"
	else
		die "$1: not found on PATH nor in $here/../bin (run make)"
	fi
}
index=$(find_prog sunnybrook-index)
dcm2tensor=$(find_prog dcm2tensor)
contour2mask=$(find_prog contour2mask)
split=$(find_prog tensor-split)

mkdir -p -- "$outdir" || die "$outdir: cannot make folder"
tmp=$(mktemp -d "$outdir/.dataset.XXXXXX") || die "$outdir: cannot write"
trap 'rm -rf -- "$tmp"' EXIT

"$index" --contours "$contours" $all_frames $strict -- "$dir" >"$tmp/index.tsv" ||
	die "sunnybrook-index failed on '$dir'"
nframes=$(($(wc -l <"$tmp/index.tsv") - 1))
[ "$nframes" -gt 0 ] || die "$dir: no labelled frames found"

# Choose the split: named cases, a fraction, or one case drawn with the seed
# (K folds of one case each, K = number of cases, fold 0).
if [ -n "$val_cases" ]; then
	mode=(--val-cases "$val_cases")
elif [ -n "$val_fraction" ]; then
	mode=(--val-fraction "$val_fraction" --seed "$seed")
else
	col=$(head -n 1 "$tmp/index.tsv" | tr '\t' '\n' | grep -nx case | cut -d: -f1)
	ncases=$(tail -n +2 "$tmp/index.tsv" | cut -f "$col" | sort -u | wc -l)
	[ "$ncases" -ge 2 ] || die "$dir: only $ncases case, cannot split by case"
	mode=(--folds "$ncases" --fold 0 --seed "$seed")
fi
if [ "$contours" = io ]; then
	paint=(--from-meta ocontour --class 2 --from-meta contour --class 1
		${unknown:+--unknown "$unknown"})
else
	paint=(--from-meta contour --class 1)
fi

"$dcm2tensor" --list "$tmp/index.tsv" |
	"$contour2mask" --rule "$rule" "${paint[@]}" |
	"$split" "${mode[@]}" --train "$tmp/train.ts" --val "$tmp/val.ts" \
		$verbose ||
	die "a stage failed (dcm2tensor | contour2mask | tensor-split); nothing written"

mv -f -- "$tmp/index.tsv" "$outdir/index.tsv"
mv -f -- "$tmp/train.ts" "$outdir/train.ts"
mv -f -- "$tmp/val.ts" "$outdir/val.ts"

#!/usr/bin/env bash
# lab-postproc.sh DIR... - what post-processing and test-time augmentation
# give: each fold DIR (a cv/CASE run of pipelines/lab.mk, with model.fcn
# and data/val.ts) predicted again with every combination of fcn-predict's
# --largest, --hull and --tta (flips, and the dihedral set), scored by dice-score.  Prints one TSV row per
# fold and variant: dir, variant, mean per-frame Dice, its minimum.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: lab-postproc.sh DIR..." >&2; exit 2; }
threads=${THREADS:-2}
printf 'dir\tvariant\tdice_mean\tdice_min\n'
for d in "$@"; do
	d=${d%/}
	for f in model.fcn data/val.ts; do
		[ -f "$d/$f" ] || { echo "lab-postproc.sh: $d/$f: no such file" >&2; exit 1; }
	done
	for v in none --largest "--largest --hull" --tta "--tta --largest" \
		"--tta --largest --hull" --tta=dihedral "--tta=dihedral --largest --hull"; do
		opts=${v/none/}
		# shellcheck disable=SC2086 # the options are words
		fcn-predict -m "$d/model.fcn" $opts --threads "$threads" "$d/data/val.ts" |
			dice-score - |
			awk -F'\t' -v d="$d" -v v="$v" '$1 == "1" {printf "%s\t%s\t%s\t%s\n", d, v, $3, $5}'
	done
done

#!/usr/bin/env bash
# shard.sh - one shard of an archive through the prediction pipeline:
#   (rows of LIST for shard I of N) | dcm2tensor --list - | fcn-predict -m MODEL
# to stdout.  Shard I holds the data rows floor(I*R/N) .. floor((I+1)*R/N)-1
# of the R rows of LIST (a dcm2tensor --list TSV, e.g. from
# `sunnybrook-index --all-frames DIR`), so shards 0..N-1 concatenated in
# order are exactly the stream of one run over LIST.  A shard may be empty.
# Programs are taken from PATH, else from the repository's bin/.
set -euo pipefail

prog=shard.sh
usage() {
	cat <<USAGE
Usage: $prog [--threads T] LIST I N MODEL
Predict shard I (0-based) of N of the --list TSV LIST with the fcn-train
model MODEL; the records go to standard output.

  --threads T   fcn-predict threads (default 1: shards are the parallelism)
  -h, --help    show this help and exit

Exit status: 0 ok, 1 a stage failed (its message is on stderr), 2 usage error.
USAGE
}

threads=1
while [ $# -gt 0 ]; do
	case $1 in
	--threads) [ $# -ge 2 ] || { echo "$prog: --threads needs a value" >&2; exit 2; }
		threads=$2; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	-*) echo "$prog: unknown option '$1'" >&2; echo "Try '$prog --help'." >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -eq 4 ] || { echo "$prog: need LIST I N MODEL" >&2; echo "Try '$prog --help'." >&2; exit 2; }
list=$1 i=$2 n=$3 model=$4
[[ $n =~ ^[1-9][0-9]*$ && $i =~ ^[0-9]+$ ]] && [ "$i" -lt "$n" ] ||
	{ echo "$prog: bad shard '$i' of '$n' (need 0 <= I < N)" >&2; exit 2; }
[ -r "$list" ] || { echo "$prog: $list: cannot read" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATH=$PATH:$here/bin

rows=$(awk 'NR > 1 && NF' "$list" | wc -l)
awk -v i="$i" -v n="$n" -v r="$rows" '
NR == 1 { print; next }
!NF { next }
{ k++; lo = int(i * r / n); hi = int((i + 1) * r / n)
  if (k - 1 >= lo && k - 1 < hi) print }' "$list" |
	dcm2tensor --list - | fcn-predict -m "$model" --threads "$threads"

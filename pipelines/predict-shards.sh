#!/usr/bin/env bash
# predict-shards.sh - predict a whole archive in shards, several at a time:
#   LIST (dcm2tensor --list TSV) -> shards of N rows -> per shard, in
#   parallel (xargs -P): dcm2tensor --list SHARD | fcn-predict -> the shard
#   outputs concatenated in list order -> OUT.
# The result is byte for byte what one `dcm2tensor --list LIST | fcn-predict`
# writes (same model, same --threads per process): records are independent
# and each shard keeps the list's order.  OUT appears only when every shard
# succeeded (written under a temporary name, then renamed).
# Programs are taken from PATH, else from the repository's bin/.
set -euo pipefail
prog=predict-shards.sh
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$PATH:${BIN:-$root/bin}"
usage() {
	cat <<USAGE
Usage: $prog -m MODEL [OPTION]... LIST OUT
Predict every image of LIST (a dcm2tensor --list TSV; '-' for stdin) with
MODEL, JOBS shards at a time, into the stream OUT.
  -m, --model MODEL   trained model (fcn-train) (required)
  -j, --jobs N        shards run at once (xargs -P) (default 2)
  -n, --rows N        list rows per shard (default 64)
  -t, --threads N     fcn-predict --threads of each shard (default 1)
  -k, --keep-going    pass --keep-going to dcm2tensor (skipped files are
                      reported, the run succeeds)
  -h, --help          show this help and exit
Exit status: 0 ok, 1 a shard failed (its messages are on stderr), 2 usage.
USAGE
}
bad_usage() { echo "$prog: $*" >&2; echo "Try '$prog --help'." >&2; exit 2; }
posint() { [[ $2 =~ ^[1-9][0-9]{0,5}$ ]] || bad_usage "$1: '$2' is not a number 1..999999"; }

model= jobs=2 rows=64 threads=1 keep=
while [ $# -gt 0 ]; do
	case $1 in
	-m|--model) [ $# -ge 2 ] || bad_usage "$1 needs a value"; model=$2; shift 2 ;;
	-j|--jobs) [ $# -ge 2 ] || bad_usage "$1 needs a value"; posint "$1" "$2"; jobs=$2; shift 2 ;;
	-n|--rows) [ $# -ge 2 ] || bad_usage "$1 needs a value"; posint "$1" "$2"; rows=$2; shift 2 ;;
	-t|--threads) [ $# -ge 2 ] || bad_usage "$1 needs a value"; posint "$1" "$2"; threads=$2; shift 2 ;;
	-k|--keep-going) keep=--keep-going; shift ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	-?*) bad_usage "unknown option '$1'" ;;
	*) break ;;
	esac
done
[ $# -eq 2 ] || bad_usage "need LIST and OUT"
[ -n "$model" ] || bad_usage "-m MODEL is required"
list=$1 out=$2
[ -f "$model" ] || { echo "$prog: $model: no such model file" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/predict-shards.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ "$list" = - ]; then cat >"$work/list"; else
	[ -r "$list" ] || { echo "$prog: $list: cannot read" >&2; exit 1; }
	cp "$list" "$work/list"
fi
# header + data rows (empty lines dropped, as dcm2tensor does)
head -n 1 "$work/list" >"$work/header"
tail -n +2 "$work/list" | grep -v '^$' | split -a 6 -d -l "$rows" - "$work/rows." || true
shards=()
for f in "$work"/rows.*; do
	[ -e "$f" ] || continue
	cat "$work/header" "$f" >"$f.tsv"
	shards+=("$f.tsv")
done
[ ${#shards[@]} -gt 0 ] || { echo "$prog: $list: no images listed" >&2; exit 1; }
export model threads keep
# each shard: its own list in, its own stream out; a failure keeps its code
printf '%s\0' "${shards[@]}" | xargs -0 -P "$jobs" -n 1 bash -c 'set -o pipefail
	dcm2tensor $keep --list "$1" | fcn-predict -m "$model" --threads "$threads" >"$1.ts.part" &&
	mv "$1.ts.part" "$1.ts"' bash || { echo "$prog: a shard failed" >&2; exit 1; }
tmp="$out.tmp$$"
for s in "${shards[@]}"; do cat "$s.ts"; done >"$tmp" || { rm -f "$tmp"; exit 1; }
mv "$tmp" "$out"
echo "$prog: ${#shards[@]} shards of up to $rows rows, $jobs at a time -> $out" >&2

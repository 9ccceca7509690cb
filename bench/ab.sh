#!/bin/sh
# ab.sh REV [NET...] - our engine at git revision REV against the working
# tree's, in the same run: build/bench/fcn_bench of both (REV's built in a
# worktree under build/ab), ROUNDS rounds alternating the two, each the
# best of ITERS passes after a warm-up, inference and a training step,
# BATCH images a pass (1), 256x256, THREADS threads.  Prints the best time of each and the
# ratio REV / now (> 1: the working tree is faster).  NETs: the .prototxt
# names in bench/ (1 channel) or nets/ (3 channels: fcn-alexnet, fcn-8s)
# (default: unet16 unet32).
#   ROUNDS=5 ITERS=5 bench/ab.sh 8e8e0e0 unet16
set -eu
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/ab.sh REV [NET...]" >&2; exit 2; }
rev=$1
shift
[ $# -gt 0 ] || set -- unet16 unet32
mkdir -p build/ab
wt=build/ab/$(git rev-parse --short "$rev")
if [ ! -x "$wt/build/bench/fcn_bench" ]; then
	rm -rf "$wt"
	git worktree add -f -q --detach "$wt" "$rev"
	make -s -C "$wt" build/bench/fcn_bench >/dev/null
fi
make -s build/bench/fcn_bench >/dev/null
old=$wt/build/bench/fcn_bench new=build/bench/fcn_bench
best() { sort -n | head -1; }
for n in "$@"; do
	# the U-Nets of bench/ take 1 channel, the lab's nets of nets/ 3 (RGB)
	path=bench/$n.prototxt c=1
	[ -f "$path" ] || path=nets/$n.prototxt c=3
	[ -f "$path" ] || { echo "ab.sh: no bench/$n.prototxt or nets/$n.prototxt" >&2; exit 2; }
	for mode in infer train; do
		key=forward_s; [ $mode = train ] && key=train_s
		: >build/ab/old.t
		: >build/ab/new.t
		for r in $(seq "${ROUNDS:-5}"); do
			for v in old new; do
				eval bin=\$$v
				"$bin" "$path" "${BATCH:-1}" $c 256 256 "${ITERS:-5}" "${THREADS:-2}" $mode 2>/dev/null |
					sed -n "s/^$key=//p" >>build/ab/$v.t
			done
		done
		o=$(best <build/ab/old.t) w=$(best <build/ab/new.t)
		echo "$n $mode: $rev $o s, now $w s, ratio $(echo "$o $w" | awk '{printf "%.2f", $1 / $2}')"
	done
done

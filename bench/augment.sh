#!/bin/sh
# augment.sh - augmentation speed on one core: augment against MONAI 1.3.2
# and against NumPy/SciPy (nnU-Net's batchgenerators way), same transforms,
# same data, same core, in one run.  Data: N records (default 1000) of a
# 1x256x256 i16 image (random values 0-1499) and its u8 label (image > 1000).
# Two configurations:
#   flips: --flip-h 0.5 --flip-v 0.5 --rot90 0.75
#   heavy: --rotate 1:15 --scale 1:0.85:1.15 --elastic 1:300:10 --gamma 1:0.7:1.5
# augment's time is the best of REPEAT (default 3) wall-clock runs of the
# whole program over the file, process start, reading and writing (to
# /dev/null) included (a small Python wrapper starts it and reads its wall
# and CPU time); records/s by CPU time (user + system, best of REPEAT) is printed
# beside it, as a loaded machine disturbs it less.  The peers (bench/augment_peer.py) time only their
# transforms on records already in memory, best of REPEAT passes over PEER_N
# records (default 200; 50 for the slow MONAI heavy case).  MONAI is installed
# with pip into the bench-only venv build/bench-venv (--system-site-packages,
# so it uses Debian's torch and NumPy; --no-deps); SKIP_MONAI=1 skips it.
# The peers print records/s by wall time and by their process CPU time too.
# Prints key=value lines; ratios are augment's records/s over the peer's,
# by wall time and by CPU time.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
REPEAT=${REPEAT:-3}
N=${N:-1000}
PEER_N=${PEER_N:-200}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
make -s bin/augment >&2
VENV=build/bench-venv
if [ "${SKIP_MONAI:-0}" != 1 ] && ! "$VENV/bin/python" -c 'import monai' 2>/dev/null; then
	echo "note: installing MONAI 1.3.2 into $VENV (bench only)" >&2
	"$PYTHON" -m venv --system-site-packages "$VENV" >&2
	"$VENV/bin/pip" install -q --no-deps monai==1.3.2 >&2
fi
"$PYTHON" - "$N" "$T/in.ts" <<'PY'
import sys
import msgpack
import numpy as np
n, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
with open(path, "wb") as f:
    for k in range(n):
        img = rng.integers(0, 1500, (1, 256, 256)).astype(np.int16)
        lab = (img > 1000).astype(np.uint8)
        t = lambda a, d: {"dtype": d, "shape": list(a.shape), "data": a.tobytes()}
        f.write(msgpack.packb({"id": "bench/%d" % k, "image": t(img, "i16"),
                               "label": t(lab, "u8"), "meta": {"case": "b"}},
                              use_bin_type=True))
PY
cat "$T/in.ts" >/dev/null
PIN=""
if command -v taskset >/dev/null 2>&1; then
	PIN="taskset -c $(taskset -cp $$ | sed 's/.*: //; s/[,-].*//')"
fi
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# runs argv, stdout to /dev/null; prints its wall and user + system CPU
# seconds
CPU_OF='import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
t = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.6f %.6f" % (t, r.ru_utime + r.ru_stime))'

# best wall time of REPEAT runs of augment with the given options; sets
# $rate (records/s of wall time) and $cpu_rate (records/s of the process's
# user + system CPU time, which a loaded machine disturbs less)
ours() {
	best=""
	cpu=""
	i=0
	while [ "$i" -lt "$REPEAT" ]; do
		set -- $($PIN "$PYTHON" -c "$CPU_OF" bin/augment --seed 1 "$@" "$T/in.ts") "$@"
		t=$1 c=$2
		shift 2
		if [ -z "$best" ] || [ "$(echo "$t $best" | awk '{print ($1 < $2)}')" = 1 ]; then
			best=$t
		fi
		if [ -z "$cpu" ] || [ "$(echo "$c $cpu" | awk '{print ($1 < $2)}')" = 1 ]; then
			cpu=$c
		fi
		i=$((i + 1))
	done
	rate=$(echo "$N $best" | awk '{printf "%.1f", $1 / $2}')
	cpu_rate=$(echo "$N $cpu" | awk '{printf "%.1f", $1 / ($2 > 0 ? $2 : 0.001)}')
}

ratio() {
	echo "$1 $2" | awk '{printf "%.1f", $1 / $2}'
}

ours --flip-h 0.5 --flip-v 0.5 --rot90 0.75
flips=$rate flips_cpu=$cpu_rate
ours --rotate 1:15 --scale 1:0.85:1.15 --elastic 1:300:10 --gamma 1:0.7:1.5
heavy=$rate heavy_cpu=$cpu_rate
ours
copy=$rate copy_cpu=$cpu_rate
ratios() { # NAME OURS OURS_CPU "PEER PEER_CPU"
	set -- "$1" "$2" "$3" $4
	echo "${1}_records_per_s=$4 (by CPU time: $5)"
	echo "ratio_${1}=$(ratio "$2" "$4") (by CPU time: $(ratio "$3" "$5"))"
}
echo "records=$N"
echo "pinned=${PIN:-no}"
echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
echo "augment_none_records_per_s=$copy (by CPU time: $copy_cpu)"
echo "augment_flips_records_per_s=$flips (by CPU time: $flips_cpu)"
echo "augment_heavy_records_per_s=$heavy (by CPU time: $heavy_cpu)"
ratios scipy_flips "$flips" "$flips_cpu" \
	"$($PIN "$PYTHON" bench/augment_peer.py scipy flips "$PEER_N" "$REPEAT" "$T/in.ts")"
ratios scipy_heavy "$heavy" "$heavy_cpu" \
	"$($PIN "$PYTHON" bench/augment_peer.py scipy heavy "$PEER_N" "$REPEAT" "$T/in.ts")"
if [ "${SKIP_MONAI:-0}" != 1 ]; then
	ratios monai_flips "$flips" "$flips_cpu" \
		"$($PIN "$VENV/bin/python" -W ignore bench/augment_peer.py monai flips "$PEER_N" "$REPEAT" "$T/in.ts")"
	ratios monai_heavy "$heavy" "$heavy_cpu" \
		"$($PIN "$VENV/bin/python" -W ignore bench/augment_peer.py monai heavy 50 "$REPEAT" "$T/in.ts")"
fi
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)"

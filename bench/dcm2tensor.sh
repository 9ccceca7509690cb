#!/bin/sh
# dcm2tensor.sh [DIR] - DICOM reading speed: dcm2tensor against pydicom 2.3
# (dcmread + pixel_array, bench/dcm2tensor_pydicom.py) on the same files and
# the same core, in one run.  DIR is a Sunnybrook-layout tree (default the
# shared subset, ../shared/data/sunnybrook: its 920 frames); without it a
# phantom tree of 920 frames (23 cases x 2 slices x 20 phases) is made.
# Each side runs REPEAT times (default 3) over all files after a warm-up
# read; the best time counts; dcm2tensor's includes its process start and
# writing the stream (to /dev/null).  Prints key=value lines, ending with
# ratio = dcm2tensor files/s / pydicom files/s.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
REPEAT=${REPEAT:-3}
DIR=${1:-../shared/data/sunnybrook}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
make -s bin/dcm2tensor bin/phantom >&2
if [ ! -d "$DIR/dicoms" ]; then
	echo "note: $DIR/dicoms not found, using a phantom tree" >&2
	DIR=$T/phantom
	bin/phantom -o "$DIR" --cases 23 --slices 2 --phases 20
fi
find "$DIR/dicoms" -name '*.dcm' | sort >"$T/files"
n=$(wc -l <"$T/files")
xargs cat <"$T/files" >/dev/null # warm the page cache
# the same single core for both, when taskset is there
PIN=""
if command -v taskset >/dev/null 2>&1; then
	PIN="taskset -c $(taskset -cp $$ | sed 's/.*: //; s/[,-].*//')"
fi

best=""
i=0
while [ "$i" -lt "$REPEAT" ]; do
	start=$(date +%s.%N)
	xargs $PIN bin/dcm2tensor <"$T/files" >/dev/null
	end=$(date +%s.%N)
	t=$(echo "$start $end" | awk '{printf "%.4f", $2 - $1}')
	if [ -z "$best" ] || [ "$(echo "$t $best" | awk '{print ($1 < $2)}')" = 1 ]; then
		best=$t
	fi
	i=$((i + 1))
done
ours=$(echo "$n $best" | awk '{printf "%.1f", $1 / $2}')
theirs=$($PIN "$PYTHON" bench/dcm2tensor_pydicom.py "$REPEAT" <"$T/files")

echo "files=$n"
echo "dir=$DIR"
echo "pinned=${PIN:-no}"
echo "dcm2tensor_s=$best"
echo "dcm2tensor_files_per_s=$ours"
echo "pydicom_files_per_s=$theirs"
echo "ratio=$(echo "$ours $theirs" | awk '{printf "%.2f", $1 / $2}')"

#!/usr/bin/env bash
# fuzz/run.sh TARGET... - build each harness's seed corpus at run time (from
# ../shared/data/sunnybrook when present, else from phantom output; nets/;
# a model trained in seconds, its .caffemodel export and hand-written
# caffemodels from fuzz/caffemodel_seeds.py), then run build/fuzz/fuzz_TARGET for
# FUZZ_SECONDS seconds each, one after another, with -timeout=1 and leak
# detection.  Crashes go to build/fuzz/artifacts/TARGET/.  Prints one line
# per target: "fuzz TARGET: N execs in S s, C crash(es)"; exits 1 if any
# target crashed.  Environment: FUZZ_SECONDS (default 10), FUZZ_DIR, BIN,
# PYTHON, SHARED, FUZZ_ARGS (extra libFuzzer options).
set -u
cd "$(dirname "$0")/.." || exit 2
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
BIN=${BIN:-$PWD/bin}
PYTHON=${PYTHON:-/usr/bin/python3}
SHARED=${SHARED:-$PWD/../shared/data/sunnybrook}
SEEDS=$FUZZ_DIR/seeds
export PATH="$BIN:$PATH"

seeds() { # builds $SEEDS/<target>/ once
	[ -d "$SEEDS/.done" ] && return
	rm -rf "$SEEDS" && mkdir -p "$SEEDS"/{stream,contour,pbtext,model,caffemodel,dicom,tmp}
	local t=$SEEDS/tmp
	phantom -o "$t/ph" -n 1 --size 32x32 --slices 1 --phases 2 -s 7 >/dev/null ||
		return 1
	find "$t/ph/dicoms" -name '*.dcm' | head -2 | xargs -I{} cp {} "$SEEDS/dicom/"
	find "$t/ph/contourfiles" -name '*.txt' | head -2 | xargs -I{} cp {} "$SEEDS/contour/"
	if [ -d "$SHARED/dicoms" ]; then
		find "$SHARED/dicoms" -name '*.dcm' | sort | head -2 |
			while read -r f; do cp "$f" "$SEEDS/dicom/real-$(basename "$f")"; done
		find "$SHARED/contourfiles" -name '*.txt' | sort | head -3 |
			while read -r f; do cp "$f" "$SEEDS/contour/real-$(basename "$f")"; done
	fi
	cp nets/*.prototxt "$SEEDS/pbtext/"
	"$PYTHON" tests/ref/numpy_fcn_data.py "$SEEDS/stream/disc.st" 2 8 8 1
	"$PYTHON" tests/ref/numpy_fcn_data.py "$SEEDS/stream/f32.st" 1 4 4 2 --dtype f32 --no-label
	dcm2tensor "$t/ph/dicoms"/*/1.dcm >"$SEEDS/stream/dicom.st" 2>/dev/null || true
	"$PYTHON" tests/ref/numpy_fcn_data.py "$t/train.st" 4 8 8 3
	fcn-train --net nets/fcn-tiny.prototxt --train "$t/train.st" --lr 0.01 \
		--batch 2 --threads 1 --epochs 1 -o "$SEEDS/model/tiny.model" \
		>/dev/null 2>&1 || return 1
	fcn-train --net nets/fcn-tiny.prototxt --train "$t/train.st" --lr 0.01 \
		--batch 2 --threads 1 --epochs 1 --solver adam \
		-o "$SEEDS/model/adam.model" >/dev/null 2>&1 || return 1
	"$PYTHON" fuzz/caffemodel_seeds.py "$SEEDS/caffemodel" || return 1
	model2caffe "$SEEDS/model/tiny.model" -o "$t/tiny" >/dev/null 2>&1 || return 1
	cp "$t/tiny.caffemodel" "$SEEDS/caffemodel/"
	rm -rf "$t"
	mkdir "$SEEDS/.done"
}

seeds || { echo "fuzz: could not build the seed corpora" >&2; exit 1; }
bad=0
for target in "$@"; do
	exe=$FUZZ_DIR/fuzz_$target
	corpus=$FUZZ_DIR/corpus/$target
	art=$FUZZ_DIR/artifacts/$target
	mkdir -p "$corpus" "$art"
	log=$FUZZ_DIR/$target.log
	# fast_unwind_on_malloc: every harness is built with frame pointers, and
	# the slow (DWARF) unwinder on each malloc made pbtext 13x slower
	# (3 169 against 41 995 executions in 20 s; docs/reliability.md).
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:fast_unwind_on_malloc=1 \
	UBSAN_OPTIONS=print_stacktrace=1 \
		"$exe" -max_total_time="$FUZZ_SECONDS" -timeout=1 -detect_leaks=1 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
		${FUZZ_ARGS:-} "$corpus" "$SEEDS/$target" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	crashes=$(find "$art" -type f | wc -l)
	echo "fuzz $target: ${runs:-?} execs in ${secs:-$FUZZ_SECONDS} s, $crashes crash(es), exit $rc (log $log)"
	[ "$rc" = 0 ] && [ "$crashes" = 0 ] || bad=1
done
exit $bad

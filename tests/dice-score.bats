#!/usr/bin/env bats
# dice-score: Dice per class, summary statistics, against a numpy reference.
load helper

setup() {
	REF="$PYTHON $ROOT/tests/ref/numpy_dice.py"
	T=$BATS_TEST_TMPDIR
}

@test "dice-score --help documents every option" {
	run_split dice-score --help
	assert_success
	for o in --per-record --json --label --pred --metrics --case-key --spacing --help; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "default"
	assert_equal "$stderr" ""
}

@test "dice-score: bad options are usage errors" {
	assert_usage_error dice-score --bogus
	assert_usage_error dice-score --label ''
	assert_usage_error dice-score --case-key ''
	assert_usage_error dice-score --metrics --spacing 0
	assert_usage_error dice-score --spacing abc
}

@test "dice-score: several FILEs are one sequence of records" {
	$REF --make "$T/a" 1 2 4
	$REF --make "$T/b" 2 2 5
	cat "$T/a" "$T/b" >"$T/ab"
	dice-score -r --spacing 1 --metrics "$T/ab" >"$T/r1"
	dice-score -r --spacing 1 --metrics "$T/a" - <"$T/b" >"$T/r2"
	cmp "$T/r1" "$T/r2"
	# errors name the file and the record, numbered across files
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
write_stream([{'id': 'nolab', 'pred': np.zeros((1, 2, 2), np.uint8)}], '$T/bad')"
	run_split dice-score "$T/a" "$T/bad"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "dice-score: $T/bad: record 5 (nolab): no 'label' tensor"
}

@test "dice-score: two classes match numpy (file input)" {
	$REF --make "$T/s" 1 2 9
	run_split dice-score "$T/s"
	assert_success
	echo "$output" >"$T/r"
	run $REF "$T/s" "$T/r"
	assert_success
}

@test "dice-score: three classes give one row per foreground class" {
	$REF --make "$T/s" 2 3 7
	run_split dice-score "$T/s"
	assert_success
	assert_equal "$(echo "$output" | cut -f1 | tr '\n' ' ')" "class 1 2 "
	echo "$output" >"$T/r"
	run $REF "$T/s" "$T/r"
	assert_success
}

@test "dice-score: --per-record rows match numpy; stdin equals file" {
	$REF --make "$T/s" 3 3 6
	dice-score -r <"$T/s" >"$T/r1"
	dice-score --per-record "$T/s" >"$T/r2"
	cmp "$T/r1" "$T/r2"
	run $REF "$T/s" "$T/r1" --per-record
	assert_success
	# a record with both masks empty: Dice 1, flagged
	run grep -P '^empty\t1\t1.000000\t0\t0\t1$' "$T/r1"
	assert_success
}

@test "dice-score: a both-empty record counts as Dice 1 and in both_empty" {
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
z = np.zeros((1, 4, 4), np.uint8); o = z.copy(); o[0, :2] = 1
write_stream([{'id': 'a', 'label': z, 'pred': z}, {'id': 'b', 'label': o, 'pred': o},
              {'id': 'c', 'label': o, 'pred': z}], '$T/s')"
	run_split dice-score "$T/s"
	assert_success
	assert_line --index 1 "$(printf '1\t3\t0.666667\t0.471405\t0.000000\t1.000000\t0.666667\t1\t48\t0.833333')"
}

@test "dice-score --json is valid JSON with the same numbers" {
	$REF --make "$T/s" 4 2 5
	run_split dice-score --json --per-record "$T/s"
	assert_success
	echo "$output" | $PYTHON -c "
import json, sys
d = json.load(sys.stdin)
assert d['records'] == 5 and len(d['per_record']) == 5, d
assert d['classes'][0]['class'] == 1 and d['classes'][0]['both_empty'] == 1
assert 0 <= d['pixel_accuracy'] <= 1"
	tsv_mean=$(dice-score "$T/s" | awk 'NR==2{print $3}')
	json_mean=$(echo "$output" | $PYTHON -c "import json,sys; print('%.6f' % json.load(sys.stdin)['classes'][0]['mean'])")
	assert_equal "$tsv_mean" "$json_mean"
}

@test "dice-score: other tensor names with --label/--pred" {
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
a = np.ones((1, 2, 2), np.uint8)
write_stream([{'id': 'x', 'gt': a, 'out': a}], '$T/s')"
	run_split dice-score --label gt --pred out "$T/s"
	assert_success
	assert_line --index 1 --partial "$(printf '1\t1\t1.000000')"
	run_split dice-score "$T/s"
	assert_failure 1
	assert_output ""
	[[ $stderr == "dice-score: "*"(x): no 'label' tensor"* ]] || fail "$stderr"
}

@test "dice-score: shape mismatch, non-class values and empty stream are errors" {
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
write_stream([{'id': 'bad', 'label': np.zeros((1, 4, 4), np.uint8), 'pred': np.zeros((1, 4, 5), np.uint8)}], '$T/shape')
write_stream([{'id': 'neg', 'label': np.zeros((1, 2, 2), np.int16) - 1, 'pred': np.zeros((1, 2, 2), np.uint8)}], '$T/neg')
write_stream([{'id': 'f', 'label': np.full((1, 2, 2), 0.5, np.float32), 'pred': np.zeros((1, 2, 2), np.uint8)}], '$T/frac')"
	run_split dice-score "$T/shape"
	assert_failure 1
	[[ $stderr == "dice-score: "*"(bad): label 1x4x4 and pred 1x4x5 differ in shape" ]] || fail "$stderr"
	run_split dice-score "$T/neg"
	assert_failure 1
	[[ $stderr == "dice-score: "*"(neg): label value -1"* ]] || fail "$stderr"
	run_split dice-score "$T/frac"
	assert_failure 1
	run_split dice-score </dev/null
	assert_failure 1
	assert_equal "$stderr" "dice-score: -: no records to score"
}

@test "dice-score: truncated and garbage input fail with one line" {
	$REF --make "$T/s" 5 2 4
	head -c $(($(stat -c %s "$T/s") - 7)) "$T/s" >"$T/trunc"
	run_split dice-score "$T/trunc"
	assert_failure 1
	assert_output ""
	[[ $stderr == "dice-score: "* ]] || fail "$stderr"
	assert_equal "$(echo "$stderr" | wc -l)" 1
	run_split dice-score <<<"this is not msgpack at all"
	assert_failure 1
	[[ $stderr == "dice-score: "* ]] || fail "$stderr"
	run_split dice-score "$T/missing"
	assert_failure 1
	[[ $stderr == "dice-score: $T/missing: "* ]] || fail "$stderr"
}

@test "dice-score --metrics: every number matches SciPy (scipy_metrics.py)" {
	$PYTHON "$ROOT/tests/ref/scipy_metrics.py" --make "$T/s" 3 16
	run_split dice-score --metrics "$T/s"
	assert_success
	echo "$output" >"$T/r"
	run $PYTHON "$ROOT/tests/ref/scipy_metrics.py" "$T/s" "$T/r"
	assert_success
	$PYTHON "$ROOT/tests/ref/scipy_metrics.py" --make "$T/s2" 11 9
	dice-score --metrics --per-record "$T/s2" >"$T/r2"
	run $PYTHON "$ROOT/tests/ref/scipy_metrics.py" "$T/s2" "$T/r2"
	assert_success
}

@test "dice-score --metrics: concentric squares and discs give the known distances" {
	# squares: label pixels 10..29, prediction 8..31 (2 px bigger on every
	# side), spacing 1.5 mm.  Every predicted outline point lies outside the
	# label's square [9.5, 29.5]^2: APD = mean of that point-to-square
	# distance; HD = corner to corner 2*sqrt(2) px; HD95: 80 of the 92
	# predicted boundary pixels are 2 px away, 8 sqrt(5), 4 2*sqrt(2), so
	# the 95th percentile (rank 86.45) is sqrt(5) px.
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
l = np.zeros((1, 40, 40), np.uint8); l[0, 10:30, 10:30] = 1
p = np.zeros((1, 40, 40), np.uint8); p[0, 8:32, 8:32] = 1
yy, xx = np.mgrid[:64, :64]
dl = (np.hypot(yy - 32, xx - 32) <= 12).astype(np.uint8)[None]
dp = (np.hypot(yy - 32, xx - 32) <= 16).astype(np.uint8)[None]
write_stream([{'id': 'sq/1', 'label': l, 'pred': p, 'meta': {'pixel_spacing': [1.5, 1.5]}},
              {'id': 'sq/2', 'label': l, 'pred': l, 'meta': {'pixel_spacing': [1.5, 1.5]}},
              {'id': 'disc/1', 'label': dl, 'pred': dp, 'meta': {'pixel_spacing': [1.0, 1.0]}}], '$T/s')"
	run_split dice-score --metrics "$T/s"
	assert_success
	want=$($PYTHON -c "
import math
pts = []
for k in range(48):           # the outline of [7.5, 31.5]^2, every 0.5 px
    t = 7.5 + 0.5 * k
    pts += [(t, 7.5), (31.5, t), (31.5 - 0.5 * k, 31.5), (7.5, 31.5 - 0.5 * k)]
d = lambda x, y: math.hypot(max(9.5 - x, 0, x - 29.5), max(9.5 - y, 0, y - 29.5))
print('%.6f\t%.6f\t%.6f' % (1.5 * sum(d(*p) for p in pts) / len(pts),
                            1.5 * 2 * math.sqrt(2), 1.5 * math.sqrt(5)))")
	assert_line --partial "$(printf 'sq/1\tsq\t1\t%s\t%s\t1\t1\t1' "$(echo "$output" | awk -F'\t' '$1=="sq/1"{print $4}')" "$want")"
	assert_line "$(printf 'sq/2\tsq\t1\t1.000000\t0.000000\t0.000000\t0.000000\t1\t1\t1')"
	# discs of radius 12 and 16 px: every distance is 4 px give or take the
	# pixel grid (half a pixel)
	run awk -F'\t' '$1=="disc/1" { exit !($5 > 3.5 && $5 < 4.5 && $6 > 3.5 && $6 < 4.6 && $7 > 3.5 && $7 < 4.6) }' <<<"$output"
	assert_success
}

@test "dice-score --metrics: empty masks give nan, counted as missed / false_pos" {
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
z = np.zeros((1, 8, 8), np.uint8); o = z.copy(); o[0, 2:6, 2:6] = 1
m = {'pixel_spacing': [1.0, 1.0], 'case': 'A'}
write_stream([{'id': 'miss', 'label': o, 'pred': z, 'meta': m},
              {'id': 'fp', 'label': z, 'pred': o, 'meta': m},
              {'id': 'none', 'label': z, 'pred': z, 'meta': m},
              {'id': 'hit', 'label': o, 'pred': o, 'meta': m}], '$T/s')"
	run_split dice-score --metrics "$T/s"
	assert_success
	assert_line "$(printf 'miss\tA\t1\t0.000000\tnan\tnan\tnan\t1\t0\t0')"
	assert_line "$(printf 'fp\tA\t1\t0.000000\tnan\tnan\tnan\t0\t1\t0')"
	assert_line "$(printf 'none\tA\t1\t1.000000\tnan\tnan\tnan\t0\t0\t0')"
	# 2 expert contours, 1 good (50 %), Dice mean over them 0.5, over good 1
	assert_line "$(printf 'A\t1\t4\t2\t1\t50.000000\t0.500000\t1.000000\t0.000000\t0.000000\t0.000000\t0.000000\t1\t1')"
	run_split dice-score --metrics --json "$T/s"
	assert_success
	echo "$output" | $PYTHON -c "
import json, sys
d = json.load(sys.stdin)['metrics']
assert d['per_record'][0]['apd_mm'] is None and d['per_record'][3]['apd_mm'] == 0, d
assert d['per_case'][-1]['case'] == 'all' and d['per_case'][-1]['good_pct'] == 50, d"
}

@test "dice-score --metrics: missing pixel spacing is an error unless --spacing" {
	$REF --make "$T/s" 1 2 3
	run_split dice-score --metrics "$T/s"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "dice-score: $T/s: record 1 (rec0): no numeric 'pixel_spacing' meta for --metrics (give --spacing MM)"
	run_split dice-score --metrics --spacing 1.367 "$T/s"
	assert_success
}

@test "dice-score --metrics: expert contours of the shared data against themselves and their digits masks" {
	need_shared
	cd "$T"
	sunnybrook-index "$SHARED" | dcm2tensor --list - | contour2mask >centre.ts
	sunnybrook-index "$SHARED" | dcm2tensor --list - | contour2mask --rule digits --field pred >digits.ts
	# label from the centre rule, pred from the digits rule, side by side
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream, write_stream
a, b = read_stream('centre.ts'), read_stream('digits.ts')
for r, s in zip(a, b):
    r['pred'] = s['pred']; del r['image']
write_stream(a, 'pair.ts')"
	dice-score --metrics pair.ts >r
	run $PYTHON "$ROOT/tests/ref/scipy_metrics.py" pair.ts r
	assert_success
	# the two rasterisations of one polygon are all "good" and close
	run awk -F'\t' '$1=="all" { exit !($4 == 74 && $5 == 74 && $9 < 1.0) }' r
	assert_success
}

@test "dice-score: the example in docs/dice-score.md runs as written" {
	cd "$T"
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/dice-score.md" 1 >ex.sh
	run bash -e ex.sh
	assert_success
	assert_line --regexp $'^all\t1\t4\t4\t4\t100.000000\t'
	$PYTHON -c "import json; json.load(open('scores.json'))"
}

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
	for o in --per-record --json --label --pred --help; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "default"
	assert_equal "$stderr" ""
}

@test "dice-score: bad option and extra argument are usage errors" {
	assert_usage_error dice-score --bogus
	assert_usage_error dice-score a b
	assert_usage_error dice-score --label ''
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

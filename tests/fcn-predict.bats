#!/usr/bin/env bats
# fcn-predict: pred/prob fields, pass-through, batching, mixed sizes,
# agreement with fcn-train's validation numbers, bad input.
load helper

setup_file() {
	T=$BATS_FILE_TMPDIR
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
	$GEN "$T/train.st" 16 32 32 1
	$GEN "$T/val.st" 5 32 32 2
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train "$T/train.st" \
		--val "$T/val.st" --lr 0.01 --scale 8 --threads 1 --batch 2 \
		--epochs 3 --class-weights auto -o "$T/model" >"$T/log" 2>/dev/null
}

setup() {
	T=$BATS_FILE_TMPDIR
	U=$BATS_TEST_TMPDIR
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
	CHECK="$PYTHON -c"
}

# Python prelude for checks: the stream reader.
py() {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import read_stream
$1"
}

@test "fcn-predict --help documents every option" {
	run_split fcn-predict --help
	assert_success
	for o in --model --prob --batch --threads --help; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "default 1"
}

@test "fcn-predict: usage errors exit 2 with empty stdout" {
	assert_usage_error fcn-predict --bogus
	assert_usage_error fcn-predict "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --batch 0 "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --threads x "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --tta=x "$T/val.st"
}

@test "fcn-predict: adds pred (u8 1xHxW) and passes every other field through" {
	fcn-predict -m "$T/model" "$T/val.st" >"$U/out"
	py "
a, b = read_stream('$T/val.st'), read_stream('$U/out')
assert [r['id'] for r in a] == [r['id'] for r in b]
for x, y in zip(a, b):
    assert set(y) == set(x) | {'pred'}, list(y)
    assert (x['image'] == y['image']).all() and x['image'].dtype == y['image'].dtype
    assert (x['label'] == y['label']).all() and x['meta'] == y['meta']
    assert y['pred'].dtype == np.uint8 and y['pred'].shape == (1, 32, 32)
    assert set(np.unique(y['pred'])) <= {0, 1}
"
}

@test "fcn-predict --prob: softmax probabilities whose arg-max is pred" {
	fcn-predict -m "$T/model" --prob "$T/val.st" >"$U/out"
	py "
for r in read_stream('$U/out'):
    p = r['prob']
    assert p.dtype == np.float32 and p.shape == (2, 32, 32), p.shape
    assert np.allclose(p.sum(0), 1, atol=1e-5) and (p >= 0).all()
    assert (p.argmax(0)[None] == r['pred']).all()
"
}

@test "fcn-predict: dice-score of its output equals fcn-train's last validation" {
	fcn-predict -m "$T/model" "$T/val.st" | dice-score >"$U/score"
	want=$(tail -1 "$T/log" | cut -f6,7)
	got=$(awk -F'\t' 'NR==2{print $10 "\t" $3}' "$U/score")
	assert_equal "$got" "$want"
}

@test "fcn-predict: stdin equals file; batch 1 equals batch 3; deterministic" {
	fcn-predict -m "$T/model" "$T/val.st" >"$U/a"
	fcn-predict -m "$T/model" - <"$T/val.st" >"$U/b"
	fcn-predict -m "$T/model" --batch 3 --prob <"$T/val.st" >"$U/c"
	fcn-predict -m "$T/model" --batch 3 --prob <"$T/val.st" >"$U/d"
	cmp "$U/a" "$U/b"
	cmp "$U/c" "$U/d"
	py "
a, c = read_stream('$U/a'), read_stream('$U/c')
assert all((x['pred'] == y['pred']).all() for x, y in zip(a, c))
"
}

@test "fcn-predict: a stream of mixed sizes is reshaped per record" {
	$GEN "$U/small.st" 2 24 24 5 --id-prefix small
	$GEN "$U/big.st" 1 48 40 6 --id-prefix big
	cat "$T/val.st" "$U/small.st" "$T/val.st" "$U/big.st" >"$U/mixed.st"
	run_split fcn-predict -m "$T/model" --batch 4 "$U/mixed.st"
	assert_success
	echo "$output" >"$U/out"
	fcn-predict -m "$T/model" "$U/mixed.st" >"$U/out1"
	py "
recs = read_stream('$U/mixed.st')
out = read_stream('$U/out1')
assert len(out) == 13 and [r['id'] for r in recs] == [r['id'] for r in out]
for r in out:
    assert r['pred'].shape == (1,) + r['image'].shape[1:], r['id']
"
	fcn-predict -m "$T/model" --batch 4 "$U/mixed.st" | cmp - "$U/out1"
}

@test "fcn-predict: a record without image fails naming it; channels must match" {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream, read_stream
r = read_stream('$T/val.st'); del r[1]['image']; write_stream(r, '$U/noimage.st')"
	run_split fcn-predict -m "$T/model" "$U/noimage.st"
	assert_failure 1
	assert_equal "$stderr" "fcn-predict: $U/noimage.st: record 2 (img1): no 'image' tensor"
	$GEN "$U/rgb.st" 1 32 32 1 --channels 3
	run_split fcn-predict -m "$T/model" "$U/rgb.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-predict: $U/rgb.st: record 1 (img0): image 3x32x32 has 3 channels, the model takes 1"
}

@test "fcn-predict: an image the net cannot take fails with one line" {
	$GEN "$U/tiny.st" 1 2 2 1
	run_split fcn-predict -m "$T/model" "$U/tiny.st"
	assert_failure 1
	assert_output ""
	[[ $stderr == "fcn-predict: $U/tiny.st: record 1 (img0): image 1x2x2: "* ]] || fail "$stderr"
	assert_equal "$(echo "$stderr" | wc -l)" 1
}

@test "fcn-predict: truncated and garbage streams, corrupt models fail" {
	head -c $(($(stat -c %s "$T/val.st") - 100)) "$T/val.st" >"$U/trunc.st"
	run_split fcn-predict -m "$T/model" "$U/trunc.st"
	assert_failure 1
	[[ $stderr == "fcn-predict: $U/trunc.st: "* ]] || fail "$stderr"
	# the records before the damage are complete: 4 whole records
	fcn-predict -m "$T/model" "$U/trunc.st" 2>/dev/null >"$U/part" || true
	py "assert len(read_stream('$U/part')) == 4"
	run_split fcn-predict -m "$T/model" <<<"not a stream"
	assert_failure 1
	[[ $stderr == "fcn-predict: -: "* ]] || fail "$stderr"
	head -c 2000 "$T/model" >"$U/bad"
	run_split fcn-predict -m "$U/bad" "$T/val.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-predict: $U/bad: truncated model file (2000 bytes)"
	run_split fcn-predict -m "$T/val.st" "$T/val.st"
	assert_failure 1
	[[ $stderr == "fcn-predict: $T/val.st: not a model file"* ]] || fail "$stderr"
	run_split fcn-predict -m "$U/absent" "$T/val.st"
	assert_failure 1
	assert_equal "$stderr" "fcn-predict: $U/absent: No such file or directory"
}

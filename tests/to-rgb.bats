#!/usr/bin/env bats
# to-rgb: gray <-> RGB as DIGITS does it, luma against PIL.
load helper
load stream

setup() {
	setup_stream_py
	cd "$BATS_TEST_TMPDIR"
	REF=$ROOT/tests/ref
}

@test "to-rgb --help prints usage to stdout" {
	run_split to-rgb --help
	assert_success
	assert_output --partial "Usage: to-rgb"
	assert_output --partial "--channels N"
	assert_equal "$stderr" ""
}

@test "to-rgb: bad options are usage errors" {
	assert_usage_error to-rgb --nope
	assert_usage_error to-rgb --channels 2
	assert_usage_error to-rgb --channels 4
	assert_usage_error to-rgb -c x
	assert_usage_error to-rgb --tensor ''
}

@test "to-rgb --channels 1: luma equals PIL's convert('L') (u8) and the documented rule" {
	"$PYTHON" "$REF/to_rgb_pil.py" make in.ts
	to-rgb --channels 1 in.ts >out.ts
	run "$PYTHON" "$REF/to_rgb_pil.py" check in.ts out.ts
	assert_success
}

@test "to-rgb: gray becomes three copies; RGB passes; every other field kept" {
	"$PYTHON" "$REF/to_rgb_pil.py" make in.ts
	to-rgb <in.ts >out.ts
	run "$PYTHON" "$REF/to_rgb_pil.py" check3 in.ts out.ts
	assert_success
	run bash -c "tensor-info out.ts | cut -f1,2"
	assert_line --index 4 --partial "gray/u8	image=u8:3x4x5"
}

@test "to-rgb: gray -> rgb -> gray is the identity on the image" {
	mkstream 3 9 7 >in.ts
	to-rgb in.ts | to-rgb -c 1 >back.ts
	run "$PYTHON" -c '
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from stream import read_stream
a, b = read_stream("in.ts"), read_stream("back.ts")
assert len(a) == len(b) == 3
for x, y in zip(a, b):
    assert np.array_equal(x["image"], y["image"]) and y["image"].dtype == np.int16
    assert np.array_equal(x["label"], y["label"])
    assert y["meta"]["to_rgb"] == "rgb->gray", y["meta"]
print("ok")' "$ROOT/tests/ref"
	assert_success
	assert_output "ok"
}

@test "to-rgb: a record already right is byte-identical" {
	mkstream 4 6 >in.ts
	tensor-cat in.ts >norm.ts
	to-rgb -c 1 in.ts >out.ts
	cmp out.ts norm.ts
	to-rgb in.ts >rgb.ts
	to-rgb rgb.ts >rgb2.ts
	cmp rgb.ts rgb2.ts
}

@test "to-rgb: stdin, '-' and several files are one stream" {
	mkstream 2 5 >a.ts
	mkstream 3 5 >b.ts
	run bash -c "to-rgb a.ts - <b.ts | tensor-info --summary"
	assert_success
	assert_output --partial "# 5 records, 0 errors; image=i16:3x5x5 (5)"
}

@test "to-rgb: another channel count is one line naming the record, nothing of it written" {
	mkstream 2 5 >a.ts
	"$PYTHON" -c '
import sys, numpy as np
from stream_format import write_record
write_record(sys.stdout.buffer, {"id": "four", "image": np.zeros((4, 3, 3), np.uint8)})
' >four.ts
	run_split bash -c "to-rgb a.ts four.ts >out.ts"
	assert_failure 1
	assert_equal "$stderr" "to-rgb: four.ts: record 3 (four): image 4x3x3 has 4 channels; to-rgb converts 1 <-> 3"
	run tensor-info --summary out.ts
	assert_output --partial "# 2 records, 0 errors"
}

@test "to-rgb: no image, a 2-D image, truncated and garbage input are exit 1" {
	"$PYTHON" -c '
import sys, numpy as np
from stream_format import write_record
write_record(sys.stdout.buffer, {"id": "flat", "image": np.zeros((3, 3), np.uint8)})
write_record(sys.stdout.buffer, {"id": "none", "label": np.zeros((1, 3, 3), np.uint8)})
' >bad.ts
	run_split to-rgb bad.ts
	assert_failure 1
	assert_equal "$stderr" "to-rgb: bad.ts: record 1 (flat): image 3x3 is not CxHxW"
	run_split to-rgb --tensor label bad.ts
	assert_failure 1
	assert_equal "$stderr" "to-rgb: bad.ts: record 1 (flat): no 'label' tensor"
	mkstream 2 5 | head -c -7 >cut.ts
	run_split to-rgb cut.ts
	assert_failure 1
	[[ $stderr == "to-rgb: cut.ts: truncated record 2"* ]] || fail "$stderr"
	echo garbage >g.ts
	run_split to-rgb g.ts
	assert_failure 1
	[[ $stderr == "to-rgb: g.ts: "* ]] || fail "$stderr"
	assert_equal "$output" ""
}

@test "to-rgb: the example in docs/to-rgb.md runs as written" {
	"$REF/docpy.sh" "$ROOT/docs/to-rgb.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	[[ $output == "image=i16:3x32x32 "* ]] || fail "$output"
	run "$PYTHON" -c '
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from stream import read_stream
a, b = read_stream("gray.ts"), read_stream("back.ts")
assert len(a) == len(b) == 2
assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, b))
print("ok")' "$REF"
	assert_output "ok"
}

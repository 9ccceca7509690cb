#!/usr/bin/env bats
# contour2mask: polygons to label masks, bit for bit scikit-image's
# polygon2mask (centre rule) and OpenCV fillPoly on truncated points (digits).
load helper

REF="$ROOT/tests/ref"

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH="$REF"
	printf '1 1\n4 1\n4 4\n1 4\n' >sq.txt
	printf '1.9 1.2\n6.7 1.9\n1.5 6.99\n' >tri.txt
}

# mkrecs N: N records with an 8x8 i16 image, ids c<k>/f<k>, meta contour
# naming sq.txt for even k (odd k: no contour), meta case c<k%2>.
mkrecs() {
	"$PYTHON" - "$1" <<'PY'
import sys, numpy as np, stream
recs = []
for k in range(int(sys.argv[1])):
    meta = {"case": "c%d" % (k % 2)}
    if k % 2 == 0:
        meta["contour"] = "sq.txt"
    recs.append({"id": "c%d/f%d" % (k % 2, k), "meta": meta,
                 "image": np.full((1, 8, 8), k, np.int16), "opaque": [k, "x"]})
stream.write_stream(recs, "-")
PY
}

# mask FILE: each record's id and label as rows of digits.
masks() {
	"$PYTHON" -c '
import sys, stream
for r in stream.read_stream(sys.argv[1]):
    print(r["id"])
    if "label" in r:
        for row in r["label"][0]:
            print("".join(str(v) for v in row))' "$1"
}

@test "contour2mask --help documents every option on stdout" {
	run_split contour2mask --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --from-meta --class --rule --field --image --require --unknown --size --help; do
		assert_output --partial -- "$opt"
	done
	assert_output --partial "default centre"
}

@test "contour2mask: bad options are usage errors (exit 2, empty stdout)" {
	assert_usage_error contour2mask --bogus
	assert_usage_error contour2mask --class 256
	assert_usage_error contour2mask --class one
	assert_usage_error contour2mask --rule scanline
	assert_usage_error contour2mask --size 0x8 sq.txt
	assert_usage_error contour2mask --size 8 sq.txt
	assert_usage_error contour2mask --size 8x8
	assert_usage_error contour2mask --size 8x8 --from-meta contour sq.txt
	assert_usage_error contour2mask --from-meta ''
	assert_usage_error contour2mask --unknown 256
	assert_usage_error contour2mask --unknown x
	assert_usage_error contour2mask --size 8x8 --unknown 255 sq.txt
}

@test "contour2mask --size: centre rule fills pixel centres inside or on the polygon" {
	run_split contour2mask --size 8x8 sq.txt tri.txt
	assert_success
	contour2mask --size 8x8 sq.txt tri.txt >out.ts
	run masks out.ts
	assert_output "sq
00000000
01111000
01111000
01111000
01111000
00000000
00000000
00000000
tri
00000000
00000000
00111110
00111100
00111000
00110000
00100000
00000000"
}

@test "contour2mask --rule digits: truncated points, OpenCV fillPoly with its edges" {
	contour2mask --rule digits --size 8x8 sq.txt tri.txt >out.ts
	run masks out.ts
	assert_output "sq
00000000
01111000
01111000
01111000
01111000
00000000
00000000
00000000
tri
00000000
01111110
01111100
01111000
01110000
01100000
01000000
00000000"
}

@test "contour2mask: centre rule is identical to skimage polygon2mask on random polygons" {
	"$PYTHON" -c '
import numpy as np
rng = np.random.default_rng(7)
for i in range(90):
    n = rng.integers(3, 12)
    if i % 3 == 0: p = rng.integers(-3, [27, 35], (n, 2)).astype(float)
    elif i % 3 == 1: p = rng.integers(-6, [54, 70], (n, 2)) / 2.0
    else: p = rng.uniform(-2, [26, 34], (n, 2))
    np.savetxt("p%03d.txt" % i, p, fmt="%.6g")'
	contour2mask --size 32x24 p*.txt >ours.ts
	"$PYTHON" "$REF/skimage_masks.py" make --size 32x24 p*.txt >ref.ts
	cmp ours.ts ref.ts
	run "$PYTHON" "$REF/skimage_masks.py" check ours.ts
	assert_success
	assert_output "90 records, 90 labelled, 90 identical"
}

@test "contour2mask: the reference check does notice a different mask" {
	contour2mask --rule digits --size 8x8 tri.txt >digits.ts
	run "$PYTHON" "$REF/skimage_masks.py" check digits.ts
	assert_failure
	assert_output --partial "0 identical"
}

# bats test_tags=data
@test "contour2mask: every real i- and o-contour equals skimage polygon2mask" {
	need_shared
	contour2mask --size 256x256 "$SHARED"/contourfiles/*/*/*.txt >ours.ts
	"$PYTHON" "$REF/skimage_masks.py" make --size 256x256 "$SHARED"/contourfiles/*/*/*.txt >ref.ts
	cmp ours.ts ref.ts
	run "$PYTHON" "$REF/skimage_masks.py" check ours.ts
	assert_success
	assert_output "111 records, 111 labelled, 111 identical"
}

@test "contour2mask: labels records naming a contour, passes the others through" {
	mkrecs 4 >in.ts
	contour2mask in.ts >out.ts
	run "$PYTHON" -c '
import stream, numpy as np
a = stream.read_stream("in.ts"); b = stream.read_stream("out.ts")
assert [r["id"] for r in a] == [r["id"] for r in b]
for x, y in zip(a, b):
    assert x["meta"] == y["meta"] and x["opaque"] == y["opaque"]
    assert (x["image"] == y["image"]).all()
    if "contour" in x["meta"]:
        assert y["label"].dtype == np.uint8 and y["label"].shape == (1, 8, 8)
        assert int(y["label"].sum()) == 16
    else:
        assert "label" not in y
print(len(b))'
	assert_success
	assert_output 4
}

@test "contour2mask: stdin and file give the same stream" {
	mkrecs 3 >in.ts
	contour2mask in.ts >a.ts
	contour2mask <in.ts >b.ts
	contour2mask - <in.ts >c.ts
	cmp a.ts b.ts
	cmp a.ts c.ts
}

@test "contour2mask: several streams are read in order" {
	mkrecs 2 >in.ts
	contour2mask in.ts in.ts >out.ts
	run masks out.ts
	assert_equal "${lines[0]}" "c0/f0"
	assert_equal "$(grep -c / <<<"$output")" 4
}

@test "contour2mask: classes are painted in order (o-contour 2, then i-contour 1)" {
	printf '0 0\n7 0\n7 7\n0 7\n' >outer.txt
	"$PYTHON" -c '
import numpy as np, stream
stream.write_stream([{"id": "a", "image": np.zeros((1, 8, 8), np.int16),
    "meta": {"ocontour": "outer.txt", "contour": "sq.txt"}},
    {"id": "b", "image": np.zeros((1, 8, 8), np.int16),
    "meta": {"ocontour": "outer.txt", "contour": ""}}], "-")' >in.ts
	contour2mask --from-meta ocontour --class 2 --from-meta contour --class 1 in.ts >out.ts
	run masks out.ts
	assert_output "a
22222222
21111222
21111222
21111222
21111222
22222222
22222222
22222222
b
22222222
22222222
22222222
22222222
22222222
22222222
22222222
22222222"
	run "$PYTHON" "$REF/skimage_masks.py" check --classes ocontour=2,contour=1 out.ts
	assert_success
}

@test "contour2mask --unknown: a record missing one of the contours gets V outside the others" {
	printf '0 0\n7 0\n7 7\n0 7\n' >outer.txt
	"$PYTHON" -c '
import numpy as np, stream
stream.write_stream([{"id": "a", "image": np.zeros((1, 8, 8), np.int16),
    "meta": {"ocontour": "outer.txt", "contour": "sq.txt"}},
    {"id": "b", "image": np.zeros((1, 8, 8), np.int16),
    "meta": {"ocontour": "", "contour": "sq.txt"}},
    {"id": "c", "image": np.zeros((1, 8, 8), np.int16),
    "meta": {"contour": "sq.txt"}},
    {"id": "d", "image": np.zeros((1, 8, 8), np.int16), "meta": {}}], "-")' >in.ts
	contour2mask -m ocontour -c 2 -m contour -c 1 --unknown 9 in.ts >out.ts
	run masks out.ts
	assert_output "a
22222222
21111222
21111222
21111222
21111222
22222222
22222222
22222222
b
99999999
91111999
91111999
91111999
91111999
99999999
99999999
99999999
c
99999999
91111999
91111999
91111999
91111999
99999999
99999999
99999999
d"
	# without --unknown the same records are painted on 0
	contour2mask -m ocontour -c 2 -m contour -c 1 in.ts >plain.ts
	run masks plain.ts
	assert_line --index 10 "00000000"
	assert_line --index 11 "01111000"
}

@test "contour2mask --class before any --from-meta sets the contour's value; --field renames" {
	mkrecs 1 >in.ts
	contour2mask --class 7 --field mask in.ts >out.ts
	run "$PYTHON" -c '
import stream
r = stream.read_stream("out.ts")[0]
print(sorted(set(r["mask"].ravel().tolist())), "label" in r)'
	assert_output "[0, 7] False"
}

@test "contour2mask --require: a record without contour is an error, earlier records stay whole" {
	mkrecs 3 >in.ts
	run_split contour2mask --require in.ts
	assert_failure 1
	assert_equal "$stderr" "contour2mask: in.ts: record 2 (c1/f1): meta names no contour (contour)"
	contour2mask --require in.ts >part.ts 2>/dev/null || true
	run "$PYTHON" -c 'import stream; print([r["id"] for r in stream.read_stream("part.ts")])'
	assert_output "['c0/f0']"
}

@test "contour2mask: a malformed contour line is an error naming file and line" {
	printf '1 1\n4 1\n4 x\n1 4\n' >bad.txt
	run_split contour2mask --size 8x8 bad.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: bad.txt:3: expected 'x y' (two finite numbers), got '4 x'"
	printf '1 1\n4 1 5\n1 4\n' >three.txt
	run_split contour2mask --size 8x8 three.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: three.txt:2: expected 'x y' (two finite numbers), got '4 1 5'"
	printf '1 1\nnan 2\n1 4\n' >nan.txt
	run_split contour2mask --size 8x8 nan.txt
	assert_failure 1
	[[ $stderr == "contour2mask: nan.txt:2: "* ]]
}

@test "contour2mask: fewer than three points, far outside, missing file: one-line errors" {
	printf '1 1\n4 1\n\n' >two.txt
	run_split contour2mask --size 8x8 two.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: two.txt:3: 2 points, a polygon needs at least 3"
	printf '1 1\n4 1\n400 4\n' >far.txt
	run_split contour2mask --size 8x8 far.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: far.txt:3: point (400, 4) is far outside the 8x8 image"
	printf '10 10\n12 10\n12 12\n' >off.txt
	run_split contour2mask --size 8x8 off.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: off.txt: polygon (x 10..12, y 10..12) lies outside the 8x8 image"
	: >empty.txt
	run_split contour2mask --size 8x8 empty.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: empty.txt: empty, a polygon needs at least 3 points"
	printf '1 1\n2 2\n\0\0\n' >nul.txt
	run_split contour2mask --size 8x8 nul.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: nul.txt:3: a NUL byte, not a text file"
	printf '1 1\n\001\033[2J 3\n' >ctl.txt
	run_split contour2mask --size 8x8 ctl.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: ctl.txt:2: expected 'x y' (two finite numbers), got '??[2J 3'"
	if [ -r /dev/zero ]; then
		run_split timeout 20 contour2mask --size 8x8 /dev/zero
		assert_failure 1
		assert_equal "$stderr" "contour2mask: /dev/zero: larger than 16777216 bytes"
	fi
	run_split contour2mask --size 8x8 nosuch.txt
	assert_failure 1
	assert_equal "$stderr" "contour2mask: nosuch.txt: No such file or directory"
}

@test "contour2mask: a bad contour mid-stream leaves the records before it whole" {
	mkrecs 3 >in.ts
	printf '1 1\n2 2\n' >sq.txt.bad
	"$PYTHON" -c '
import stream
rs = stream.read_stream("in.ts"); rs[2]["meta"]["contour"] = "sq.txt.bad"
stream.write_stream(rs, "-")' >mixed.ts
	run_split contour2mask mixed.ts
	assert_failure 1
	assert_equal "$stderr" "contour2mask: mixed.ts: record 3 (c0/f2): sq.txt.bad:2: 2 points, a polygon needs at least 3"
	contour2mask mixed.ts >part.ts 2>/dev/null || true
	run "$PYTHON" -c 'import stream; print([r["id"] for r in stream.read_stream("part.ts")])'
	assert_output "['c0/f0', 'c1/f1']"
}

@test "contour2mask: truncated and garbage streams are errors, output stays valid" {
	mkrecs 3 >in.ts
	head -c -5 in.ts >trunc.ts
	run_split contour2mask trunc.ts
	assert_failure 1
	[[ $stderr == "contour2mask: trunc.ts: "* ]] || fail "stderr: $stderr"
	assert_equal "${#stderr_lines[@]}" 1
	contour2mask trunc.ts >part.ts 2>/dev/null || true
	run "$PYTHON" -c 'import stream; print(len(stream.read_stream("part.ts")))'
	assert_output 2
	printf 'this is not a stream' >garbage.ts
	run_split contour2mask <garbage.ts
	assert_failure 1
	assert_equal "$output" ""
	[[ $stderr == "contour2mask: "* ]] || fail "stderr: $stderr"
}

@test "contour2mask: a record with a contour but no image is an error naming it" {
	"$PYTHON" -c '
import numpy as np, stream
stream.write_stream([{"id": "x/1", "meta": {"contour": "sq.txt"}}], "-")' >noimg.ts
	run_split contour2mask noimg.ts
	assert_failure 1
	assert_equal "$stderr" "contour2mask: noimg.ts: record 1 (x/1): no image tensor of at least 2 dimensions"
}

@test "contour2mask: a record error names its file and its number counted across inputs" {
	mkrecs 2 >a.ts
	"$PYTHON" -c '
import numpy as np, stream
stream.write_stream([{"id": "ok/1", "image": np.zeros((4, 4), np.int16)},
                     {"id": "x/9", "meta": {"contour": 7}}], "-")' >b.ts
	run_split contour2mask a.ts b.ts
	assert_failure 1
	assert_equal "$stderr" "contour2mask: b.ts: record 4 (x/9): meta 'contour' is not a string"
	run_split contour2mask - b.ts <a.ts
	assert_failure 1
	assert_equal "$stderr" "contour2mask: b.ts: record 4 (x/9): meta 'contour' is not a string"
}

@test "contour2mask: the example in docs/contour2mask.md runs as written" {
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/contour2mask.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	run "$PYTHON" "$REF/skimage_masks.py" check --classes ocontour=2,contour=1 masks.ts
	assert_success
	assert_output "4 records, 4 labelled, 4 identical"
	run "$PYTHON" "$REF/skimage_masks.py" check alone.ts
	assert_output "2 records, 2 labelled, 2 identical"
}

@test "contour2mask: a failed write to stdout is exit 1 with one message" {
	[ -w /dev/full ] || skip "no /dev/full"
	run_split bash -c 'contour2mask --size 8x8 sq.txt >/dev/full'
	assert_failure 1
	assert_equal "$stderr" "contour2mask: stdout: write error: No space left on device"
}

@test "contour2mask --rule digits is identical to OpenCV fillPoly on random polygons, inside and across the border" {
	"$PYTHON" -c '
import numpy as np
rng = np.random.default_rng(7)
for i in range(120):
    n = rng.integers(3, 12)
    if i % 3 == 0: p = rng.integers(0, [24, 32], (n, 2)).astype(float)
    elif i % 3 == 1: p = rng.uniform(0, [23.9, 31.9], (n, 2))
    else: p = rng.uniform(-3, [27, 35], (n, 2))
    np.savetxt("d%03d.txt" % i, p, fmt="%.6g")'
	contour2mask --rule digits --size 32x24 d*.txt >ours.ts
	run "$PYTHON" "$REF/opencv_digits.py" ours.ts
	assert_success
	assert_output "120 records, 120 identical"
}

# bats test_tags=data
@test "contour2mask --rule digits is identical to OpenCV fillPoly on every real contour" {
	need_shared
	contour2mask --rule digits --size 256x256 "$SHARED"/contourfiles/*/*/*.txt >ours.ts
	run "$PYTHON" "$REF/opencv_digits.py" ours.ts
	assert_success
	assert_output "111 records, 111 identical"
}

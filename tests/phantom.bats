#!/usr/bin/env bats
# phantom: the built-in synthetic data, checked for determinism, layout (the
# shared subset's), DICOM validity with pydicom, and read back by dcm2tensor.
load helper

REF="$ROOT/tests/ref"

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "phantom --help prints every option with its default" {
	run_split phantom --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --output --cases --seed --size --slices --phases --noise --help; do
		assert_output --partial -- "$opt"
	done
	assert_output --partial "default 256x256"
	assert_output --partial "default 2)"
	assert_output --partial "default 10)"
}

@test "phantom: bad options are usage errors" {
	assert_usage_error phantom
	assert_usage_error phantom --bogus -o d
	assert_usage_error phantom -o d --cases 0
	assert_usage_error phantom -o d --cases 1000
	assert_usage_error phantom -o d --cases two
	assert_usage_error phantom -o d --seed -1
	assert_usage_error phantom -o d --seed 1x
	assert_usage_error phantom -o d --size 16x16
	assert_usage_error phantom -o d --size 256
	assert_usage_error phantom -o d --phases 1
	assert_usage_error phantom -o d --slices 0
	assert_usage_error phantom -o d --noise -3
	assert_usage_error phantom -o d extra
	[ ! -e d ]
}

@test "phantom: the default tree has the shared subset's layout" {
	run_split phantom -o t
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	assert_equal "$(cat t/link.csv)" "patient_id,original_id
PHM0000101,PH-1
PHM0000201,PH-2"
	assert_equal "$(head -1 t/link.csv)" "$(printf 'patient_id,original_id')"
	if [ -f "$SHARED/link.csv" ]; then
		assert_equal "$(head -1 t/link.csv)" "$(head -1 "$SHARED/link.csv")"
	fi
	run ls t
	assert_output "contourfiles
dicoms
link.csv"
	run ls t/dicoms/PHM0000101
	assert_equal "${#lines[@]}" 20
	assert_equal "$(ls t/dicoms/PHM0000101 | sort -n | head -1)" "1.dcm"
	assert_equal "$(ls t/dicoms/PHM0000101 | sort -n | tail -1)" "20.dcm"
	run ls t/contourfiles/PH-2
	assert_output "i-contours
o-contours"
	run ls t/contourfiles/PH-1/i-contours
	assert_equal "${#lines[@]}" 20
	assert_line --index 0 "IM-0001-0001-icontour-manual.txt"
	run ls t/contourfiles/PH-1/o-contours
	assert_equal "${#lines[@]}" 10
	assert_line --index 0 "IM-0001-0001-ocontour-manual.txt"
	assert_line --index 1 "IM-0001-0003-ocontour-manual.txt"
	# x y floats per line
	run grep -cvE '^[0-9]+\.[0-9]{2} [0-9]+\.[0-9]{2}$' t/contourfiles/PH-1/i-contours/IM-0001-0005-icontour-manual.txt
	assert_output 0
	run bash -c 'ls -d t.tmp* 2>/dev/null'
	assert_output ""
}

# bats test_tags=slow
@test "phantom: every DICOM attribute, contour and intensity checks out in pydicom" {
	phantom -o t --cases 2
	run "$PYTHON" "$REF/pydicom_phantom.py" t 2 2 10 256 256
	assert_success
	assert_line --regexp '^ok: 40 images, blood pool '
	phantom -o u --cases 3 --slices 3 --phases 5 --size 128x160 --seed 99
	run "$PYTHON" "$REF/pydicom_phantom.py" u 3 3 5 128 160
	assert_success
	assert_line --regexp '^ok: 45 images'
}

@test "phantom: same seed gives a byte-identical tree, another seed another one" {
	phantom -o a --seed 42 --cases 1 --phases 4
	phantom -o b --seed 42 --cases 1 --phases 4
	phantom -o c --seed 43 --cases 1 --phases 4
	diff -r a b
	# "! cmd" never fails a bats test (set -e ignores it): run, then insist
	# on cmp's "the files differ" (1, not 2 for a missing file)
	run cmp -s a/dicoms/PHM0000101/1.dcm c/dicoms/PHM0000101/1.dcm
	assert_equal "$status" 1
	run cmp -s a/contourfiles/PH-1/i-contours/IM-0001-0001-icontour-manual.txt \
		c/contourfiles/PH-1/i-contours/IM-0001-0001-icontour-manual.txt
	assert_equal "$status" 1
}

@test "phantom: dcm2tensor reads the tree back, ids and meta as in the layout" {
	phantom -o t --cases 1 --phases 4 --slices 2 --size 64x64
	dcm2tensor t/dicoms/*/*.dcm >out.ts
	run "$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[2])
from stream import read_stream
rs = read_stream(sys.argv[1])
print(len(rs), len({r["meta"]["sop_instance_uid"] for r in rs}))
for r in sorted(rs, key=lambda r: r["meta"]["instance_number"])[:5]:
    m = r["meta"]; a = r["image"]
    print(r["id"], a.dtype, a.shape, m["patient_id"], m["instance_number"],
          m["slice_location"], round(m["trigger_time"]) >= 0, m["cardiac_number_of_images"],
          m["image_position"][2] == m["slice_location"], m["window_width"] == a.max())
' out.ts "$REF"
	assert_success
	assert_line --index 0 "8 8"
	assert_line --index 1 "PHM0000101/1 int16 (1, 64, 64) PHM0000101 1 -10.0 True 4 True True"
	assert_line --index 5 "PHM0000101/5 int16 (1, 64, 64) PHM0000101 5 -20.0 True 4 True True"
	run "$PYTHON" "$REF/pydicom_compare.py" out.ts t/dicoms/*/*.dcm
	assert_success
	assert_line "# 8 files, 8 identical to pydicom, 0 failed"
}

@test "phantom: the tree feeds sunnybrook-index like the real subset" {
	[ -x "$BIN/sunnybrook-index" ] || skip "sunnybrook-index not built"
	phantom -o t --cases 2 --phases 4 --slices 1
	run_split sunnybrook-index t
	assert_success
	assert_equal "${#lines[@]}" 9
}

@test "phantom: a non-empty DIR is refused and left alone; an empty one is used" {
	mkdir full && touch full/keep
	run_split phantom -o full
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "phantom: full: exists and is not empty"
	[ -f full/keep ]
	run bash -c 'ls -d full.tmp* 2>/dev/null'
	assert_output ""
	echo x >file
	run_split phantom -o file
	assert_failure 1
	assert_equal "$stderr" "phantom: file: exists and is not a directory"
	mkdir empty
	run_split phantom -o empty --cases 1 --phases 2 --slices 1
	assert_success
	[ -f empty/link.csv ]
	[ -f empty/dicoms/PHM0000101/2.dcm ]
}

@test "phantom: a DIR whose parent is missing is a one-line error" {
	run_split phantom -o nodir/sub/t
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "phantom: nodir/sub/t.tmp"*": No such file or directory" ]]
}

@test "phantom: an unwritable place is a one-line error, nothing left behind" {
	[ "$(id -u)" -ne 0 ] || skip "root can write anywhere"
	mkdir ro && chmod 555 ro
	run_split phantom -o ro/t
	chmod 755 ro
	assert_failure 1
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "phantom: ro/t.tmp"* ]]
	run ls -A ro
	assert_output ""
}

@test "phantom: the examples in docs/phantom.md run as written" {
	[ -x "$BIN/sunnybrook-index" ] && [ -x "$BIN/tensor-info" ] ||
		skip "sunnybrook-index or tensor-info not built"
	"$REF/docpy.sh" "$ROOT/docs/phantom.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	assert_output "# 40 records, 0 errors; image=i16:1x256x256 (40)"
	run bash -c 'ls big/dicoms/PHM0000301 | wc -l'
	assert_output 60
}

#!/usr/bin/env bats
# mask2dcm: masks as DICOM SEG, checked with pydicom + NumPy against the
# stream and the sources (tests/ref/pydicom_seg.py) and with dciodvfy.
load helper

REF="$ROOT/tests/ref"

setup_file() {
	T=$BATS_FILE_TMPDIR
	(cd "$T" && phantom -o ph --cases 2 --size 48x40 --slices 2 --phases 3 \
		--seed 5 && sunnybrook-index --all-frames ph |
		dcm2tensor --list - | contour2mask >labels.ts)
}

setup() {
	T=$BATS_FILE_TMPDIR
	cd "$BATS_TEST_TMPDIR"
}

check_seg() {
	run "$PYTHON" -W ignore "$REF/pydicom_seg.py" "$@"
	assert_success
}

need_dciodvfy() {
	command -v dciodvfy >/dev/null ||
		skip "dciodvfy not found (Debian package dicom3tools)"
}

@test "mask2dcm --help prints every option to stdout" {
	run_split mask2dcm --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --output --field --class --source-root --label \
		--algorithm-type --algorithm-name --series-offset --timestamp \
		--help default 91723000 87878005; do
		assert_output --partial -- "$opt"
	done
}

@test "mask2dcm: usage errors are exit 2 with nothing on stdout" {
	assert_usage_error mask2dcm "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --bogus "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --class 256 "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --class x "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --algorithm-type SEMI "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --label "" "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --series-offset -1 "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --timestamp soon "$T/labels.ts"
	assert_usage_error mask2dcm -o seg --field "" "$T/labels.ts"
	[ ! -e seg ]
}

@test "mask2dcm: phantom labels become one SEG per series that pydicom reads back exactly" {
	run_split mask2dcm --field label -C "$T" -o seg "$T/labels.ts"
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 2
	[[ ${lines[0]} == seg/PHM0000101_300.dcm$'\t'6$'\t'2.25.* ]] || fail "${lines[0]}"
	[[ ${lines[1]} == seg/PHM0000201_300.dcm$'\t'6$'\t'2.25.* ]] || fail "${lines[1]}"
	check_seg --field label --root "$T" "$T/labels.ts" seg/*.dcm
	assert_output "2 files, 12 frames, all match"
	ls seg >names
	assert_equal "$(cat names)" $'PHM0000101_300.dcm\nPHM0000201_300.dcm'
}

@test "mask2dcm: the SEG attributes a viewer needs (pydicom)" {
	mask2dcm --field label -C "$T" -o seg --timestamp 86400 \
		--algorithm-type MANUAL "$T/labels.ts" >/dev/null
	run "$PYTHON" -W ignore -c '
import sys, pydicom
s = pydicom.dcmread(sys.argv[1])
src = pydicom.dcmread(sys.argv[2], stop_before_pixels=True)
g = s.SegmentSequence[0]
print(s.Modality, s.SegmentationType, s.ContentDate, s.ContentTime, s.SeriesNumber)
print(g.SegmentLabel, g.SegmentAlgorithmType, "SegmentAlgorithmName" in g)
print(g.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning, "/",
      g.SegmentedPropertyTypeCodeSequence[0].CodeMeaning)
print(len(s.DimensionIndexSequence), s.file_meta.TransferSyntaxUID)
f = s.PerFrameFunctionalGroupsSequence
print(" ".join(".".join(map(str, x.FrameContentSequence[0].DimensionIndexValues)) for x in f))
print(s.StudyInstanceUID == src.StudyInstanceUID, s.SeriesInstanceUID != src.SeriesInstanceUID)
' seg/PHM0000101_300.dcm "$T/ph/dicoms/PHM0000101/1.dcm"
	assert_success
	assert_line -n 0 "SEG BINARY 19700102 000000 1300"
	assert_line -n 1 "Left ventricle blood pool MANUAL False"
	assert_line -n 2 "Anatomical Structure / Left ventricle"
	assert_line -n 3 "3 1.2.840.10008.1.2.1"
	# frames 1-3: slice 1 (the higher one, -10 mm) phases 1-3; 4-6: slice 2
	assert_line -n 4 "1.2.1 1.2.2 1.2.3 1.1.1 1.1.2 1.1.3"
	assert_line -n 5 "True True"
}

@test "mask2dcm: dciodvfy finds no error in the SEG" {
	need_dciodvfy
	mask2dcm --field label -C "$T" -o seg "$T/labels.ts" >/dev/null
	for f in seg/*.dcm; do
		run dciodvfy "$f"
		assert_success
		refute_output --partial "Error"
		assert_output --partial "Segmentation"
	done
}

@test "mask2dcm: predictions (pred, the default field) and --class pick the pixels" {
	"$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[1])
import numpy as np
from stream import read_stream, write_stream
recs = read_stream(sys.argv[2])
for k, r in enumerate(recs):
    r["pred"] = (np.roll(r["label"], k, axis=2) * (1 + k % 2)).astype(np.uint8)
write_stream(recs, sys.argv[3])
' "$REF" "$T/labels.ts" pred.ts
	(cd "$T" && mask2dcm -o "$BATS_TEST_TMPDIR/seg" "$BATS_TEST_TMPDIR/pred.ts") >/dev/null
	check_seg --root "$T" pred.ts seg/*.dcm
	assert_output "2 files, 12 frames, all match"
	rm -r seg
	mask2dcm -C "$T" -o seg --class 2 pred.ts >/dev/null
	check_seg --class 2 --root "$T" pred.ts seg/*.dcm
	assert_output "2 files, 12 frames, all match"
}

@test "mask2dcm: stdin, several files and one stream give the same files; reruns are byte-identical" {
	mask2dcm --field label -C "$T" -o a --timestamp 7 <"$T/labels.ts" >/dev/null
	tensor-cat -n 5 "$T/labels.ts" >head.ts
	tensor-cat -s 5 "$T/labels.ts" >tail.ts
	mask2dcm --field label -C "$T" -o b --timestamp 7 head.ts - <tail.ts >/dev/null
	SOURCE_DATE_EPOCH=7 mask2dcm --field label -C "$T" -o c "$T/labels.ts" >/dev/null
	for f in a/*.dcm; do
		cmp "$f" "b/${f#a/}"
		cmp "$f" "c/${f#a/}"
	done
	mask2dcm --field label -C "$T" -o d --timestamp 8 "$T/labels.ts" >/dev/null
	! cmp -s a/PHM0000101_300.dcm d/PHM0000101_300.dcm
}

@test "mask2dcm: bad records are one line naming the record, and nothing is written" {
	"$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[1])
import numpy as np
from stream import read_stream, write_stream
recs = read_stream(sys.argv[2])
def out(name, rs): write_stream(rs, name)
r = dict(recs[1]); r["meta"] = {k: v for k, v in r["meta"].items() if k != "source"}
out("nosource.ts", [recs[0], r])
r = dict(recs[1]); r["label"] = np.zeros((1, 8, 8), np.uint8)
out("size.ts", [recs[0], r])
r = dict(recs[1]); r["label"] = np.zeros((2, 48, 40), np.uint8)
out("shape.ts", [recs[0], r])
out("twice.ts", [recs[0], recs[0]])
r = dict(recs[1]); r["meta"] = dict(r["meta"], source="ph/nothere.dcm")
out("missing.ts", [recs[0], r])
r = dict(recs[1]); r["meta"] = dict(r["meta"], sop_instance_uid="1.2.3")
out("uid.ts", [recs[0], r])
r = dict(recs[1]); del r["label"]
out("nolabel.ts", [recs[0], r])
' "$REF" "$T/labels.ts"
	id=PH-1/IM-0001-0002
	expect() {
		run_split mask2dcm --field label -C "$T" -o seg "$1"
		assert_failure 1
		assert_equal "$output" ""
		assert_equal "${#stderr_lines[@]}" 1
		[[ $stderr == "mask2dcm: $1: record 2 ($id): $2"* ]] || fail "$stderr"
		[ ! -e seg ] || fail "seg written"
	}
	expect nosource.ts "no meta 'source'"
	expect size.ts "'label' is 1x8x8, its source 48x40"
	expect shape.ts "'label' is 2x48x40, not 1xHxW or HxW"
	id=PH-1/IM-0001-0001 expect twice.ts "a second mask of image 2.25."
	expect missing.ts "source '$T/ph/nothere.dcm': No such file"
	expect uid.ts "source '$T/ph/dicoms/PHM0000101/2.dcm' has SOP Instance UID"
	expect nolabel.ts "no 'label' tensor"
}

@test "mask2dcm: a source that is not DICOM, a truncated or garbage stream" {
	mkdir -p src && head -c 300 "$T/ph/dicoms/PHM0000101/1.dcm" >src/cut.dcm
	printf 'not dicom at all' >src/junk.dcm
	for f in cut junk; do
		"$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[1])
from stream import read_stream, write_stream
r = read_stream(sys.argv[2])[0]
r["meta"] = dict(r["meta"], source=sys.argv[3])
del r["meta"]["sop_instance_uid"]
write_stream([r], sys.argv[4])
' "$REF" "$T/labels.ts" "src/$f.dcm" "$f.ts"
		run_split mask2dcm --field label -o seg "$f.ts"
		assert_failure 1
		[[ $stderr == "mask2dcm: $f.ts: record 1 (PH-1/IM-0001-0001): source 'src/$f.dcm': "* ]] || fail "$stderr"
	done
	head -c 1000 "$T/labels.ts" >cut.ts
	run_split mask2dcm --field label -C "$T" -o seg cut.ts
	assert_failure 1
	[[ $stderr == "mask2dcm: cut.ts: "* ]] || fail "$stderr"
	printf 'garbage' | { run_split mask2dcm -o seg; assert_failure 1; }
	[ ! -e seg ]
	run_split mask2dcm -o seg /dev/null
	assert_failure 1
	assert_equal "$stderr" "mask2dcm: no records"
}

@test "mask2dcm: an output directory that cannot be made is exit 1" {
	run_split mask2dcm --field label -C "$T" -o /dev/null/seg "$T/labels.ts"
	assert_failure 1
	[[ $stderr == "mask2dcm: /dev/null/seg: "* ]] || fail "$stderr"
}

@test "mask2dcm: the example in docs/mask2dcm.md runs as written" {
	"$REF/docpy.sh" "$ROOT/docs/mask2dcm.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	check_seg --field label labels.ts seg/*.dcm
	assert_output "2 files, 12 frames, all match"
	if command -v dciodvfy >/dev/null; then
		run dciodvfy seg/PHM0000101_300.dcm
		refute_output --partial "Error"
	fi
}

@test "mask2dcm: the shared Sunnybrook labels (74 frames, 4 series)" {
	need_shared
	sunnybrook-index "$SHARED" | dcm2tensor --list - | contour2mask >real.ts
	run_split mask2dcm --field label --algorithm-type MANUAL -o seg real.ts
	assert_success
	assert_equal "${#lines[@]}" 4
	# each image has its own Frame of Reference UID: a warning per series
	assert_equal "${#stderr_lines[@]}" 4
	[[ ${stderr_lines[0]} == *"sources have another Frame of Reference UID than the first"* ]] ||
		fail "${stderr_lines[0]}"
	check_seg --field label real.ts seg/*.dcm
	assert_output "4 files, 74 frames, all match"
	if command -v dciodvfy >/dev/null; then
		for f in seg/*.dcm; do
			# the only errors: values copied from the sources (UIDs
			# with leading zeros, birth date 00000000)
			dciodvfy "$f" 2>&1 | grep Error |
				grep -v -e 'Leading zeroes' -e "Birth Date" \
					-e 'invalid data values for Value Representations' >errs || true
			[ ! -s errs ] || fail "$(cat errs)"
		done
	fi
}

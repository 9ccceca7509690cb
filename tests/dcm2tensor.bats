#!/usr/bin/env bats
# dcm2tensor: DICOM to tensor stream, checked against pydicom on phantom
# frames, on pydicom's own test corpus and (when present) on the shared data.
load helper

CORPUS=/usr/lib/python3/dist-packages/pydicom/data/test_files
REF="$ROOT/tests/ref"

setup_file() {
	phantom -o "$BATS_FILE_TMPDIR/ph" --cases 2 --slices 1 --phases 4 \
		--size 64x48 --seed 7
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	PH="$BATS_FILE_TMPDIR/ph"
}

need_corpus() {
	[ -d "$CORPUS" ] || skip "pydicom test files not found at $CORPUS"
}

# records FILE: one line per record: id dtype shape meta-keys...
records() {
	"$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[2])
from stream import read_stream
for r in read_stream(sys.argv[1]):
    a = r["image"]
    print(r["id"], a.dtype, "x".join(map(str, a.shape)), " ".join(sorted(r["meta"])))
' "$1" "$REF"
}

@test "dcm2tensor --help prints every option to stdout" {
	run_split dcm2tensor --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --list --float --keep-going --help default; do
		assert_output --partial -- "$opt"
	done
}

@test "dcm2tensor: bad options and missing input are usage errors" {
	assert_usage_error dcm2tensor --bogus x.dcm
	assert_usage_error dcm2tensor
	assert_usage_error dcm2tensor --list - x.dcm
	assert_usage_error dcm2tensor --list ''
}

@test "dcm2tensor: phantom frames become i16 1xHxW records with their meta" {
	run_split dcm2tensor "$PH"/dicoms/PHM0000101/1.dcm "$PH"/dicoms/PHM0000201/3.dcm
	assert_success
	assert_equal "$stderr" ""
	dcm2tensor "$PH"/dicoms/PHM0000101/1.dcm "$PH"/dicoms/PHM0000201/3.dcm >out.ts
	run records out.ts
	assert_success
	assert_line --index 0 "PHM0000101/1 int16 1x64x48 bits_stored cardiac_number_of_images columns image_orientation image_position instance_number patient_id photometric pixel_spacing rows series_number slice_location slice_thickness sop_instance_uid source trigger_time window_center window_width"
	assert_line --index 1 --regexp '^PHM0000201/3 int16 1x64x48 '
	run "$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[2])
from stream import read_stream
m = read_stream(sys.argv[1])[1]["meta"]
print(m["patient_id"], m["instance_number"], m["rows"], m["columns"],
      m["pixel_spacing"], m["slice_thickness"], m["cardiac_number_of_images"],
      m["image_orientation"], m["source"].endswith("PHM0000201/3.dcm"))
' out.ts "$REF"
	assert_output "PHM0000201 3 64 48 [1.367188, 1.367188] 10.0 4 [1.0, 0.0, 0.0, 0.0, 1.0, 0.0] True"
}

@test "dcm2tensor: phantom pixels equal pydicom's" {
	dcm2tensor "$PH"/dicoms/*/*.dcm >out.ts
	run "$PYTHON" "$REF/pydicom_compare.py" out.ts "$PH"/dicoms/*/*.dcm
	assert_success
	assert_line "# 8 files, 8 identical to pydicom, 0 failed"
}

@test "dcm2tensor --list: from a file and from stdin, extra columns as meta" {
	printf 'id\timage\tcase\tcontour\n' >list.tsv
	printf 'a/1\t%s\tPH-1\tc1.txt\n' "$PH/dicoms/PHM0000101/1.dcm" >>list.tsv
	printf 'b/2\t%s\tPH-2\t\n' "$PH/dicoms/PHM0000201/2.dcm" >>list.tsv
	run_split dcm2tensor --list list.tsv
	assert_success
	dcm2tensor --list list.tsv >file.ts
	dcm2tensor --list - <list.tsv >stdin.ts
	cmp file.ts stdin.ts
	run "$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[2])
from stream import read_stream
for r in read_stream(sys.argv[1]):
    m = r["meta"]
    print(r["id"], m["case"], m.get("contour"), m["patient_id"])
' file.ts "$REF"
	assert_output "a/1 PH-1 c1.txt PHM0000101
b/2 PH-2 None PHM0000201"
}

@test "dcm2tensor --list: a header without id or image is an error" {
	printf 'name\timage\nx\ty.dcm\n' >bad.tsv
	run_split dcm2tensor --list bad.tsv
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "dcm2tensor: bad.tsv:1: header lacks column 'id'"
	run_split dcm2tensor --list /dev/null
	assert_failure 1
	[[ $stderr == "dcm2tensor: /dev/null: empty list"* ]]
}

@test "dcm2tensor --list: a short row is reported, the others converted" {
	printf 'id\timage\tcase\n' >list.tsv
	printf 'a\t%s\n' "$PH/dicoms/PHM0000101/1.dcm" >>list.tsv
	printf 'b\t%s\tPH-1\n' "$PH/dicoms/PHM0000101/2.dcm" >>list.tsv
	run_split dcm2tensor --list list.tsv
	assert_failure 1
	assert_equal "$stderr" "dcm2tensor: list.tsv:2: 2 fields, the header has 3"
	dcm2tensor --list list.tsv >out.ts || true
	run records out.ts
	assert_equal "${#lines[@]}" 1
	assert_line --index 0 --regexp '^b int16 '
}

@test "dcm2tensor: garbage, truncated, missing files: one line each, stream valid" {
	echo "not a dicom file" >garbage.dcm
	head -c 3000 "$PH/dicoms/PHM0000101/1.dcm" >trunc.dcm
	head -c 200 "$PH/dicoms/PHM0000101/1.dcm" >short.dcm
	good="$PH/dicoms/PHM0000101/2.dcm"
	run_split dcm2tensor garbage.dcm "$good" trunc.dcm short.dcm nothere.dcm "$good"
	assert_failure 1
	assert_equal "${#stderr_lines[@]}" 4
	assert_equal "${stderr_lines[0]}" "dcm2tensor: garbage.dcm: not a DICOM file, or truncated"
	assert_equal "${stderr_lines[1]}" "dcm2tensor: trunc.dcm: truncated pixel data"
	[[ ${stderr_lines[2]} == "dcm2tensor: short.dcm: "* ]]
	assert_equal "${stderr_lines[3]}" "dcm2tensor: nothere.dcm: No such file or directory"
	dcm2tensor garbage.dcm "$good" trunc.dcm short.dcm nothere.dcm "$good" >out.ts 2>/dev/null || true
	run records out.ts
	assert_equal "${#lines[@]}" 2
	run_split dcm2tensor --keep-going garbage.dcm "$good"
	assert_success
	assert_equal "$stderr" "dcm2tensor: garbage.dcm: not a DICOM file, or truncated"
	run_split dcm2tensor "$PH/dicoms"
	assert_failure 1
	assert_equal "$stderr" "dcm2tensor: $PH/dicoms: Is a directory"
}

@test "dcm2tensor: every prefix of a DICOM file is refused or read, never a crash" {
	f="$PH/dicoms/PHM0000101/1.dcm"
	size=$(stat -c %s "$f")
	for n in 0 1 100 128 132 200 400 600 800 1000 1500 $((size - 2)) $((size - 1)); do
		head -c "$n" "$f" >p.dcm
		run_split dcm2tensor p.dcm
		assert_failure 1
		[[ $stderr == "dcm2tensor: p.dcm: "* ]] || fail "prefix $n: $stderr"
		assert_equal "${#stderr_lines[@]}" 1
	done
}

@test "dcm2tensor: a write error on stdout is exit 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	run_split bash -c "dcm2tensor '$PH/dicoms/PHM0000101/1.dcm' >/dev/full"
	assert_failure 1
	[[ $stderr == "dcm2tensor: stdout: "* ]]
}

@test "dcm2tensor: multi-frame file gives one record per frame, ids #0001..." {
	need_corpus
	dcm2tensor "$CORPUS/rtdose.dcm" >out.ts
	run records out.ts
	assert_equal "${#lines[@]}" 15
	assert_line --index 0 --regexp '^test_files/rtdose#0001 int32 1x10x10 .* frame frames '
	assert_line --index 14 --regexp '^test_files/rtdose#0015 '
}

# bats test_tags=slow
@test "dcm2tensor: pydicom's test corpus: identical where pydicom decodes, clear errors elsewhere" {
	need_corpus
	files=("$CORPUS"/*)
	run_split dcm2tensor "${files[@]}"
	assert_failure 1
	dcm2tensor "${files[@]}" >out.ts 2>err.txt || true
	# every stderr line names a file; nothing else on stderr (codec chatter)
	run grep -vc "^dcm2tensor: $CORPUS/" err.txt
	assert_output 0
	run "$PYTHON" "$REF/pydicom_compare.py" --stderr err.txt out.ts "${files[@]}"
	echo "$output" | grep -v '^ok' >&2 || true
	assert_success
	assert_line --regexp '^# 7[0-9] files, 2[4-9] identical to pydicom, 0 failed$'
}

@test "dcm2tensor: lossless codecs (RLE, JPEG-LS, JPEG 2000, big endian) decode to MR_small's values" {
	need_corpus
	dcm2tensor "$CORPUS"/MR_small.dcm "$CORPUS"/MR_small_RLE.dcm \
		"$CORPUS"/MR_small_jpeg_ls_lossless.dcm \
		"$CORPUS"/MR_small_jp2klossless.dcm "$CORPUS"/MR_small_bigendian.dcm >out.ts
	run "$PYTHON" -c '
import sys, numpy as np; sys.path.insert(0, sys.argv[2])
from stream import read_stream
rs = read_stream(sys.argv[1])
print(len(rs), all(np.array_equal(r["image"], rs[0]["image"]) for r in rs), rs[0]["image"].dtype)
' out.ts "$REF"
	assert_output "5 True int16"
}

@test "dcm2tensor --float applies Rescale Slope/Intercept (CT) as f32" {
	need_corpus
	dcm2tensor --float "$CORPUS/CT_small.dcm" "$CORPUS/MR_small.dcm" >out.ts
	run "$PYTHON" "$REF/pydicom_compare.py" --float out.ts "$CORPUS/CT_small.dcm" "$CORPUS/MR_small.dcm"
	assert_success
	assert_line "# 2 files, 2 identical to pydicom, 0 failed"
}

@test "dcm2tensor: colour images are 3xHxW u8" {
	need_corpus
	dcm2tensor "$CORPUS/SC_rgb_rle.dcm" "$CORPUS/SC_rgb_jpeg_gdcm.dcm" >out.ts
	run records out.ts
	assert_line --index 0 --regexp '^test_files/SC_rgb_rle uint8 3x100x100 '
	assert_line --index 1 --regexp '^test_files/SC_rgb_jpeg_gdcm uint8 3x100x100 '
}

# bats test_tags=data
@test "dcm2tensor: 20 of the shared Sunnybrook frames equal pydicom's" {
	need_shared
	mapfile -t all < <(ls "$SHARED"/dicoms/*/*.dcm | sort)
	sample=()
	for ((i = 0; i < ${#all[@]}; i += ${#all[@]} / 20)); do
		sample+=("${all[i]}")
	done
	sample=("${sample[@]:0:20}")
	dcm2tensor "${sample[@]}" >out.ts
	run "$PYTHON" "$REF/pydicom_compare.py" out.ts "${sample[@]}"
	assert_success
	assert_line "# 20 files, 20 identical to pydicom, 0 failed"
}

# bats test_tags=data
@test "dcm2tensor: the shared frames' ids and meta follow the folder layout" {
	need_shared
	dcm2tensor "$SHARED/dicoms/SCD0000101/48.dcm" >out.ts
	run records out.ts
	assert_line --index 0 --regexp '^SCD0000101/48 int16 1x256x256 '
}

@test "dcm2tensor: the examples in docs/dcm2tensor.md run as written" {
	[ -x "$BIN/sunnybrook-index" ] && [ -x "$BIN/tensor-info" ] ||
		skip "sunnybrook-index or tensor-info not built"
	"$REF/docpy.sh" "$ROOT/docs/dcm2tensor.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	assert_output --regexp '^PHM0000101/1	image=i16:1x256x256 '
	run records frames.ts
	assert_equal "${#lines[@]}" 40
	run records labelled.ts
	assert_equal "${#lines[@]}" 40
	assert_line --index 0 --regexp '^PH-1/IM-0001-0001 int16 1x256x256 .*case.*contour'
	run records scans.ts
	assert_equal "${#lines[@]}" 20
	assert_line --index 0 --regexp '^PHM0000201/1 float32 '
	assert_equal "$(cat skipped.txt)" "dcm2tensor: ph/link.csv: not a DICOM file, or truncated"
}

#!/usr/bin/env bats
# sunnybrook-index: the --list TSV of a Sunnybrook tree, both layouts.
load helper

CP3="Sunnybrook Cardiac MR Database ContoursPart3"

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# A tiny tree in the shared subset's layout (placeholder DICOM files: the
# index only checks that they exist).
mksubset() {
	mkdir -p sub/dicoms/SCD0000101 sub/dicoms/SCD0000201 \
		sub/contourfiles/SC-HF-I-1/i-contours sub/contourfiles/SC-HF-I-1/o-contours \
		sub/contourfiles/SC-HF-I-2/i-contours sub/contourfiles/SC-X-9/i-contours
	printf 'patient_id,original_id\nSCD0000101,SC-HF-I-1\nSCD0000201,SC-HF-I-2\n' >sub/link.csv
	touch sub/dicoms/SCD0000101/{1,48,59,100}.dcm sub/dicoms/SCD0000201/{1,7}.dcm \
		sub/dicoms/SCD0000201/notes.txt
	local c=sub/contourfiles
	touch $c/SC-HF-I-1/i-contours/IM-0001-{0048,0100}-icontour-manual.txt \
		$c/SC-HF-I-1/o-contours/IM-0001-{0048,0059}-ocontour-manual.txt \
		$c/SC-HF-I-1/i-contours/IM-0001-0048-p1contour-manual.txt \
		$c/SC-HF-I-2/i-contours/IM-0001-{0007,0009}-icontour-manual.txt \
		$c/SC-X-9/i-contours/IM-0001-0001-icontour-manual.txt
}

# A tiny tree in the DIGITS lab's layout.
mkdigits() {
	local e="dig/$CP3/TrainingDataContours"
	mkdir -p dig/challenge_training/SC-HF-I-1 dig/challenge_training/SC-N-40 \
		"$e/SC-HF-I-01/contours-manual/IRCCI-expert" \
		"$e/SC-N-40/contours-manual/IRCCI-expert" \
		"$e/SC-X-09/contours-manual/IRCCI-expert"
	touch dig/challenge_training/SC-HF-I-1/IM-0004-{0001,0048}.dcm \
		dig/challenge_training/SC-HF-I-1/IM-0003-0048.dcm \
		dig/challenge_training/SC-N-40/IM-0944-0020.dcm
	touch "$e/SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0048-icontour-manual.txt" \
		"$e/SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0048-ocontour-manual.txt" \
		"$e/SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0060-icontour-manual.txt" \
		"$e/SC-N-40/contours-manual/IRCCI-expert/IM-0001-0020-icontour-manual.txt" \
		"$e/SC-X-09/contours-manual/IRCCI-expert/IM-0001-0001-icontour-manual.txt"
}

T=$'\t'

@test "sunnybrook-index --help documents every option on stdout" {
	run_split sunnybrook-index --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --contours --all-frames --layout --strict --help "default i" "default auto"; do
		assert_output --partial -- "$opt"
	done
}

@test "sunnybrook-index: bad options are usage errors (exit 2, empty stdout)" {
	mksubset
	assert_usage_error sunnybrook-index --bogus sub
	assert_usage_error sunnybrook-index --contours x sub
	assert_usage_error sunnybrook-index --layout other sub
	assert_usage_error sunnybrook-index
	assert_usage_error sunnybrook-index sub sub
}

@test "sunnybrook-index: subset layout, i-contours paired with their images" {
	mksubset
	run_split sunnybrook-index sub
	assert_success
	c=sub/contourfiles
	assert_output "id${T}image${T}contour${T}case${T}frame
SC-HF-I-1/IM-0001-0048${T}sub/dicoms/SCD0000101/48.dcm${T}$c/SC-HF-I-1/i-contours/IM-0001-0048-icontour-manual.txt${T}SC-HF-I-1${T}48
SC-HF-I-1/IM-0001-0100${T}sub/dicoms/SCD0000101/100.dcm${T}$c/SC-HF-I-1/i-contours/IM-0001-0100-icontour-manual.txt${T}SC-HF-I-1${T}100
SC-HF-I-2/IM-0001-0007${T}sub/dicoms/SCD0000201/7.dcm${T}$c/SC-HF-I-2/i-contours/IM-0001-0007-icontour-manual.txt${T}SC-HF-I-2${T}7"
	assert_equal "$stderr" "sunnybrook-index: sub/contourfiles/SC-X-9: case 'SC-X-9' is not in link.csv; its contours are left out
sunnybrook-index: $c/SC-HF-I-2/i-contours/IM-0001-0009-icontour-manual.txt: no image sub/dicoms/SCD0000201/9.dcm; left out"
}

@test "sunnybrook-index --contours io: o-contour in a second column; o alone in contour" {
	mksubset
	run_split sunnybrook-index --contours io sub/
	assert_success
	c=sub/contourfiles
	assert_equal "${lines[0]}" "id${T}image${T}contour${T}ocontour${T}case${T}frame"
	assert_equal "${lines[1]}" "SC-HF-I-1/IM-0001-0048${T}sub/dicoms/SCD0000101/48.dcm${T}$c/SC-HF-I-1/i-contours/IM-0001-0048-icontour-manual.txt${T}$c/SC-HF-I-1/o-contours/IM-0001-0048-ocontour-manual.txt${T}SC-HF-I-1${T}48"
	assert_equal "${lines[2]}" "SC-HF-I-1/IM-0001-0059${T}sub/dicoms/SCD0000101/59.dcm${T}${T}$c/SC-HF-I-1/o-contours/IM-0001-0059-ocontour-manual.txt${T}SC-HF-I-1${T}59"
	assert_equal "${#lines[@]}" 5
	run_split sunnybrook-index --contours o sub
	assert_success
	assert_output "id${T}image${T}contour${T}case${T}frame
SC-HF-I-1/IM-0001-0048${T}sub/dicoms/SCD0000101/48.dcm${T}$c/SC-HF-I-1/o-contours/IM-0001-0048-ocontour-manual.txt${T}SC-HF-I-1${T}48
SC-HF-I-1/IM-0001-0059${T}sub/dicoms/SCD0000101/59.dcm${T}$c/SC-HF-I-1/o-contours/IM-0001-0059-ocontour-manual.txt${T}SC-HF-I-1${T}59"
}

@test "sunnybrook-index --all-frames lists unlabelled frames with empty cells" {
	mksubset
	run_split sunnybrook-index --all-frames sub
	assert_success
	assert_equal "${#lines[@]}" 7
	assert_equal "${lines[1]}" "SC-HF-I-1/IM-0001-0001${T}sub/dicoms/SCD0000101/1.dcm${T}${T}SC-HF-I-1${T}1"
	assert_equal "$(cut -f1 <<<"$output" | tail -n +2 | tr '\n' ' ')" \
		"SC-HF-I-1/IM-0001-0001 SC-HF-I-1/IM-0001-0048 SC-HF-I-1/IM-0001-0059 SC-HF-I-1/IM-0001-0100 SC-HF-I-2/IM-0001-0001 SC-HF-I-2/IM-0001-0007 "
	assert_equal "$(cut -f3 <<<"${lines[2]}")" sub/contourfiles/SC-HF-I-1/i-contours/IM-0001-0048-icontour-manual.txt
}

@test "sunnybrook-index: DIGITS layout, unpadded case names and the series table" {
	mkdigits
	run_split sunnybrook-index dig
	assert_success
	e="dig/$CP3/TrainingDataContours"
	assert_output "id${T}image${T}contour${T}case${T}frame
SC-HF-I-1/IM-0001-0048${T}dig/challenge_training/SC-HF-I-1/IM-0004-0048.dcm${T}$e/SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0048-icontour-manual.txt${T}SC-HF-I-1${T}48
SC-N-40/IM-0001-0020${T}dig/challenge_training/SC-N-40/IM-0944-0020.dcm${T}$e/SC-N-40/contours-manual/IRCCI-expert/IM-0001-0020-icontour-manual.txt${T}SC-N-40${T}20"
	assert_equal "$stderr" "sunnybrook-index: $e/SC-X-09/contours-manual/IRCCI-expert/IM-0001-0001-icontour-manual.txt: case 'SC-X-9' has no short-axis series in the lab's table; left out
sunnybrook-index: $e/SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0060-icontour-manual.txt: no image dig/challenge_training/SC-HF-I-1/IM-0004-0060.dcm; left out"
}

@test "sunnybrook-index: DIGITS layout --all-frames keeps to the short-axis series" {
	mkdigits
	run_split sunnybrook-index --all-frames --contours io dig
	assert_success
	assert_equal "$(cut -f1,2 <<<"$output" | tail -n +2 | tr '\n' ' ')" \
		"SC-HF-I-1/IM-0001-0001${T}dig/challenge_training/SC-HF-I-1/IM-0004-0001.dcm SC-HF-I-1/IM-0001-0048${T}dig/challenge_training/SC-HF-I-1/IM-0004-0048.dcm SC-N-40/IM-0001-0020${T}dig/challenge_training/SC-N-40/IM-0944-0020.dcm "
	assert_equal "$(cut -f4 <<<"${lines[2]}")" "dig/$CP3/TrainingDataContours/SC-HF-I-01/contours-manual/IRCCI-expert/IM-0001-0048-ocontour-manual.txt"
}

@test "sunnybrook-index --strict: contours left out make the exit status 1" {
	mksubset
	run_split sunnybrook-index --strict sub
	assert_failure 1
	assert_equal "${#lines[@]}" 4
	assert_equal "${#stderr_lines[@]}" 2
	rm -r sub/contourfiles/SC-X-9 sub/contourfiles/SC-HF-I-2/i-contours/IM-0001-0009-icontour-manual.txt
	run_split sunnybrook-index --strict sub
	assert_success
	assert_equal "$stderr" ""
}

@test "sunnybrook-index: output is sorted and the same whatever the creation order" {
	mksubset
	sunnybrook-index --all-frames --contours io sub >a.tsv 2>/dev/null
	mv sub sub1
	mkdir -p sub/dicoms sub/contourfiles
	# recreate the tree in reverse order
	for f in $(cd sub1 && find . -type f | sort -r); do
		mkdir -p "sub/$(dirname "$f")"
		cp "sub1/$f" "sub/$f"
	done
	sunnybrook-index --all-frames --contours io sub >b.tsv 2>/dev/null
	cmp a.tsv b.tsv
	tail -n +2 a.tsv | LC_ALL=C sort -c
}

@test "sunnybrook-index: no tree, unknown layout, bad link.csv are one-line errors" {
	run_split sunnybrook-index nosuch
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "sunnybrook-index: nosuch: not a directory"
	mkdir empty
	run_split sunnybrook-index empty
	assert_failure 1
	assert_equal "$stderr" "sunnybrook-index: empty: neither layout found (no link.csv, no challenge_training/)"
	mksubset
	printf 'patient_id,original_id\nSCD0000101;SC-HF-I-1\n' >sub/link.csv
	run_split sunnybrook-index sub
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "sunnybrook-index: sub/link.csv:2: expected 'dicom_id,case', got 'SCD0000101;SC-HF-I-1'"
	run_split sunnybrook-index --layout digits sub
	assert_failure 1
	assert_equal "$stderr" "sunnybrook-index: sub/challenge_training: not a directory"
}

# bats test_tags=data
@test "sunnybrook-index: the shared subset has 74 i-contours, 37 o-contours, 920 frames" {
	need_shared
	run_split sunnybrook-index --strict "$SHARED"
	assert_success
	assert_equal "${#lines[@]}" 75
	assert_equal "$(cut -f4 <<<"$output" | tail -n +2 | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" \
		"SC-HF-I-1=18 SC-HF-I-2=18 SC-HF-I-4=20 SC-HF-I-5=18 "
	run_split sunnybrook-index --contours io "$SHARED"
	assert_equal "$(tail -n +2 <<<"$output" | awk -F'\t' '$4 != ""' | wc -l)" 37
	run_split sunnybrook-index --all-frames "$SHARED"
	assert_equal "${#lines[@]}" 921
}

# bats test_tags=data,slow
@test "sunnybrook-index: a DIGITS tree linked to the real DICOMs gives the same masks" {
	need_shared
	local e="dig/$CP3/TrainingDataContours" s
	declare -A series=([SC-HF-I-1]=0004 [SC-HF-I-2]=0106 [SC-HF-I-4]=0116)
	declare -A folder=([SC-HF-I-1]=SCD0000101 [SC-HF-I-2]=SCD0000201 [SC-HF-I-4]=SCD0000301)
	for c in SC-HF-I-1 SC-HF-I-2 SC-HF-I-4; do
		padded=$(sed 's/-\([0-9]\)$/-0\1/' <<<"$c")
		mkdir -p "dig/challenge_training/$c" "$e/$padded/contours-manual/IRCCI-expert"
		for f in "$SHARED/contourfiles/$c"/*-contours/*.txt; do
			ln -s "$f" "$e/$padded/contours-manual/IRCCI-expert/"
			n=$(basename "$f" | cut -d- -f3)
			ln -sf "$SHARED/dicoms/${folder[$c]}/$((10#$n)).dcm" \
				"dig/challenge_training/$c/IM-${series[$c]}-$n.dcm"
		done
	done
	sunnybrook-index --strict dig | dcm2tensor --list - | contour2mask >dig.ts
	sunnybrook-index "$SHARED" | grep -v '^SC-HF-I-5/' | dcm2tensor --list - | contour2mask >sub.ts
	run "$PYTHON" -c '
import sys; sys.path.insert(0, sys.argv[1]); import stream
a = stream.read_stream("dig.ts"); b = stream.read_stream("sub.ts")
assert [r["id"] for r in a] == [r["id"] for r in b]
assert all((x["image"] == y["image"]).all() and (x["label"] == y["label"]).all() for x, y in zip(a, b))
print(len(a))' "$ROOT/tests/ref"
	assert_success
	assert_output 56
}

@test "sunnybrook-index: the example in docs/sunnybrook-index.md runs as written" {
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/sunnybrook-index.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	assert_equal "$(wc -l <index.tsv)" 5
	assert_equal "$(tensor-info all.ts | tail -n 1 | cut -d' ' -f2)" 4
}

@test "sunnybrook-index: a failed write to stdout is exit 1 with one message" {
	[ -w /dev/full ] || skip "no /dev/full"
	mksubset
	run_split bash -c 'sunnybrook-index sub >/dev/full'
	assert_failure 1
	assert_equal "${stderr_lines[-1]}" "sunnybrook-index: stdout: write error: No space left on device"
}

#!/usr/bin/env bats
# mask2contour: masks to Sunnybrook contour files; contour2mask gives them
# back (checked independently with scikit-image / SciPy).
load helper

setup() {
	T=$BATS_TEST_TMPDIR
	RT="$PYTHON $ROOT/tests/ref/contour_roundtrip.py"
	cd "$T"
}

# masks.ts: the phantom's i-contour masks as `pred` (and label)
phantom_masks() {
	phantom -o ph --cases 2 --size 64x64 --slices 2 --phases 4 >/dev/null
	sunnybrook-index ph | dcm2tensor --list - | contour2mask |
		contour2mask --field pred >masks.ts
}

@test "mask2contour --help documents every option" {
	run_split mask2contour --help
	assert_success
	for o in --output --field --classes --kind --suffix --case-key --help; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "default"
	assert_equal "$stderr" ""
}

@test "mask2contour: usage errors exit 2 with empty stdout" {
	assert_usage_error mask2contour
	assert_usage_error mask2contour --bogus -o d
	assert_usage_error mask2contour -o d --kind x
	assert_usage_error mask2contour -o d --classes 0
	assert_usage_error mask2contour -o d --classes ,
	assert_usage_error mask2contour -o d --suffix a/b
	assert_usage_error mask2contour -o d --field ''
}

@test "mask2contour: phantom masks round-trip exactly through contour2mask" {
	phantom_masks
	run_split mask2contour -o out masks.ts
	assert_success
	assert_equal "$stderr" ""
	echo "$output" >list.tsv
	assert_equal "$(wc -l <list.tsv)" 16
	assert_line --index 0 --regexp $'^PH-1/IM-0001-0001\tout/PH-1/i-contours/IM-0001-0001-icontour-auto.txt\t[0-9]+$'
	[ -f out/PH-2/i-contours/IM-0001-0008-icontour-auto.txt ]
	contour2mask --size 64x64 $(cut -f2 list.tsv) >back.ts
	run $RT masks.ts list.tsv pred 1.0 --back back.ts
	assert_success
	assert_output "records 16 exact 16 min_dice 1.000000 max_diff_pixels 0"
	# and through the stream pipeline: dice-score of back vs the masks is 1
	run $PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import read_stream
a = read_stream('masks.ts'); b = read_stream('back.ts')
assert all(np.array_equal(r['pred'], s['label']) for r, s in zip(a, b))"
	assert_success
}

@test "mask2contour: the files follow the expert files' conventions" {
	phantom_masks
	mask2contour -o out masks.ts >/dev/null
	f=out/PH-1/i-contours/IM-0001-0001-icontour-auto.txt
	# two decimals, x y, clockwise on screen like the expert files: the
	# shoelace sum over (x, y) with y down is positive
	run awk 'NF != 2 || $1 !~ /^[0-9]+\.[0-9][0-9]$/ || $2 !~ /^[0-9]+\.[0-9][0-9]$/ { bad = 1 }
		{ x[NR] = $1; y[NR] = $2 }
		END { for (i = 1; i <= NR; i++) { j = i % NR + 1; s += x[i] * y[j] - x[j] * y[i] }
		      exit bad || s <= 0 }' "$f"
	assert_success
	e=$(ls ph/contourfiles/PH-1/i-contours/ | head -1)
	run awk '{ x[NR] = $1; y[NR] = $2 } END { for (i = 1; i <= NR; i++) { j = i % NR + 1; s += x[i] * y[j] - x[j] * y[i] }; exit s <= 0 }' "ph/contourfiles/PH-1/i-contours/$e"
	assert_success
	# --suffix manual names them as the expert's; --kind o, --classes 1,2
	phantom -o ph2 --cases 1 --size 64x64 --slices 1 --phases 2 >/dev/null
	sunnybrook-index --contours io ph2 | dcm2tensor --list - |
		contour2mask -m ocontour -c 2 -m contour -c 1 >io.ts
	run_split mask2contour -o o2 --field label --kind o --classes 1,2 --suffix manual io.ts
	assert_success
	[ -f o2/PH-1/o-contours/IM-0001-0001-ocontour-manual.txt ]
	# phase 2 has no o-contour: label is the blood pool only, still class 1
	[ -f o2/PH-1/o-contours/IM-0001-0002-ocontour-manual.txt ]
	# the o-contour fills back to the epicardium region (labels 1 and 2)
	contour2mask --size 64x64 o2/PH-1/o-contours/IM-0001-0001-ocontour-manual.txt >o.ts
	run $PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import read_stream
a = read_stream('io.ts')[0]['label'] > 0; b = read_stream('o.ts')[0]['label'] > 0
assert np.array_equal(a, b), int((a != b).sum())"
	assert_success
}

@test "mask2contour: empty masks, several components, holes, frame and case rules" {
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
z = np.zeros((1, 16, 16), np.uint8)
two = z.copy(); two[0, 1:4, 1:4] = 1; two[0, 6:14, 6:14] = 1; two[0, 9:11, 9:11] = 0
diag = z.copy(); diag[0, 2, 2] = diag[0, 3, 3] = 1; diag[0, 3, 2] = 0
write_stream([{'id': 'A/none-0007', 'pred': z},
              {'id': 'A/two-0012', 'pred': two},
              {'id': 'x/y', 'pred': diag, 'meta': {'frame': 3, 'case': 'B'}}], 'm.ts')"
	run_split mask2contour -o out m.ts
	assert_success
	assert_line --index 0 $'A/none-0007\t\t0'
	assert_line --index 1 $'A/two-0012\tout/A/i-contours/IM-0001-0012-icontour-auto.txt\t64'
	assert_line --index 2 $'x/y\tout/B/i-contours/IM-0001-0003-icontour-auto.txt\t8'
	echo "$output" >list.tsv
	# the largest component with its hole filled; the small one dropped
	run $RT m.ts list.tsv pred 0.5
	assert_success
	assert_output "records 3 exact 0 min_dice 0.666667 max_diff_pixels 13"
	run $RT m.ts list.tsv pred 0.98
	assert_failure
}

@test "mask2contour: stdin equals file; same input, same bytes" {
	phantom_masks
	mask2contour -o a masks.ts >la
	mask2contour -o b <masks.ts >lb
	diff <(sed 's#\ta/#\t#' la) <(sed 's#\tb/#\t#' lb)
	diff -r a b
	# a rerun over an existing tree replaces the files atomically
	mask2contour -o a masks.ts >/dev/null
	diff -r a b
	run find a -name '*.tmp*'
	assert_output ""
}

@test "mask2contour: bad input is one line naming the record" {
	phantom_masks
	head -c 3000 masks.ts >trunc.ts
	run_split mask2contour -o out trunc.ts
	assert_failure 1
	[[ $stderr == "mask2contour: trunc.ts: "* ]] || fail "$stderr"
	assert_equal "$(echo "$stderr" | wc -l)" 1
	run_split mask2contour -o out2 --field nope masks.ts
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "mask2contour: masks.ts: record 1 (PH-1/IM-0001-0001): no 'nope' tensor"
	$PYTHON -c "
import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream
write_stream([{'id': 'noframe', 'pred': np.ones((1, 4, 4), np.uint8)}], 'nf.ts')
write_stream([{'id': 'c/1', 'pred': np.ones((4,), np.uint8)}], 'flat.ts')
write_stream([{'id': '../1', 'pred': np.ones((1, 4, 4), np.uint8)}], 'up.ts')"
	run_split mask2contour -o out3 nf.ts
	assert_failure 1
	assert_equal "$stderr" "mask2contour: nf.ts: record 1 (noframe): no 'frame' meta and no frame number ending the id"
	run_split mask2contour -o out3 flat.ts
	assert_failure 1
	assert_equal "$stderr" "mask2contour: flat.ts: record 1 (c/1): pred 4 is not one H x W mask"
	run_split mask2contour -o out3 up.ts
	assert_failure 1
	assert_equal "$stderr" "mask2contour: up.ts: record 1 (../1): case '..' is not a folder name"
	touch file
	run_split mask2contour -o file masks.ts
	assert_failure 1
	[[ $stderr == "mask2contour: file: "* ]] || fail "$stderr"
}

@test "mask2contour: the 74 expert masks of the shared data round-trip exactly" {
	need_shared
	sunnybrook-index "$SHARED" | dcm2tensor --list - | contour2mask >centre.ts
	mask2contour -o out -f label centre.ts >list.tsv
	contour2mask --size 256x256 $(cut -f2 list.tsv) >back.ts
	run $RT centre.ts list.tsv label 1.0 --back back.ts
	assert_success
	assert_output "records 74 exact 74 min_dice 1.000000 max_diff_pixels 0"
}

@test "mask2contour: the example in docs/mask2contour.md runs as written" {
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/mask2contour.md" 1 >ex.sh
	run bash -e ex.sh
	assert_success
	[ -f contours/PH-1/i-contours/IM-0001-0001-icontour-auto.txt ]
}

@test "mask2contour: predicted masks come back as their filled largest component, exactly" {
	# a model trained for one epoch in the test predicts fragmented masks:
	# the round trip keeps the largest component with holes filled, pixel
	# for pixel (contour_roundtrip.py checks that with SciPy), and nothing else
	phantom -o ph --cases 2 --size 64x64 --slices 2 --phases 5 >/dev/null
	sunnybrook-index ph | dcm2tensor --list - | contour2mask >train.ts
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train train.ts --lr 0.01 \
		--threads 1 --epochs 1 --class-weights auto --seed 3 -o model.fcn >/dev/null 2>&1
	fcn-predict -m model.fcn --threads 1 train.ts >pred.ts
	mask2contour -o out pred.ts >list.tsv
	contour2mask --size 64x64 $(cut -f2 list.tsv | grep .) >back.ts
	run $RT pred.ts list.tsv pred 0.5 --back back.ts
	assert_success
	assert_output --regexp '^records 20 exact [0-9]+ min_dice 0\.[5-9][0-9]+ max_diff_pixels [0-9]+$'
}

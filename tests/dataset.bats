#!/usr/bin/env bats
# pipelines/dataset.sh: a Sunnybrook tree to train.ts and val.ts.
load helper

DATASET="$ROOT/pipelines/dataset.sh"
REF="$ROOT/tests/ref"

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH="$REF"
}

# A phantom tree of 3 cases x 4 frames, 64x64 (in ph/, made once per test).
mkphantom() {
	phantom -o ph --cases 3 --size 64x64 --slices 1 --phases 4 --seed 11 2>/dev/null
}

cases() {
	"$PYTHON" -c '
import sys, stream
print(" ".join(sorted({r["meta"]["case"] for r in stream.read_stream(sys.argv[1])})))' "$1"
}

@test "dataset.sh --help documents every option on stdout" {
	run_split "$DATASET" --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --val-cases --val-fraction --seed --contours --unknown --rule --all-frames --strict --quiet --help "default 0" "default i" "default centre"; do
		assert_output --partial -- "$opt"
	done
}

@test "dataset.sh: bad usage exits 2 with empty stdout" {
	for args in "" "onlyone" "a b c" "--contours x a b" "--seed x a b" \
		"--val-cases A --val-fraction 0.5 a b" "--bogus a b" "--rule fill a b" \
		"--contours io --unknown 256 a b" "--contours io --unknown x a b" "--unknown 255 a b"; do
		run_split "$DATASET" $args
		assert_equal "$status" 2
		assert_equal "$output" ""
		[[ $stderr == "dataset.sh: "* ]] || fail "stderr: $stderr"
	done
}

@test "dataset.sh: phantom tree to train.ts and val.ts, one case held out, masks as skimage" {
	mkphantom
	run_split "$DATASET" ph out
	assert_success
	assert_equal "$output" ""
	[ -f out/train.ts ] && [ -f out/val.ts ] && [ -f out/index.tsv ]
	assert_equal "$(cases out/val.ts | wc -w)" 1
	assert_equal "$(cases out/train.ts | wc -w)" 2
	assert_equal "$(echo $(cases out/train.ts) $(cases out/val.ts) | tr ' ' '\n' | sort | tr '\n' ' ')" "PH-1 PH-2 PH-3 "
	[[ $stderr == *"tensor-split: val: 1 case, 4 records"* ]] || fail "stderr: $stderr"
	cat out/train.ts out/val.ts >all.ts
	run "$PYTHON" "$REF/skimage_masks.py" check all.ts
	assert_success
	assert_output "12 records, 12 labelled, 12 identical"
	[ -z "$(ls -A out | grep '^\.')" ] || fail "temporary files left: $(ls -A out)"
}

# bats test_tags=slow
@test "dataset.sh: the same seed gives the same files; --val-cases and LVSEG_VAL_CASES name cases" {
	mkphantom
	"$DATASET" -q --seed 3 ph a
	"$DATASET" -q --seed 3 ph b
	cmp a/train.ts b/train.ts
	cmp a/val.ts b/val.ts
	"$DATASET" -q --val-cases PH-2,PH-3 ph c
	assert_equal "$(cases c/val.ts)" "PH-2 PH-3"
	assert_equal "$(cases c/train.ts)" "PH-1"
	LVSEG_VAL_CASES=PH-1 "$DATASET" -q ph d
	assert_equal "$(cases d/val.ts)" "PH-1"
	# some seed among a few holds out another case than seed 3
	for s in 0 1 2 4 5 6; do
		"$DATASET" -q --seed $s ph e
		cases e/val.ts
	done | sort -u >picked
	[ "$(wc -l <picked)" -ge 2 ] || fail "seeds always pick $(cat picked)"
}

@test "dataset.sh --contours io: myocardium 2, blood pool 1" {
	mkphantom
	"$DATASET" -q --contours io ph out
	cat out/train.ts out/val.ts >all.ts
	run "$PYTHON" "$REF/skimage_masks.py" check --classes ocontour=2,contour=1 all.ts
	assert_success
	assert_output "12 records, 12 labelled, 12 identical"
	run "$PYTHON" -c '
import stream
print(sorted({int(v) for r in stream.read_stream("all.ts") for v in set(r["label"].ravel())}))'
	assert_output "[0, 1, 2]"
}

@test "dataset.sh: a failing stage fails the whole run and writes nothing" {
	mkphantom
	run_split "$DATASET" nosuch out
	assert_failure 1
	assert_equal "$output" ""
	[[ $stderr == *"sunnybrook-index: nosuch: not a directory"* ]] || fail "stderr: $stderr"
	[[ $stderr == *"dataset.sh: sunnybrook-index failed on 'nosuch'"* ]] || fail "stderr: $stderr"
	[ ! -e out/train.ts ] && [ ! -e out/val.ts ]
	# a broken DICOM in the middle: dcm2tensor fails, nothing is written
	f=$(ls ph/dicoms/*/2.dcm | head -n 1)
	head -c 200 "$f" >broken && mv broken "$f"
	run_split "$DATASET" ph out
	assert_failure 1
	[[ $stderr == *"dcm2tensor: "* ]] || fail "stderr: $stderr"
	[[ $stderr == *"dataset.sh: a stage failed"* ]] || fail "stderr: $stderr"
	[ ! -e out/train.ts ] && [ ! -e out/val.ts ]
	[ -z "$(ls -A out)" ] || fail "left in out: $(ls -A out)"
}

@test "dataset.sh: a broken contour file fails the run with contour2mask's message" {
	mkphantom
	printf '1 1\n2 2\n' >"$(ls ph/contourfiles/PH-2/i-contours/*.txt | head -n 1)"
	run_split "$DATASET" ph out
	assert_failure 1
	[[ $stderr == *"contour2mask: "*": 2 points, a polygon needs at least 3"* ]] || fail "stderr: $stderr"
	[ ! -e out/train.ts ]
}

@test "dataset.sh: one case cannot be split by case; an empty tree has no frames" {
	phantom -o one --cases 1 --size 64x64 --slices 1 --phases 2 --seed 1 2>/dev/null
	run_split "$DATASET" one out
	assert_failure 1
	assert_equal "$stderr" "dataset.sh: one: only 1 case, cannot split by case"
	mkdir -p empty/contourfiles empty/dicoms
	echo patient_id,original_id >empty/link.csv
	run_split "$DATASET" empty out
	assert_failure 1
	assert_equal "$stderr" "dataset.sh: empty: no labelled frames found"
}

@test "dataset.sh: finds the programs in the repository's bin/ when not on PATH" {
	mkphantom
	[ -x "$ROOT/bin/dcm2tensor" ] || skip "programs not built in $ROOT/bin"
	run_split env PATH=/usr/bin:/bin "$DATASET" -q ph out
	assert_success
	[ -s out/train.ts ]
}

# bats test_tags=data
@test "dataset.sh --contours io --unknown 255: frames without an o-contour are ignored outside the blood pool" {
	need_shared
	"$DATASET" -q --val-cases SC-HF-I-1 "$SHARED" endo
	"$DATASET" -q --contours io --unknown 255 --val-cases SC-HF-I-1 "$SHARED" myo
	run "$PYTHON" -c '
import numpy as np, stream
endo = {r["id"]: r["label"] for f in ("endo/train.ts", "endo/val.ts") for r in stream.read_stream(f)}
kinds = {}
for f in ("myo/train.ts", "myo/val.ts"):
    for r in stream.read_stream(f):
        l, e = r["label"], endo[r["id"]]
        assert ((l == 1) == (e == 1)).all(), r["id"]  # the blood pool as it was
        k = tuple(sorted(set(l.ravel().tolist())))
        if k == (1, 255):
            assert ((l == 255) == (e == 0)).all(), r["id"]
        kinds[k] = kinds.get(k, 0) + 1
print(sorted(kinds.items()))'
	assert_success
	assert_output "[((0, 1, 2), 37), ((1, 255), 37)]"
}

@test "dataset.sh: the shared data gives 74 labelled records identical to skimage" {
	need_shared
	run_split "$DATASET" --strict "$SHARED" out
	assert_success
	assert_equal "$(cases out/val.ts | wc -w)" 1
	cat out/train.ts out/val.ts >all.ts
	run "$PYTHON" "$REF/skimage_masks.py" check all.ts
	assert_success
	assert_output "74 records, 74 labelled, 74 identical"
}

@test "dataset.sh: the example in docs/dataset.md runs as written" {
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/dataset.md" 1 |
		sed "s|pipelines/dataset.sh|$DATASET|" >ex.sh
	run_split bash -e ex.sh
	assert_success
	[ -s data/train.ts ] && [ -s data/val.ts ] && [ -s data/index.tsv ]
	assert_equal "$(cases data/val.ts | wc -w)" 1
}

#!/usr/bin/env bats
# make demo's script, shortened: phantom -> dataset -> train -> predict ->
# dice -> pictures, ending with the Dice table and the pictures' folder.
load helper

# bats test_tags=slow
@test "demo: the whole path runs on phantom data and prints the Dice table" {
	OUT=$BATS_TEST_TMPDIR/demo CASES=3 SLICES=1 EPOCHS=2 run_split "$ROOT/pipelines/demo.sh"
	assert_success
	assert_line --partial "Dice on the validation cases"
	assert_line --regexp '^1	10	[0-9.]+	'
	assert_line "Pictures (label green, prediction red): $BATS_TEST_TMPDIR/demo/png/"
	[ "$(ls "$BATS_TEST_TMPDIR/demo/png" | wc -l)" -eq 10 ]
	[ -s "$BATS_TEST_TMPDIR/demo/model.fcn" ]
}

@test "demo: a missing data folder is one error and exit 1" {
	OUT=$BATS_TEST_TMPDIR/demo run_split "$ROOT/pipelines/demo.sh" "$BATS_TEST_TMPDIR/nope"
	assert_failure 1
	assert_equal "$stderr" "demo: $BATS_TEST_TMPDIR/nope: not a directory"
}

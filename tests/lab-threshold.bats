#!/usr/bin/env bats
# pipelines/lab-threshold.py: Dice and area ratio of a fold's probabilities
# at several thresholds, on hand-made records with known answers.
load helper

# Two 4x4 records: A's expert mask is a 2x2 block with probability 0.7,
# two more pixels have 0.35; B is empty in both.
make_stream() {
	"$PYTHON" - "$1" "$2" <<'PY'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/tests/ref")
from stream import write_stream
lab = np.zeros((1, 4, 4), np.uint8); lab[0, 1:3, 1:3] = 1
prob = np.zeros((2, 4, 4), np.float32); prob[1, 1:3, 1:3] = 0.7; prob[1, 0, 0:2] = 0.35
prob[0] = 1 - prob[1]
z = np.zeros((2, 4, 4), np.float32); z[0] = 1
write_stream([{"id": "A", "label": lab, "prob": prob, "pred": lab.copy()},
              {"id": "B", "label": 0 * lab, "prob": z, "pred": 0 * lab}], sys.argv[2])
PY
}

@test "lab-threshold: Dice and area ratio per threshold, and of the stream's pred" {
	make_stream "$ROOT" "$BATS_TEST_TMPDIR/p.ts"
	run_split "$PYTHON" "$ROOT/pipelines/lab-threshold.py" -t 0.3,0.5,0.8 "f=$BATS_TEST_TMPDIR/p.ts"
	assert_success
	assert_equal "${lines[0]}" "$(printf 'name\tthreshold\tframes\tmean_dice\tarea_ratio')"
	assert_equal "${lines[1]}" "$(printf 'f\tpred\t2\t1.0000\t1.0000')"
	# 6 pixels predicted, 4 of them right: Dice 0.8 (B, both empty, 1)
	assert_equal "${lines[2]}" "$(printf 'f\t0.3\t2\t0.9000\t1.5000')"
	assert_equal "${lines[3]}" "$(printf 'f\t0.5\t2\t1.0000\t1.0000')"
	assert_equal "${lines[4]}" "$(printf 'f\t0.8\t2\t0.5000\t0.0000')"
	[ "${#lines[@]}" -eq 5 ]
}

@test "lab-threshold: records without prob, or a run without NAME=, are refused" {
	"$PYTHON" - "$ROOT" "$BATS_TEST_TMPDIR/n.ts" <<'PY'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1] + "/tests/ref")
from stream import write_stream
write_stream([{"id": "A", "label": np.zeros((1, 2, 2), np.uint8)}], sys.argv[2])
PY
	run_split "$PYTHON" "$ROOT/pipelines/lab-threshold.py" "f=$BATS_TEST_TMPDIR/n.ts"
	assert_failure 1
	assert_equal "$stderr" "lab-threshold.py: $BATS_TEST_TMPDIR/n.ts: records need 'prob' and 'label'"
	run_split "$PYTHON" "$ROOT/pipelines/lab-threshold.py" "$BATS_TEST_TMPDIR/n.ts"
	assert_failure 1
	assert_equal "$stderr" "lab-threshold.py: $BATS_TEST_TMPDIR/n.ts: want NAME=PRED.ts"
}

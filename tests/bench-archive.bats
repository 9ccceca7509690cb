#!/usr/bin/env bats
# bench/archive.sh, dry (our side only) on 3 small phantom frames: the
# pipeline runs end to end and reports; and the model's weights moved into
# the PyTorch twin (bench/archive_export.py, the peer's ONNX source) give
# the masks fcn-predict gives.  Not the benchmark itself (bench/, by hand).
load helper

setup() {
	T=$BATS_TEST_TMPDIR
	cd "$T"
	phantom -o ph --cases 1 --size 64x64 --slices 1 --phases 3 >/dev/null
}

@test "bench/archive.sh DRY=1: 3 frames to masks and a per-case report" {
	DRY=1 SIZE=64x64 WORK="$T/w" OUT="$T/o" run_split "$ROOT/bench/archive.sh" "$T/ph"
	assert_success
	assert_line "frames=3"
	assert_line --regexp '^ours_frames_per_s=[0-9]+\.[0-9]+$'
	assert_line --regexp '^beyond_net_pct=-?[0-9]+\.[0-9]$'
	assert_line --regexp $'^ours_report: PHM0000101\t3\t1\t'
	refute_line --partial "peer_"
	run tensor-info "$T/o/masks.ts"
	assert_success
	assert_output --partial "3 records, 0 errors"
	assert_output --partial "pred=u8:1x64x64 (3)"
	[ -f "$T/w/unet16.fcn" ]
}

@test "bench/archive_export.py: the PyTorch twin with our weights predicts fcn-predict's masks" {
	DRY=1 SIZE=64x64 WORK="$T/w" OUT="$T/o" run_split "$ROOT/bench/archive.sh" "$T/ph"
	assert_success
	run $PYTHON - "$ROOT" "$T/w/unet16.fcn" "$T/o/masks.ts" <<'PY'
import sys
import numpy as np
import torch
root = sys.argv[1]
sys.path[:0] = [root + "/bench", root + "/tests/ref"]
import archive_export, stream
net, scale, shift = archive_export.load(sys.argv[2], 16)
n = same = 0
for r in stream.read_stream(sys.argv[3]):
    x = torch.from_numpy(r["image"].astype(np.float32))[None] * scale + shift
    with torch.no_grad():
        m = net(x)[0].argmax(0).numpy().astype(np.uint8)
    n += 1
    same += int((m == r["pred"][0]).mean() > 0.999)
print("frames=%d agree=%d" % (n, same))
PY
	assert_success
	assert_output "frames=3 agree=3"
}

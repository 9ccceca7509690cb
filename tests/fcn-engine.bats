#!/usr/bin/env bats
# fcn-engine.bats - libfcn from the outside: every shipped net and every
# example in docs/nets.md runs forward and backward (through the engine
# benchmark program), and the benchmark's output has its keys.  The
# numerics are tested by the unit tests test_fcn_layers (finite
# differences), test_fcn_net and test_fcn_torch (FCN-AlexNet vs PyTorch).
load helper

setup_file() {
	cd "$ROOT" && bench/fcn.sh --build >/dev/null
}

bench() {
	"$ROOT/build/bench/fcn_bench" "$@"
}

@test "fcn_bench: usage error without a net" {
	run bench
	assert_equal "$status" 2
	assert_output --partial "usage: fcn_bench"
}

@test "fcn_bench: a bad description fails with file:line" {
	printf 'layer { name: "in" type: "Input" top: "data" }\nlayer { type: "Nope" }\n' \
		>"$BATS_TEST_TMPDIR/bad.prototxt"
	run bench "$BATS_TEST_TMPDIR/bad.prototxt"
	assert_equal "$status" 1
	assert_output --partial "bad.prototxt:2: unknown layer type 'Nope'"
}

@test "nets/fcn-tiny.prototxt: forward and training step at 1x1x64x64" {
	run bench "$ROOT/nets/fcn-tiny.prototxt" 1 1 64 64 0 2
	assert_success
	assert_line --regexp '^forward_img_s=[0-9.]+$'
	assert_line --regexp '^train_img_s=[0-9.]+$'
	assert_line --regexp '^peak_rss_mb=[0-9]+$'
}

@test "nets/fcn-alexnet.prototxt: forward and training step at 1x3x64x64" {
	run bench "$ROOT/nets/fcn-alexnet.prototxt" 1 3 64 64 0 2
	assert_success
	assert_line --regexp '^train_img_s=[0-9.]+$'
}

@test "docs/nets.md: every prototxt example runs" {
	awk -v dir="$BATS_TEST_TMPDIR" '
		/^```prototxt/ { n++; f = dir "/example" n ".prototxt"; on = 1; next }
		/^```/ { on = 0 }
		on { print > f }' "$ROOT/docs/nets.md"
	ls "$BATS_TEST_TMPDIR"/example*.prototxt >/dev/null
	for f in "$BATS_TEST_TMPDIR"/example*.prototxt; do
		run bench "$f" 2 1 16 16 0 1
		assert_success
	done
}

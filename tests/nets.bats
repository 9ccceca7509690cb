#!/usr/bin/env bats
# nets.bats - the shipped nets train: a few iterations of fcn-train on small
# synthetic images (tests/ref/numpy_fcn_data.py: a bright disc on noise),
# the loss finite and, where the net starts from random weights, falling.
load helper

setup() {
	T=$BATS_TEST_TMPDIR
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
}

# The train_loss column of a TSV log, one value per line.
losses() {
	sed 1d "$1" | cut -f4
}

@test "nets/unet.prototxt: 256x256 in, 256x256 out; trains on 64x64 images, the loss falls" {
	$GEN "$T/train.st" 8 64 64 1
	$GEN "$T/val.st" 4 64 64 2
	run_split fcn-train --net "$ROOT/nets/unet.prototxt" --train "$T/train.st" \
		--val "$T/val.st" --epochs 4 --batch 2 --lr 0.002 --solver adamw \
		--weight-decay 0.01 --loss softmax+dice --threads 2 -o "$T/unet.fcn"
	assert_success
	echo "$output" >"$T/log"
	$PYTHON -c "import math, sys
l = [float(x) for x in open('$T/log').read().split('\n')[1:] if x for x in [x.split('\t')[3]]]
assert all(math.isfinite(x) for x in l), l
assert l[-1] < 0.8 * l[0], l"
	# the deploy net gives a 256x256 prediction for a 256x256 image
	$GEN "$T/big.st" 1 256 256 3
	fcn-predict -m "$T/unet.fcn" "$T/big.st" | $PYTHON -c "import sys
sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream
r = read_stream('/dev/stdin')
assert r[0]['pred'].shape == (1, 256, 256), r[0]['pred'].shape"
}

@test "nets/fcn-8s.prototxt: forward, backward and updates run at 3x32x32; the loss is finite" {
	# (slow: conv1_2 works on 230x230 after pad 100, and the model is 1 GB)
	$GEN "$T/rgb.st" 2 32 32 1 --channels 3
	$GEN "$T/one.st" 1 32 32 1 --channels 3
	run_split fcn-train --net "$ROOT/nets/fcn-8s.prototxt" --train "$T/one.st" \
		--epochs 1 --lr 1e-4 --threads 2 -o "$T/fcn8s.fcn"
	[ "$status" -eq 0 ] || fail "$stderr"
	echo "$output" >"$T/log"
	assert_equal "$(sed 1d "$T/log" | cut -f2)" "1"
	$PYTHON -c "import math
l = [float(x.split('\t')[3]) for x in open('$T/log').read().split('\n')[1:] if x]
assert all(math.isfinite(x) for x in l), l"
	# with He-initialised convolutions (as after --weights) the loss falls
	sed -E 's/^(  convolution_param \{ num_output: [0-9]+ kernel_size: [0-9]+ pad: [0-9]+) \}$/\1 weight_filler { type: "msra" } }/' \
		"$ROOT/nets/fcn-8s.prototxt" >"$T/fcn8s-msra.prototxt"
	assert_equal "$(grep -c msra "$T/fcn8s-msra.prototxt")" 18
	run_split fcn-train --net "$T/fcn8s-msra.prototxt" --train "$T/rgb.st" \
		--epochs 2 --batch 2 --lr 1e-4 --threads 2 -o "$T/fcn8s-msra.fcn"
	assert_success
	echo "$output" >"$T/log2"
	$PYTHON -c "import math
l = [float(x.split('\t')[3]) for x in open('$T/log2').read().split('\n')[1:] if x]
assert all(math.isfinite(x) for x in l) and l[-1] < l[0], l"
}

#!/usr/bin/env bats
# Caffe's own files: LeNet trained by Caffe (../shared/caffe/lenet) classifies
# its ten MNIST digits through fcn-predict, with its deploy description and
# with a fully convolutional version (net surgery), with equal scores;
# fcn-train --weights FILE.caffemodel (fine-tuning rule, --weights-map);
# usage and data errors of the caffemodel options.  The reader's bounds
# (truncation, lying shapes, huge lengths) are in test_fcn_caffemodel.
load helper

LENET=$ROOT/../shared/caffe/lenet

need_caffe() {
	[ -f "$LENET/lenet_iter_10000.caffemodel" ] ||
		skip "Caffe's LeNet not found at $LENET (../shared absent)"
}

setup() {
	U=$BATS_TEST_TMPDIR
	W=$LENET/lenet_iter_10000.caffemodel
}

# digits OUT: the ten sample PNGs as a stream (u8 1x28x28, id = file name).
digits() {
	$PYTHON -c "import glob, os, sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from PIL import Image
from stream import write_stream
recs = []
for p in sorted(glob.glob('$LENET/samples/img_*.png')):
    a = np.asarray(Image.open(p), dtype=np.uint8)
    assert a.shape == (28, 28), (p, a.shape)
    recs.append({'id': os.path.basename(p)[:-4], 'image': a[None]})
assert len(recs) == 10
write_stream(recs, '$1')"
}

py() {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import read_stream
from caffemodel import read_caffemodel
$1"
}

@test "caffe: LeNet with Caffe's weights classifies all ten digits (deploy and fully convolutional), equal scores" {
	need_caffe
	digits "$U/d.st"
	fcn-predict --net "$LENET/lenet_deploy.prototxt" -m "$W" --prob "$U/d.st" >"$U/a.st"
	fcn-predict --net "$ROOT/tests/data/lenet-fcn-deploy.prototxt" -m "$W" --prob \
		"$U/d.st" >"$U/b.st"
	py "
a, b = read_stream('$U/a.st'), read_stream('$U/b.st')
assert len(a) == len(b) == 10
for x, y in zip(a, b):
    want = int(x['id'].split('_')[1])
    assert x['pred'].shape == (1, 1, 1) and x['prob'].shape == (10, 1, 1), x['prob'].shape
    assert int(x['pred'].ravel()[0]) == want, (x['id'], x['pred'])
    assert int(y['pred'].ravel()[0]) == want, (y['id'], y['pred'])
    assert abs(float(x['prob'].sum()) - 1) < 1e-5
    d = np.abs(x['prob'] - y['prob']).max()
    assert d <= 1e-6, (x['id'], d)
"
}

@test "caffe: LeNet in OpenCV (cv2.dnn) gives the scores fcn-predict gives" {
	need_caffe
	digits "$U/d.st"
	fcn-predict --net "$LENET/lenet_deploy.prototxt" -m "$W" --prob "$U/d.st" >"$U/a.st"
	$PYTHON "$ROOT/tests/ref/opencv_caffe.py" "$LENET/lenet_deploy.prototxt" "$W" \
		"$U/d.st" "$U/cv.st"
	py "
a, b = read_stream('$U/a.st'), read_stream('$U/cv.st')
d = max(float(np.abs(x['prob'].ravel() - y['prob'].ravel()).max()) for x, y in zip(a, b))
assert d <= 1e-5, d
"
}

@test "caffe: fcn-predict --scale/--shift apply to a caffemodel's input" {
	need_caffe
	digits "$U/d.st"
	# scale 1 shift 0 is the default: the same scores; scale 0 blanks every image
	fcn-predict --net "$LENET/lenet_deploy.prototxt" -m "$W" --prob "$U/d.st" >"$U/a.st"
	fcn-predict --net "$LENET/lenet_deploy.prototxt" -m "$W" --prob --scale 1 --shift 0 \
		"$U/d.st" >"$U/b.st"
	fcn-predict --net "$LENET/lenet_deploy.prototxt" -m "$W" --prob --scale 0 \
		"$U/d.st" >"$U/c.st"
	py "
a, b, c = read_stream('$U/a.st'), read_stream('$U/b.st'), read_stream('$U/c.st')
assert all((x['prob'] == y['prob']).all() for x, y in zip(a, b))
assert all((z['prob'] == c[0]['prob']).all() for z in c)   # every image blank
"
}

@test "caffe: fcn-train --weights FILE.caffemodel: matching layers take Caffe's blobs, others stay fresh with a warning; --weights-map renames" {
	need_caffe
	$PYTHON "$ROOT/tests/ref/numpy_fcn_data.py" "$U/t.st" 4 16 16 1
	cat >"$U/net.prototxt" <<-'NET'
	layer { name: "in" type: "Input" top: "data" top: "label" }
	layer { name: "conv1" type: "Convolution" bottom: "data" top: "c"
	  convolution_param { num_output: 20 kernel_size: 5 pad: 2 } }
	layer { name: "score" type: "Convolution" bottom: "c" top: "score"
	  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "xavier" } } }
	layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
	NET
	run_split fcn-train --net "$U/net.prototxt" --train "$U/t.st" --lr 0 --epochs 1 \
		--threads 1 --weights "$W" -o "$U/m"
	assert_success
	[[ $stderr == *"fcn-train: $W: initialised fresh: score (absent from the caffemodel)"* ]] ||
		fail "$stderr"
	check_conv1() {
		py "
import msgpack
m = msgpack.unpackb(open('$1', 'rb').read(), raw=False)
ref = read_caffemodel('$W')['conv1']
for i in range(2):
    t = m['layers']['$2'][i]
    a = np.frombuffer(t['data'], dtype='<f4')
    assert (a == ref[i].ravel()).all(), i
"
	}
	check_conv1 "$U/m" conv1
	# the net's layer called c1: absent without a map, loaded with conv1=c1
	sed -i 's/name: "conv1"/name: "c1"/' "$U/net.prototxt"
	run_split fcn-train --net "$U/net.prototxt" --train "$U/t.st" --lr 0 --epochs 1 \
		--threads 1 --weights "$W" -o "$U/m2"
	assert_success
	[[ $stderr == *"c1 (absent from the caffemodel)"* ]] || fail "$stderr"
	run_split fcn-train --net "$U/net.prototxt" --train "$U/t.st" --lr 0 --epochs 1 \
		--threads 1 --weights "$W" --weights-map conv1=c1 -o "$U/m3"
	assert_success
	[[ $stderr != *"c1 ("* ]] || fail "$stderr"
	check_conv1 "$U/m3" c1
	# another shape (3 input channels): named, fresh
	sed -i 's/kernel_size: 5 pad: 2/kernel_size: 3 pad: 1/' "$U/net.prototxt"
	run_split fcn-train --net "$U/net.prototxt" --train "$U/t.st" --lr 0 --epochs 1 \
		--threads 1 --weights "$W" --weights-map conv1=c1 -o "$U/m4"
	assert_success
	[[ $stderr == *"c1 (blob 0: 20x5x5 in the caffemodel, 20x3x3 in the net)"* ]] || fail "$stderr"
}

@test "caffe: usage errors of --weights-map, and a caffemodel needs --net" {
	need_caffe
	$PYTHON "$ROOT/tests/ref/numpy_fcn_data.py" "$U/t.st" 2 16 16 1
	B=(--train "$U/t.st" --lr 0.1 --epochs 1 -o "$U/m")
	assert_usage_error fcn-train "${B[@]}" --weights "$W"
	assert_usage_error fcn-train "${B[@]}" --net "$ROOT/nets/fcn-tiny.prototxt" \
		--weights "$W" --weights-map conv1
	assert_usage_error fcn-train "${B[@]}" --net "$ROOT/nets/fcn-tiny.prototxt" \
		--weights "$W" --weights-map =x
	assert_usage_error fcn-train "${B[@]}" --net "$ROOT/nets/fcn-tiny.prototxt" \
		--weights-map a=b
	assert_usage_error fcn-predict -m "$W" "$U/t.st"
}

@test "caffe: a truncated or garbage caffemodel, or one that does not fit the net: exit 1, one line" {
	need_caffe
	digits "$U/d.st"
	head -c 100000 "$W" >"$U/cut.caffemodel"
	run_split fcn-predict --net "$LENET/lenet_deploy.prototxt" -m "$U/cut.caffemodel" "$U/d.st"
	assert_failure 1
	assert_equal "$output" ""
	[[ $stderr == "fcn-predict: $U/cut.caffemodel: offset "*": length "*" beyond the "*" bytes left" ]] ||
		fail "$stderr"
	[ "$(wc -l <<<"$stderr")" -eq 1 ]
	head -c 5000 /dev/urandom >"$U/junk.caffemodel"
	run_split fcn-predict --net "$LENET/lenet_deploy.prototxt" -m "$U/junk.caffemodel" "$U/d.st"
	assert_failure 1
	[[ $stderr == "fcn-predict: $U/junk.caffemodel: "* ]] || fail "$stderr"
	sed 's/num_output: 500/num_output: 400/' "$LENET/lenet_deploy.prototxt" >"$U/other.prototxt"
	run_split fcn-predict --net "$U/other.prototxt" -m "$W" "$U/d.st"
	assert_failure 1
	[[ $stderr == "fcn-predict: $W: does not fit $U/other.prototxt: ip1 (blob 0: 500x800 in the caffemodel, 400x800 in the net)"* ]] ||
		fail "$stderr"
}

@test "caffe: fcn-train and fcn-predict --help document the caffemodel options" {
	run_split fcn-train --help
	assert_success
	assert_output --partial "--weights-map OLD=NEW"
	assert_output --partial ".caffemodel"
	run_split fcn-predict --help
	assert_success
	for o in --net --scale --shift .caffemodel "1 with a caffemodel"; do
		assert_output --partial -- "$o"
	done
}

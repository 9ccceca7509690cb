#!/usr/bin/env bats
# model2caffe: the exported pair loads in OpenCV's DNN module
# (cv2.dnn.readNetFromCaffe, an independent Caffe importer) and gives the
# probabilities of fcn-predict --prob, for every exportable layer kind; our
# own reader takes it back; refusals, usage and data errors; atomic output.
load helper

setup_file() {
	T=$BATS_FILE_TMPDIR
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
	$GEN "$T/train.st" 8 32 32 1
	$GEN "$T/val.st" 3 32 32 2
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train "$T/train.st" --lr 0.01 \
		--scale 8 --threads 1 --epochs 1 -o "$T/tiny" >/dev/null 2>&1
	fcn-train --net "$ROOT/tests/data/export-kinds.prototxt" --train "$T/train.st" \
		--lr 0.01 --scale 8 --threads 1 --epochs 1 -o "$T/kinds" >/dev/null 2>&1
	# feature vectors (4x1x1) for the InnerProduct net
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import write_stream
def recs(n, seed):
    r = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = r.normal(size=(4, 1, 1)).astype(np.float32)
        out.append({'id': 'v%d' % i, 'image': x,
                    'label': np.array([[[int(x.sum() > 0)]]], dtype=np.uint8)})
    return out
write_stream(recs(16, 1), '$T/iptrain.st')
write_stream(recs(4, 2), '$T/ipval.st')"
	fcn-train --net "$ROOT/tests/data/export-ip.prototxt" --train "$T/iptrain.st" \
		--lr 0.1 --threads 1 --epochs 2 -o "$T/ip" >/dev/null 2>&1
}

setup() {
	T=$BATS_FILE_TMPDIR
	U=$BATS_TEST_TMPDIR
	CV="$PYTHON $ROOT/tests/ref/opencv_caffe.py"
}

# same_prob A B TOL: the 'prob' fields of two streams agree within TOL.
same_prob() {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import read_stream
a, b = read_stream('$1'), read_stream('$2')
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
worst = 0
for x, y in zip(a, b):
    p, q = x['prob'].reshape(-1), y['prob'].reshape(-1)
    assert p.shape == q.shape, (x['prob'].shape, y['prob'].shape)
    worst = max(worst, float(np.abs(p - q).max()))
print('max |diff|', worst)
assert worst <= $3, worst
"
}

# export MODEL STREAM SIZE: export, run in OpenCV, compare with fcn-predict.
export_check() {
	run_split model2caffe "$T/$1" -o "$U/$1" --size "$3"
	assert_success
	assert_equal "$output" ""
	[ -s "$U/$1.caffemodel" ] && [ -s "$U/$1.prototxt" ]
	$CV "$U/$1.prototxt" "$U/$1.caffemodel" "$T/$2" "$U/cv.st"
	fcn-predict -m "$T/$1" --prob "$T/$2" >"$U/ours.st"
	same_prob "$U/cv.st" "$U/ours.st" 1e-5
}

@test "model2caffe --help documents every option" {
	run_split model2caffe --help
	assert_success
	for o in --output --size --help "default 256x256"; do
		assert_output --partial -- "$o"
	done
}

@test "model2caffe: usage errors exit 2 with empty stdout" {
	assert_usage_error model2caffe
	assert_usage_error model2caffe --bogus "$T/tiny" -o "$U/x"
	assert_usage_error model2caffe "$T/tiny"
	assert_usage_error model2caffe "$T/tiny" a -o "$U/x"
	assert_usage_error model2caffe "$T/tiny" -o "$U/x" --size 0x5
	assert_usage_error model2caffe "$T/tiny" -o "$U/x" --size big
	[ ! -e "$U/x.caffemodel" ]
}

@test "model2caffe: fcn-tiny (input scaling, dilation, bilinear deconvolution, crop) in OpenCV = fcn-predict --prob" {
	export_check tiny val.st 32x32
	grep -q 'type: "Input"' "$U/tiny.prototxt"
	grep -q 'power_param { scale: 8 shift: 0 }' "$U/tiny.prototxt"
	grep -q 'name: "prob"' "$U/tiny.prototxt"
	! grep -q 'SoftmaxWithLoss' "$U/tiny.prototxt"
}

@test "model2caffe: every exportable kind (BatchNorm, Scale, LRN, MVN, padded MAX and AVE pooling, grouped deconvolution, Concat, Eltwise coeff, ...) in OpenCV = fcn-predict --prob" {
	export_check kinds val.st 32x32
	for k in BatchNorm Scale LRN MVN Pooling Deconvolution Concat Eltwise Crop Sigmoid Dropout Power; do
		grep -q "type: \"$k\"" "$U/kinds.prototxt" || fail "no $k in the export"
	done
	! grep -q 'Accuracy\|include' "$U/kinds.prototxt"
}

@test "model2caffe: InnerProduct layers in OpenCV = fcn-predict --prob" {
	export_check ip ipval.st 1x1
	grep -q 'type: "InnerProduct"' "$U/ip.prototxt"
}

@test "model2caffe: our own caffemodel reader takes the export back (fcn-predict --net OUT.prototxt -m OUT.caffemodel)" {
	model2caffe "$T/kinds" -o "$U/k" --size 32x32
	fcn-predict --net "$U/k.prototxt" -m "$U/k.caffemodel" --prob "$T/val.st" >"$U/back.st"
	fcn-predict -m "$T/kinds" --prob "$T/val.st" >"$U/ours.st"
	same_prob "$U/back.st" "$U/ours.st" 1e-6
}

@test "model2caffe: the same model gives the same bytes; output replaced atomically, no temporary files left" {
	model2caffe "$T/tiny" -o "$U/a" --size 32x32
	echo old >"$U/b.caffemodel"
	model2caffe "$T/tiny" -o "$U/b" --size 32x32
	cmp "$U/a.caffemodel" "$U/b.caffemodel"
	[ "$(ls "$U")" = "$(printf 'a.caffemodel\na.prototxt\nb.caffemodel\nb.prototxt')" ]
}

@test "model2caffe: a Dice layer left in the deploy path is refused, the layer named, nothing written" {
	sed 's/bottom: "label" top: "acc"/bottom: "score" top: "acc"/; s/"Accuracy"/"Dice"/' \
		"$ROOT/tests/data/export-kinds.prototxt" >"$U/dice.prototxt"
	fcn-train --net "$U/dice.prototxt" --train "$T/train.st" --lr 0.01 --scale 8 \
		--threads 1 --epochs 1 -o "$U/dice" >/dev/null 2>&1
	run_split model2caffe "$U/dice" -o "$U/out"
	assert_failure 1
	assert_equal "$output" ""
	[[ $stderr == "model2caffe: $U/dice: layer 'acc' (Dice) cannot be exported"* ]] || fail "$stderr"
	[ ! -e "$U/out.caffemodel" ] && [ ! -e "$U/out.prototxt" ]
}

@test "model2caffe: LRN k != 1 and MVN with a large eps: a warning that OpenCV computes otherwise" {
	sed 's/beta: 0.75 }/beta: 0.75 k: 2 }/; /name: "mvn1"/s/top: "mvn1" }/top: "mvn1" mvn_param { eps: 0.001 } }/' \
		"$ROOT/tests/data/export-kinds.prototxt" >"$U/k.prototxt"
	grep -q 'k: 2' "$U/k.prototxt" && grep -q 'eps: 0.001' "$U/k.prototxt"
	fcn-train --net "$U/k.prototxt" --train "$T/train.st" --lr 0.01 --scale 8 \
		--threads 1 --epochs 1 -o "$U/k" >/dev/null 2>&1
	run_split model2caffe "$U/k" -o "$U/out" --size 32x32
	assert_success
	[[ $stderr == *"layer 'lrn1': OpenCV ignores LRN's k"* ]] || fail "$stderr"
	[[ $stderr == *"layer 'mvn1': OpenCV divides by sqrt(var + eps)"* ]] || fail "$stderr"
}

@test "model2caffe: a missing, truncated or garbage model: exit 1, one line, nothing written" {
	run_split model2caffe "$U/none" -o "$U/out"
	assert_failure 1
	[[ $stderr == "model2caffe: "* ]] || fail "$stderr"
	head -c 1000 "$T/tiny" >"$U/cut"
	run_split model2caffe "$U/cut" -o "$U/out"
	assert_failure 1
	[[ $stderr == "model2caffe: "* ]] && [ "$(wc -l <<<"$stderr")" -eq 1 ] || fail "$stderr"
	head -c 3000 /dev/urandom >"$U/junk"
	run_split model2caffe "$U/junk" -o "$U/out"
	assert_failure 1
	[[ $stderr == "model2caffe: "* ]] || fail "$stderr"
	[ ! -e "$U/out.caffemodel" ] && [ ! -e "$U/out.prototxt" ]
}

@test "model2caffe: a --size the net does not fit: exit 1 naming the size" {
	run_split model2caffe "$T/kinds" -o "$U/out" --size 3x3
	assert_failure 1
	[[ $stderr == "model2caffe: $T/kinds: at --size 3x3: "* ]] || fail "$stderr"
}

@test "model2caffe: the example in docs/model2caffe.md runs as written" {
	cd "$U"
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/model2caffe.md" 1 >ex.sh
	[ "$(grep -c . ex.sh)" -ge 6 ]
	sed -i "s#nets/#$ROOT/nets/#g; s#tests/ref/#$ROOT/tests/ref/#g; s#^python3 #$PYTHON #" ex.sh
	run bash -e ex.sh
	assert_success
	same_prob opencv.st ours.st 1e-5
}

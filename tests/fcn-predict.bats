#!/usr/bin/env bats
# fcn-predict: pred/prob fields, pass-through, batching, mixed sizes,
# agreement with fcn-train's validation numbers, bad input.
load helper

setup_file() {
	T=$BATS_FILE_TMPDIR
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
	$GEN "$T/train.st" 16 32 32 1
	$GEN "$T/val.st" 5 32 32 2
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train "$T/train.st" \
		--val "$T/val.st" --lr 0.01 --scale 8 --threads 1 --batch 2 \
		--epochs 3 --class-weights auto -o "$T/model" >"$T/log" 2>/dev/null
}

setup() {
	T=$BATS_FILE_TMPDIR
	U=$BATS_TEST_TMPDIR
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
	CHECK="$PYTHON -c"
}

# Python prelude for checks: the stream reader.
py() {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import read_stream
$1"
}

@test "fcn-predict --help documents every option" {
	run_split fcn-predict --help
	assert_success
	for o in --model --prob --batch --threads --help --tta --tta-zoom --largest --hull --pseudo-label; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "default 1"
}

@test "fcn-predict: usage errors exit 2 with empty stdout" {
	assert_usage_error fcn-predict --bogus
	assert_usage_error fcn-predict "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --batch 0 "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --threads x "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --tta=x "$T/val.st"
}

@test "fcn-predict: adds pred (u8 1xHxW) and passes every other field through" {
	fcn-predict -m "$T/model" "$T/val.st" >"$U/out"
	py "
a, b = read_stream('$T/val.st'), read_stream('$U/out')
assert [r['id'] for r in a] == [r['id'] for r in b]
for x, y in zip(a, b):
    assert set(y) == set(x) | {'pred'}, list(y)
    assert (x['image'] == y['image']).all() and x['image'].dtype == y['image'].dtype
    assert (x['label'] == y['label']).all() and x['meta'] == y['meta']
    assert y['pred'].dtype == np.uint8 and y['pred'].shape == (1, 32, 32)
    assert set(np.unique(y['pred'])) <= {0, 1}
"
}

@test "fcn-predict --prob: softmax probabilities whose arg-max is pred" {
	fcn-predict -m "$T/model" --prob "$T/val.st" >"$U/out"
	py "
for r in read_stream('$U/out'):
    p = r['prob']
    assert p.dtype == np.float32 and p.shape == (2, 32, 32), p.shape
    assert np.allclose(p.sum(0), 1, atol=1e-5) and (p >= 0).all()
    assert (p.argmax(0)[None] == r['pred']).all()
"
}

@test "fcn-predict: dice-score of its output equals fcn-train's last validation" {
	fcn-predict -m "$T/model" "$T/val.st" | dice-score >"$U/score"
	want=$(tail -1 "$T/log" | cut -f6,7)
	got=$(awk -F'\t' 'NR==2{print $10 "\t" $3}' "$U/score")
	assert_equal "$got" "$want"
}

@test "fcn-predict: stdin equals file; batch 1 equals batch 3; deterministic" {
	fcn-predict -m "$T/model" "$T/val.st" >"$U/a"
	fcn-predict -m "$T/model" - <"$T/val.st" >"$U/b"
	fcn-predict -m "$T/model" --batch 3 --prob <"$T/val.st" >"$U/c"
	fcn-predict -m "$T/model" --batch 3 --prob <"$T/val.st" >"$U/d"
	cmp "$U/a" "$U/b"
	cmp "$U/c" "$U/d"
	py "
a, c = read_stream('$U/a'), read_stream('$U/c')
assert all((x['pred'] == y['pred']).all() for x, y in zip(a, c))
"
}

@test "fcn-predict: a stream of mixed sizes is reshaped per record" {
	$GEN "$U/small.st" 2 24 24 5 --id-prefix small
	$GEN "$U/big.st" 1 48 40 6 --id-prefix big
	cat "$T/val.st" "$U/small.st" "$T/val.st" "$U/big.st" >"$U/mixed.st"
	run_split fcn-predict -m "$T/model" --batch 4 "$U/mixed.st"
	assert_success
	echo "$output" >"$U/out"
	fcn-predict -m "$T/model" "$U/mixed.st" >"$U/out1"
	py "
recs = read_stream('$U/mixed.st')
out = read_stream('$U/out1')
assert len(out) == 13 and [r['id'] for r in recs] == [r['id'] for r in out]
for r in out:
    assert r['pred'].shape == (1,) + r['image'].shape[1:], r['id']
"
	fcn-predict -m "$T/model" --batch 4 "$U/mixed.st" | cmp - "$U/out1"
}

@test "fcn-predict: a record without image fails naming it; channels must match" {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np; from stream import write_stream, read_stream
r = read_stream('$T/val.st'); del r[1]['image']; write_stream(r, '$U/noimage.st')"
	run_split fcn-predict -m "$T/model" "$U/noimage.st"
	assert_failure 1
	assert_equal "$stderr" "fcn-predict: $U/noimage.st: record 2 (img1): no 'image' tensor"
	$GEN "$U/rgb.st" 1 32 32 1 --channels 3
	run_split fcn-predict -m "$T/model" "$U/rgb.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-predict: $U/rgb.st: record 1 (img0): image 3x32x32 has 3 channels, the model takes 1"
}

@test "fcn-predict: an image the net cannot take fails with one line" {
	$GEN "$U/tiny.st" 1 2 2 1
	run_split fcn-predict -m "$T/model" "$U/tiny.st"
	assert_failure 1
	assert_output ""
	[[ $stderr == "fcn-predict: $U/tiny.st: record 1 (img0): image 1x2x2: "* ]] || fail "$stderr"
	assert_equal "$(echo "$stderr" | wc -l)" 1
}

@test "fcn-predict: truncated and garbage streams, corrupt models fail" {
	head -c $(($(stat -c %s "$T/val.st") - 100)) "$T/val.st" >"$U/trunc.st"
	run_split fcn-predict -m "$T/model" "$U/trunc.st"
	assert_failure 1
	[[ $stderr == "fcn-predict: $U/trunc.st: "* ]] || fail "$stderr"
	# the records before the damage are complete: 4 whole records
	fcn-predict -m "$T/model" "$U/trunc.st" 2>/dev/null >"$U/part" || true
	py "assert len(read_stream('$U/part')) == 4"
	run_split fcn-predict -m "$T/model" <<<"not a stream"
	assert_failure 1
	[[ $stderr == "fcn-predict: -: "* ]] || fail "$stderr"
	head -c 2000 "$T/model" >"$U/bad"
	run_split fcn-predict -m "$U/bad" "$T/val.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-predict: $U/bad: truncated model file (2000 bytes)"
	run_split fcn-predict -m "$T/val.st" "$T/val.st"
	assert_failure 1
	[[ $stderr == "fcn-predict: $T/val.st: not a model file"* ]] || fail "$stderr"
	run_split fcn-predict -m "$U/absent" "$T/val.st"
	assert_failure 1
	assert_equal "$stderr" "fcn-predict: $U/absent: No such file or directory"
}

@test "fcn-predict: a 3-channel model replicates a gray image; the model keeps the training meta" {
	$GEN "$U/rgb.st" 8 32 32 3 --channels 3
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream, write_stream
r = read_stream('$U/rgb.st')
for x in r: x['meta']['to_rgb'] = 1
write_stream(r, '$U/rgb-meta.st')
for x in r: x['image'] = x['image'][:1]; del x['meta']['to_rgb']
write_stream(r, '$U/gray.st')
for x in r: x['image'] = x['image'].repeat(2, 0)
write_stream(r, '$U/two.st')"
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train "$U/rgb-meta.st" --lr 0.01 \
		--scale 8 --threads 1 --epochs 1 -o "$U/m3" >/dev/null 2>&1
	py "import msgpack
m = msgpack.unpackb(open('$U/m3', 'rb').read())['input']
assert m['channels'] == 3 and m['size'] == [32, 32], m
assert m['meta'] == {'to_rgb': '1'}, m['meta']  # 'case' differs between records"
	fcn-predict -m "$U/m3" --prob "$U/rgb-meta.st" >"$U/a"
	fcn-predict -m "$U/m3" --prob "$U/gray.st" >"$U/b"
	py "
a, b = read_stream('$U/a'), read_stream('$U/b')
for x, y in zip(a, b):
    assert (x['pred'] == y['pred']).all() and (x['prob'] == y['prob']).all()
    assert y['image'].shape == (1, 32, 32)
"
	run_split fcn-predict -m "$U/m3" "$U/two.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-predict: $U/two.st: record 1 (img0): image 2x32x32 has 2 channels, the model takes 3 (or 1, replicated)"
}

@test "fcn-predict: a model trained on centre crops predicts the crop and places it in the full frame" {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream, write_stream
for name in ['train', 'val']:
    r = read_stream('$T/%s.st' % name)
    write_stream(r, '$U/full-%s.st' % name)
    for x in r:  # the centre crop: rows and columns 4..27
        x['image'] = x['image'][:, 4:28, 4:28].copy()
        x['label'] = x['label'][:, 4:28, 4:28].copy()
        x['meta']['crop'] = [4, 4, 24, 24]
    write_stream(r, '$U/crop-%s.st' % name)"
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train "$U/crop-train.st" --lr 0.01 \
		--scale 8 --threads 1 --epochs 2 -o "$U/mc" >/dev/null 2>&1
	fcn-predict -m "$U/mc" --prob "$U/crop-val.st" >"$U/c"
	fcn-predict -m "$U/mc" --prob "$U/full-val.st" >"$U/f"
	py "
c, f = read_stream('$U/c'), read_stream('$U/f')
for x, y in zip(c, f):
    assert x['pred'].shape == (1, 24, 24) and y['pred'].shape == (1, 32, 32)
    # centre crop of 32x32 to 24x24: offset (4, 4)
    assert (y['pred'][:, 4:28, 4:28] == x['pred']).all()
    assert (y['prob'][:, 4:28, 4:28] == x['prob']).all()
    out = np.ones((32, 32), bool); out[4:28, 4:28] = False
    assert (y['pred'][0][out] == 0).all() and (y['prob'][0][out] == 1).all()
"
	# and it compares with the record's own label
	run_split bash -c "fcn-predict -m '$U/mc' '$U/full-val.st' | dice-score"
	assert_success
	# the same through augment --center-crop, streamed into fcn-train
	augment --seed 3 --center-crop 24x24 "$T/train.st" "$T/train.st" |
		fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train - --epoch-size 16 \
			--lr 0.01 --scale 8 --threads 1 -o "$U/ma" >/dev/null 2>&1
	py "import msgpack
m = msgpack.unpackb(open('$U/ma', 'rb').read())['input']
assert m['size'] == [24, 24] and 'crop=4,4' in m['meta']['augment'].split(), m"
	augment --seed 3 --center-crop 24x24 "$T/val.st" >"$U/aval.st"
	fcn-predict -m "$U/ma" "$U/aval.st" >"$U/c2"
	fcn-predict -m "$U/ma" "$U/full-val.st" >"$U/f2"
	py "
for x, y in zip(read_stream('$U/c2'), read_stream('$U/f2')):
    assert y['pred'].shape == (1, 32, 32) and (y['pred'][:, 4:28, 4:28] == x['pred']).all()
    assert y['pred'][0, :4].sum() == 0 and y['pred'][0, 28:].sum() == 0
"
}

@test "fcn-predict --tta: the mean softmax over the four flips, as done by hand" {
	fcn-predict -m "$T/model" --prob --tta --batch 2 "$T/val.st" >"$U/tta"
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import read_stream, write_stream
r = read_stream('$T/val.st')
for f, ax in enumerate([(), (2,), (1,), (1, 2)]):
    write_stream([dict(x, image=np.flip(x['image'], ax).copy()) for x in r],
                 '$U/flip%d.st' % f)"
	for f in 0 1 2 3; do fcn-predict -m "$T/model" --prob "$U/flip$f.st" >"$U/p$f"; done
	py "
tta = read_stream('$U/tta')
ps = [read_stream('$U/p%d' % f) for f in range(4)]
axes = [(), (2,), (1,), (1, 2)]
for i, t in enumerate(tta):
    mean = sum(np.flip(ps[f][i]['prob'].astype(np.float64), axes[f]) for f in range(4)) / 4
    assert np.abs(t['prob'] - mean).max() < 1e-6, np.abs(t['prob'] - mean).max()
    assert (t['pred'][0] == mean.argmax(0)).all()
# the average is not just the identity's prediction
assert max(np.abs(t['prob'] - p['prob']).max() for t, p in zip(tta, ps[0])) > 1e-3
"
}

@test "fcn-predict --tta=dihedral: the mean softmax over the 8 flips and transposes, as done by hand, square or not" {
	$GEN "$U/rect.st" 3 32 48 3
	for v in "$T/val.st" "$U/rect.st"; do
		fcn-predict -m "$T/model" --prob --tta=dihedral --batch 2 "$v" >"$U/tta"
		$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import read_stream, write_stream
r = read_stream('$v')
for f in range(8):
    def t(a):
        a = np.swapaxes(a, 1, 2) if f & 4 else a
        return np.flip(a, [ax for bit, ax in ((1, 2), (2, 1)) if f & bit]).copy()
    write_stream([dict(x, image=t(x['image'])) for x in r], '$U/d%d.st' % f)"
		for f in 0 1 2 3 4 5 6 7; do fcn-predict -m "$T/model" --prob "$U/d$f.st" >"$U/p$f"; done
		py "
tta = read_stream('$U/tta')
ps = [read_stream('$U/p%d' % f) for f in range(8)]
def back(a, f):  # undo t: the flips, then the transpose
    a = np.flip(a, [ax for bit, ax in ((1, 2), (2, 1)) if f & bit])
    return np.swapaxes(a, 1, 2) if f & 4 else a
for i, t in enumerate(tta):
    mean = sum(back(ps[f][i]['prob'].astype(np.float64), f) for f in range(8)) / 8
    assert t['prob'].shape == mean.shape, (t['prob'].shape, mean.shape)
    assert np.abs(t['prob'] - mean).max() < 1e-6, np.abs(t['prob'] - mean).max()
    assert (t['pred'][0] == mean.argmax(0)).all()
"
		# the transposes count: not the flips' average
		fcn-predict -m "$T/model" --prob --tta "$v" >"$U/flips"
		py "
a, b = read_stream('$U/tta'), read_stream('$U/flips')
assert max(np.abs(x['prob'] - y['prob']).max() for x, y in zip(a, b)) > 1e-4
"
	done
	assert_usage_error fcn-predict -m "$T/model" --tta=rot "$T/val.st"
}

@test "fcn-predict --tta-zoom: the mean softmax over zoomed copies, resampled back by PyTorch's bilinear interpolate" {
	# by hand: each zoomed image from torch.nn.functional.interpolate, its
	# softmax from fcn-predict, resampled back by interpolate, averaged
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np, torch
import torch.nn.functional as F
from stream import read_stream, write_stream
r = read_stream('$T/val.st')
for z, n in ((1.25, 40), (0.75, 24)):
    write_stream([dict(x, image=F.interpolate(torch.tensor(x['image'][None].astype(np.float64)),
                 size=(n, n), mode='bilinear', align_corners=False)[0].numpy().astype(np.float32))
                 for x in r], '$U/z%d.st' % n)"
	for n in 40 24; do fcn-predict -m "$T/model" --prob "$U/z$n.st" >"$U/p$n"; done
	fcn-predict -m "$T/model" --prob "$T/val.st" >"$U/p32"
	fcn-predict -m "$T/model" --prob --tta-zoom 1,1.25,0.75 --batch 2 "$T/val.st" >"$U/zoom"
	fcn-predict -m "$T/model" --prob --tta --tta-zoom 1.25 "$T/val.st" >"$U/zflip"
	fcn-predict -m "$T/model" --prob --tta "$U/z40.st" >"$U/p40f"
	py "
import torch
import torch.nn.functional as F
def back(p):
    return F.interpolate(torch.tensor(p[None].astype(np.float64)), size=(32, 32),
                         mode='bilinear', align_corners=False)[0].numpy()
ps = {n: read_stream('$U/p%d' % n) for n in (24, 32, 40)}
zoom, zflip, p40f = read_stream('$U/zoom'), read_stream('$U/zflip'), read_stream('$U/p40f')
assert len(zoom) == 5
for i, t in enumerate(zoom):
    mean = (ps[32][i]['prob'] + back(ps[40][i]['prob']) + back(ps[24][i]['prob'])) / 3
    assert t['prob'].shape == (2, 32, 32), t['prob'].shape
    assert np.abs(t['prob'] - mean).max() < 1e-5, np.abs(t['prob'] - mean).max()
    assert (t['pred'][0] == mean.argmax(0)).all()
    # with the flips: the zoomed copy's own flip average, resampled back
    assert np.abs(zflip[i]['prob'] - back(p40f[i]['prob'])).max() < 1e-5
# the zooms count: not the plain prediction
assert max(np.abs(t['prob'] - p['prob']).max() for t, p in zip(zoom, ps[32])) > 1e-3
"
	# a factor of 1 alone is the plain prediction, to the byte
	fcn-predict -m "$T/model" --prob --tta-zoom 1 "$T/val.st" | cmp - "$U/p32"
	assert_usage_error fcn-predict -m "$T/model" --tta-zoom 0.1 "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --tta-zoom 1,x "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --tta-zoom , "$T/val.st"
	assert_usage_error fcn-predict -m "$T/model" --tta-zoom 1,1,1,1,1,1,1,1,1 "$T/val.st"
}

# identity_model FILE: a 3-channel model without parameters whose scores
# are the image, so pred = arg-max of the image (the post-processing tests).
identity_model() {
	$PYTHON -c "import msgpack
net = '''layer { name: \"input\" type: \"Input\" top: \"data\" top: \"label\" }
layer { name: \"score\" type: \"Power\" bottom: \"data\" top: \"score\" }
layer { name: \"loss\" type: \"SoftmaxWithLoss\" bottom: \"score\" bottom: \"label\" }
'''
m = {'format': 'lvseg-fcn-model', 'version': 1, 'net': net,
     'input': {'channels': 3, 'scale': 1.0, 'shift': 0.0},
     'layers': {}, 'train': {'epoch': 0, 'seed': 1, 'batch': 1, 'loss': 'softmax',
                             'class_weights': None}, 'log': ''}
open('$1', 'wb').write(msgpack.packb(m))"
}

@test "fcn-predict --largest: the largest 8-connected component per class, holes filled, as scikit-image and SciPy" {
	identity_model "$U/id.fcn"
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import msgpack, numpy as np
from stream import write_stream
rng = np.random.default_rng(7)
recs = []
for i in range(12):
    h, w = 40 + i, 48
    lab = (rng.random((h, w)) < [0.45, 0.55, 0.6][i % 3]).astype(np.uint8)
    lab[rng.random((h, w)) < 0.15] = 2
    lab[10:25, 10:30] = 1; lab[15:18, 15:18] = 0; lab[20, 20] = 2   # holes
    if i == 0: lab[:] = 0
    img = np.stack([np.full((h, w), 0.5), lab == 1, lab == 2]).astype(np.float32)
    recs.append({'id': 'm%d' % i, 'image': img, 'label': lab[None]})
write_stream(recs, '$U/masks.st')"
	fcn-predict -m "$U/id.fcn" --largest "$U/masks.st" >"$U/out"
	fcn-predict -m "$U/id.fcn" "$U/masks.st" >"$U/raw"
	py "
from scipy.ndimage import binary_fill_holes
from skimage.measure import label
changed = 0
for r, raw in zip(read_stream('$U/out'), read_stream('$U/raw')):
    p = raw['pred'][0].copy()
    assert (p == r['label'][0]).all()  # the identity net
    for c in (1, 2):
        lab = label(p == c, connectivity=2)
        if lab.max() == 0:
            continue
        sizes = np.bincount(lab.ravel())[1:]
        keep = lab == 1 + sizes.argmax()
        p[(p == c) & ~keep] = 0
        p[binary_fill_holes(p == c) & (p == 0)] = c
    changed += (p != raw['pred'][0]).sum()
    assert (r['pred'][0] == p).all(), (r['id'], np.argwhere(r['pred'][0] != p)[:5])
assert changed > 1000, changed
"
}

@test "fcn-predict: the examples of docs/fcn-predict.md run as written" {
	cd "$U"
	cp "$T/model" tiny.fcn
	cp "$T/val.st" val.st
	sed -n '/^## EXAMPLES/,$p' "$ROOT/docs/fcn-predict.md" |
		grep '^    fcn-predict -m tiny.fcn' | grep -v '\.\.\.' | sed 's/^    //' >ex.sh
	[ "$(wc -l <ex.sh)" -eq 4 ]
	run bash -e -o pipefail ex.sh
	assert_success
	assert_equal "$(echo "$output" | grep -c '^class')" 3
}

@test "fcn-predict --hull: each class's convex hull filled over background, as scikit-image's" {
	identity_model "$U/id.fcn"
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import msgpack, numpy as np
from stream import write_stream
rng = np.random.default_rng(11)
recs = []
for i in range(16):
    h, w = 33 + i, 41
    lab = np.zeros((h, w), np.uint8)
    for _ in range(1 + i % 4):   # blobs, crescents, lines, single pixels
        y, x = rng.integers(0, h), rng.integers(0, w)
        r = rng.integers(0, 9)
        yy, xx = np.mgrid[0:h, 0:w]
        lab[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = 1
        lab[(yy - y - 2) ** 2 + (xx - x - 2) ** 2 <= r * r // 2] = 0
    if i % 3 == 1:
        lab[rng.random((h, w)) < 0.02] = 2
    if i == 0: lab[:] = 0
    if i == 1: lab[:] = 0; lab[5, 3:20] = 1          # collinear
    if i == 2: lab[:] = 0; lab[4, 4] = 1; lab[9, 9] = 1; lab[14, 14] = 1
    img = np.stack([np.full((h, w), 0.5), lab == 1, lab == 2]).astype(np.float32)
    recs.append({'id': 'h%d' % i, 'image': img, 'label': lab[None]})
write_stream(recs, '$U/masks.st')"
	fcn-predict -m "$U/id.fcn" --hull "$U/masks.st" >"$U/out"
	py "
from skimage.morphology import convex_hull_image
changed = 0
for r in read_stream('$U/out'):
    p = r['label'][0].copy()
    for c in (1, 2):
        if (p == c).sum() >= 3:
            p[convex_hull_image(p == c, offset_coordinates=False) & (p == 0)] = c
    changed += (p != r['label'][0]).sum()
    assert (r['pred'][0] == p).all(), (r['id'], np.argwhere(r['pred'][0] != p)[:5])
assert changed > 500, changed
"
	# after --largest: the hull of the one component kept
	fcn-predict -m "$U/id.fcn" --largest --hull "$U/masks.st" >"$U/both"
	fcn-predict -m "$U/id.fcn" --largest "$U/masks.st" >"$U/largest"
	py "
from skimage.morphology import convex_hull_image
for r, l in zip(read_stream('$U/both'), read_stream('$U/largest')):
    p = l['pred'][0].copy()
    for c in (1, 2):
        if (p == c).sum() >= 3:
            p[convex_hull_image(p == c, offset_coordinates=False) & (p == 0)] = c
    assert (r['pred'][0] == p).all(), r['id']
"
}

@test "fcn-predict -m A -m B: the mean softmax of the models (and of their TTA copies), as done by hand" {
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train "$T/train.st" --lr 0.01 \
		--scale 8 --threads 1 --batch 2 --epochs 2 --seed 7 -o "$U/m2" >/dev/null 2>&1
	for t in "" "--tta"; do
		fcn-predict -m "$T/model" -m "$U/m2" --prob $t --batch 2 "$T/val.st" >"$U/ens"
		fcn-predict -m "$T/model" --prob $t "$T/val.st" >"$U/pa"
		fcn-predict -m "$U/m2" --prob $t "$T/val.st" >"$U/pb"
		py "
e, a, b = read_stream('$U/ens'), read_stream('$U/pa'), read_stream('$U/pb')
for x, y, z in zip(e, a, b):
    mean = (y['prob'].astype(np.float64) + z['prob']) / 2
    assert np.abs(x['prob'] - mean).max() < 1e-6, np.abs(x['prob'] - mean).max()
    assert (x['pred'][0] == mean.argmax(0)).all()
# the two models disagree, so the mean is neither
assert max(np.abs(y['prob'] - z['prob']).max() for y, z in zip(a, b)) > 1e-3
"
	done
	# a model of another input (3 channels) is refused, naming both
	$GEN "$U/rgb.st" 4 32 32 3 --channels 3
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train "$U/rgb.st" --lr 0.01 \
		--scale 8 --threads 1 --epochs 1 -o "$U/m3" >/dev/null 2>&1
	run_split fcn-predict -m "$T/model" -m "$U/m3" "$T/val.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-predict: $U/m3: takes 3 channels, the whole image, $T/model 1 channels, the whole image: an ensemble's models must take the same input"
	assert_usage_error fcn-predict $(for i in $(seq 17); do printf -- '-m %s ' "$T/model"; done) "$T/val.st"
}

@test "fcn-predict --pseudo-label: unlabelled records get the prediction as label, labelled ones pass through unscored, in order" {
	$GEN "$U/u1.st" 2 32 32 7 --no-label --id-prefix u1
	$GEN "$U/u2.st" 3 32 32 8 --no-label --id-prefix u2
	cat "$U/u1.st" "$T/val.st" "$U/u2.st" >"$U/mixed.st"
	cat "$U/u1.st" "$U/u2.st" >"$U/unlab.st"
	fcn-predict -m "$T/model" --largest "$U/unlab.st" >"$U/plain"
	for b in 1 2 4; do
		fcn-predict -m "$T/model" --largest --pseudo-label --batch $b "$U/mixed.st" >"$U/pseudo$b"
	done
	cmp "$U/pseudo1" "$U/pseudo2"
	cmp "$U/pseudo1" "$U/pseudo4"
	py "
m, p, plain = read_stream('$U/mixed.st'), read_stream('$U/pseudo1'), read_stream('$U/plain')
assert [r['id'] for r in m] == [r['id'] for r in p]
want = {r['id']: r['pred'] for r in plain}
n = 0
for x, y in zip(m, p):
    assert 'pred' not in y, y['id']
    if 'label' in x:
        assert set(y) == set(x) and x['meta'] == y['meta'], y['id']
        assert (x['label'] == y['label']).all() and (x['image'] == y['image']).all()
    else:
        assert set(y) == set(x) | {'label'}, list(y)
        assert y['meta'] == dict(x['meta'], pseudo_label=1), y['meta']
        assert y['label'].dtype == np.uint8 and (y['label'] == want[y['id']]).all()
        n += 1
assert n == 5 and len(p) == 10, (n, len(p))
"
}

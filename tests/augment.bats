#!/usr/bin/env bats
# augment: every transform against NumPy/SciPy (tests/ref/scipy_augment.py),
# image and mask alignment, determinism and shards, counts, errors.
load helper
load stream

setup() {
	setup_stream_py
	cd "$BATS_TEST_TMPDIR"
	REF=$ROOT/tests/ref
	AUG="$PYTHON $REF/scipy_augment.py"
}

# check OPTIONS...: augment random i16 and f32 streams, compare with the reference.
check() {
	[ -f r.ts ] || $AUG make random r.ts 6 24 20
	[ -f f.ts ] || $AUG make f32 f.ts 6 24 20
	for s in r f; do
		augment --seed 3 "$@" $s.ts >o.ts
		run $AUG check $s.ts o.ts
		assert_success
		assert_output "ok 6"
	done
}

@test "augment --help prints usage to stdout" {
	run_split augment --help
	assert_success
	assert_output --partial "Usage: augment --seed S"
	assert_output --partial "--elastic P:ALPHA:SIGMA"
	assert_output --partial "--first-index N"
	assert_equal "$stderr" ""
}

@test "augment: bad option values are usage errors, nothing on stdout" {
	mkstream 1 >in.ts
	assert_usage_error augment in.ts
	assert_usage_error augment --seed -1 in.ts
	assert_usage_error augment --seed 1 --nope in.ts
	assert_usage_error augment --seed 1 --flip-h 1.5 in.ts
	assert_usage_error augment --seed 1 --flip-h 0.5:2 in.ts
	assert_usage_error augment --seed 1 --rotate 1 in.ts
	assert_usage_error augment --seed 1 --rotate 1:-5 in.ts
	assert_usage_error augment --seed 1 --rotate 1:20:10 in.ts
	assert_usage_error augment --seed 1 --scale 1:1.2:0.8 in.ts
	assert_usage_error augment --seed 1 --scale 1:0:2 in.ts
	assert_usage_error augment --seed 1 --scale 1:0.9 in.ts
	assert_usage_error augment --seed 1 --elastic 1:30:0 in.ts
	assert_usage_error augment --seed 1 --elastic 1:30 in.ts
	assert_usage_error augment --seed 1 --gamma 1::2 in.ts
	assert_usage_error augment --seed 1 --gamma 1:x:2 in.ts
	assert_usage_error augment --seed 1 --noise 1:1:2: in.ts
	assert_usage_error augment --seed 1 --crop 0x5 in.ts
	assert_usage_error augment --seed 1 --crop 5x5 --center-crop 4x4 in.ts
	assert_usage_error augment --seed 1 --copies 0 in.ts
	assert_usage_error augment --seed 1 --epochs 0 in.ts
	assert_usage_error augment --seed 1 --first-index -3 in.ts
	assert_usage_error augment --seed 1 --fill nan in.ts
}

@test "augment: no transform asked for: every field unchanged, meta says so" {
	$AUG make random r.ts 6 24 20
	augment --seed 9 r.ts >o.ts
	run $AUG check r.ts o.ts
	assert_output "ok 6"
	run "$PYTHON" -c '
from stream_format import read_stream
print([r["meta"]["augment"] for r in read_stream(open("o.ts", "rb"))][:2])'
	assert_output "['k=0 c=0', 'k=1 c=0']"
}

@test "augment: flips and 90-degree rotations equal np.flip and np.rot90 exactly" {
	check --flip-h 0.5 --flip-v 0.5 --rot90 0.7
	check --flip-h 1 --rot90 1
}

@test "augment: random and centre crop/pad equal NumPy slicing, fills included" {
	check --crop 15x30
	check --center-crop 30x10 --flip-h 1
	check --rot90 1 --crop 9x31
	augment --seed 3 --center-crop 28x28 --fill -7 --label-fill 255 r.ts >o.ts
	run $AUG check r.ts o.ts --fill -7 --label-fill 255
	assert_output "ok 6"
}

@test "augment: rotation, scaling and translation equal scipy affine_transform (order 1 / 0)" {
	check --rotate 1:30
	check --rotate 1:-90:90
	check --scale 1:0.8:1.3
	check --scale-axes 1:0.7:1.4
	check --translate 1:4
	check --rotate 1:180 --scale 1:0.5:2 --translate 1:3 --rot90 0.5 --flip-h 0.5 --crop 17x19
}

@test "augment: --rotate 1:90:90 is np.rot90's direction" {
	$AUG make random r.ts 3 16 16
	augment --seed 1 --rotate 1:90:90 r.ts >a.ts
	augment --seed 1 --rot90 1 r.ts >b.ts
	run "$PYTHON" -c '
from stream_format import read_stream
import numpy as np
a = list(read_stream(open("a.ts", "rb"))); b = list(read_stream(open("b.ts", "rb")))
ok = all(np.array_equal(x["image"], y["image"]) and np.array_equal(x["label"], y["label"])
         for x, y in zip(a, b) if y["meta"]["augment"].endswith("rot90=1"))
print(ok, sum(y["meta"]["augment"].endswith("rot90=1") for y in b))'
	assert_output --regexp "^True [1-3]$"
}

@test "augment: gamma, brightness, contrast and blur equal their formulas and gaussian_filter" {
	check --gamma 1:0.5:2
	check --brightness 1:0.8:1.2 --contrast 1:0.7:1.3
	check --blur 1:0.5:2
	check --rotate 1:20 --gamma 1:0.7:1.4 --blur 1:0.3:1 --brightness 1:0.9:1.1
}

@test "augment: HxW images and u8 images (saturated) against the same references" {
	for kind in flat u8; do
		$AUG make $kind $kind.ts 5 21 26
		for opts in "--flip-v 0.5 --rot90 0.8 --crop 19x30" \
			"--rotate 1:40 --scale-axes 1:0.8:1.2 --brightness 1:1.5:2 --blur 0.5:0.5:1.5" \
			"--gamma 1:0.5:2 --contrast 1:1.5:3 --center-crop 30x12"; do
			augment --seed 2 $opts $kind.ts >o.ts
			run $AUG check $kind.ts o.ts
			assert_success
			assert_output "ok 5"
		done
	done
}

@test "augment: Gaussian noise has the drawn sd; the image only" {
	check --noise 1:20:40
}

@test "augment: the elastic field is smooth, as strong as Simard's definition, and alpha 0 is the identity" {
	"$PYTHON" -c '
import numpy as np
from stream_format import write_record
import sys
x = np.tile(np.arange(128, dtype=np.float32), (128, 1))[None]
for i in range(8):
    write_record(sys.stdout.buffer, {"id": "ramp%d" % i, "image": x})' >ramp.ts
	augment --seed 4 --elastic 1:240:6 ramp.ts >e.ts
	# on a ramp image(y, x) = x, bilinear sampling returns the x coordinate:
	# the output minus the grid is the field itself
	run "$PYTHON" -c '
import numpy as np
from scipy import ndimage
from stream_format import read_stream
d = np.array([r["image"][0] - np.arange(128) for r in read_stream(open("e.ts", "rb"))])
d = d[:, 24:-24, 24:-24]
rng = np.random.default_rng(0)
ref = np.array([ndimage.gaussian_filter(rng.uniform(-1, 1, (128, 128)), 6) * 240
                for _ in range(8)])[:, 24:-24, 24:-24]
ratio = d.std() / ref.std()
smooth = np.abs(np.diff(d, axis=2)).mean() / np.abs(np.diff(ref, axis=2)).mean()
print("ratio ok" if 0.8 < ratio < 1.25 else "ratio %g" % ratio,
      "smooth ok" if 0.6 < smooth < 1.6 else "smooth %g" % smooth)'
	assert_output "ratio ok smooth ok"
	$AUG make random r.ts 4 24 20
	augment --seed 5 --elastic 1:0:4 r.ts >e0.ts
	run "$PYTHON" -c '
import numpy as np
from stream_format import read_stream
a = list(read_stream(open("r.ts", "rb"))); b = list(read_stream(open("e0.ts", "rb")))
print(all(np.array_equal(x[k], y[k]) for x, y in zip(a, b) for k in ("image", "label", "prob")))'
	assert_output "True"
}

@test "augment: image and mask stay aligned through rotation, scaling and elastic deformation" {
	$AUG make smooth s.ts 6 64 56
	for opts in "--elastic 1:300:6" "--elastic 1:1000:8 --rotate 1:40 --scale 1:0.8:1.2" \
		"--rotate 1:45 --scale-axes 1:0.7:1.3 --translate 1:5 --flip-v 0.5 --crop 50x50"; do
		augment --seed 5 $opts s.ts >o.ts
		run $AUG align o.ts 1000 0.03
		assert_output "ok 6"
	done
	# ... and the transform moved the masks a lot (the check is not idle)
	run "$PYTHON" -c '
import numpy as np
from stream_format import read_stream
a = list(read_stream(open("s.ts", "rb"))); b = list(read_stream(open("o.ts", "rb")))
print(min(np.mean(x["label"][:, :50, :50] != y["label"]) for x, y in zip(a, b)) > 0.02)'
	assert_output "True"
}

@test "augment: same seed byte-identical, another seed differs" {
	$AUG make random r.ts 6 24 20
	opts="--flip-h 0.5 --rotate 0.8:30 --elastic 0.5:100:4 --noise 0.5:5:10 --crop 20x20"
	augment --seed 7 $opts r.ts >a.ts
	augment --seed 7 $opts <r.ts >b.ts
	cmp a.ts b.ts
	augment --seed 8 $opts r.ts >c.ts
	run cmp -s a.ts c.ts
	assert_failure
}

@test "augment: a shard with --first-index gives the records of the whole run" {
	$AUG make random r.ts 6 24 20
	opts="--seed 7 --copies 2 --flip-h 0.5 --rotate 1:30 --elastic 0.5:100:4 --gamma 1:0.5:2"
	augment $opts r.ts >whole.ts
	tensor-cat -n 4 r.ts >s1.ts
	tensor-cat -s 4 r.ts >s2.ts
	{ augment $opts s1.ts; augment $opts --first-index 4 s2.ts; } >parts.ts
	cmp whole.ts parts.ts
	augment $opts s2.ts >wrong.ts
	tensor-cat -s 8 whole.ts >tail.ts
	run cmp -s tail.ts wrong.ts
	assert_failure
	# several input files are one sequence of records
	augment $opts s1.ts - <s2.ts >two.ts
	cmp whole.ts two.ts
}

@test "augment --copies N: N copies of each record, in order, each drawn anew" {
	mkstream 3 12 >in.ts
	augment --seed 1 --copies 4 --rotate 1:30 in.ts >o.ts
	run "$PYTHON" -c '
from stream_format import read_stream
r = list(read_stream(open("o.ts", "rb")))
print(len(r), " ".join(x["id"] for x in r))
print(len({x["meta"]["augment"] for x in r}), r[5]["meta"]["augment"].split()[:2])'
	assert_line --index 0 "12 c0/0 c0/0 c0/0 c0/0 c1/1 c1/1 c1/1 c1/1 c0/2 c0/2 c0/2 c0/2"
	assert_line --index 1 "12 ['k=1', 'c=1']"
}

@test "augment --epochs N: the whole input N times, reshuffled, augmented afresh" {
	mkstream 20 8 >in.ts
	augment --seed 1 --epochs 3 --copies 2 --flip-h 0.5 in.ts >o.ts
	run "$PYTHON" -c '
from stream_format import read_stream
r = list(read_stream(open("o.ts", "rb")))
ids = [x["id"] for x in r]
ep = [ids[i * 40:(i + 1) * 40] for i in range(3)]
print(len(r), all(sorted(e) == sorted(ids[:40]) for e in ep), len({tuple(e) for e in ep}))
print(all(ids[2 * i] == ids[2 * i + 1] for i in range(60)) and len(set(ids[:40])) == 20)
orig = [x["id"] for x in read_stream(open("in.ts", "rb"))]
print(ep[0][::2] != orig)
cs = sorted({x["meta"]["augment"].split()[1] for x in r})
print(cs)'
	assert_line --index 0 "120 True 3"
	assert_line --index 1 "True"
	assert_line --index 2 "True"
	assert_line --index 3 "['c=0', 'c=1', 'c=2', 'c=3', 'c=4', 'c=5']"
	augment --seed 1 --epochs 3 --copies 2 --flip-h 0.5 <in.ts | cmp - o.ts
}

@test "augment: tensors that are not HxW-shaped pass through; other HxW tensors move bilinearly" {
	check --rotate 1:25 --crop 16x16
}

@test "augment: bad records are one line naming the record; nothing of it written" {
	mkstream 2 8 >good.ts
	"$PYTHON" -c '
import sys, numpy as np
from stream_format import write_record
write_record(sys.stdout.buffer, {"id": "nolabel", "image": np.zeros((1, 8, 8), np.int16),
             "label": np.zeros((1, 7, 8), np.uint8)})' >badlab.ts
	run_split bash -c "augment --seed 1 --flip-h 1 good.ts badlab.ts >out.ts"
	assert_failure 1
	assert_equal "$stderr" "augment: badlab.ts: record 3 (nolabel): label 1x7x8 does not match image 1x8x8"
	run tensor-info --summary out.ts
	assert_output --partial "# 2 records, 0 errors"
	"$PYTHON" -c '
import sys, numpy as np
from stream_format import write_record
write_record(sys.stdout.buffer, {"id": "noimg", "label": np.zeros((1, 8, 8), np.uint8)})
' >noimg.ts
	run_split augment --seed 1 noimg.ts
	assert_failure 1
	assert_equal "$stderr" "augment: noimg.ts: record 1 (noimg): no 'image' tensor"
	assert_equal "$output" ""
	"$PYTHON" -c '
import sys, numpy as np
from stream_format import write_record
write_record(sys.stdout.buffer, {"id": "flat", "image": np.zeros((8,), np.uint8)})
' >flat.ts
	run_split augment --seed 1 flat.ts
	assert_failure 1
	assert_equal "$stderr" "augment: flat.ts: record 1 (flat): image 8 is not CxHxW or HxW"
	# with --epochs nothing at all is written
	run_split bash -c "augment --seed 1 --epochs 2 good.ts badlab.ts >ep.ts"
	assert_failure 1
	[ ! -s ep.ts ]
}

@test "augment: truncated and garbage input are exit 1 with 'augment:'" {
	mkstream 3 8 | head -c -9 >cut.ts
	run_split bash -c "augment --seed 1 --rot90 1 cut.ts >out.ts"
	assert_failure 1
	[[ $stderr == "augment: cut.ts: truncated record 3"* ]] || fail "$stderr"
	run tensor-info --summary out.ts
	assert_output --partial "# 2 records, 0 errors"
	echo garbage >g.ts
	run_split augment --seed 1 g.ts
	assert_failure 1
	[[ $stderr == "augment: g.ts: "* ]] || fail "$stderr"
	assert_equal "$output" ""
}

@test "augment: the examples in docs/augment.md run as written" {
	"$REF/docpy.sh" "$ROOT/docs/augment.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	assert_output "$("$REF/docpy.sh" "$ROOT/docs/augment.md" 2)"
}

#!/usr/bin/env bats
# pipelines/lab.mk on a tiny phantom (3 cases of 64x64, 1 epoch): every
# target runs end to end and leaves what it promises; the lab's step 1
# lesson (zero-initialised FCN-AlexNet: high pixel accuracy, Dice 0) holds.
load helper

lab() {
	make -s --no-print-directory -f "$ROOT/pipelines/lab.mk" BIN="$BIN" OUT="$T" \
		PHANTOM="--cases 3 --slices 1 --phases 4 --size 64x64" CROP=48x48 \
		LAB_EPOCHS=1 PRE_EPOCHS=1 UNET_EPOCHS=1 UNET_WARMUP=1 THREADS=2 \
		RESULTS="$T/results.md" "$@"
}

setup() {
	T=$BATS_TEST_TMPDIR/lab
}

# Python with the stream reader, for checks of the streams a target leaves.
py() {
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
import numpy as np
from stream import read_stream
$1"
}

is_png() {
	[ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] ||
		fail "$1 is not a PNG"
}

step_ok() { # DIR: everything a training step leaves
	for f in cmd.sh model.fcn log.tsv time.txt pred.ts dice.tsv png; do
		[ -e "$1/$f" ] || fail "$1/$f missing"
	done
	is_png "$1/curve.png"
	[ "$(ls "$1/png" | wc -l)" -gt 0 ] || fail "$1/png is empty"
	grep -q '^wall_s	[0-9.]*$' "$1/time.txt" || fail "$1/time.txt: $(cat "$1/time.txt")"
}

# bats test_tags=slow
@test "lab.mk: fcn-alexnet, with-dice and pretrained-rgb run; from scratch the lab's net scores Dice 0" {
	run_split lab fcn-alexnet with-dice pretrained-rgb
	assert_success
	step_ok "$T/fcn-alexnet"
	step_ok "$T/pretrained-rgb"
	step_ok "$T/scratch-rgb"
	step_ok "$T/source/run"
	# step 1's lesson, exactly: zero-initialised convolutions predict no
	# ventricle anywhere, so Dice is 0 while pixel accuracy is high
	run awk -F'\t' '$1 == "val_dice" {print $2}' "$T/with-dice/report.tsv"
	assert_output 0.000000
	acc=$(awk -F'\t' '$1 == "val_pixel_accuracy" {print $2}' "$T/with-dice/report.tsv")
	awk -v a="$acc" 'BEGIN {exit !(a > 0.9)}' || fail "pixel accuracy $acc"
	# the RGB steps train on 3 channels; the fine-tuned net started from the source
	grep -q -- '--weights .*/source/model.fcn' "$T/pretrained-rgb/cmd.sh"
	# by default the source task is the epicardium of the same split: the
	# same validation case, never among the source's training records
	[ "$(cat "$T/source/run/source.txt")" = o-contours ]
	cases() { tensor-info "$1" | awk -F'\t' '!/^#/ {sub(/\/.*/, "", $1); print $1}' | sort -u; }
	[ "$(cases "$T/source/data/val.ts")" = "$(cases "$T/data/val.ts")" ] ||
		fail "source validation $(cases "$T/source/data/val.ts"), not $(cases "$T/data/val.ts")"
	if cases "$T/source/data/train.ts" | grep -qxF "$(cases "$T/data/val.ts")"; then
		fail "the source task trains on the validation case"
	fi
	awk -F'\t' 'NR > 1 && $3 !~ /\/o-contours\// {exit 1}' "$T/source/data/index.tsv" ||
		fail "source labels are not all o-contours"
	run tensor-info "$T/data/train-rgb.ts"
	assert_output --partial "image=i16:3x64x64"
}

# bats test_tags=slow
@test "lab.mk: fcn-8s (step 6) runs on the phantom, on scaled 16-bit values" {
	run_split lab fcn-8s PHANTOM="--cases 3 --slices 1 --phases 2 --size 64x64" FCN8S_EPOCHS=1
	assert_success
	step_ok "$T/fcn-8s"
	grep -q -- '--net .*/fcn-8s-msra.prototxt .* --scale 0.002 ' "$T/fcn-8s/cmd.sh"
	# msra fillers on the trunk and scores, the bilinear upsampling left fixed
	# (13 VGG16 convolutions, fc6, fc7 and the three score layers)
	[ "$(grep -c 'weight_filler { type: "msra" }' "$T/nets/fcn-8s-msra.prototxt")" -eq 18 ]
	[ "$(grep -c 'weight_filler { type: "bilinear" }' "$T/nets/fcn-8s-msra.prototxt")" -eq 3 ]
	run tensor-info "$T/fcn-8s/pred.ts"
	assert_output --partial "pred=u8:1x64x64"
}

# bats test_tags=slow
@test "lab.mk: unet, cv, best and results run; results name every run's command" {
	run_split lab unet cv best results
	assert_success
	step_ok "$T/unet"
	for c in PH-1 PH-2 PH-3; do step_ok "$T/cv/$c"; done
	[ "$(wc -l <"$T/cv/folds.tsv")" -eq 3 ]
	[ -s "$T/model.fcn" ]
	# the recipe's model predicts on full frames of a case it never saw
	run_split sh -c "fcn-predict -m '$T/model.fcn' '$T/cv/PH-1/data/val.ts' | dice-score"
	assert_success
	assert_line --regexp '^1	4	'
	grep -q '^| unet | 1 |' "$T/results.md"
	grep -q '^| PH-2 | 1 |' "$T/results.md"
	grep -q 'Mean over the 3 folds' "$T/results.md"
	grep -q "^augment --seed 1 --epochs 1 .* | fcn-train --net $T/nets/unet-recipe.prototxt" "$T/results.md"
	grep -q '^Machine: ' "$T/results.md"
	grep -q '^wall_s	[0-9.]*$' "$T/best-time.txt"
	grep -q '^`.*/model.fcn`: 1 epochs on all labelled frames of DATA, train loss [0-9.]* (epoch 1: [0-9.]*), [0-9.]* s\.$' "$T/results.md"
}

# bats test_tags=slow
@test "lab.mk: seeds, ablate and postproc run; results carry their tables" {
	run_split lab cv seeds strong ensemble wide ema longer ablate postproc results SEEDS=2 \
		STRONG_SEEDS=2 WIDE_SEEDS=2 WIDE_EPOCHS=1 EMA_SEEDS=2 LONG_EPOCHS=2
	assert_success
	for d in cv seed2/cv strong/seed2/cv wide/e1/seed2/cv ema/seed2/cv epochs2/cv ablate/no-aug/cv ablate/ce-only/cv ablate/batch-dice/cv ablate/no-norm/cv ablate/no-ds/cv; do
		for c in PH-1 PH-2 PH-3; do step_ok "$T/$d/$c"; done
	done
	# each ablation changes what it names, and only that
	grep -q -- '--loss softmax+dice --dice-over image' "$T/cv/PH-1/cmd.sh"
	grep -q -- '--loss softmax --solver' "$T/ablate/ce-only/cv/PH-1/cmd.sh"
	grep -q -- '--dice-over batch' "$T/ablate/batch-dice/cv/PH-1/cmd.sh"
	grep -q -- '^augment --seed 1 --epochs 1 --center-crop 48x48 /' "$T/ablate/no-aug/cv/PH-1/cmd.sh"
	grep -q -- '--seed 2 ' "$T/seed2/cv/PH-1/cmd.sh"
	grep -q -- '--seed 2 --epochs 1 .* --elastic 0.3:100:10 ' "$T/strong/seed2/cv/PH-1/cmd.sh"
	# ensemble: each fold by strong's models, one prediction per fold
	for c in PH-1 PH-2 PH-3; do
		[ -s "$T/ensemble/$c/pred.ts" ] && [ -s "$T/ensemble/$c/dice.tsv" ]
		grep -q "^fcn-predict -m $T/strong/seed2/cv/$c/model.fcn --tta=dihedral " "$T/ensemble/$c/cmd.sh"
	done
	[ "$(wc -l <"$T/ensemble/folds.tsv")" -eq 3 ]
	# wide: the recipe's net at twice the channels, WIDE_EPOCHS epochs
	grep -q -- "--net $T/nets/unet32.prototxt .*--epochs 1 --loss" "$T/wide/e1/seed2/cv/PH-1/cmd.sh"
	[ "$(grep -c 'num_output: 256' "$T/nets/unet32.prototxt")" -eq 2 ]
	diff <(grep -v num_output "$T/nets/unet-recipe.prototxt" | sed 's/^name: "unet"/name: "unet32"/') \
		<(grep -v num_output "$T/nets/unet32.prototxt")
	sed -n '/^### A wider net trained longer (`wide`, 1 epochs)/,/^- Training time/p' "$T/results.md" >"$T/wide.md"
	grep -q '^| validation case | seed 2 | strong | wide, mean ± std |$' "$T/wide.md"
	grep -q '^| PH-2 | [0-9.]* | [0-9.]* | [0-9.]* ± [0-9.]* |$' "$T/wide.md"
	grep -q '^### The stronger augmentation' "$T/results.md"
	grep -q '^| PH-2 | [0-9.]* | [0-9.]* ± [0-9.]* | [0-9.]* | [-+][0-9.]* |$' "$T/results.md"
	grep -q '^| PH-3 | 1 | [0-9.]* | [0-9.]* | [0-9.]* | `fcn-predict -m ' "$T/results.md"
	grep -q '^Mean over the 3 folds [0-9.]*, lowest fold [0-9.]*\.$' "$T/results.md"
	grep -q -- '--ema 0.99 --threads 2 --seed 2 ' "$T/ema/seed2/cv/PH-1/cmd.sh"
	if grep -q -- '--ema' "$T/seed2/cv/PH-1/cmd.sh"; then fail "seed2 trained with --ema"; fi
	grep -q -- '--epochs 2 --loss' "$T/epochs2/cv/PH-1/cmd.sh"
	grep -q -- '--scale 0.002' "$T/ablate/no-norm/cv/PH-1/cmd.sh"
	if grep -q 'type: "MVN"' "$T/ablate/no-norm/nets/unet-nomvn.prototxt"; then fail "no-norm net has an MVN layer"; fi
	grep -q 'bottom: "data"' "$T/ablate/no-norm/nets/unet-nomvn.prototxt"
	grep -q 'ds2_score' "$T/ablate/no-norm/nets/unet-nomvn.prototxt"
	grep -q -- "--net $ROOT/nets/unet.prototxt " "$T/ablate/no-ds/cv/PH-1/cmd.sh"
	grep -q '^| no-ds | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* |$' "$T/results.md"
	# postproc: 8 variants for each of the 6 fold models of cv and seeds
	[ "$(tail -n +2 "$T/postproc.tsv" | wc -l)" -eq 48 ]
	[ "$(cut -f2 "$T/postproc.tsv" | sort -u | wc -l)" -eq 9 ]
	grep -q '^### The spread over seeds' "$T/results.md"
	grep -q '^| PH-2 | [0-9.]* | [0-9.]* | [0-9.]* ± [0-9.]* |$' "$T/results.md"
	grep -q '^- Seed 2: mean over the 3 folds' "$T/results.md"
	grep -q '^| no-norm | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* |$' "$T/results.md"
	grep -q '^| the recipe | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* |$' "$T/results.md"
	grep -q '^| `--tta --largest --hull` | [0-9.]* |' "$T/results.md"
	grep -q '^| `--tta=dihedral --largest --hull` | [0-9.]* |' "$T/results.md"
	# one build trained the ema and the raw folds: every row is a true pair
	grep -q '^| PH-2 | 2 | [0-9.]* | [0-9.]* | [-+][0-9.]* | yes |$' "$T/results.md"
	[ "$(grep -c '| no |$' "$T/results.md")" -eq 0 ]
	grep -q '^| PH-3 | 2 | [0-9.]* | [0-9.]* | [-+][0-9.]* | [0-9.]* |$' "$T/results.md"
	grep -q '^Over the 3 paired rows (--ema 0.99): raw [0-9.]*, EMA [0-9.]*; EMA higher in [0-3]\.$' "$T/results.md"
	# repredict: every fold predicted again, cmd.sh saying how and when
	run_split lab repredict UNET_PREDICT=--largest
	assert_success
	for d in cv/PH-2 seed2/cv/PH-1 ema/seed2/cv/PH-3 epochs2/cv/PH-3 ablate/ce-only/cv/PH-1; do
		grep -q -- '^fcn-predict -m .*/model.fcn --largest --threads 2 ' "$T/$d/cmd.sh"
		grep -q -- ': fcn-predict again, --largest$' "$T/$d/cmd.sh"
		[ "$(grep -c '^fcn-predict' "$T/$d/cmd.sh")" -eq 1 ]
		cmp "$T/$d/dice.tsv" <(fcn-predict -m "$T/$d/model.fcn" --largest "$T/$d/data/val.ts" |
			dice-score --per-record)
	done
}

# bats test_tags=slow
@test "lab.mk: pseudo labels the training cases' unlabelled frames with strong's fold models and trains students on them" {
	phantom -o "$BATS_TEST_TMPDIR/ph" --cases 3 --slices 1 --phases 4 --size 64x64 --seed 1 >/dev/null
	# half the frames lose their i-contour: unlabelled, as most real cine frames are
	find "$BATS_TEST_TMPDIR/ph/contourfiles" -path '*i-contours*' -name '*.txt' | sort | awk 'NR % 2 == 0' | xargs rm
	run_split lab pseudo DATA="$BATS_TEST_TMPDIR/ph" PSEUDO_SEEDS=2 UNET_EPOCHS=2
	assert_success
	[ "$(wc -l <"$T/pseudo/seed2/cv/folds.tsv")" -eq 3 ]
	for c in PH-1 PH-2 PH-3; do
		d=$T/pseudo/seed2/cv/$c
		step_ok "$d"
		step_ok "$T/strong/seed2/cv/$c"
		grep -q "^fcn-predict -m $T/strong/seed2/cv/$c/model.fcn --pseudo-label --tta=dihedral " "$d/pseudo-cmd.sh"
		# 4 frames of each of the 2 training cases, 2 of each labelled by the expert;
		# ceil(2 epochs x 4 labelled / 8) = 1 epoch over the pool
		grep -q -- "--seed 2 --epochs 1 .* --epoch-size 8 .*--epochs 1 " "$d/cmd.sh"
		cmp "$d/data/val.ts" "$T/strong/seed2/cv/$c/data/val.ts"
		py "
t, p = read_stream('$T/strong/seed2/cv/$c/data/train.ts'), read_stream('$d/data/train.ts')
assert len(t) == 4 and len(p) == 8, (len(t), len(p))
assert not any(r['meta']['case'] == '$c' for r in p)
expert = {r['id']: r['label'] for r in t}
pseudo = [r for r in p if r['meta'].get('pseudo_label') == 1]
assert len(pseudo) == 4 and all(r['id'] not in expert for r in pseudo)
for r in p:
    if r['id'] in expert:
        assert (r['label'] == expert[r['id']]).all() and 'pseudo_label' not in r['meta']
    assert r['label'].dtype == np.uint8 and r['label'].shape == r['image'].shape
"
	done
}

# bats test_tags=slow
@test "lab.mk: myo trains on three classes (half the frames without an o-contour) and scores the endocardium" {
	phantom -o "$BATS_TEST_TMPDIR/ph" --cases 3 --slices 1 --phases 4 --size 64x64 --seed 1 >/dev/null
	# half the frames lose their o-contour, as in the Sunnybrook data
	find "$BATS_TEST_TMPDIR/ph/contourfiles" -path '*o-contours*' -name '*.txt' | sort | awk 'NR % 2 == 0' | xargs rm
	run_split lab myo DATA="$BATS_TEST_TMPDIR/ph" MYO_SEEDS=2
	assert_success
	[ "$(wc -l <"$T/myo/seed2/cv/folds.tsv")" -eq 3 ]
	grep -q 'num_output: 3$' "$T/nets/unet-myo.prototxt"
	# the scorer and both deep-supervision heads (score, upsampling) score 3 classes
	[ "$(grep -cE 'num_output: 3$' "$T/nets/unet-myo.prototxt")" -eq 5 ]
	[ "$(grep -cE 'num_output: 2$' "$T/nets/unet-myo.prototxt")" -eq 0 ]
	[ "$(grep -cE 'group: 3$' "$T/nets/unet-myo.prototxt")" -eq 2 ]
	for c in PH-1 PH-2 PH-3; do
		d=$T/myo/seed2/cv/$c
		step_ok "$d"
		grep -q -- "--net $T/nets/unet-myo.prototxt .*--dice-classes each" "$d/cmd.sh"
		grep -q -- "--train - " "$d/cmd.sh"
		py "
tr, val = read_stream('$d/data-train/train.ts'), read_stream('$d/data/val.ts')
kinds = sorted({tuple(sorted(set(r['label'].ravel().tolist()))) for r in tr})
assert kinds == [(0, 1), (0, 1, 2)], kinds
assert all(set(r['label'].ravel().tolist()) <= {0, 1} for r in val)
"
		$PYTHON -c "import msgpack
t = msgpack.unpackb(open('$d/model.fcn', 'rb').read())['train']
assert t['dice_classes'] == 'each', t"
	done
}

@test "lab.mk: a missing DATA folder fails before any training" {
	run_split lab dataset DATA="$BATS_TEST_TMPDIR/nope"
	assert_failure
	[ ! -e "$T/data/train.ts" ]
}

# bats test_tags=slow
@test "lab.mk: the recipe's net is the U-Net with deep-supervision heads; zoom scores every fold, run and zoom set" {
	run_split lab strong zoom STRONG_SEEDS=2 ZOOM_SETS="1 1,1.5" ENSEMBLE_RUNS="$T/strong/seed2"
	assert_success
	run_split lab cv OUT="$T/base" SEED=2 UNET_NET="$ROOT/nets/unet.prototxt"
	assert_success
	net=$T/strong/seed2/nets/unet-recipe.prototxt
	n=$(wc -l <"$ROOT/nets/unet.prototxt")
	# the U-Net, then two more scorers and losses, in training only
	cmp <(head -n "$n" "$net") "$ROOT/nets/unet.prototxt"
	cmp <(tail -n +$((n + 1)) "$net") "$ROOT/pipelines/deep-supervision.prototxt"
	[ "$(grep -c 'type: "SoftmaxWithLoss"' "$net")" -eq 3 ]
	[ "$(tail -n +$((n + 1)) "$net" | grep -c 'include { phase: TRAIN }')" -eq 6 ]
	for c in PH-1 PH-2 PH-3; do
		d=$T/strong/seed2/cv/$c
		step_ok "$d"
		grep -q -- "--net $net .*--loss softmax+dice" "$d/cmd.sh"
		$PYTHON -c "import msgpack
m = msgpack.unpackb(open('$d/model.fcn', 'rb').read())
assert 'ds2_score' in m['layers'] and 'ds3_score' in m['layers'], list(m['layers'])"
		# the training loss sums the three heads' (weights 1, 1/2, 1/4)
		s=$(awk -F'\t' 'NR == 2 {print $4}' "$T/base/cv/$c/log.tsv")
		l=$(awk -F'\t' 'NR == 2 {print $4}' "$d/log.tsv")
		echo "train loss: U-Net alone $s, with the heads $l"
		awk -v s="$s" -v l="$l" 'BEGIN {exit !(l > 1.3 * s)}'
	done
	# zoom: 3 folds x 2 runs (seed 2 and the ensemble) x 2 sets, after a header
	[ "$(wc -l <"$T/zoom.tsv")" -eq 13 ]
	grep -q "^PH-2	ensemble	1,1.5	[0-9.]*	[0-9.]*$" "$T/zoom.tsv"
	grep -q "^PH-3	strong/seed2	1	[0-9.]*	[0-9.]*$" "$T/zoom.tsv"
	# its plain rows are the folds' own figures
	a=$(awk -F'\t' '$1 == "PH-1" && $2 == "strong/seed2" && $3 == "1" {print $4}' "$T/zoom.tsv")
	b=$(fcn-predict -m "$T/strong/seed2/cv/PH-1/model.fcn" --tta=dihedral --largest --hull \
		"$T/strong/seed2/cv/PH-1/data/val.ts" | dice-score | awk -F'\t' '$1 == "1" {print $3}')
	assert_equal "$a" "$b"
}

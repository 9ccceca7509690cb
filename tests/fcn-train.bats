#!/usr/bin/env bats
# fcn-train: options, the TSV log, determinism, snapshots and --resume,
# fine-tuning with --weights, class weights / Dice loss, bad input.
load helper

setup() {
	T=$BATS_TEST_TMPDIR
	NET=$ROOT/nets/fcn-tiny.prototxt
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
	[ -f "$T/train.st" ] || $GEN "$T/train.st" 16 32 32 1
	[ -f "$T/val.st" ] || $GEN "$T/val.st" 4 32 32 2
	# a small, fast configuration shared by most tests
	BASE=(--net "$NET" --train "$T/train.st" --lr 0.01 --scale 8 --threads 1 --batch 2)
}

@test "fcn-train --help documents every option" {
	run_split fcn-train --help
	assert_success
	for o in --net --train --val --output --weights --resume --snapshot --scale \
		--shift --epochs --lr --lr-policy --gamma --stepsize --power --stepvalue \
		--max-iter --solver --momentum --momentum2 --delta --weight-decay \
		--iter-size --batch --seed --loss --class-weights --threads --help \
		--epoch-size --warmup --dice-over --dice-classes adamw softmax+dice; do
		assert_output --partial -- "$o"
	done
	assert_output --partial "default 0.9"
	assert_output --partial "default 5e-4"
}

@test "fcn-train: usage errors exit 2 with empty stdout" {
	assert_usage_error fcn-train --bogus
	assert_usage_error fcn-train --net "$NET" --epochs 1 --lr 0.1 -o "$T/m"
	assert_usage_error fcn-train --net "$NET" --train "$T/train.st" --lr 0.1 -o "$T/m"
	assert_usage_error fcn-train --net "$NET" --train "$T/train.st" --epochs 1 -o "$T/m"
	assert_usage_error fcn-train --net "$NET" --train "$T/train.st" --epochs 1 --lr 0.1
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --lr-policy cosine
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --lr-policy multistep
	assert_usage_error fcn-train "${BASE[@]}" --epochs 0 -o "$T/m"
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --batch 0
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --momentum 1.5
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --loss hinge
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --solver rmsprop
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --class-weights 1
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --class-weights 1,x
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --class-weights auto --loss dice
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --seed -3
	assert_usage_error fcn-train --resume "$T/m" --train "$T/train.st" --epochs 2 -o "$T/m2" --lr 0.1
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" extra
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --dice-over batch
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --loss dice --dice-over all
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --dice-classes each
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --loss dice --dice-classes all
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --warmup -1
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --loss dice --class-weights 1,2
	assert_usage_error fcn-train "${BASE[@]}" --epoch-size 4 -o "$T/m" --lr-policy poly
	assert_usage_error fcn-train "${BASE[@]}" --epoch-size 0 -o "$T/m"
}

@test "fcn-train: one TSV line per epoch after a header; progress on stderr" {
	run_split fcn-train "${BASE[@]}" --val "$T/val.st" --epochs 3 -o "$T/m"
	assert_success
	assert_equal "${lines[0]}" "$(printf 'epoch\titer\tlr\ttrain_loss\tval_loss\tval_accuracy\tval_dice\timages_per_s')"
	assert_equal "${#lines[@]}" 4
	for i in 1 2 3; do
		assert_equal "$(echo "${lines[$i]}" | awk -F'\t' '{print NF}')" 8
		assert_equal "$(echo "${lines[$i]}" | cut -f1,2)" "$(printf '%d\t%d' $i $((8 * i)))"
	done
	[ "$(echo "$stderr" | grep -c '^fcn-train: epoch [123]/3: train loss')" -eq 3 ]
	[ -s "$T/m" ]
	[ -z "$(ls "$T" | grep tmp)" ] || fail "temporary files left: $(ls "$T")"
}

@test "fcn-train: without --val the validation columns are nan" {
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m"
	assert_success
	assert_equal "$(echo "${lines[1]}" | cut -f5-7)" "$(printf 'nan\tnan\tnan')"
}

@test "fcn-train: same seed, data and threads give a byte-identical model; stdin = file" {
	fcn-train "${BASE[@]}" --epochs 2 --seed 7 -o "$T/a" >/dev/null 2>&1
	fcn-train --net "$NET" --train - --lr 0.01 --scale 8 --threads 1 --batch 2 \
		--epochs 2 --seed 7 -o "$T/b" <"$T/train.st" >/dev/null 2>&1
	cmp "$T/a" "$T/b"
	fcn-train "${BASE[@]}" --epochs 2 --seed 8 -o "$T/c" >/dev/null 2>&1
	! cmp -s "$T/a" "$T/c"
}

@test "fcn-train: --resume from a snapshot ends bit-identical to an uninterrupted run" {
	opts=(--val "$T/val.st" --solver adam --lr 0.005 --iter-size 2 --lr-policy step
		--stepsize 3 --gamma 0.5 --seed 3)
	run_split fcn-train "${BASE[@]}" "${opts[@]}" --epochs 4 --snapshot 2 -o "$T/full"
	assert_success
	full=$output
	[ -s "$T/full.epoch2" ]
	[ ! -e "$T/full.epoch4" ]
	run_split fcn-train --resume "$T/full.epoch2" --train "$T/train.st" \
		--val "$T/val.st" --threads 1 --epochs 4 -o "$T/resumed"
	assert_success
	cmp "$T/full" "$T/resumed"
	# the resumed run prints the header and epochs 3 and 4, as the full one did
	assert_equal "$(echo "$output" | cut -f1-7)" \
		"$(echo "$full" | sed -n '1p;4,5p' | cut -f1-7)"
}

@test "fcn-train: --resume refuses a model already past --epochs, or without solver state" {
	fcn-train "${BASE[@]}" --epochs 2 -o "$T/m" 2>/dev/null >/dev/null
	run_split fcn-train --resume "$T/m" --train "$T/train.st" --epochs 2 -o "$T/m2"
	assert_failure 1
	assert_output ""
	[[ $stderr == "fcn-train: $T/m: the snapshot has 2 epochs already, --epochs is 2" ]] || fail "$stderr"
}

@test "fcn-train: the learning-rate policy shows in the lr column" {
	run_split fcn-train "${BASE[@]}" --epochs 2 -o "$T/m" --lr-policy step --stepsize 4 --gamma 0.5
	assert_success
	# lr of each epoch's last update: iterations 7 and 15
	assert_equal "$(echo "$output" | sed 1d | cut -f3 | tr '\n' ' ')" "0.005 0.00125 "
	run_split fcn-train "${BASE[@]}" --epochs 2 -o "$T/m" --lr-policy multistep --stepvalue 2,10 --gamma 0.1
	assert_success
	assert_equal "$(echo "$output" | sed 1d | cut -f3 | tr '\n' ' ')" "0.001 0.0001 "
	run_split fcn-train "${BASE[@]}" --epochs 2 -o "$T/m" --lr-policy poly --power 1
	assert_success
	# poly over 16 updates: at iteration 15, 0.01 * (1 - 15/16)
	assert_equal "$(echo "$output" | sed -n 3p | cut -f3)" "0.000625"
}

@test "fcn-train: class weights auto and the Dice loss learn the foreground" {
	run_split fcn-train "${BASE[@]}" --val "$T/val.st" --epochs 4 -o "$T/w" --class-weights auto
	assert_success
	[[ $stderr == *"fcn-train: class weights "* ]] || fail "$stderr"
	dice=$(echo "$output" | tail -1 | cut -f7)
	$PYTHON -c "assert $dice > 0.5, $dice"
	run_split fcn-train "${BASE[@]}" --val "$T/val.st" --epochs 4 -o "$T/d" --loss dice --lr 0.05
	assert_success
	dice=$(echo "$output" | tail -1 | cut -f7)
	$PYTHON -c "assert $dice > 0.5, $dice"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/e" --class-weights 1,20
	assert_success
	[[ $stderr == *"fcn-train: class weights 1,20"* ]] || fail "$stderr"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/e" --class-weights 1,2,3
	assert_failure 1
	[[ $stderr == "fcn-train: --class-weights: 3 weights for a net with 2 classes" ]] || fail "$stderr"
}

@test "fcn-train: softmax+dice with AdamW, poly and warm-up learns the foreground; the model records them" {
	run_split fcn-train "${BASE[@]}" --val "$T/val.st" --epochs 4 -o "$T/sd" \
		--loss softmax+dice --dice-over batch --solver adamw --weight-decay 0.01 \
		--lr 0.005 --lr-policy poly --warmup 4
	assert_success
	dice=$(echo "$output" | tail -1 | cut -f7)
	$PYTHON -c "assert $dice > 0.5, $dice"
	# warm-up: lr of epoch 1's last update (iteration 7) is the poly rate at 7 - 4 = 3 of 28
	assert_equal "$(echo "${lines[1]}" | cut -f3)" "$($PYTHON -c "print('%.6g' % (0.005 * (1 - 3 / 28)))")"
	$PYTHON -c "import msgpack; m = msgpack.unpackb(open('$T/sd', 'rb').read())
t, s = m['train'], m['solver']
assert t['loss'] == 'softmax+dice' and t['dice_over'] == 'batch', t
assert s['kind'] == 'adamw' and s['warmup'] == 4 and s['max_iter'] == 32, s"
	# --resume keeps them (and refuses to change them)
	fcn-train "${BASE[@]}" --epochs 2 --snapshot 1 -o "$T/r" --loss softmax+dice --solver adamw \
		--warmup 3 >/dev/null 2>&1
	fcn-train --resume "$T/r.epoch1" --train "$T/train.st" --threads 1 --epochs 2 -o "$T/r2" >/dev/null 2>&1
	cmp "$T/r" "$T/r2"
	assert_usage_error fcn-train --resume "$T/r.epoch1" --train "$T/train.st" --epochs 2 -o "$T/x" --warmup 2
}

@test "fcn-train --dice-classes each: recorded and kept by --resume; with 2 classes the same training as union" {
	opts=("${BASE[@]}" --epochs 2 --loss softmax+dice --solver adamw --lr 0.005)
	fcn-train "${opts[@]}" -o "$T/u" >"$T/u.tsv" 2>/dev/null
	fcn-train "${opts[@]}" --dice-classes each --snapshot 1 -o "$T/e" >"$T/e.tsv" 2>/dev/null
	# the same losses, epoch by epoch (images_per_s aside)
	assert_equal "$(cut -f1-7 "$T/e.tsv")" "$(cut -f1-7 "$T/u.tsv")"
	$PYTHON -c "import msgpack
for f, want in (('$T/u', 'union'), ('$T/e', 'each')):
    t = msgpack.unpackb(open(f, 'rb').read())['train']
    assert t['dice_classes'] == want, (f, t)"
	fcn-train --resume "$T/e.epoch1" --train "$T/train.st" --threads 1 --epochs 2 -o "$T/e2" >/dev/null 2>&1
	cmp "$T/e" "$T/e2"
}

@test "fcn-train --ema: the model is the moving average of the raw weights (numpy); the trajectory is unchanged" {
	# one update per epoch (batch 16 = the whole set), a snapshot after each
	opts=("${BASE[@]}" --batch 16 --solver adam --lr 0.01 --seed 5 --epochs 4 --snapshot 1)
	fcn-train "${opts[@]}" -o "$T/raw" >/dev/null 2>&1
	run_split fcn-train "${opts[@]}" --ema 0.3 --val "$T/val.st" -o "$T/ema"
	assert_success
	# validated on the average: finite (a NaN from the fresh buffer once
	# crept in at the first update, 0 * garbage)
	echo "$output" | awk -F'\t' 'NR > 1 && ($5 ~ /nan|inf/ || $7 ~ /nan|inf/) {exit 1}' ||
		fail "non-finite validation of the average: $output"
	fcn-train "${opts[@]}" --ema 0.3 -o "$T/ema" >/dev/null 2>&1
	# snapshots hold the raw weights: the same bytes as without --ema
	for e in 1 2 3; do cmp "$T/raw.epoch$e" "$T/ema.epoch$e"; done
	$PYTHON - "$T" <<'PY'
import sys
import msgpack
import numpy as np

def blobs(path):
    m = msgpack.unpackb(open(path, 'rb').read())
    return {(k, i): np.frombuffer(b['data'], '<f4').astype(np.float64)
            for k, v in m['layers'].items() for i, b in enumerate(v)}

t = sys.argv[1]
w = [blobs('%s/raw.epoch%d' % (t, e)) for e in (1, 2, 3)] + [blobs(t + '/raw')]
ema = blobs(t + '/ema')
a = dict(w[0])
for u in (2, 3, 4):  # d = min(0.3, (1 + u) / (10 + u)): 0.25, 0.3, 0.3
    d = min(0.3, (1 + u) / (10 + u))
    a = {k: d * a[k] + (1 - d) * w[u - 1][k] for k in a}
assert ema.keys() == a.keys()
for k in a:
    # float32 sums of three terms: a few ulps of the blob's largest value
    err = np.max(np.abs(ema[k] - a[k])) / max(1e-3, np.max(np.abs(a[k])))
    assert err < 1e-6, (k, err)
assert any(np.max(np.abs(ema[k] - w[3][k])) > 1e-4 for k in a), 'the average is the last weights'
PY
	# decay 0 is the raw model, byte for byte
	fcn-train "${opts[@]}" --ema 0 -o "$T/ema0" >/dev/null 2>&1
	cmp "$T/raw" "$T/ema0"
	assert_usage_error fcn-train "${BASE[@]}" --epochs 1 -o "$T/x" --ema 1
	assert_usage_error fcn-train --resume "$T/raw.epoch1" --train "$T/train.st" --epochs 2 \
		-o "$T/x" --ema 0.9
}

@test "fcn-train: --weights fine-tunes, naming the blobs it initialises fresh" {
	fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" >/dev/null 2>&1
	sed 's/num_output: 2$/num_output: 3/; s/group: 2/group: 3/' "$NET" >"$T/three.prototxt"
	run_split fcn-train --net "$T/three.prototxt" --weights "$T/m" --train "$T/train.st" \
		--lr 0.01 --scale 8 --threads 1 --epochs 1 -o "$T/m3"
	assert_success
	[[ $stderr == *"initialised fresh"*"score_fr[0] (model 2x32x1x1, net 3x32x1x1)"* ]] || fail "$stderr"
	[[ $stderr != *"conv1"* ]] || fail "conv1 should have been copied: $stderr"
	# without --net the model's own net is used
	run_split fcn-train --weights "$T/m" --train "$T/train.st" --lr 0.01 --epochs 1 -o "$T/m4"
	assert_success
}

@test "fcn-train: records without labels, bad sizes and channels fail with one line" {
	$GEN "$T/nolabel.st" 3 32 32 1 --no-label
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --train "$T/nolabel.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-train: $T/nolabel.st: record 1 (img0): no 'label' tensor (training needs labels)"
	$GEN "$T/tiny.st" 2 2 2 1
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --train "$T/tiny.st"
	assert_failure 1
	[[ $stderr == "fcn-train: $NET: "* ]] || fail "$stderr"
	assert_equal "$(echo "$stderr" | wc -l)" 1
	$GEN "$T/other.st" 2 24 24 1
	cat "$T/train.st" "$T/other.st" >"$T/mixed.st"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --train "$T/mixed.st"
	assert_failure 1
	[[ $stderr == *"record 17 (img0): 24x24, the first record is 32x32"* ]] || fail "$stderr"
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream, write_stream
r = read_stream('$T/train.st'); r[3]['label'][0, 5, 5] = 2; write_stream(r, '$T/lab2.st')"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --train "$T/lab2.st"
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "fcn-train: $T/lab2.st: record 4 (img3): label 2 at pixel 165 is not one of the net's 2 classes (or 255, ignored)"
	$GEN "$T/rgb.st" 2 32 32 1 --channels 3
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --val "$T/rgb.st"
	assert_failure 1
	[[ $stderr == "fcn-train: $T/rgb.st: 3 channels, the training data has 1" ]] || fail "$stderr"
	[ ! -e "$T/m" ]
}

@test "fcn-train: truncated or garbage streams and corrupt models fail with one line" {
	head -c 5000 "$T/train.st" >"$T/trunc.st"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --train "$T/trunc.st"
	assert_failure 1
	[[ $stderr == "fcn-train: $T/trunc.st: "* ]] || fail "$stderr"
	assert_equal "$(echo "$stderr" | wc -l)" 1
	echo "garbage garbage" >"$T/garbage.st"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --train "$T/garbage.st"
	assert_failure 1
	[[ $stderr == "fcn-train: $T/garbage.st: "* ]] || fail "$stderr"
	fcn-train "${BASE[@]}" --epochs 1 -o "$T/good" >/dev/null 2>&1
	head -c 3000 "$T/good" >"$T/bad"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o "$T/m" --weights "$T/bad"
	assert_failure 1
	assert_equal "$stderr" "fcn-train: $T/bad: truncated model file (3000 bytes)"
	run_split fcn-train --resume "$T/train.st" --train "$T/train.st" --epochs 1 -o "$T/m"
	assert_failure 1
	[[ $stderr == "fcn-train: $T/train.st: not a model file"* ]] || fail "$stderr"
	run_split fcn-train "${BASE[@]}" --epochs 1 -o /nonexistent/dir/m
	assert_failure 1
	[[ $stderr == "fcn-train: /nonexistent/dir/m"* ]] || fail "$stderr"
	[ ! -e "$T/m" ]
}

@test "fcn-train: a progress bar with ETA when stderr is a terminal" {
	command -v script >/dev/null || skip "script(1) not installed"
	run script -qec "fcn-train ${BASE[*]} --epochs 1 -o $T/m >/dev/null" /dev/null
	assert_success
	assert_output --partial "epoch 1/1 ["
	assert_output --partial "ETA"
	[ -s "$T/m" ]
}

@test "fcn-train: the first examples of docs/fcn-train.md run as written" {
	cd "$T"
	sed -n '/^Train the small net/,/^The lab/p' "$ROOT/docs/fcn-train.md" |
		sed -n 's/^    //p' >ex.sh
	[ "$(wc -l <ex.sh)" -ge 6 ]
	sed -i "s#nets/#$ROOT/nets/#g; s#tests/ref/#$ROOT/tests/ref/#g; s#/usr/bin/python3#$PYTHON#" ex.sh
	run bash -e ex.sh
	assert_success
	[ "$(wc -l <log.tsv)" -eq 5 ]
	[ "$(wc -l <stream.tsv)" -eq 4 ]
}

# The weights, solver history and log of a model, for comparing models whose
# other fields (the epoch size) differ.
weights() {
	$PYTHON -c "import hashlib, msgpack, sys
m = msgpack.unpackb(open(sys.argv[1], 'rb').read())
print(hashlib.sha256(msgpack.packb([m['layers'], m['solver']['history'], m['log']])).hexdigest())" "$1"
}

@test "fcn-train --epoch-size: epochs are the next N records of the stream; a repeated set trains as in memory" {
	cat "$T/train.st" "$T/train.st" "$T/train.st" >"$T/three.st"
	fcn-train "${BASE[@]}" --epochs 3 --seed 5 -o "$T/mem" >"$T/mem.tsv" 2>/dev/null
	run_split fcn-train --net "$NET" --train - --lr 0.01 --scale 8 --threads 1 --batch 2 \
		--epoch-size 16 --seed 5 -o "$T/stream" <"$T/three.st"
	assert_success
	assert_equal "$(echo "$output" | cut -f1-7)" "$(cut -f1-7 "$T/mem.tsv")"
	[[ $stderr == *"fcn-train: epoch 3: train loss"* ]] || fail "$stderr"
	assert_equal "$(weights "$T/stream")" "$(weights "$T/mem")"
	# --epochs stops before the stream ends
	run_split fcn-train --net "$NET" --train "$T/three.st" --lr 0.01 --scale 8 --threads 1 \
		--batch 2 --epoch-size 16 --epochs 2 -o "$T/two"
	assert_success
	assert_equal "${#lines[@]}" 3
	# deterministic: the same stream and seed give the same model
	fcn-train --net "$NET" --train - --lr 0.01 --scale 8 --threads 1 --batch 2 \
		--epoch-size 16 --seed 5 -o "$T/again" <"$T/three.st" >/dev/null 2>&1
	cmp "$T/stream" "$T/again"
}

@test "fcn-train --epoch-size: a partial last epoch is trained as a shorter epoch, with a warning" {
	$GEN "$T/ten.st" 10 32 32 4
	cat "$T/train.st" "$T/ten.st" >"$T/26.st"
	run_split fcn-train --net "$NET" --train "$T/26.st" --lr 0.01 --scale 8 --threads 1 \
		--batch 2 --epoch-size 16 -o "$T/m"
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_equal "$(echo "${lines[2]}" | cut -f1,2)" "$(printf '2\t13')"
	[[ $stderr == *"fcn-train: $T/26.st: epoch 2: the stream ended after 10 of 16 records; trained on them as a shorter last epoch"* ]] || fail "$stderr"
	$PYTHON -c "import msgpack; m = msgpack.unpackb(open('$T/m', 'rb').read()); assert m['train']['epoch'] == 2 and m['train']['epoch_size'] == 16, m['train']"
	# a bad record in a later epoch names its place in the stream
	$PYTHON -c "import sys; sys.path.insert(0, '$ROOT/tests/ref')
from stream import read_stream, write_stream
r = read_stream('$T/26.st'); r[20]['label'][0, 1, 1] = 7; write_stream(r, '$T/bad.st')"
	run_split fcn-train --net "$NET" --train "$T/bad.st" --lr 0.01 --scale 8 --threads 1 \
		--batch 2 --epoch-size 16 -o "$T/m2"
	assert_failure 1
	[[ $stderr == *"fcn-train: $T/bad.st: record 21 (img4): label 7 at pixel 33 is not one of the net's 2 classes (or 255, ignored)" ]] || fail "$stderr"
	[ ! -e "$T/m2" ]
}

@test "fcn-train --epoch-size: --resume continues with the rest of the stream bit-identically" {
	cat "$T/train.st" "$T/train.st" >"$T/two.st"
	cat "$T/two.st" "$T/two.st" >"$T/four.st"
	opts=(--net "$NET" --lr 0.01 --scale 8 --threads 1 --batch 2 --epoch-size 16
		--solver adamw --weight-decay 0.01 --lr-policy poly --max-iter 40 --warmup 5)
	fcn-train "${opts[@]}" --train "$T/four.st" --snapshot 2 -o "$T/full" >/dev/null 2>&1
	[ -s "$T/full.epoch2" ]
	run_split fcn-train --resume "$T/full.epoch2" --train - --threads 1 --epochs 4 -o "$T/res" <"$T/two.st"
	assert_success
	cmp "$T/full" "$T/res"
	assert_usage_error fcn-train --resume "$T/full.epoch2" --train - --epoch-size 8 --epochs 4 -o "$T/x"
}

@test "fcn-train --epoch-size: memory holds an epoch's records, not the stream" {
	[ -x /usr/bin/time ] || skip "GNU time not installed"
	$GEN "$T/big.st" 40 128 128 3
	for i in 1 2 3 4 5; do cat "$T/big.st"; done >"$T/big5.st"
	opts=(--net "$NET" --lr 0.01 --scale 8 --threads 1 --batch 4 -o "$T/m")
	# (under AddressSanitizer freed memory waits in a quarantine; reuse it at once)
	rss() {
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 \
			/usr/bin/time -f %M -o "$T/rss" fcn-train "$@" >/dev/null 2>&1
		cat "$T/rss"
	}
	short=$(rss "${opts[@]}" --epoch-size 20 --train "$T/big.st")     # 40 records
	long=$(rss "${opts[@]}" --epoch-size 20 --train "$T/big5.st")     # 200 records
	whole=$(rss "${opts[@]}" --epochs 1 --train "$T/big5.st")         # all 200 held
	echo "peak RSS KB: short $short, long $long, whole $whole" >&3
	# 160 more records of 128x128 (80 kB each as f32 + label) would be 12.8 MB
	[ "$long" -lt $((short + 4000)) ] || fail "long $long vs short $short"
	[ "$whole" -gt $((short + 8000)) ] || fail "whole $whole vs short $short: the test cannot tell"
}

@test "fcn-train: val_dice and val_accuracy are dice-score's class-1 mean and pixel accuracy of fcn-predict's masks" {
	run_split fcn-train "${BASE[@]}" --val "$T/val.st" --epochs 2 -o "$T/m"
	assert_success
	got=$(echo "${lines[2]}" | cut -f6,7)
	fcn-predict -m "$T/m" "$T/val.st" | dice-score >"$T/score.tsv"
	want=$(awk -F'\t' '$1 == 1 { printf "%.4f\t%.4f", $NF, $3 }' "$T/score.tsv")
	have=$(echo "$got" | awk -F'\t' '{ printf "%.4f\t%.4f", $1, $2 }')
	assert_equal "$have" "$want"
}

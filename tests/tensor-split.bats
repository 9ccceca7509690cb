#!/usr/bin/env bats
# tensor-split: train/validation split by case, deterministic, atomic.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	export PYTHONPATH="$ROOT/tests/ref"
}

# mkcases [ORDER]: 15 records, cases A..E with 3 frames each, interleaved
# (ORDER=reverse writes them backwards); meta case and patient.
mkcases() {
	"$PYTHON" - "${1:-}" <<'PY'
import sys, numpy as np, stream
recs = [{"id": "%s/f%d" % (c, i), "image": np.full((1, 2, 3), i, np.int16),
         "meta": {"case": c, "patient": "P" + c, "i": i}, "opaque": {"k": [c]}}
        for i in range(3) for c in "ABCDE"]
if sys.argv[1] == "reverse":
    recs.reverse()
stream.write_stream(recs, "-")
PY
}

# cases FILE: the sorted distinct cases of a stream, space-separated.
cases() {
	"$PYTHON" -c '
import sys, stream
print(" ".join(sorted({r["meta"]["case"] for r in stream.read_stream(sys.argv[1])})))' "$1"
}

ids() {
	"$PYTHON" -c '
import sys, stream
print(" ".join(r["id"] for r in stream.read_stream(sys.argv[1])))' "$1"
}

@test "tensor-split --help documents every option on stdout" {
	run_split tensor-split --help
	assert_success
	assert_equal "$stderr" ""
	for opt in --val-cases --val-fraction --folds --fold --train --val --seed --key --verbose --help "default 0" "default case"; do
		assert_output --partial -- "$opt"
	done
}

@test "tensor-split: bad options are usage errors (exit 2, empty stdout)" {
	assert_usage_error tensor-split --bogus
	assert_usage_error tensor-split --train t.ts --val v.ts
	assert_usage_error tensor-split --train t.ts --val v.ts --val-cases A --val-fraction 0.2
	assert_usage_error tensor-split --train t.ts --val v.ts --folds 3
	assert_usage_error tensor-split --train t.ts --val v.ts --folds 3 --fold 3
	assert_usage_error tensor-split --train t.ts --val v.ts --folds 1 --fold 0
	assert_usage_error tensor-split --train t.ts --val v.ts --val-fraction 1.5
	assert_usage_error tensor-split --train t.ts --val v.ts --val-fraction 0.2 --seed -1
	assert_usage_error tensor-split --train t.ts --val v.ts --val-fraction 0.2 --seed x
	assert_usage_error tensor-split --val v.ts --val-cases A
	assert_usage_error tensor-split --train - --val - --val-cases A
	assert_usage_error tensor-split --train x.ts --val x.ts --val-cases A
	assert_usage_error tensor-split --train t.ts --val v.ts --val-cases ,
	[ ! -e t.ts ] && [ ! -e v.ts ]
}

@test "tensor-split --val-cases: named cases to val, the rest to train, order kept" {
	mkcases >in.ts
	run_split tensor-split --val-cases B,D --train t.ts --val v.ts in.ts
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	assert_equal "$(ids v.ts)" "B/f0 D/f0 B/f1 D/f1 B/f2 D/f2"
	assert_equal "$(ids t.ts)" "A/f0 C/f0 E/f0 A/f1 C/f1 E/f1 A/f2 C/f2 E/f2"
	run "$PYTHON" -c '
import stream
a = {r["id"]: r for r in stream.read_stream("in.ts")}
for f in ("t.ts", "v.ts"):
    for r in stream.read_stream(f):
        x = a.pop(r["id"])
        assert r["meta"] == x["meta"] and r["opaque"] == x["opaque"]
        assert (r["image"] == x["image"]).all()
print(len(a))'
	assert_output 0
}

@test "tensor-split: stdin and file give the same parts; '-' puts one part on stdout" {
	mkcases >in.ts
	tensor-split --val-cases A --train t1.ts --val v1.ts in.ts
	tensor-split --val-cases A --train t2.ts --val v2.ts <in.ts
	cmp t1.ts t2.ts
	cmp v1.ts v2.ts
	tensor-split --val-cases A --train - --val v3.ts <in.ts >t3.ts
	cmp t1.ts t3.ts
	cmp v1.ts v3.ts
}

# bats test_tags=slow
@test "tensor-split --val-fraction: seeded, repeatable, independent of record order" {
	mkcases >in.ts
	mkcases reverse >rev.ts
	tensor-split --val-fraction 0.4 --seed 5 --train t1.ts --val v1.ts in.ts
	tensor-split --val-fraction 0.4 --seed 5 --train t2.ts --val v2.ts in.ts
	cmp t1.ts t2.ts
	cmp v1.ts v2.ts
	tensor-split --val-fraction 0.4 --seed 5 --train t3.ts --val v3.ts rev.ts
	assert_equal "$(cases v1.ts)" "$(cases v3.ts)"
	run cases v1.ts
	assert_equal "$(wc -w <<<"$output")" 2
	# the seed matters: ten seeds do not all pick the same cases
	for s in 0 1 2 3 4 5 6 7 8 9; do
		tensor-split --val-fraction 0.2 --seed $s --train t.ts --val v.ts in.ts
		cases v.ts
	done | sort -u >picked
	[ "$(wc -l <picked)" -ge 3 ] || fail "seeds picked only: $(cat picked)"
}

@test "tensor-split --val-fraction: at least one case, never all, 0 and 1 exact" {
	mkcases >in.ts
	tensor-split --val-fraction 0.01 --train t.ts --val v.ts in.ts
	assert_equal "$(cases v.ts | wc -w)" 1
	tensor-split --val-fraction 0.99 --train t.ts --val v.ts in.ts
	assert_equal "$(cases v.ts | wc -w)" 4
	tensor-split --val-fraction 0 --train t.ts --val v.ts in.ts
	assert_equal "$(cases t.ts)" "A B C D E"
	[ ! -s v.ts ]
	tensor-split --val-fraction 1 --train t.ts --val v.ts in.ts
	assert_equal "$(cases v.ts)" "A B C D E"
	[ ! -s t.ts ]
}

# bats test_tags=slow
@test "tensor-split --folds: every case validates in exactly one fold, never both sides" {
	mkcases >in.ts
	for i in 0 1 2; do
		tensor-split --folds 3 --fold $i --seed 9 --train t$i.ts --val v$i.ts in.ts
		for c in $(cases v$i.ts); do
			grep -qw "$c" <<<"$(cases t$i.ts)" && fail "case $c on both sides"
		done
		cases v$i.ts
	done | tr ' ' '\n' | sort >allval
	assert_equal "$(tr '\n' ' ' <allval)" "A B C D E "
	tensor-split --folds 3 --fold 1 --seed 9 --train t.ts --val v.ts in.ts
	cmp v1.ts v.ts
}

@test "tensor-split --verbose: the cases of each side on stderr, nothing on stdout" {
	mkcases >in.ts
	run_split tensor-split --verbose --val-cases C --train t.ts --val v.ts in.ts
	assert_success
	assert_equal "$output" ""
	assert_equal "$stderr" "tensor-split: train: 4 cases, 12 records: A B D E
tensor-split: val: 1 case, 3 records: C"
}

@test "tensor-split --key: splits by another meta key" {
	mkcases >in.ts
	tensor-split --key patient --val-cases PE --train t.ts --val v.ts in.ts
	assert_equal "$(cases v.ts)" "E"
}

@test "tensor-split: a record without the key is an error naming it; no file touched" {
	mkcases >in.ts
	"$PYTHON" -c '
import stream
rs = stream.read_stream("in.ts"); del rs[4]["meta"]["case"]
stream.write_stream(rs, "-")' >nokey.ts
	echo old >t.ts
	run_split tensor-split --val-cases A --train t.ts --val v.ts nokey.ts
	assert_failure 1
	assert_equal "$output" ""
	assert_equal "$stderr" "tensor-split: nokey.ts: record 5 (E/f0): no meta 'case'"
	assert_equal "$(cat t.ts)" old
	[ ! -e v.ts ]
	[ -z "$(ls | grep tmp)" ] || fail "temporary files left: $(ls)"
}

@test "tensor-split: records are numbered across inputs in an error" {
	mkcases >in.ts
	"$PYTHON" -c '
import stream
rs = stream.read_stream("in.ts")[:3]; rs[1]["meta"]["case"] = ""
stream.write_stream(rs, "-")' >empty.ts
	run_split tensor-split --val-cases A --train t.ts --val v.ts in.ts empty.ts
	assert_failure 1
	assert_equal "$stderr" "tensor-split: empty.ts: record 17 (B/f0): meta 'case' is empty"
	[ ! -e t.ts ] && [ ! -e v.ts ]
}

@test "tensor-split: unknown --val-cases and too many folds are data errors" {
	mkcases >in.ts
	run_split tensor-split --val-cases A,Z --train t.ts --val v.ts in.ts
	assert_failure 1
	assert_equal "$stderr" "tensor-split: --val-cases: case 'Z' is not in the input"
	run_split tensor-split --folds 6 --fold 0 --train t.ts --val v.ts in.ts
	assert_failure 1
	assert_equal "$stderr" "tensor-split: --folds: 6 folds but only 5 cases in the input"
	[ ! -e t.ts ] && [ ! -e v.ts ]
}

@test "tensor-split: truncated and garbage input are errors; no output written" {
	mkcases >in.ts
	head -c -7 in.ts >trunc.ts
	run_split tensor-split --val-cases A --train t.ts --val v.ts trunc.ts
	assert_failure 1
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "tensor-split: trunc.ts: "* ]] || fail "stderr: $stderr"
	printf 'garbage\n' >g.ts
	run_split tensor-split --val-cases A --train t.ts --val v.ts <g.ts
	assert_failure 1
	[[ $stderr == "tensor-split: "* ]] || fail "stderr: $stderr"
	[ ! -e t.ts ] && [ ! -e v.ts ]
}

@test "tensor-split: several input streams are split as one" {
	mkcases >in.ts
	tensor-split --val-cases A --train t.ts --val v.ts in.ts in.ts
	assert_equal "$(ids v.ts)" "A/f0 A/f1 A/f2 A/f0 A/f1 A/f2"
}

@test "tensor-split: the example in docs/tensor-split.md runs as written" {
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/tensor-split.md" 1 >ex.sh
	run_split bash -e ex.sh
	assert_success
	assert_equal "$(cases val.ts)" "PH-2"
	assert_equal "$(cases train.ts)" "PH-1 PH-3"
	[[ $stderr == *"tensor-split: val: 1 case, 2 records"* ]] || fail "stderr: $stderr"
}

@test "tensor-split: an empty input gives two empty parts" {
	: >empty.ts
	run_split tensor-split --val-fraction 0.5 --train t.ts --val v.ts empty.ts
	assert_success
	[ -e t.ts ] && [ ! -s t.ts ] && [ -e v.ts ] && [ ! -s v.ts ]
	run_split tensor-split --folds 2 --fold 0 --train t.ts --val v.ts empty.ts
	assert_failure 1
	assert_equal "$stderr" "tensor-split: --folds: 2 folds but only 0 cases in the input"
}

@test "tensor-split: a failed write to stdout leaves the other part unwritten" {
	[ -w /dev/full ] || skip "no /dev/full"
	mkcases >in.ts
	run_split bash -c 'tensor-split --val-cases A --train - --val v.ts in.ts >/dev/full'
	assert_failure 1
	assert_equal "$stderr" "tensor-split: stdout: No space left on device"
	[ ! -e v.ts ]
}

#!/usr/bin/env bats
# pipelines/predict-shards.sh: a sharded, parallel prediction of an archive
# is byte for byte one run's output.
load helper

setup_file() {
	T=$BATS_FILE_TMPDIR
	cd "$T"
	phantom -o ph --cases 2 --size 64x64 --slices 2 --phases 5 >/dev/null
	sunnybrook-index --all-frames ph >list.tsv
	dcm2tensor --list list.tsv | contour2mask >train.ts
	fcn-train --net "$ROOT/nets/fcn-tiny.prototxt" --train train.ts \
		--lr 0.01 --threads 1 --epochs 1 --class-weights auto --seed 3 \
		-o model.fcn >/dev/null 2>&1
	dcm2tensor --list list.tsv | fcn-predict -m model.fcn --threads 1 >one.ts
}

setup() {
	T=$BATS_FILE_TMPDIR
	S="$ROOT/pipelines/predict-shards.sh"
	cd "$T"
}

@test "predict-shards.sh --help and usage errors" {
	run_split "$S" --help
	assert_success
	for o in --model --jobs --rows --threads --keep-going --help; do
		assert_output --partial -- "$o"
	done
	run_split "$S" list.tsv out.ts
	assert_equal "$status" 2
	assert_output ""
	[[ $stderr == "predict-shards.sh: "* ]] || fail "$stderr"
	run_split "$S" -m model.fcn -j 0 list.tsv out.ts
	assert_equal "$status" 2
	run_split "$S" -m model.fcn --bogus list.tsv out.ts
	assert_equal "$status" 2
	run_split "$S" -m model.fcn list.tsv
	assert_equal "$status" 2
}

@test "predict-shards.sh: xargs -P 2 over shards equals one run, byte for byte" {
	[ "$(tensor-info one.ts | grep -c "^PH-.*pred=u8")" -eq 20 ]
	for n in 1 3 7 20 64; do
		run_split "$S" -m model.fcn -j 2 -n "$n" list.tsv "sh$n.ts"
		assert_success
		cmp one.ts "sh$n.ts"
	done
	# the list from stdin, three at a time
	"$S" -m model.fcn -j 3 -n 4 - sh-stdin.ts <list.tsv 2>/dev/null
	cmp one.ts sh-stdin.ts
	assert_equal "$(ls "${TMPDIR:-/tmp}" | grep -c "predict-shards\.")" 0
}

@test "predict-shards.sh: a failing shard fails the run and leaves no OUT" {
	{ cat list.tsv; printf 'bad/1\tnope.dcm\t\tX\t1\n'; } >bad.tsv
	run_split "$S" -m model.fcn -j 2 -n 5 bad.tsv bad.ts
	assert_failure 1
	[[ $stderr == *"dcm2tensor: nope.dcm: "* ]] || fail "$stderr"
	[[ $stderr == *"predict-shards.sh: a shard failed"* ]] || fail "$stderr"
	[ ! -e bad.ts ]
	# --keep-going: the bad file is reported and skipped
	run_split "$S" -m model.fcn -k -j 2 -n 5 bad.tsv kg.ts
	assert_success
	cmp one.ts kg.ts
	run_split "$S" -m nomodel list.tsv x.ts
	assert_failure 1
	assert_equal "$stderr" "predict-shards.sh: nomodel: no such model file"
	head -1 list.tsv >empty.tsv
	run_split "$S" -m model.fcn empty.tsv x.ts
	assert_failure 1
	assert_equal "$stderr" "predict-shards.sh: empty.tsv: no images listed"
}

@test "predict-shards.sh: the example in docs/archives.md runs as written" {
	mkdir -p ex && cd ex
	cp ../model.fcn .
	"$ROOT/tests/ref/docpy.sh" "$ROOT/docs/archives.md" 1 >ex.sh
	PATH="$ROOT/pipelines:$PATH" run bash -e ex.sh
	assert_success
}

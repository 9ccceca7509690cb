#!/usr/bin/env bats
# Failure injection: every program on a small happy-path input, with each of
# read/fread/write/fwrite/fflush/fclose/fsync/rename/malloc/calloc/realloc
# failing at its Nth call (tests/shim/failshim.c, LD_PRELOAD), for every N
# the program reaches (sampled when there are many): a clean exit 1 with one
# line "prog: ..." on stderr, never a signal; exit 0 only with the whole
# output; output files atomic (the old one kept, no temp file left); stdout
# a prefix of the full output.  Then a closed pipe downstream, and kill -9 of
# fcn-train at random moments (the last model or snapshot stays loadable,
# --resume from it ends where an uninterrupted run does).
load helper

CALLS="read fread write fwrite fflush fclose fsync rename malloc calloc realloc"

setup() {
	T=$BATS_TEST_TMPDIR
	SHIM=${FAILSHIM:-$ROOT/build/tests/failshim.so}
	if [ "${LVSEG_SANITIZED:-0}" = 1 ] ||
		ldd "$BIN/tensor-cat" 2>/dev/null | grep -q 'libasan\|libubsan'; then
		skip "programs are built with sanitizers: an LD_PRELOAD shim conflicts with the ASan runtime"
	fi
	[ -f "$SHIM" ] || skip "failure shim not built ($SHIM): run make"
	GEN="$PYTHON $ROOT/tests/ref/numpy_fcn_data.py"
	NET=$ROOT/nets/fcn-tiny.prototxt
	[ -f "$T/a.st" ] || $GEN "$T/a.st" 4 16 16 1
	[ -f "$T/b.st" ] || $GEN "$T/b.st" 2 16 16 2
	TRAIN=(--net "$NET" --lr 0.01 --scale 8 --threads 1 --batch 2 --seed 3)
}

# The Ns to try of 1..total: all when few, else the first 8, the last 4
# and evenly spaced ones between (FAILINJECT_MAX: how many, default 24).
pick() {
	local total=$1 max=${FAILINJECT_MAX:-24}
	if [ "$total" -le "$max" ]; then
		seq 1 "$total"
	else
		{ seq 1 8; seq $((total - 3)) "$total"
		  awk -v t="$total" -v k=$((max - 12)) \
			'BEGIN { for (i = 1; i <= k; i++) print int(8 + i * (t - 12) / (k + 1)) }'
		} | sort -un
	fi
}

# inject PROG OUT CMD...: runs CMD under every sampled failure.  OUT is the
# output file CMD writes atomically ("-": stdout only); it holds "OLD" before
# each run.  Totals and failures found go to $T/log.  REPORT=1: stdout is a
# report (a summary may follow an error), not a stream to check as a prefix.
# NORM: a command that strips what varies from run to run (timings) from
# stdout before comparing it.
inject() {
	local prog=$1 out=$2 call n total rc nerr bad=0 dir
	shift 2
	echo OLD >"$T/old"
	[ "$out" = - ] || { dir=$(dirname "$out"); echo OLD >"$out"; }
	"$@" >"$T/ref.out" 2>"$T/ref.err" || fail "happy path failed: $(cat "$T/ref.err")"
	[ "$out" = - ] || cp "$out" "$T/ref.file"
	for call in $CALLS; do
		rm -f "$T/rep"
		[ "$out" = - ] || echo OLD >"$out"
		FAILSHIM_CALL=$call FAILSHIM_REPORT=$T/rep LD_PRELOAD=$SHIM "$@" \
			>/dev/null 2>&1 || true
		total=$(awk '{ print $2 }' "$T/rep" 2>/dev/null)
		echo "$prog $call total=${total:-?}" >>"$T/log"
		for n in $(pick "${total:-0}"); do
			[ "$out" = - ] || echo OLD >"$out"
			rc=0
			FAILSHIM_CALL=$call FAILSHIM_N=$n LD_PRELOAD=$SHIM "$@" \
				>"$T/o" 2>"$T/e" || rc=$?
			why=
			if [ $rc = 0 ]; then
				if [ -n "${NORM:-}" ]; then
					$NORM <"$T/o" >"$T/o.n"; $NORM <"$T/ref.out" >"$T/ref.n"
					cmp -s "$T/o.n" "$T/ref.n" || why="exit 0, stdout differs"
				else
					cmp -s "$T/o" "$T/ref.out" || why="exit 0, stdout differs"
				fi
				[ "$out" = - ] || cmp -s "$out" "$T/ref.file" ||
					why="exit 0, $out differs"
			elif [ $rc = 1 ]; then
				nerr=$(grep -vc "^$prog: epoch " "$T/e")
				[ "$nerr" = 1 ] || why="$nerr error lines"
				grep -qv "^$prog: " "$T/e" && why="stderr line not starting '$prog: '"
				[ -n "${REPORT:-}" ] || cmp -s "$T/o" "$T/ref.out" ||
					cmp -s -n "$(stat -c %s "$T/o")" "$T/o" "$T/ref.out" ||
					why="stdout not a prefix of the full output"
				[ "$out" = - ] || cmp -s "$out" "$T/old" ||
					cmp -s "$out" "$T/ref.file" || why="$out half-written"
			else
				why="exit $rc"
			fi
			if [ "$out" != - ] && ls "$dir" | grep -q '\.tmp'; then
				why="${why:+$why; }temp file left: $(ls "$dir" | grep '\.tmp' | head -1)"
				rm -f "$dir"/*.tmp*
			fi
			if [ -n "$why" ]; then
				echo "FAIL $call #$n: $why: $(head -c 300 "$T/e")" >>"$T/log"
				bad=$((bad + 1))
			fi
		done
	done
	cat "$T/log" >&3
	[ $bad = 0 ] || { grep FAIL "$T/log"; return 1; }
}

@test "failinject: tensor-info" {
	REPORT=1 inject tensor-info - tensor-info "$T/a.st"
}

@test "failinject: tensor-cat" {
	inject tensor-cat - tensor-cat "$T/a.st" "$T/b.st"
}

# bats test_tags=slow
@test "failinject: tensor-split (atomic outputs)" {
	mkdir -p "$T/out"
	echo OLD >"$T/out/val.st"
	inject tensor-split "$T/out/train.st" tensor-split --train "$T/out/train.st" \
		--val "$T/out/val.st" --val-fraction 0.5 "$T/a.st"
}

@test "failinject: contour2mask" {
	printf '1 1\n12 2\n10 12\n2 10\n' >"$T/c.txt"
	inject contour2mask - contour2mask --size 16x16 "$T/c.txt" "$T/c.txt"
}

@test "failinject: dice-score" {
	"$PYTHON" "$ROOT/tests/ref/numpy_dice.py" --make "$T/d.st" 3 2 9
	REPORT=1 inject dice-score - dice-score --per-record "$T/d.st"
}

# bats test_tags=slow
@test "failinject: fcn-train, tiny net, 1 epoch (atomic model)" {
	mkdir -p "$T/m"
	REPORT=1 NORM="cut -f1-7" inject fcn-train "$T/m/model" fcn-train "${TRAIN[@]}" --train "$T/a.st" \
		--epochs 1 -o "$T/m/model"
}

# bats test_tags=slow
@test "failinject: fcn-predict" {
	fcn-train "${TRAIN[@]}" --train "$T/a.st" --epochs 1 -o "$T/model" 2>/dev/null
	inject fcn-predict - fcn-predict -m "$T/model" --threads 1 "$T/b.st"
}

# A closed pipe downstream: the filter stops at once (an endless input,
# so it must not wait for the end) and says nothing, whether SIGPIPE kills
# it or (ignored) the write fails with EPIPE.
@test "failinject: a closed pipe ends a filter quietly and at once" {
	$GEN "$T/big.st" 50 64 64 4
	endless() { while cat "$T/big.st"; do :; done; }
	for mode in default ignore; do
		for cmd in tensor-cat contour2mask "fcn-predict -m $T/model --threads 1"; do
			[[ $cmd != fcn-predict* ]] || [ -f "$T/model" ] ||
				fcn-train "${TRAIN[@]}" --train "$T/a.st" --epochs 1 \
					-o "$T/model" >/dev/null 2>&1
			trap_cmd=:
			[ $mode = default ] || trap_cmd="trap '' PIPE"
			start=$(date +%s%N)
			endless | timeout 20 sh -c "$trap_cmd; exec $cmd" 2>"$T/e" |
				head -c 10 >/dev/null
			rc=${PIPESTATUS[1]}
			ms=$((($(date +%s%N) - start) / 1000000))
			echo "# SIGPIPE $mode: ${cmd%% *}: exit $rc after $ms ms" >&3
			[ "$rc" != 124 ] || fail "$mode, $cmd: still running after 20 s"
			[ ! -s "$T/e" ] || fail "$mode, $cmd: stderr: $(cat "$T/e")"
		done
	done
}

# kill -9 at random moments (snapshots every epoch, so many kills land in a
# save): every model file left loads, and --resume from the newest snapshot
# ends byte-identical to an uninterrupted run.  (A temp file of the save
# that was killed may stay behind: nothing runs after SIGKILL.)
# bats test_tags=slow
@test "failinject: kill -9 of fcn-train at random moments, 50 trials" {
	E=6
	run_opts=(--train "$T/a.st" --epochs $E --snapshot 1)
	mkdir -p "$T/ref"
	dur=
	for i in 1 2 3; do # kills spread over the fastest of three runs
		start=$(date +%s%N)
		fcn-train "${TRAIN[@]}" "${run_opts[@]}" -o "$T/ref/model" >/dev/null 2>&1
		ms=$((($(date +%s%N) - start) / 1000000))
		[ -n "$dur" ] && [ "$dur" -le $ms ] || dur=$ms
	done
	finished=0 resumed=0 early=0 tmps=0
	for trial in $(seq 1 50); do
		rm -rf "$T/k" && mkdir "$T/k"
		fcn-train "${TRAIN[@]}" "${run_opts[@]}" -o "$T/k/model" >/dev/null 2>&1 &
		pid=$!
		ms=$((RANDOM % (dur + 1)))
		sleep "$(printf '0.%03d' $((ms % 1000)))"
		[ $ms -lt 1000 ] || sleep $((ms / 1000))
		kill -9 $pid 2>/dev/null || true
		wait $pid 2>/dev/null || true
		ls "$T/k" | grep -q '\.tmp' && tmps=$((tmps + 1))
		for f in "$T/k"/model "$T/k"/model.epoch*; do
			[ -e "$f" ] && [[ $f != *.tmp* ]] || continue
			fcn-predict -m "$f" --threads 1 "$T/b.st" >/dev/null 2>"$T/e" ||
				fail "trial $trial (kill at $ms ms): $f does not load: $(cat "$T/e")"
		done
		if [ -e "$T/k/model" ]; then
			cmp "$T/k/model" "$T/ref/model" || fail "trial $trial: finished model differs"
			finished=$((finished + 1))
			continue
		fi
		last=$(ls "$T/k" | sed -n 's/^model\.epoch\([0-9]*\)$/\1/p' | sort -n | tail -1)
		if [ -z "$last" ]; then
			early=$((early + 1))
			continue
		fi
		fcn-train --resume "$T/k/model.epoch$last" --train "$T/a.st" --threads 1 \
			--epochs $E -o "$T/k/resumed" >/dev/null 2>"$T/e" ||
			fail "trial $trial: --resume from epoch $last failed: $(cat "$T/e")"
		cmp "$T/k/resumed" "$T/ref/model" ||
			fail "trial $trial: resumed from epoch $last differs from the uninterrupted run"
		resumed=$((resumed + 1))
	done
	echo "# full run ${dur} ms; 50 kills: $finished finished, $resumed resumed from a snapshot, $early before the first snapshot, $tmps left a temp file" >&3
	[ $resumed -gt 0 ] || fail "no kill landed between snapshots"
}

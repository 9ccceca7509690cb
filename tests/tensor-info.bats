#!/usr/bin/env bats
# tensor-info: the stream's pnmfile, and the tests of the format itself
# (docs examples, Python in both directions, truncation, garbage, memory).
load helper
load stream

setup() {
	setup_stream_py
	cd "$BATS_TEST_TMPDIR"
}

@test "tensor-info --help prints usage to stdout" {
	run_split tensor-info --help
	assert_success
	assert_output --partial "Usage: tensor-info"
	assert_equal "$stderr" ""
}

@test "tensor-info: bad option is a usage error" {
	assert_usage_error tensor-info --bogus
	assert_usage_error tensor-info --limit=abc
}

@test "tensor-info: the example in docs/stream-format.md runs as written" {
	cd "$ROOT"
	"$ROOT/tests/ref/docpy.sh" docs/stream-format.md 2 |
		sed "s|build/doc|$BATS_TEST_TMPDIR/doc|; s|demo.ts|$BATS_TEST_TMPDIR/demo.ts|g" >"$BATS_TEST_TMPDIR/ex.sh"
	run bash "$BATS_TEST_TMPDIR/ex.sh"
	assert_success
	assert_output "$("$ROOT/tests/ref/docpy.sh" docs/stream-format.md 3)"
}

@test "tensor-info: stats of a Python-written stream are right, file and stdin" {
	mkstream 3 4 5 >s.ts
	run_split tensor-info s.ts
	assert_success
	assert_equal "${#lines[@]}" 4
	want=$("$PYTHON" -c '
from stream_format import read_stream
for r in read_stream(open("s.ts","rb")):
    a = r["image"]
    print("%s\timage=i16:1x4x5 min=%.6g max=%.6g mean=%.6g" % (r["id"], a.min(), a.max(), a.mean()))
')
	run bash -c "tensor-info <s.ts | cut -f1,2"
	assert_output "$want
# 3 records, 0 errors; image=i16:1x4x5 (3), label=u8:1x4x5 (3)"
}

@test "tensor-info --json emits one object per record and a summary" {
	mkstream 2 >s.ts
	run_split tensor-info --json s.ts
	assert_success
	run "$PYTHON" -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["id"] == "c0/0" and rows[0]["tensors"][0]["shape"] == [1, 8, 8]
assert rows[0]["other"] == ["extra"] and rows[0]["meta"] == ["case", "k", "spacing"]
assert rows[-1]["summary"]["records"] == 2
print("ok")' <(tensor-info --json s.ts)
	assert_output ok
}

@test "stream: Python -> tensor-cat -> Python keeps every field exactly" {
	mkstream 5 16 >s.ts
	tensor-cat s.ts >out.ts
	run "$PYTHON" -c '
import numpy as np
from stream_format import read_stream
a = list(read_stream(open("s.ts","rb"))); b = list(read_stream(open("out.ts","rb")))
assert len(a) == len(b) == 5
for x, y in zip(a, b):
    assert x.keys() == y.keys(), (x.keys(), y.keys())
    for k in x:
        if isinstance(x[k], np.ndarray):
            assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k])
        else:
            assert x[k] == y[k], k
print("ok")'
	assert_output ok
}

@test "stream: cat of two streams is a stream; tensor-cat -n/-s pick records" {
	mkstream 2 >a.ts
	mkstream 3 >b.ts
	cat a.ts b.ts >ab.ts
	run tensor-info --summary ab.ts
	assert_output --partial "# 5 records, 0 errors"
	run bash -c "tensor-cat -s 1 -n 2 ab.ts | tensor-info | cut -f1"
	assert_output "c1/1
c0/0
# 2 records, 0 errors; image=i16:1x8x8 (2), label=u8:1x8x8 (2)"
}

# bats test_tags=slow
@test "stream: a cut at every byte offset is a clean shorter stream or 'truncated record'" {
	mkstream 3 2 >s.ts
	ends=$("$PYTHON" -c '
import msgpack
u = msgpack.Unpacker(open("s.ts","rb"), raw=False)
for _ in u: print(u.tell())')
	size=$(stat -c %s s.ts)
	bad=0
	for ((i = 0; i < size; i++)); do
		head -c "$i" s.ts >cut.ts
		rc=0
		tensor-info cut.ts >out.txt 2>err.txt || rc=$?
		if [[ $i -eq 0 ]] || grep -qx "$i" <<<"$ends"; then
			[[ $rc -eq 0 && -z $(cat err.txt) ]] || { echo "cut $i: rc $rc"; bad=1; }
		else
			[[ $rc -eq 1 && $(wc -l <err.txt) -eq 1 ]] &&
				grep -q '^tensor-info: cut.ts: truncated record' err.txt ||
				{ echo "cut $i: rc $rc $(cat err.txt)"; bad=1; }
		fi
	done
	[ "$bad" -eq 0 ]
}

@test "stream: random garbage is one error line, exit 1, never a crash" {
	for seed in $(seq 1 40); do
		"$PYTHON" -c "import random,sys; r=random.Random($seed); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(r.randrange(1,2000))))" >g.bin
		run_split tensor-info g.bin
		assert_equal "$status" 1
		assert_equal "${#stderr_lines[@]}" 1
		[[ $stderr == "tensor-info: g.bin: "* ]]
	done
}

@test "stream: malformed records are precise one-line errors" {
	"$PYTHON" -c '
import msgpack, sys
t = lambda dt, shape, n: {"dtype": dt, "shape": shape, "data": bytes(n)}
cases = {
 "size.ts": {"id": "a", "image": t("i16", [1, 2, 2], 7)},
 "dtype.ts": {"id": "a", "image": t("f64", [1, 2, 2], 32)},
 "noid.ts": {"image": t("u8", [1, 2, 2], 4)},
 "array.ts": [1, 2, 3],
}
for name, rec in cases.items():
    open(name, "wb").write(msgpack.packb(rec, use_bin_type=True))'
	run_split tensor-info size.ts
	assert_failure 1
	assert_equal "$stderr" "tensor-info: size.ts: record 1 at byte 0: tensor 'image': data has 7 bytes, shape needs 8 (i16 x 4)"
	run_split tensor-info dtype.ts
	assert_equal "$stderr" "tensor-info: dtype.ts: record 1 at byte 0: tensor 'image': unknown dtype 'f64'"
	run_split tensor-info noid.ts
	assert_equal "$stderr" "tensor-info: noid.ts: record 1 at byte 0: record has no 'id'"
	run_split tensor-info array.ts
	assert_equal "$stderr" "tensor-info: array.ts: record 1 at byte 0: record is not a msgpack map"
	run_split tensor-info --limit 100 size.ts
	assert_failure 1
	mkstream 1 16 >big.ts
	run_split tensor-info --limit 100 big.ts
	[[ $stderr == "tensor-info: big.ts: record 1 at byte 0: declares more than the limit of 100 bytes" ]]
	run_split tensor-info missing.ts
	assert_failure 1
	assert_equal "$stderr" "tensor-info: missing.ts: No such file or directory"
}

@test "tensor-info: a bad stream among several is reported and counted; the others are read" {
	"$PYTHON" -c '
import msgpack
open("size.ts", "wb").write(msgpack.packb({"id": "a", "image": {"dtype": "i16", "shape": [1, 2, 2], "data": bytes(7)}}, use_bin_type=True))'
	mkstream 2 >a.ts
	mkstream 3 16 >b.ts
	run_split tensor-info --summary a.ts size.ts b.ts
	assert_failure 1
	assert_equal "$stderr" "tensor-info: size.ts: record 1 at byte 0: tensor 'image': data has 7 bytes, shape needs 8 (i16 x 4)"
	assert_output --partial "# 5 records, 1 error;"
	# --limit holds for every input, not only the first
	run_split tensor-info --summary --limit 600 size.ts a.ts b.ts
	assert_failure 1
	assert_equal "${#stderr_lines[@]}" 2
	[[ ${stderr_lines[1]} == "tensor-info: b.ts: record 1 at byte 0: declares more than the limit of 600 bytes" ]] || fail "stderr: $stderr"
}

@test "stream: 1,000 records of 256x256 pass in memory bounded by a few records" {
	if ldd "$(command -v tensor-info)" | grep -q libasan; then
		skip "peak RSS is not meaningful under AddressSanitizer"
	fi
	mkstream 1000 256 >big.ts
	/usr/bin/time -f %M -o rss.txt tensor-info --summary big.ts >out.txt
	assert_equal "$(cat out.txt)" "# 1000 records, 0 errors; image=i16:1x256x256 (1000), label=u8:1x256x256 (1000)"
	rss_kb=$(cat rss.txt)
	# one record is 192 KiB; allow the program, its libraries and a few records
	echo "peak RSS ${rss_kb} KiB for a $(($(stat -c %s big.ts) / 1048576)) MiB stream" >&3
	[ "$rss_kb" -lt 16384 ]
}

#!/usr/bin/env bats
# tensor-cat, plus the build's install target (libstream as a library).
load helper
load stream

setup() {
	setup_stream_py
	cd "$BATS_TEST_TMPDIR"
}

@test "tensor-cat --help prints usage to stdout" {
	run_split tensor-cat --help
	assert_success
	assert_output --partial "Usage: tensor-cat"
}

@test "tensor-cat: bad options are usage errors" {
	assert_usage_error tensor-cat --nope
	assert_usage_error tensor-cat -n -1
	assert_usage_error tensor-cat --count=x
}

@test "tensor-cat: stdin and files, in order" {
	mkstream 2 >a.ts
	mkstream 3 >b.ts
	run bash -c "tensor-cat a.ts - <b.ts | tensor-info | cut -f1"
	assert_line --index 0 "c0/0"
	assert_line --index 2 "c0/0"
	assert_line --index 5 --partial "# 5 records, 0 errors"
}

@test "tensor-cat: a truncated input copies the whole records before it, then fails" {
	mkstream 3 >s.ts
	head -c -5 s.ts >cut.ts
	run_split bash -c "tensor-cat cut.ts >out.ts"
	assert_failure 1
	[[ $stderr == "tensor-cat: cut.ts: truncated record 3 at byte "* ]]
	run tensor-info --summary out.ts
	assert_success
	assert_output --partial "# 2 records, 0 errors"
}

@test "tensor-cat: a bad second input is named; the first one's records are copied" {
	mkstream 2 >a.ts
	mkstream 3 >s.ts
	head -c -5 s.ts >cut.ts
	run_split bash -c "tensor-cat a.ts cut.ts a.ts >out.ts"
	assert_failure 1
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "tensor-cat: cut.ts: truncated record 3 at byte "* ]] || fail "stderr: $stderr"
	run tensor-info --summary out.ts
	assert_success
	assert_output --partial "# 4 records, 0 errors"
	# --count: nothing after the last record wanted is read
	run_split bash -c "tensor-cat -n 4 a.ts cut.ts | tensor-info --summary"
	assert_success
	assert_output --partial "# 4 records, 0 errors"
}

@test "tensor-cat: a failed write to stdout is exit 1 with one line" {
	[ -w /dev/full ] || skip "no /dev/full"
	mkstream 50 64 >s.ts
	run_split bash -c "tensor-cat s.ts >/dev/full"
	assert_failure 1
	[[ $stderr == "tensor-cat: stdout: "* ]]
	assert_equal "${#stderr_lines[@]}" 1
}

@test "make install puts programs, st.h, libstream.a and libstream.pc in place" {
	if ldd "$(command -v tensor-cat)" | grep -q libasan; then
		skip "install is checked in the normal build"
	fi
	make -s -C "$ROOT" install PREFIX=/opt/lvseg DESTDIR="$BATS_TEST_TMPDIR/dest" >/dev/null
	d=$BATS_TEST_TMPDIR/dest/opt/lvseg
	[ -x "$d/bin/tensor-info" ] && [ -f "$d/include/st.h" ] && [ -f "$d/lib/libstream.a" ]
	# a client program builds against the installed library via pkg-config
	cat >client.c <<'C'
#include <st.h>
int main(void)
{
	struct st_err err;
	struct st_record *r = st_record_new("x", &err);
	int rc = st_write(stdout, r, &err);
	st_record_free(r);
	return rc != 0;
}
C
	sed -i "s|^prefix=.*|prefix=$d|" "$d/lib/pkgconfig/libstream.pc"
	export PKG_CONFIG_PATH=$d/lib/pkgconfig
	cc -o client client.c $(pkg-config --cflags --libs libstream)
	./client >one.ts
	run tensor-info one.ts
	assert_output "x	meta=
# 1 record, 0 errors"
}

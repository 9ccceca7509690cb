# helper.bash - loaded by every .bats file: bats-support/-assert, the
# programs on PATH, a scratch directory, and small shared helpers.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT=${LVSEG_ROOT:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
BIN=${BIN:-$ROOT/bin}
PATH="$BIN:$PATH"
PYTHON=${PYTHON:-/usr/bin/python3}
SHARED=${SHARED:-$ROOT/../shared/data/sunnybrook}
export ROOT BIN PATH PYTHON SHARED

# Skip (with a clear message) when the real Sunnybrook data is not there.
need_shared() {
	[ -d "$SHARED/dicoms" ] ||
		skip "real Sunnybrook data not found at $SHARED (../shared absent)"
}

bats_require_minimum_version 1.5.0

# run with stderr kept apart: $output is stdout, $stderr the rest.
run_split() {
	run --separate-stderr "$@"
}

# A usage error: exit 2, nothing on stdout, a message naming the program.
assert_usage_error() {
	run_split "$@"
	assert_equal "$status" 2
	assert_equal "$output" ""
	[[ $stderr == "$1:"* ]] || fail "stderr does not start with '$1:': $stderr"
}

#!/usr/bin/env bash
# run.sh - run the C unit tests (TAP) and every tests/*.bats file, print each
# result, and end with exactly "N passed, N failed[, N skipped]".
# Environment: BIN (programs), UNITS (unit test binaries), PYTHON;
# LVSEG_FAST=1 leaves out the bats tests tagged slow (# bats test_tags=slow:
# over ~3 s) or data (they need ../shared/data): make test-fast.
# Arguments: bats files to run instead of all of them (unit tests then only
# when UNITS is set).
set -u
cd "$(dirname "$0")/.." || exit 2
export BIN=${BIN:-$PWD/bin} PYTHON=${PYTHON:-/usr/bin/python3}
export LVSEG_ROOT=$PWD
export PATH="$BIN:$PATH"
pass=0 fail=0 skip=0
count() { # reads TAP on stdin, echoes it, updates the counters
	local line
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		"not ok "*) fail=$((fail + 1)) ;;
		"ok "*"# skip"*|"ok "*"# SKIP"*) skip=$((skip + 1)) ;;
		"ok "*) pass=$((pass + 1)) ;;
		esac
	done
}
for u in ${UNITS:-}; do
	echo "# unit: $u"
	out=$("$u" 2>&1)
	rc=$?
	count <<<"$out"
	if [ $rc -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
		echo "not ok - $u exited $rc"
		fail=$((fail + 1))
	fi
done
if [ $# -gt 0 ]; then files=("$@"); else files=(tests/*.bats); fi
if [ -e "${files[0]}" ]; then
	filter=()
	[ "${LVSEG_FAST:-0}" = 1 ] && filter=(--filter-tags '!slow,!data')
	out=$(bats --tap "${filter[@]}" "${files[@]}" 2>&1)
	rc=$?
	count <<<"$out"
	if [ $rc -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
		echo "not ok - bats exited $rc"
		fail=$((fail + 1))
	fi
fi
if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail -eq 0 ]

#!/usr/bin/env bats
# scripts/install-deps.sh installs every program and Python module the tests
# call: tests/ref/deps_check.py finds the command words and imports of the
# tests (and the scripts and doc examples they run) and maps each to its
# Debian package with dpkg -S.
load helper

setup() {
	cd "$BATS_TEST_TMPDIR"
	CHECK=("$PYTHON" "$ROOT/tests/ref/deps_check.py")
}

@test "deps: every program and Python module the tests use comes from install-deps.sh" {
	run_split "${CHECK[@]}" "$ROOT"
	[ "$status" -eq 0 ] || fail "$output$stderr"
	assert_equal "$stderr" ""
	# and it did look: GNU time, cmp, a Python reference
	run_split "${CHECK[@]}" --list "$ROOT"
	assert_success
	assert_line --regexp $'^/usr/bin/time\ttime\tlisted\t'
	assert_line --regexp $'^cmp\tdiffutils\tessential/required\t'
	assert_line --regexp $'^py:numpy\tpython3-numpy\tlisted\t'
}

@test "deps: without 'time' in the list the check fails, naming it" {
	sed 's/ time / /' "$ROOT/scripts/install-deps.sh" >deps.sh
	! grep -qw time <(grep -A3 '^pkgs=' deps.sh) || fail "time still listed"
	run_split "${CHECK[@]}" --install-deps deps.sh "$ROOT"
	assert_failure 1
	assert_line --regexp '^deps: /usr/bin/time \(tests/[a-z0-9-]+\.bats:[0-9]+\): /usr/bin/time is in package time, which install-deps\.sh does not install$'
	assert_equal "${#lines[@]}" 1
}

@test "deps: commands are found in pipes, substitutions and bash -c; not in Python, builtins or functions" {
	command -v git >/dev/null || skip "git is not installed"
	mkdir -p r/tests r/scripts
	printf 'pkgs="bats python3"\n' >r/scripts/install-deps.sh
	cat >r/tests/x.bats <<'EOF'
helper() { local a; read -r a; }
%test "x" {
	v="$(echo a | git --version)"
	[[ $v == a || -n $v ]]
	for ((i = 0; i < 2; i++)); do helper <<<x; done
	"$PYTHON" - <<'PY'
import nosuchmodule_x
sed cut
PY
	run bash -c "cmp a b | tr a b"
	case $v in
	git*) true ;;
	esac
}
EOF
	# (written as %test: bats would take the line for one of this file's tests)
	sed -i 's/^%test/@test/' r/tests/x.bats
	run_split "${CHECK[@]}" --list r
	assert_failure 1
	assert_line --regexp '^deps: git \(tests/x\.bats:3\): /usr/bin/git is in package git, which'
	assert_line --regexp '^deps: python module nosuchmodule_x \(tests/x\.bats\): not importable here$'
	assert_line --regexp $'^cmp\tdiffutils\t'
	assert_line --regexp $'^tr\tcoreutils\t'
	refute_line --regexp '^(sed|cut|helper|true|read|local)\b'
	assert_equal "$(grep -c '^deps: ' <<<"$output")" 2
}

# tests/lib.sh — sourced by every tests/t-*.sh.  One shape for tool tests:
# run a program with arguments and stdin, compare exit status, stdout and the exact
# error text; on failure show the difference.  Each script ends with t_done.
#
# Environment (set by tests/run): BIN (built programs), TOBJ (unit test binaries),
# FIXTURE (../shared/fixtures/openclip, may be absent), SRC (project root).
set -u
: "${SRC:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${BIN:=$SRC/bin}"
: "${FIXTURE:=$SRC/../shared/fixtures/openclip}"
export LC_ALL=C.UTF-8
# Debian's python3 (numpy, scikit-learn, h5py), not a pyenv or venv one earlier in PATH
[ -x /usr/bin/python3 ] && python3() { /usr/bin/python3 "$@"; }
t_pass=0 t_fail=0 t_skip=0
t_name=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/clipsort-$t_name.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

ok()      { t_pass=$((t_pass + 1)); printf 'ok   %s\n' "$1"; }
not_ok()  { t_fail=$((t_fail + 1)); printf 'FAIL %s\n' "$1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/     /'; return 0; }
skip()    { t_skip=$((t_skip + 1)); printf 'SKIP %s: %s\n' "$1" "$2"; }

# have_fixture: true when the OpenCLIP fixture is there; tests that need it call
# `need_fixture NAME || return` and are counted as skipped, loudly, when it is not.
need_fixture() {
	[ -f "$FIXTURE/manifest.json" ] && return 0
	skip "$1" "OpenCLIP fixture absent (expected at $FIXTURE)"
	return 1
}

# run [-i STDIN_FILE] CMD... : runs, sets $status, output in $TMP/out, $TMP/err
run() {
	in=/dev/null
	if [ "$1" = -i ]; then in=$2; shift 2; fi
	"$@" <"$in" >"$TMP/out" 2>"$TMP/err"
	status=$?
}

# expect NAME STATUS [STDOUT_FILE|-] [STDERR_TEXT]: check the last run()
expect() {
	name=$1 want=$2
	if [ "$status" != "$want" ]; then
		not_ok "$name" "exit status $status, expected $want" "stderr: $(head -c 2000 "$TMP/err")"
		return 1
	fi
	if [ $# -ge 3 ] && [ "$3" != - ]; then
		if ! cmp -s "$3" "$TMP/out"; then
			not_ok "$name" "stdout differs:" "$(diff "$3" "$TMP/out" | head -20)"
			return 1
		fi
	fi
	if [ $# -ge 4 ]; then
		if [ "$4" != "$(cat "$TMP/err")" ]; then
			not_ok "$name" "stderr differs:" "want: $4" "got:  $(cat "$TMP/err")"
			return 1
		fi
	fi
	ok "$name"
}

# expect_err_grep NAME STATUS REGEX: status and an extended regex on stderr
expect_err_grep() {
	if [ "$status" != "$2" ]; then
		not_ok "$1" "exit status $status, expected $2" "stderr: $(head -c 2000 "$TMP/err")"
		return 1
	fi
	if ! grep -Eq -- "$3" "$TMP/err"; then
		not_ok "$1" "stderr does not match /$3/:" "$(head -c 2000 "$TMP/err")"
		return 1
	fi
	ok "$1"
}

# check NAME COMMAND...: passes when the command succeeds
check() {
	name=$1; shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$name"; else not_ok "$name" "$(head -c 2000 "$TMP/check.out")"; fi
}

t_done() {
	printf '# %s: %d passed, %d failed, %d skipped\n' "$t_name" "$t_pass" "$t_fail" "$t_skip"
	printf '# counts %d %d %d\n' "$t_pass" "$t_fail" "$t_skip"
	[ "$t_fail" -eq 0 ]
}

# expect.sh: the check the command-line tests share (sourced by tests/test_cli.sh and
# tests/test_synth.sh): `expect NAME WANT_RC PATTERN -- command...` runs the command with
# no input and counts a pass when its exit code is WANT_RC and the extended regex PATTERN
# matches its stdout+stderr; a failure prints the output. The caller prints the totals
# ($passed, $failed).
passed=0
failed=0

# expect NAME WANT_RC PATTERN -- command...: exit code and a regex over stdout+stderr
expect() {
    local name=$1 want=$2 pattern=$3
    shift 4
    local out rc
    out=$("$@" 2>&1 </dev/null)
    rc=$?
    if [ "$rc" -eq "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc (want $want), output:" >&2
        head -c 2000 <<<"$out" >&2
        echo >&2
    fi
}

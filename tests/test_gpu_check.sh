#!/usr/bin/env bash
# test_gpu_check.sh: scripts/gpu-check.sh in its CPU mode (tiny shapes of every model it
# benchmarks, no --gpu): the table is written with numbers for every model and the steps
# listed; with --gpu-flag on a machine where `bench --gpu` cannot run, the failure is in
# the table and the exit code while the other steps still run; a spent time budget skips
# models; llama-bench's ratio columns where llama.cpp is built (skipped otherwise).
# Usage: tests/test_gpu_check.sh PATH/TO/BUILD-DIR   (CTest passes it; must hold celer)
set -u
build=$1
here=$(cd "$(dirname "$0")/.." && pwd)
script=$here/scripts/gpu-check.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# check NAME WANT_RC RC FILE PATTERN: an exit code and an extended regex over a file
check() {
    if [ "$3" -eq "$2" ] && grep -Eq -- "$5" "$4"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $1: exit $3 (want $2), no /$5/ in $4:" >&2
        head -c 3000 "$4" >&2
        echo >&2
    fi
}

if ! command -v python3 >/dev/null; then
    echo "SKIPPED: python3 is not installed (gpu-check.sh's table needs it)"
    echo "0 passed, 0 failed"
    exit 0
fi

# the whole CPU pipeline
env -u LLAMACPP_BIN "$script" --cpu --build-dir "$build" --model-dir "$tmp/models" -o "$tmp/all.md" >"$tmp/all.out" 2>&1
rc=$?
check cpu-exit 0 "$rc" "$tmp/all.out" "gpu-check: 0 failed step"
check cpu-table-written 0 "$rc" "$tmp/all.md" "^# celer GPU check \(cpu mode\)"
for label in "SmolLM2-135M shape \(tiny\) \| q4_1" "Llama-3-8B shape \(tiny\) \| q4_K" "Llama-3-8B shape \(tiny\) \| q8_0" \
    "Llama-3-8B shape \(tiny\) \| f16" "Llama-3-70B shape \(tiny\) \| q3q4"; do
    # size, tg, % of bandwidth, pp, pp-long, TTFT, answer: numbers; memory; status ok
    check "cpu-row $label" 0 "$rc" "$tmp/all.md" "^\| $label \|( [0-9.]+ \|){7} [0-9.]+ RSS \| ok \|$"
done
check cpu-steps 0 "$rc" "$tmp/all.md" "^- gpu-info: skipped: .*(without CUDA|no CUDA device)"
check cpu-summary 0 "$rc" "$tmp/all.md" "^[0-9]+ steps passed or skipped, 0 failed$"
check cpu-files-removed 0 "$rc" <(find "$tmp/models" -type f | wc -l) "^0$"
check cpu-logs 0 "$rc" <(ls "$tmp/all-logs") "gpu-check.log"

# a bench that cannot run: recorded, the rest goes on, the exit code says so
env -u LLAMACPP_BIN "$script" --cpu --build-dir "$build" --gpu-flag --models smollm2,8b-q4_k -o "$tmp/gpu.md" >"$tmp/gpu.out" 2>&1
rc=$?
if [ "$rc" = 0 ]; then # a machine where bench --gpu runs: nothing to see failing
    check gpu-flag-ran 0 "$rc" "$tmp/gpu.md" "\| ok \|$"
else
    check gpu-flag-failed 1 "$rc" "$tmp/gpu.md" "^\| SmolLM2-135M shape \(tiny\) .*\| bench-smollm2: FAILED \(exit [0-9]+\): celer bench"
    check gpu-flag-went-on 1 "$rc" "$tmp/gpu.md" "^- synth-8b-q4_k: ok"
    check gpu-flag-summary 1 "$rc" "$tmp/gpu.md" "^[0-9]+ steps passed or skipped, [1-9][0-9]* failed$"
fi

# no time left: skipped, said so
env -u LLAMACPP_BIN "$script" --cpu --build-dir "$build" --budget 0 --models 70b-q3q4 -o "$tmp/budget.md" >"$tmp/budget.out" 2>&1
rc=$?
check budget-skip 0 "$rc" "$tmp/budget.md" "^- 70b-q3q4: skipped: not enough of the 0 s budget left"
check bad-option 2 "$("$script" --bogus >"$tmp/bad.out" 2>&1; echo $?)" "$tmp/bad.out" "unknown option '--bogus'"

# llama.cpp's llama-bench beside celer, where it is built
llama_bin=${LLAMACPP_BIN:-$HOME/.cache/celer/llama.cpp/build/bin}
if [ -x "$llama_bin/llama-bench" ]; then
    LLAMACPP_BIN=$llama_bin "$script" --cpu --build-dir "$build" --models smollm2 -o "$tmp/llama.md" >"$tmp/llama.out" 2>&1
    rc=$?
    check llama-ratio 0 "$rc" "$tmp/llama.md" "^\| SmolLM2-135M shape \(tiny\) \| q4_1 \|( [0-9.]+ \|){7} [0-9.]+ RSS \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|"
else
    echo "SKIPPED: no llama-bench at $llama_bin (scripts/build-llamacpp.sh): the ratio columns were not checked"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

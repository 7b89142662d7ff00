#!/usr/bin/env bash
# Builds celer with AddressSanitizer + UndefinedBehaviorSanitizer and runs the whole
# test suite (unit, op-by-op, end to end against llama.cpp's committed golden outputs,
# command-line errors), then a short libFuzzer run of the GGUF parser.
# Usage: scripts/test.sh            (FUZZ_SECONDS=0 skips the fuzz run)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/get-model.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCELER_SANITIZE=ON >/dev/null
cmake --build build-test -j"$(nproc)"
if [ "${FUZZ_SECONDS:-20}" != 0 ] && [ -x scripts/fuzz.sh ]; then
    scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
cd build-test
# The last line is the summary, "N passed, N failed", for CI to read.
status=0
ctest --output-on-failure -j"$(nproc)" 2>&1 | tee ctest.log || status=$?
summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' ctest.log | tail -1 || true)
if [ -z "$summary" ]; then
    echo "0 passed, 1 failed"
    exit 1
fi
failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
total=$(echo "$summary" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
echo "$((total - failed)) passed, $failed failed"
[ "$status" = 0 ] && [ "$failed" = 0 ]

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
ctest --output-on-failure -j"$(nproc)"

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
# A portable build too (no -march=native: the scalar attention and the run-time kernel
# choice), with the op and kernel tests.
cmake -S . -B build-portable -DCMAKE_BUILD_TYPE=Release -DCELER_NATIVE=OFF >/dev/null
cmake --build build-portable -j"$(nproc)" --target test_ops test_kernels
build-portable/test_ops >/dev/null && build-portable/test_kernels >/dev/null ||
    { echo "portable build: test_ops or test_kernels failed"; echo "0 passed, 1 failed"; exit 1; }
# The CUDA sources, the CUDA-enabled celer and the CUDA tests compile for sm_80 and sm_90
# wherever nvcc is installed (no GPU needed); the tests run and, without a device, say
# "SKIPPED: no CUDA device" and pass (test_gpu_plan then checks the no-device error).
nvcc_bin=$(command -v nvcc || true)
[ -z "$nvcc_bin" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc_bin=/usr/local/cuda/bin/nvcc
if [ -n "$nvcc_bin" ]; then
    cmake -S . -B build-cuda -DCMAKE_BUILD_TYPE=Release -DCELER_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="80;90" \
        -DCMAKE_CUDA_COMPILER="$nvcc_bin" >/dev/null
    cmake --build build-cuda -j"$(nproc)" --target celer_cuda celer_cli test_gpu_plan test_cuda_ops test_cuda_forward
    for t in test_gpu_plan test_cuda_ops test_cuda_forward; do
        out=$(CELER_SOURCE_DIR="$PWD" CELER_MODEL="$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf" build-cuda/$t 2>&1) ||
            { tail -30 <<<"$out"; echo "CUDA build: $t failed"; echo "0 passed, 1 failed"; exit 1; }
        echo "CUDA build: $t: $(grep -E '^SKIPPED|PASSED' <<<"$out" | tr '\n' ' ' || true)"
    done
else
    echo "SKIPPED: CUDA compile check (no nvcc)"
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

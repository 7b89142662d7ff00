#!/usr/bin/env bash
# test-neon.sh: the NEON kernels (src/quant/kernels_neon.c) against the scalar reference
# on a machine that is not Arm: builds tests/test_kernels.c and the quantization sources
# for AArch64 with Debian's cross compiler (UBSan on) and runs it under qemu-aarch64.
# Skips, saying SKIPPED and exiting 0, when the cross tools are missing;
# scripts/setup-neon.sh installs them.
# Usage: scripts/test-neon.sh [BUILD_DIR]   (default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
cc=${AARCH64_CC:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64}
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
for tool in "$cc" "$qemu"; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIPPED: the NEON kernels' test: $tool is not installed (scripts/setup-neon.sh)"
        exit 0
    fi
done
if ! echo 'int main(void){return 0;}' | "$cc" -x c - -lcmocka -o /dev/null 2>/dev/null; then
    echo "SKIPPED: the NEON kernels' test: no AArch64 cmocka (libcmocka-dev:arm64; scripts/setup-neon.sh)"
    exit 0
fi
out=${1:-}
if [ -z "$out" ]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
"$cc" -std=c11 -O2 -g -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover=all -Isrc -Iinclude \
    -o "$out/test_kernels_aarch64" tests/test_kernels.c src/quant/kernels.c src/quant/kernels_neon.c src/quant/quant.c \
    src/quant/quant_ref.c src/quant/quant_ref_k.c src/quant/quant_float.c -lcmocka -lm -lpthread
echo "test-neon: running tests/test_kernels.c for AArch64 under $qemu"
"$qemu" -L "$sysroot" "$out/test_kernels_aarch64"

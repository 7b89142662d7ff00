#!/usr/bin/env bash
# setup-neon.sh: installs what scripts/test-neon.sh needs to test the NEON kernels on an
# x86 Debian machine: the AArch64 cross compiler, qemu's user-mode emulator and cmocka
# for arm64 (adds the arm64 architecture to dpkg).
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null \
    && dpkg -s libcmocka-dev:arm64 >/dev/null 2>&1; then
    echo "setup-neon: already installed"
    exit 0
fi
$SUDO dpkg --add-architecture arm64
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcmocka-dev:arm64 >/dev/null
echo "setup-neon: installed $(aarch64-linux-gnu-gcc -dumpversion) and $(qemu-aarch64 --version | head -1)"

#!/usr/bin/env bash
# setup-simde.sh: installs Debian's libsimde-dev (SIMD Everywhere: the x86 intrinsics,
# AVX-512 included, as portable C headers) for test_kernels_avx512, which checks the
# AVX-512 kernels on a CPU without AVX-512 and says SKIPPED without it.
set -euo pipefail
if [ -f /usr/include/simde/x86/avx512.h ]; then
    echo "setup-simde: libsimde-dev is installed"
    exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libsimde-dev >/dev/null
echo "setup-simde: libsimde-dev $(dpkg-query -W -f '${Version}' libsimde-dev) installed"

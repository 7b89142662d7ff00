#!/usr/bin/env bash
# setup-chromium.sh: installs Debian's chromium for the chat page's browser test
# (tests/test_webui.sh, which skips without it). Separate from setup.sh because it is
# large: about 130 packages.
set -euo pipefail
if command -v chromium >/dev/null; then
    echo "setup-chromium: $(chromium --version 2>/dev/null) is installed"
    exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
echo "setup-chromium: $(chromium --version 2>/dev/null) installed"

#!/usr/bin/env bash
# test_webui.sh: the chat page of `celer serve` in a real browser: headless Chromium
# (Debian's package; scripts/setup-chromium.sh installs it) loads /, sends a message and
# sees the streamed answer (tests/webui_browser.py, over the DevTools protocol).
# Skips, saying SKIPPED, when chromium or the model is missing.
# Usage: tests/test_webui.sh PATH/TO/celer   (CTest passes it; CELER_MODEL names the model)
set -u
celer=$1
model=${CELER_MODEL:-}
here=$(cd "$(dirname "$0")" && pwd)
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
    echo "SKIPPED: the chat page's browser test: chromium is not installed (scripts/setup-chromium.sh)"
    exit 0
fi
if [ -z "$model" ] || [ ! -f "$model" ]; then
    echo "SKIPPED: model not found at '${model}' (run scripts/get-model.sh)"
    exit 0
fi
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
"$celer" serve -m "$model" --port 0 -t 2 -c 1024 --max-seqs 4 >"$tmp/serve.log" 2>&1 &
pid=$!
port=
for _ in $(seq 1 300); do
    grep -qs "celer serve: ready" "$tmp/serve.log" && port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$tmp/serve.log" | grep -o '[0-9]*$')
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "FAIL: celer serve did not start:"
    cat "$tmp/serve.log"
    echo "0 passed, 1 failed"
    exit 1
fi
timeout 300 python3 "$here/webui_browser.py" --port "$port" --chromium "$chromium"

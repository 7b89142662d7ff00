#!/usr/bin/env bash
# test_serve.sh: `celer serve` end to end on the default model, on a free loopback port:
# health, models, chat and text completions whole and streamed (OpenAI's shapes, SSE
# ending with [DONE]), greedy output equal to `celer run --temp 0` while other streams
# run, 16 concurrent streams, a client that disconnects mid-stream (its KV freed, seen in
# /metrics), bad requests answered with the right status while a stream keeps going,
# prefix reuse on a second chat turn, a client that never reads, 0 KV blocks held at the
# end and a clean exit on SIGTERM (under ASan: no leak).
# With --load: the 64-stream load test instead (three rounds of 64 streams x 32 tokens with
# 16 random disconnects each: no failure, no KV block held after, memory stable from the
# end of round 2 to the end of round 3; round 1 is the warm-up).
# Usage: tests/test_serve.sh PATH/TO/celer [--load]   (CTest passes it; CELER_MODEL names the model)
# The client side is tests/serve_client.py (python3's standard library only).
set -u
celer=$1
mode=${2:-}
model=${CELER_MODEL:-}
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$model" ] || [ ! -f "$model" ]; then
    echo "SKIPPED: model not found at '${model}' (run scripts/get-model.sh)"
    exit 0
fi
if ! command -v python3 >/dev/null; then
    echo "SKIPPED: python3 not installed (scripts/setup.sh installs it)"
    exit 0
fi
tmp=$(mktemp -d)
log=$tmp/serve.log
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

key=test-key-$$
if [ "$mode" = --load ]; then
    sizes=(-c 4096 --max-seqs 64 -b 256)
else
    sizes=(-c 2048 --max-seqs 24 -b 128)
fi
# AddressSanitizer keeps up to 256 MiB of freed memory in quarantine, which would read as
# growth between the load test's rounds; a small quarantine keeps the comparison honest.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8 \
"$celer" serve -m "$model" --host 127.0.0.1 --port 0 -t 2 "${sizes[@]}" --api-key "$key" \
    --max-body 256 --timeout 5 >"$log" 2>&1 &
pid=$!
port=
for _ in $(seq 1 100); do
    port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "FAIL: celer serve did not start:"
    cat "$log"
    echo "0 passed, 1 failed"
    exit 1
fi

python3 "$here/serve_client.py" --port "$port" --key "$key" --celer "$celer" --model "$model" --pid "$pid" $mode
status=$?

# SIGTERM: streams end, the process exits 0 (AddressSanitizer reports leaks as a failure).
kill -TERM "$pid"
for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
wait "$pid"
rc=$?
pid=
if [ "$rc" -ne 0 ] || ! grep -q "celer serve: served" "$log"; then
    echo "FAIL shutdown: exit $rc, log:"
    tail -40 "$log"
    status=1
else
    echo "ok shutdown: $(grep 'celer serve: served' "$log")"
fi
exit $status

#!/usr/bin/env bash
# bench-serve-vs-llamacpp.sh: `celer serve` and llama.cpp's llama-server under the same
# load (scripts/bench-serve.py: N concurrent streaming clients, same prompts, same output
# lengths with ignore_eos), on the same model and thread count, alternating (celer,
# llama, celer, llama, ...) over several rounds so that drift in the machine's speed hits
# both. Each server is started fresh for each round on a free loopback port and stopped
# after. Prints a markdown table: output tokens/s, TTFT mean and p99, TPOT and E2E of each
# (mean over rounds) and the ratio celer / llama.cpp.
#
# Usage: scripts/bench-serve-vs-llamacpp.sh [options]
#   -m FILE            model (default: $CELER_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   -c N               concurrent clients = llama-server's parallel slots (env CONCURRENCY, default 16)
#   --num-prompts N    requests per run (env NUM_PROMPTS, default 64)
#   --input-len N      prompt words (env INPUT_LEN, default 128)
#   --output-len N     generated tokens per request (env OUTPUT_LEN, default 64)
#   -t N               threads of each server (env THREADS, default 2)
#   --rounds N         runs of each server (env ROUNDS, default 3)
#   -o FILE            also write the table to FILE (env OUT)
#   --celer PATH       the celer binary (env CELER, default build/celer, built if missing)
#   --no-build         do not run scripts/build-llamacpp.sh; use $LLAMACPP_DIR/build/bin as is
#   LLAMACPP_DIR       llama.cpp's cache directory (default ~/.cache/celer/llama.cpp)
#
# Both servers get the same KV room per client: llama-server splits -c over its -np slots,
# so it gets -c = N x (input + output + 64); celer's pool is the same total.
# Example: scripts/bench-serve-vs-llamacpp.sh -c 16 --rounds 3 -o docs/serve-vs-llamacpp.md
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "bench-serve-vs-llamacpp: $*" >&2; }
die() { say "$*"; exit 1; }

model=${CELER_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
conc=${CONCURRENCY:-16}
num=${NUM_PROMPTS:-64}
in_len=${INPUT_LEN:-128}
out_len=${OUTPUT_LEN:-64}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
out=${OUT:-}
celer=${CELER:-build/celer}
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        -m) model=$2; shift 2 ;;
        -c) conc=$2; shift 2 ;;
        --num-prompts) num=$2; shift 2 ;;
        --input-len) in_len=$2; shift 2 ;;
        --output-len) out_len=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        -o) out=$2; shift 2 ;;
        --celer) celer=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,28p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
done
for v in "$conc" "$num" "$in_len" "$out_len" "$threads" "$rounds"; do
    case "$v" in '' | *[!0-9]* | 0) die "expected a positive integer, got '$v'" ;; esac
done
[ -f "$model" ] || die "no model at $model (scripts/get-model.sh)"
[ -x "$celer" ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j2 --target celer_cli >/dev/null; }
llama_dir=${LLAMACPP_DIR:-$HOME/.cache/celer/llama.cpp}
if [ "$build" = 1 ]; then
    bin=$(scripts/build-llamacpp.sh)
else
    bin=$llama_dir/build/bin
fi
[ -x "$bin/llama-server" ] || die "no llama-server in $bin (run scripts/build-llamacpp.sh)"

ctx=$((conc * (in_len + out_len + 64)))
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_ready() { # port: /health 200 within 120 s
    for _ in $(seq 1 1200); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health" || true)
        [ "$code" = 200 ] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

run_one() { # name round
    local name=$1 round=$2 port
    port=$(free_port)
    if [ "$name" = celer ]; then
        "$celer" serve -m "$model" --port "$port" -t "$threads" -c "$ctx" --max-seqs "$conc" >"$tmp/$name-$round.log" 2>&1 &
    else
        "$bin/llama-server" -m "$model" --host 127.0.0.1 --port "$port" -t "$threads" -c "$ctx" -np "$conc" \
            >"$tmp/$name-$round.log" 2>&1 &
    fi
    pid=$!
    wait_ready "$port" || { tail -20 "$tmp/$name-$round.log" >&2; die "$name did not become ready"; }
    say "round $round: $name on port $port"
    python3 scripts/bench-serve.py --port "$port" --concurrency "$conc" --num-prompts "$num" --input-len "$in_len" \
        --output-len "$out_len" --seed "$round" --json "$tmp/$name-$round.json" >"$tmp/$name-$round.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    grep -E "failed requests|output throughput|TTFT" "$tmp/$name-$round.txt" | sed 's/^/    /' >&2
}

for r in $(seq 1 "$rounds"); do
    run_one celer "$r"
    run_one llama "$r"
done

python3 - "$tmp" "$rounds" "$conc" "$num" "$in_len" "$out_len" "$threads" "$model" >"$tmp/table.md" <<'EOF'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
conc, num, in_len, out_len, threads, model = sys.argv[3:9]
def load(name):
    return [json.load(open(f"{tmp}/{name}-{r}.json")) for r in range(1, rounds + 1)]
c, l = load("celer"), load("llama")
rows = [("output tokens/s", lambda s: s["output_tok_s"], False), ("TTFT mean (ms)", lambda s: 1e3 * s["ttft"]["mean"], True),
        ("TTFT p99 (ms)", lambda s: 1e3 * s["ttft"]["p99"], True), ("TPOT mean (ms)", lambda s: 1e3 * s["tpot"]["mean"], True),
        ("E2E mean (ms)", lambda s: 1e3 * s["e2e"]["mean"], True), ("failed requests", lambda s: s["failed"], True)]
print(f"{model}, {conc} concurrent streams, {num} requests of ~{in_len} prompt words and {out_len} tokens, "
      f"{threads} threads, {rounds} rounds alternating\n")
print("| metric | celer serve | llama-server | celer / llama |\n| --- | ---: | ---: | ---: |")
for name, f, lower_better in rows:
    a, b = statistics.mean(f(s) for s in c), statistics.mean(f(s) for s in l)
    ratio = f"{a / b:.2f}" if b else "-"
    print(f"| {name} | {a:.1f} | {b:.1f} | {ratio} |")
EOF
cat "$tmp/table.md"
[ -n "$out" ] && cp "$tmp/table.md" "$out"
exit 0

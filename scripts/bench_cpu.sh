#!/usr/bin/env bash
# Prompt and decode speed of `celer run` next to llama.cpp (llama-cpp-python) on the same
# GGUF, same threads, alternating runs. Needs a release build in build/ and
# `pip install llama-cpp-python numpy`.
# Usage: scripts/bench_cpu.sh [MODEL] [THREADS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
threads=${2:-2}
repeats=${3:-3}
n_predict=128
prompt=$(mktemp)
trap 'rm -f "$prompt"' EXIT
head -c 2000 tests/data/text/wiki.test.head.raw | tail -c 1400 >"$prompt"
echo "model $model, $threads threads, $n_predict generated tokens, $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for r in $(seq 1 "$repeats"); do
    ./build/celer run -m "$model" -f "$prompt" -n "$n_predict" --temp 0 --ignore-eos -t "$threads" 2>&1 >/dev/null |
        sed -n 's/.*celer: prompt \([0-9]*\) tokens in [0-9.]* ms (\([0-9.]*\) tok\/s.*generated \([0-9]*\) tokens in [0-9.]* ms (\([0-9.]*\) tok\/s.*/celer     prompt \1 tokens \2 tok\/s; generate \3 tokens \4 tok\/s/p'
    python3 scripts/bench_llamacpp.py "$model" "$prompt" "$n_predict" "$threads"
done

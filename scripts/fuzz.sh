#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz and fuzzes
# the GGUF reader/writer (fuzz/fuzz_gguf.c) for SECONDS seconds, starting from the seed
# files in fuzz/seeds (small GGUF files made with the writer). New inputs go to
# build-fuzz/corpus/gguf (kept between runs); a crash leaves build-fuzz/crash-* and makes
# this script fail. Reproduce one with: build-fuzz/fuzz_gguf build-fuzz/crash-<hash>
# usage: scripts/fuzz.sh [SECONDS]   (default 60)
set -euo pipefail

seconds=${1:-60}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]  (got '$seconds')" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCELER_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" --target fuzz_gguf -j"$(nproc)"

corpus="$build/corpus/gguf"
mkdir -p "$corpus"
# -max_len: room for mutated seeds; -timeout: a parse is microseconds, so 10 s means a hang.
"$build/fuzz_gguf" -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$build/" -print_final_stats=1 "$corpus" "$root/fuzz/seeds"

#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz and fuzzes
# each for its share of SECONDS: the GGUF reader/writer (fuzz/fuzz_gguf.c, seeds in
# fuzz/seeds: small GGUF files made with the writer) and the OpenAI request parser of
# `celer serve` (fuzz/fuzz_request.c, seeds in fuzz/seeds-request: a kind byte, then a
# JSON body). New inputs go to build-fuzz/corpus/<target> (kept between runs); a crash
# leaves build-fuzz/crash-* and makes this script fail. Reproduce one with:
# build-fuzz/fuzz_<target> build-fuzz/crash-<hash>
# usage: scripts/fuzz.sh [SECONDS]   (default 60, split evenly between the targets)
set -euo pipefail

seconds=${1:-60}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]  (got '$seconds')" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCELER_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" --target fuzz_gguf fuzz_request -j"$(nproc)"

# target, seed directory; each runs for an equal share of the time (at least 1 s)
targets=(gguf request)
share=$((seconds / ${#targets[@]}))
[ "$share" -lt 1 ] && share=1
for t in "${targets[@]}"; do
  seeds="$root/fuzz/seeds"
  [ "$t" != gguf ] && seeds="$root/fuzz/seeds-$t"
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  # -max_len: room for mutated seeds; -timeout: a parse is microseconds, so 10 s means a hang.
  "$build/fuzz_$t" -max_total_time="$share" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/" -print_final_stats=1 "$corpus" "$seeds"
done

#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz and fuzzes
# its targets for an equal share of SECONDS: the GGUF reader and writer (fuzz/fuzz_gguf.c),
# the safetensors reader (fuzz/fuzz_safetensors.c) and the OpenAI request parser of
# `celer serve` (fuzz/fuzz_request.c: a kind byte, then a JSON body), each starting from
# its seed files in fuzz/seeds/<target>. New inputs go to build-fuzz/corpus/<target> (kept
# between runs); a crash leaves build-fuzz/crash-* and makes this script fail. Reproduce
# one with: build-fuzz/fuzz_<target> build-fuzz/crash-<hash>
# usage: scripts/fuzz.sh [SECONDS]   (default 60, split evenly between the targets)
set -euo pipefail

seconds=${1:-60}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]  (got '$seconds')" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
targets=(gguf safetensors request)
each=$(( seconds / ${#targets[@]} ))
[ "$each" -lt 1 ] && each=1

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCELER_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" --target "${targets[@]/#/fuzz_}" -j"$(nproc)"

for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  echo "fuzz.sh: fuzz_$t for $each s"
  # -max_len: room for mutated seeds; -timeout: a parse is microseconds, so 10 s means a hang.
  "$build/fuzz_$t" -max_total_time="$each" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$build/" -print_final_stats=1 "$corpus" "$root/fuzz/seeds/$t"
done

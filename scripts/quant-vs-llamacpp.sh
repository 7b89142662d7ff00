#!/usr/bin/env bash
# quant-vs-llamacpp.sh: celer's selective quantization against llama.cpp's quantization
# mixes made with its importance matrix, at equal file size, on the default model.
#
# Stages (each skips work whose output exists; all files under $OUT):
#   1. ref       the reference: the source model's weights as F32 (celer quantize f32)
#   2. llama     llama-imatrix on the calibration text, then llama-quantize --imatrix to
#                each of llama.cpp's mixes and types ($LLAMA_TYPES)
#   3. celer     celer quantize --max-size <each llama file's size> (same calibration text,
#                measured once and saved with --save-stats), plus $CELER_BPW targets
#   4. eval      every file against the reference with llama-perplexity --kl-divergence
#                (an independent implementation) on $CHUNKS chunks of wiki.test.raw, ctx 512
#   5. table     docs/quant-results.tsv-style table on stdout and $OUT/results.tsv
#
# Usage: scripts/quant-vs-llamacpp.sh [stage ...]    (default: all stages)
# Environment: OUT (default: models/quant-cmp), CHUNKS (default: 12), CALIB (default:
# ../shared/data/wiki.valid.raw), THREADS (default: nproc), SRC (default model).
# Needs llama.cpp's tools: scripts/build-llamacpp.sh builds them into its cache.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-models/quant-cmp}
CHUNKS=${CHUNKS:-12}
CALIB=${CALIB:-../shared/data/wiki.valid.raw}
TEST=${TEST:-../shared/data/wiki.test.raw}
THREADS=${THREADS:-$(nproc)}
SRC=${SRC:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
BIN=${LLAMACPP_BIN:-$HOME/.cache/celer/llama.cpp/build/bin}
# llama.cpp's mixes; (pure-*) one type for every tensor, the embedding and head too; and
# (emb4-*) a mix with the (tied) embedding and head in IQ4_NL, llama.cpp's way to a file
# smaller than its mixes give this model
LLAMA_TYPES=${LLAMA_TYPES:-"Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q8_0 IQ4_NL IQ4_XS Q4_0 Q4_1 Q5_0 Q5_1
    pure-Q4_0 pure-IQ4_NL pure-Q4_1 pure-Q5_0 pure-Q5_1 pure-Q8_0 emb4-Q2_K emb4-Q3_K_M emb4-Q4_K_M emb4-Q5_K_M"}
CELER_BPW=${CELER_BPW:-"4.5 4.75 5.0 5.25"}
CELER=${CELER:-build/celer}
mkdir -p "$OUT"
say() { echo "quant-vs-llamacpp: $*" >&2; }
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(ref llama celer eval table)
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
for t in llama-imatrix llama-quantize llama-perplexity; do
    [ -x "$BIN/$t" ] || { say "$BIN/$t missing: run scripts/build-llamacpp.sh"; exit 1; }
done
[ -x "$CELER" ] || cmake --build build -j"$(nproc)" >/dev/null
REF=$OUT/ref-f32.gguf

if want ref && [ ! -f "$REF" ]; then
    say "reference: $SRC as F32"
    "$CELER" quantize -m "$SRC" -o "$REF" f32
fi

if want llama; then
    if [ ! -f "$OUT/imatrix.gguf" ]; then
        say "llama-imatrix on $CALIB"
        "$BIN/llama-imatrix" -m "$REF" -f "$CALIB" -c 512 --chunks 32 -t "$THREADS" -o "$OUT/imatrix.gguf" >"$OUT/imatrix.log" 2>&1
    fi
    for t in $LLAMA_TYPES; do
        f=$OUT/llama-$t.gguf
        [ -f "$f" ] && continue
        say "llama-quantize $t"
        extra=()
        [ "${t#pure-}" != "$t" ] && extra=(--pure)
        [ "${t#emb4-}" != "$t" ] && extra=(--token-embedding-type iq4_nl --output-tensor-type iq4_nl)
        base=${t#pure-}
        base=${base#emb4-}
        "$BIN/llama-quantize" "${extra[@]}" --imatrix "$OUT/imatrix.gguf" "$REF" "$f" "$base" "$THREADS" >"$OUT/llama-$t.log" 2>&1
    done
fi

if want celer; then
    # one calibration and measurement (saved), then a plan per size
    stats=$OUT/celer-stats.gguf
    measure() { if [ -f "$stats" ]; then echo --load-stats "$stats"; else echo -f "$CALIB" --save-stats "$stats"; fi; }
    declare -A seen=()
    for f in $(ls -S -r "$OUT"/llama-*.gguf); do
        t=$(basename "$f" .gguf); t=${t#llama-}
        size=$(stat -c %s "$f")
        [ -n "${seen[$size]:-}" ] && continue
        seen[$size]=1
        c=$OUT/celer-at-$t.gguf
        [ -f "$c" ] && continue
        say "celer quantize --max-size $size (the size of llama.cpp's $t)"
        # shellcheck disable=SC2046
        "$CELER" quantize -m "$SRC" -o "$c" --max-size "$size" $(measure) -t "$THREADS" >"$OUT/celer-at-$t.log" 2>&1 ||
            say "celer at $t: $(tail -1 "$OUT/celer-at-$t.log")"
    done
    for b in $CELER_BPW; do
        c=$OUT/celer-$b.gguf
        [ -f "$c" ] && continue
        say "celer quantize --target-bpw $b"
        # shellcheck disable=SC2046
        "$CELER" quantize -m "$SRC" -o "$c" --target-bpw "$b" $(measure) -t "$THREADS" >"$OUT/celer-$b.log" 2>&1 ||
            say "celer at $b bpw: $(tail -1 "$OUT/celer-$b.log")"
    done
fi

if want eval; then
    if [ ! -f "$OUT/base.kld" ]; then
        say "reference logits: llama-perplexity --kl-divergence-base, $CHUNKS chunks"
        "$BIN/llama-perplexity" -m "$REF" -f "$TEST" -c 512 --chunks "$CHUNKS" -t "$THREADS" --kl-divergence-base "$OUT/base.kld" \
            >"$OUT/base.log" 2>&1
    fi
    for f in "$OUT"/llama-*.gguf "$OUT"/celer-*.gguf; do
        [ -f "$f" ] || continue
        e=${f%.gguf}.kld.log
        [ -s "$e" ] && grep -q "Mean    KLD" "$e" && continue
        say "KL divergence of $(basename "$f")"
        "$BIN/llama-perplexity" -m "$f" -f "$TEST" -c 512 --chunks "$CHUNKS" -t "$THREADS" --kl-divergence-base "$OUT/base.kld" \
            --kl-divergence >"$e" 2>&1 || say "$(basename "$f"): llama-perplexity failed (see $e)"
    done
fi

if want table; then
    python3 scripts/quant_table.py "$OUT" | tee "$OUT/results.tsv"
fi

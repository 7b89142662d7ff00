#!/usr/bin/env bash
# test_synth.sh: `celer synth` as a user meets it: one-line errors with non-zero exits for
# bad input (unknown shape, type or mix, zero and negative dimensions, heads that do not
# divide, no output, an existing or unwritable output), the size-only dry run of the 70B
# mix, then small files written, loaded and benchmarked (the SmolLM2 shape with 2 layers,
# and a tiny Llama-3-like shape in every type), and the gguf Python package reading one
# back (skipped, loudly, where the package is missing).
# Usage: tests/test_synth.sh PATH/TO/celer   (CTest passes it)
set -u
celer=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/expect.sh"

tiny=(--n-embd 256 --n-ff 512 --n-head 4 --n-head-kv 2 --layers 2 --vocab 1000 --ctx 256)
expect help 0 "usage: celer synth" -- "$celer" synth --help
expect help-listed 0 "synth +write a model" -- "$celer" --help
expect unknown-like 2 "unknown shape 'llama9' for --like \(known: llama3-8b, " -- "$celer" synth --like llama9 -o "$tmp/x.gguf"
expect unknown-type 2 "unknown --type 'q4_k_m' \(known: f32, " -- "$celer" synth --like smollm2-135m --type q4_k_m -o "$tmp/x.gguf"
expect activation-type 2 "unknown --type 'q8_K'" -- "$celer" synth --like smollm2-135m --type q8_K -o "$tmp/x.gguf"
expect unknown-mix 2 "unknown --mix 'q2q3' \(known: q3q4\)" -- "$celer" synth --like llama3-8b --mix q2q3 -o "$tmp/x.gguf"
expect type-and-mix 2 "--type or --mix, not both" -- "$celer" synth --like llama3-8b --mix q3q4 --type q4_K -o "$tmp/x.gguf"
expect zero-dim 2 "--n-embd expects an integer in \[1, .*got '0'" -- "$celer" synth --like llama3-8b --n-embd 0 -o "$tmp/x.gguf"
expect negative-layers 2 "--layers expects an integer in \[1, .*got '-1'" -- "$celer" synth --like llama3-8b --layers -1 -o "$tmp/x.gguf"
expect garbage-dim 2 "--n-ff expects an integer" -- "$celer" synth --like llama3-8b --n-ff 12k -o "$tmp/x.gguf"
expect heads-divide 2 "--n-head 7 does not divide --n-embd 256" -- "$celer" synth "${tiny[@]}" --n-head 7 -o "$tmp/x.gguf"
expect kv-heads-divide 2 "--n-head-kv 3 does not divide --n-head 4" -- "$celer" synth "${tiny[@]}" --n-head-kv 3 -o "$tmp/x.gguf"
expect small-vocab 2 "--vocab 50 is too small" -- "$celer" synth "${tiny[@]}" --vocab 50 -o "$tmp/x.gguf"
expect no-shape 2 "give --like SHAPE .* --n-embd is missing" -- "$celer" synth --vocab 1000 -o "$tmp/x.gguf"
expect no-output 2 "no output file" -- "$celer" synth --like llama3-8b
expect unknown-option 2 "unknown option '--bogus'" -- "$celer" synth --bogus
expect missing-value 2 "option --like needs a value" -- "$celer" synth --like
expect unwritable 1 "$tmp/no/such/dir" -- "$celer" synth "${tiny[@]}" -o "$tmp/no/such/dir/x.gguf"
expect nothing-left 2 "No such file" -- ls "$tmp/no"

# celer gpu-info: a build without CUDA, or a machine without a device, says so and exits 1
if out=$("$celer" gpu-info --gemm-n 1024 2>&1); then
    expect gpu-info 0 "copy: +[0-9]+ GB/s" -- "$celer" gpu-info --gemm-n 1024
else
    expect gpu-info 1 "built without CUDA|no CUDA device" -- "$celer" gpu-info
fi
expect gpu-info-help 0 "usage: celer gpu-info" -- "$celer" gpu-info --help
expect gpu-info-bad 2 "--gemm-n expects an integer" -- "$celer" gpu-info --gemm-n -5

# a file larger than any disk is refused before anything is written; a write that fails
# midway (here: a file size limit) leaves nothing behind
huge=(--like llama3-70b --type f32 --n-embd 131072 --n-head 1024 --n-head-kv 64 --n-ff 1048576)
expect disk-space 1 "not enough disk space: the file needs [0-9.]+ GB, [0-9.]+ GB free in $tmp" -- "$celer" synth "${huge[@]}" -o "$tmp/huge.gguf"
expect disk-space-nothing 2 "No such file" -- ls "$tmp/huge.gguf.tmp"
expect write-fails 1 "limit.gguf.tmp: (cannot reserve|write failed after).*File too large" -- \
    bash -c 'trap "" XFSZ; ulimit -f 2000 && exec "$@"' _ "$celer" synth --like smollm2-135m --layers 4 -o "$tmp/limit.gguf"
expect write-fails-nothing 2 "No such file" -- ls "$tmp/limit.gguf" "$tmp/limit.gguf.tmp"

# the big shapes, size only: nothing is written
expect dry-70b-mix 0 "size: +43\.5[0-9]* GB .* 4\.9[0-9]* bits per weight" -- "$celer" synth --like llama3-70b --mix q3q4 --dry-run
expect dry-70b-plan 0 "ffn_gate: q3_K x40, q4_K x40" -- "$celer" synth --like llama3-70b --mix q3q4 --dry-run
expect dry-8b 0 "size: +4\.52[0-9] GB" -- "$celer" synth --like llama3-8b --type Q4_K --dry-run
expect dry-fallback 0 "note: +181 matrices fell back" -- "$celer" synth --like smollm2-135m --type q4_K --dry-run

# a small file: written, refused when it exists, overwritten with --force, loaded and run
small=$tmp/smollm2-2l.gguf
expect smollm2-write 0 "wrote: .*smollm2-2l.gguf" -- "$celer" synth --like smollm2-135m --layers 2 -o "$small"
expect no-tmp-left 2 "No such file" -- ls "$small.tmp"
expect exists 1 "exists \(--force overwrites it\)" -- "$celer" synth --like smollm2-135m --layers 2 -o "$small"
expect force 0 "wrote:" -- "$celer" synth --like smollm2-135m --layers 2 --seed 5 -o "$small" --force
expect inspect-name 0 "general.name.*random smollm2-135m q4_K" -- "$celer" inspect "$small"
expect inspect-plan 0 "celer.synth.plan" -- "$celer" inspect "$small"
expect run 0 "." -- "$celer" run -m "$small" -p "the cat" -n 4 --temp 0 -t 2
bench=(-p 16 -n 8 -r 1 --answer 8 --no-probe -t 2)
# bench's JSON: every row ran and has a positive, finite speed
bench_ok() {
    "$celer" bench -m "$1" "${bench[@]}" -o json 2>"$tmp/bench.err" >"$tmp/bench.json" || { cat "$tmp/bench.err"; return 1; }
    python3 -c '
import json, math, sys
rows = json.load(open(sys.argv[1]))
assert [r["test"] for r in rows][:2] == ["pp16", "tg8"], rows
assert all(math.isfinite(r["avg_ts"]) and r["avg_ts"] > 0 for r in rows), rows
print("bench ok", rows[1]["model_type"].split(" (")[0])' "$tmp/bench.json"
}
expect smollm2-bench 0 "bench ok random smollm2-135m" -- bench_ok "$small"

# a tiny Llama-3-like shape in every type, and the mix
for type in f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl; do
    expect "write-$type" 0 "plan: .*ffn_down: $type" -- "$celer" synth "${tiny[@]}" --type "$type" -o "$tmp/tiny-$type.gguf"
    expect "bench-$type" 0 "bench ok random custom $type" -- bench_ok "$tmp/tiny-$type.gguf"
done
expect write-mix 0 "ffn_gate: q3_K; ffn_up: q3_K; ffn_down: q4_K; output: q6_K" -- "$celer" synth "${tiny[@]}" --mix q3q4 -o "$tmp/tiny-mix.gguf"
expect bench-mix 0 "bench ok random custom q3q4" -- bench_ok "$tmp/tiny-mix.gguf"

# the gguf Python package (llama.cpp's own reader) reads the files back
if python3 -c "import gguf" 2>/dev/null; then
    gguf_check() {
        python3 - "$@" <<'PY'
import sys, gguf
path, n_layer, n_embd, n_vocab, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
r = gguf.GGUFReader(path)
names = {t.name: t for t in r.tensors}
assert len(names) == 1 + 9 * n_layer + 1 + ("output.weight" in names), len(names)
assert list(names["token_embd.weight"].shape) == [n_embd, n_vocab], names["token_embd.weight"].shape
tokens = r.fields["tokenizer.ggml.tokens"]
assert len(tokens.data) == n_vocab, len(tokens.data)
name = r.fields["general.name"].contents()
assert name.startswith("random"), name
for pair in want:  # tensor=TYPE
    tensor, type_name = pair.split("=")
    got = gguf.GGMLQuantizationType(names[tensor].tensor_type).name
    assert got == type_name, f"{tensor}: {got}, expected {type_name}"
print("gguf ok", len(names), "tensors")
PY
    }
    expect gguf-smollm2 0 "gguf ok 20 tensors" -- gguf_check "$small" 2 576 49152 token_embd.weight=Q5_0 blk.1.ffn_down.weight=Q4_K blk.0.attn_norm.weight=F32
    expect gguf-tiny-q6 0 "gguf ok 21 tensors" -- gguf_check "$tmp/tiny-q6_K.gguf" 2 256 1000 output.weight=Q6_K blk.0.attn_q.weight=Q6_K
    expect gguf-tiny-bf16 0 "gguf ok" -- gguf_check "$tmp/tiny-bf16.gguf" 2 256 1000 blk.1.ffn_up.weight=BF16
    expect gguf-tiny-mix 0 "gguf ok" -- gguf_check "$tmp/tiny-mix.gguf" 2 256 1000 blk.0.attn_v.weight=Q8_0 blk.1.ffn_gate.weight=Q3_K blk.1.ffn_down.weight=Q4_K output.weight=Q6_K
else
    echo "SKIPPED: the gguf Python package is not installed (pip install gguf): files not read back by it" >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

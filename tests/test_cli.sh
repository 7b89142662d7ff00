#!/usr/bin/env bash
# test_cli.sh: the `celer` command as a user meets it: help texts, one-line errors with
# non-zero exits for bad input, and a real run on the default model.
# Usage: tests/test_cli.sh PATH/TO/celer   (CTest passes it; CELER_MODEL names the model)
set -u
celer=$1
model=${CELER_MODEL:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
source "$(dirname "$0")/expect.sh"

expect help 0 "run +generate" -- "$celer" --help
expect no-command 2 "usage: celer" -- "$celer"
expect unknown-command 2 "unknown command 'fly'" -- "$celer" fly
for cmd in run inspect ppl serve; do
    expect "$cmd-help" 0 "usage: celer $cmd" -- "$celer" "$cmd" --help
done
expect serve-help-defaults 0 "--host ADDR .*default: 127.0.0.1" -- "$celer" serve --help
expect serve-bad-port 2 "--port expects an integer in \[0, 65535\], got '70000'" -- "$celer" serve --port 70000
expect serve-bad-seqs 2 "--max-seqs expects an integer" -- "$celer" serve --max-seqs 0
expect serve-unknown-option 2 "unknown option '--bogus'" -- "$celer" serve --bogus
expect serve-missing-model 1 "$tmp/none.gguf" -- "$celer" serve -m "$tmp/none.gguf" --port 0
expect serve-bad-host 1 "cannot use host 'no.such.host.invalid'" -- "$celer" serve --host no.such.host.invalid --port 0
expect run-help-defaults 0 "--top-k K .*default: 40" -- "$celer" run --help
expect unknown-option 2 "unknown option '--bogus'" -- "$celer" run --bogus -p hi
expect missing-value 2 "option -n needs a value" -- "$celer" run -p hi -n
expect bad-int 2 "-n expects an integer" -- "$celer" run -p hi -n abc
expect bad-threads 2 "-t expects an integer in \[1, 1024\], got '0'" -- "$celer" run -p hi -t 0
expect bad-temp 2 "--temp expects a number" -- "$celer" run -p hi --temp -1
expect bad-top-p 2 "--top-p expects a number in \[0, 1\]" -- "$celer" run -p hi --top-p 1.5
expect no-prompt 2 "no prompt" -- "$celer" run -m "$tmp/x.gguf"
expect missing-model 1 "$tmp/none.gguf" -- "$celer" run -m "$tmp/none.gguf" -p hi
printf 'this is not a model' >"$tmp/text.gguf"
expect not-gguf 1 "text.gguf" -- "$celer" run -m "$tmp/text.gguf" -p hi
expect inspect-missing 1 "$tmp/none.gguf" -- "$celer" inspect "$tmp/none.gguf"
expect inspect-no-file 2 "no file given" -- "$celer" inspect
expect ppl-no-file 2 "no text" -- "$celer" ppl
expect ppl-missing-text 1 "cannot open" -- "$celer" ppl -f "$tmp/none.txt"

# celer bench: bad input is refused before any model is loaded (exit 2), files after (exit 1)
expect bench-help 0 "usage: celer bench.*" -- "$celer" bench --help
expect bench-help-pg 0 "-pg P,N .*default:" -- "$celer" bench --help
expect bench-zero-prompt 2 "-p expects an integer in \[1, " -- "$celer" bench -p 0
expect bench-negative-gen 2 "-n expects an integer in \[1, .*got '-3'" -- "$celer" bench -n -3
expect bench-zero-reps 2 "-r expects an integer in \[1, 1000\], got '0'" -- "$celer" bench -r 0
expect bench-negative-threads 2 "-t expects an integer" -- "$celer" bench -t -2
expect bench-negative-answer 2 "--answer expects an integer" -- "$celer" bench --answer -1
expect bench-garbage-number 2 "-p expects an integer .*got '12x'" -- "$celer" bench -p 12x
expect bench-list 2 "-p expects an integer .*got '64,128'" -- "$celer" bench -p 64,128
expect bench-huge-number 2 "-n expects an integer" -- "$celer" bench -n 99999999999999999999
expect bench-bad-pg 2 "-pg expects two positive integers" -- "$celer" bench -pg 8
expect bench-half-zero-pg 2 "-pg expects two positive integers" -- "$celer" bench -pg 0,4
expect bench-garbage-pg 2 "-pg \(generated\) expects an integer" -- "$celer" bench -pg 8,x
expect bench-bad-format 2 "unknown output format 'xml'" -- "$celer" bench -o xml
expect bench-missing-value 2 "option -o needs a value" -- "$celer" bench -o
expect bench-unknown-option 2 "unknown option '--bogus'" -- "$celer" bench --bogus
expect bench-missing-model 1 "$tmp/none.gguf" -- "$celer" bench -m "$tmp/none.gguf" -p 8 -n 4 -r 1
expect bench-not-gguf 1 "not a GGUF file" -- "$celer" bench -m "$tmp/text.gguf" -p 8 -n 4 -r 1
expect bench-directory 1 "config.json is missing" -- "$celer" bench -m "$tmp" -p 8 -n 4 -r 1

# Hugging Face directories: errors, then a tiny random Llama written here (Python's
# standard library only) that inspect shows and run runs
mkdir -p "$tmp/hf-empty" "$tmp/hf-tiny"
expect hf-no-config 1 "hf-empty: config.json is missing" -- "$celer" run -m "$tmp/hf-empty" -p hi -n 2
expect inspect-hf-no-config 1 "hf-empty: config.json is missing" -- "$celer" inspect "$tmp/hf-empty"
python3 - "$tmp/hf-tiny" <<'PY'
import json, os, random, struct, sys
d, e, ff, heads, layers = sys.argv[1], 32, 48, 4, 2
rng = random.Random(7)
byte_cps = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cps = {b: b for b in byte_cps}
n = 0
for b in range(256):
    if b not in cps:
        cps[b] = 256 + n
        n += 1
vocab = {chr(cps[b]): b for b in range(256)}
vocab["<|endoftext|>"] = 256
tensors = [("model.embed_tokens.weight", [257, e]), ("model.norm.weight", [e])]
for i in range(layers):
    p = f"model.layers.{i}."
    tensors += [(p + "input_layernorm.weight", [e]), (p + "post_attention_layernorm.weight", [e])]
    tensors += [(p + f"self_attn.{m}_proj.weight", [e, e]) for m in "qkvo"]
    tensors += [(p + "mlp.gate_proj.weight", [ff, e]), (p + "mlp.up_proj.weight", [ff, e]), (p + "mlp.down_proj.weight", [e, ff])]
header, blobs, off = {}, [], 0
for name, shape in tensors:
    count = shape[0] * (shape[1] if len(shape) > 1 else 1)
    vals = [1.0 + 0.1 * rng.uniform(-1, 1) if len(shape) == 1 else 0.2 * rng.uniform(-1, 1) for _ in range(count)]
    blob = struct.pack(f"<{count}f", *vals)
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blob)]}
    blobs.append(blob)
    off += len(blob)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
config = {"architectures": ["LlamaForCausalLM"], "hidden_size": e, "intermediate_size": ff, "num_hidden_layers": layers,
          "num_attention_heads": heads, "vocab_size": 257, "tie_word_embeddings": True, "max_position_embeddings": 128}
tokenizer = {"added_tokens": [{"id": 256, "content": "<|endoftext|>", "special": True}],
             "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
             "model": {"type": "BPE", "vocab": vocab, "merges": []}}
json.dump(config, open(os.path.join(d, "config.json"), "w"))
json.dump(tokenizer, open(os.path.join(d, "tokenizer.json"), "w"))
json.dump({"eos_token": "<|endoftext|>"}, open(os.path.join(d, "tokenizer_config.json"), "w"))
PY
expect inspect-hf 0 "Hugging Face model imported as GGUF: .* 20 tensors" -- "$celer" inspect "$tmp/hf-tiny"
expect inspect-hf-permuted 0 "blk.1.attn_q.weight +f32 +32 x 32" -- "$celer" inspect "$tmp/hf-tiny"
expect run-hf 0 "hf-tiny \(llama, .* 2 layers" -- "$celer" run -m "$tmp/hf-tiny" -p "hello" -n 4 --temp 0 -t 2
rm "$tmp/hf-tiny/tokenizer.json"
expect run-hf-no-tokenizer 1 "hf-tiny: tokenizer.json is missing" -- "$celer" run -m "$tmp/hf-tiny" -p "hello" -n 4

if [ -n "$model" ] && [ -f "$model" ]; then
    expect inspect-model 0 "272 tensors" -- "$celer" inspect "$model"
    expect run-greedy 0 "Paris" -- "$celer" run -m "$model" -p "The capital of France is" -n 8 --temp 0 -t 2
    expect run-chat 0 "prompt [0-9]+ tokens" -- "$celer" run -m "$model" --chat -p "Say hi." -n 8 --temp 0 -t 2
    long=$(printf 'word %.0s' $(seq 1 100))
    # --gpu: a build without CUDA, or a machine without a device, says so in one line and
    # exits 1 (run, serve, bench, ppl alike); a CUDA build on a GPU runs (tests/test_cuda_*.c).
    gpu_none="--gpu: (this celer was built without CUDA: cmake -DCELER_CUDA=ON|no CUDA device: cudaGetDeviceCount)"
    if "$celer" run -m "$model" --gpu -p hi -n 1 -t 2 >/dev/null 2>&1 </dev/null; then
        echo "note: --gpu ran here (a CUDA build with a device): the no-device errors were not checked" >&2
    else
        expect run-gpu-none 1 "$gpu_none" -- "$celer" run -m "$model" --gpu -p hi -n 1 -t 2
        expect serve-gpu-none 1 "$gpu_none" -- "$celer" serve -m "$model" --gpu --port 0
        expect bench-gpu-none 1 "$gpu_none" -- "$celer" bench -m "$model" --gpu -p 8 -n 4 -r 1 --answer 4
        printf 'some text to score' >"$tmp/gpu.txt"
        expect ppl-gpu-none 1 "$gpu_none" -- "$celer" ppl -m "$model" --gpu -f "$tmp/gpu.txt" -c 64
    fi
    expect prompt-too-long 1 "raise -c" -- "$celer" run -m "$model" -c 32 -p "$long" -n 4
    expect bad-template 1 "unknown chat template name 'nosuch'; known names: chatml" -- "$celer" run -m "$model" --chat --chat-template nosuch -p hi -n 4
    printf 'hello world\n' >"$tmp/short.txt"
    expect ppl-short-text 1 "need at least" -- "$celer" ppl -m "$model" -f "$tmp/short.txt" -c 64

    # celer bench on the model with tiny counts: the limits, then every output format
    small=(-m "$model" -p 8 -n 4 -r 1 --answer 4 --no-probe -t 2)
    expect bench-context-too-short 1 "need a context of 9001 positions but .* was trained for 8192" -- \
        "$celer" bench -m "$model" -p 9000 -n 4 -r 1 --no-probe
    expect bench-answer-too-long 1 "--answer 9000 after a 8-token prompt needs 9008 positions" -- \
        "$celer" bench -m "$model" -p 8 -n 4 -r 1 --answer 9000 --no-probe
    # ulimit -v cannot apply to a sanitizer build (AddressSanitizer reserves terabytes of
    # address space for its shadow memory before main); the release build runs it.
    # Nor to a CUDA build: the CUDA libraries alone map more than the 64 MiB limit.
    if ldd "$celer" 2>/dev/null | grep -q libasan; then
        echo "SKIP bench-no-memory: ulimit -v does not apply under AddressSanitizer"
    elif ldd "$celer" 2>/dev/null | grep -q libcudart; then
        echo "SKIP bench-no-memory: a CUDA build's libraries do not load under ulimit -v 65536"
    else
        expect bench-no-memory 1 "only [0-9.]+ MiB of memory is available \(ulimit -v\): the model does not fit" -- \
            bash -c 'ulimit -v 65536 && exec "$@"' _ "$celer" bench "${small[@]}"
    fi
    expect bench-md 0 "\| +tg4 \| +[0-9.]+ ± [0-9.]+ \|" -- "$celer" bench "${small[@]}"
    # the md table's test column, rows joined by ','; llama-bench runs no pp+tg test unless -pg asks
    bench_md_tests() {
        "$celer" bench "${small[@]}" "$@" 2>/dev/null | awk -F'|' 'NR > 2 && NF > 8 { gsub(/^ +| +$/, "", $7); printf "%s,", $7 }'
    }
    expect bench-md-rows 0 "^pp8,tg4,ttft pp8,e2e pp8\+tg4,$" -- bench_md_tests
    expect bench-md-pg 0 "^pp8,tg4,pp8\+tg4,ttft pp8,e2e pp8\+tg4,$" -- bench_md_tests -pg 8,4
    expect bench-no-answer 0 "^pp8,tg4,ttft pp8,$" -- bench_md_tests --answer 0
    expect bench-progress-stderr 0 "pp8: run 1/1" -- bash -c '"$@" 2>&1 >/dev/null' _ "$celer" bench "${small[@]}"
    # json: parseable, llama-bench's field names, the -pg row, samples as numbers
    bench_json() {
        "$celer" bench "${small[@]}" -pg 8,4 -o "$1" >"$tmp/bench.$1" 2>"$tmp/bench.err" || { cat "$tmp/bench.err"; return 1; }
        python3 - "$1" "$tmp/bench.$1" <<'PY'
import json, sys
fmt, path = sys.argv[1], sys.argv[2]
text = open(path).read()
rows = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
want = ["build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename", "model_type",
        "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v", "n_gpu_layers",
        "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts",
        "samples_ns", "samples_ts", "ttft_ms", "e2e_s", "peak_rss_bytes", "bytes_per_token", "achieved_gbps"]
for r in rows:
    missing = [k for k in want if k not in r]
    assert not missing, f"{r.get('test')}: missing {missing}"
    assert r["n_threads"] == 2 and r["avg_ts"] > 0 and len(r["samples_ns"]) == 1, r
tests = [(r["n_prompt"], r["n_gen"]) for r in rows]
assert tests[:3] == [(8, 0), (0, 4), (8, 4)], tests
print(fmt, "rows:", " ".join(r["test"] for r in rows))
PY
    }
    expect bench-json 0 "json rows: pp8 tg4 pp8\+tg4 ttft pp8 e2e pp8\+tg4" -- bench_json json
    expect bench-json-tool 0 "\"avg_ts\"" -- python3 -m json.tool "$tmp/bench.json"
    expect bench-jsonl 0 "jsonl rows: pp8 tg4 pp8\+tg4" -- bench_json jsonl
    # csv: llama-bench's header first, one quoted line per row
    bench_csv() {
        "$celer" bench "${small[@]}" -o csv 2>/dev/null | python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
assert [r["test"] for r in rows] == ["pp8", "tg4", "ttft pp8", "e2e pp8+tg4"], rows
assert all(float(r["avg_ts"]) > 0 and r["n_threads"] == "2" for r in rows)
print("csv ok:", ",".join(list(rows[0])[:6]))'
    }
    expect bench-csv 0 "csv ok: build_commit,build_number,cpu_info,gpu_info,backends,model_filename" -- bench_csv

    # celer quantize: bad input gets one clear line; nothing half-written is left
    calib=$tmp/calib.txt
    for i in $(seq 1 40); do echo "Line $i of the calibration text: the quick brown fox jumps over the lazy dog, twice."; done >"$calib"
    q=(-m "$model" -t 2)
    expect quantize-no-mode 2 "exactly one of TYPE" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf"
    expect quantize-two-modes 2 "exactly one of TYPE" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" q8_0 --target-bpw 5
    expect quantize-bad-type 2 "unknown type 'q9_9'; types celer writes: .*q8_0" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" q9_9
    expect quantize-no-output 2 "no output" -- "$celer" quantize "${q[@]}" q8_0
    expect quantize-no-calib 2 "needs calibration text" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" --target-bpw 5
    expect quantize-bad-size 2 "expected a size" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" --max-size 12X -f "$calib"
    expect quantize-bad-pin 2 "expected REGEX=TYPE" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" q8_0 --tensor-type attn_v
    expect quantize-pin-type 2 "unknown type 'q7'" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" q8_0 --tensor-type attn_v=q7
    expect quantize-pin-nothing 1 "matches no tensor" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" q8_0 --tensor-type 'nosuch\.weight=q4_0'
    expect quantize-overwrite 2 "overwrite the source" -- "$celer" quantize "${q[@]}" -o "$model" q8_0
    : >"$tmp/empty.txt"
    expect quantize-empty-calib 1 "calibration text is empty" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" --target-bpw 5 -f "$tmp/empty.txt"
    expect quantize-short-calib 1 "shorter than one calibration chunk" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" --target-bpw 5 -f "$tmp/short.txt"
    expect quantize-tiny-budget 1 "too small: the smallest file celer can make of this model is about" -- \
        "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" --max-size 10M -f "$calib" -c 64
    expect quantize-no-dir 1 "cannot" -- "$celer" quantize "${q[@]}" -o "$tmp/nodir/q.gguf" q8_0
    [ ! -e "$tmp/q.gguf" ] && [ ! -e "$tmp/q.gguf.tmp" ] && [ ! -e "$tmp/nodir" ] && passed=$((passed + 1)) ||
        { failed=$((failed + 1)); echo "FAIL quantize-left-files: a refused quantize left a file behind" >&2; }
    # a full disk, simulated by a file-size limit (SIGXFSZ ignored, so the write fails with EFBIG)
    disk_full() { (trap '' XFSZ; ulimit -f 2048; "$celer" quantize "${q[@]}" -o "$tmp/full.gguf" q8_0); }
    expect quantize-disk-full 1 "write failed: File too large" -- disk_full
    [ ! -e "$tmp/full.gguf" ] && [ ! -e "$tmp/full.gguf.tmp" ] && passed=$((passed + 1)) ||
        { failed=$((failed + 1)); echo "FAIL quantize-disk-full-files: a failed write left a file behind" >&2; }
    # a real plan with tiny settings, the model it writes, and KL against the source
    expect quantize-plan 0 "wrote .*bits per weight" -- "$celer" quantize "${q[@]}" -o "$tmp/q.gguf" --target-bpw 5.2 -f "$calib" \
        -c 64 --calib-chunks 2 --kl-chunks 1 --kl-evals 2 --types q8_0,q5_0,q4_1,iq4_nl,q4_K --tensor-type 'attn_v=q8_0' \
        --save-stats "$tmp/stats.gguf"
    expect quantize-load-stats 0 "wrote .*bits per weight" -- "$celer" quantize "${q[@]}" -o "$tmp/q2.gguf" --target-bpw 5.6 \
        --load-stats "$tmp/stats.gguf" --types q8_0,q5_0,q4_1,iq4_nl,q4_K --tensor-type 'attn_v=q8_0'
    expect quantize-load-stats-missing 1 "no measurement of [a-z0-9_.]+ as q5_1: measure again" -- \
        "$celer" quantize "${q[@]}" -o "$tmp/q2.gguf" --target-bpw 5.6 --load-stats "$tmp/stats.gguf"
    expect quantize-load-stats-calib 2 "drop -f" -- "$celer" quantize "${q[@]}" -o "$tmp/q2.gguf" --target-bpw 5.6 --load-stats "$tmp/stats.gguf" -f "$calib"
    expect quantize-load-stats-bad 1 "statistics of another model|cannot|not a GGUF|bad magic|too small" -- \
        "$celer" quantize "${q[@]}" -o "$tmp/q2.gguf" --target-bpw 5.6 --load-stats "$tmp/text.gguf"
    expect quantize-plan-files 0 "attn_v" -- grep -o '"name":"blk.0.attn_v.weight","class":"attn_v"' "$tmp/q.gguf.plan.json"
    expect quantize-report 0 "<svg" -- grep -m1 -o "<svg" "$tmp/q.gguf.report.html"
    expect quantize-run 0 "Paris" -- "$celer" run -m "$tmp/q.gguf" -p "The capital of France is" -n 8 --temp 0 -t 2
    expect ppl-kl-save 0 "reference logits of [0-9]+ positions saved" -- "$celer" ppl -m "$model" -f "$calib" -c 64 --chunks 2 --kl-save "$tmp/base.kld"
    expect ppl-kl-self 0 "Same top-1 +100.000" -- "$celer" ppl -m "$model" --kl-base "$tmp/base.kld"
    expect ppl-kl-quant 0 "Mean KLD +0\.[0-9]*[1-9]" -- "$celer" ppl -m "$tmp/q.gguf" --kl-base "$tmp/base.kld"
    expect ppl-kl-both 2 "one at a time" -- "$celer" ppl -m "$model" -f "$calib" --kl-save a --kl-base b
    printf 'CKLDjunk' >"$tmp/bad.kld"
    expect ppl-kl-bad 1 "not a reference-logits file" -- "$celer" ppl -m "$model" --kl-base "$tmp/bad.kld"
    head -c 100000 "$tmp/base.kld" >"$tmp/trunc.kld"
    expect ppl-kl-truncated 1 "truncated" -- "$celer" ppl -m "$model" --kl-base "$tmp/trunc.kld"
else
    echo "SKIPPED: model not found at '${model}': the model-backed CLI checks did not run" >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

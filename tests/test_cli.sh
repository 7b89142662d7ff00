#!/usr/bin/env bash
# test_cli.sh: the `celer` command as a user meets it: help texts, one-line errors with
# non-zero exits for bad input, and a real run on the default model.
# Usage: tests/test_cli.sh PATH/TO/celer   (CTest passes it; CELER_MODEL names the model)
set -u
celer=$1
model=${CELER_MODEL:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

# expect NAME WANT_RC PATTERN -- command...: exit code and a regex over stdout+stderr
expect() {
    local name=$1 want=$2 pattern=$3
    shift 4
    local out rc
    out=$("$@" 2>&1 </dev/null)
    rc=$?
    if [ "$rc" -eq "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc (want $want), output:" >&2
        head -c 2000 <<<"$out" >&2
        echo >&2
    fi
}

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
expect serve-gpu 2 "--gpu: the engine runs on the CPU only" -- "$celer" serve --gpu
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
expect bench-directory 1 "is a directory" -- "$celer" bench -m "$tmp" -p 8 -n 4 -r 1

if [ -n "$model" ] && [ -f "$model" ]; then
    expect inspect-model 0 "272 tensors" -- "$celer" inspect "$model"
    expect run-greedy 0 "Paris" -- "$celer" run -m "$model" -p "The capital of France is" -n 8 --temp 0 -t 2
    expect run-chat 0 "prompt [0-9]+ tokens" -- "$celer" run -m "$model" --chat -p "Say hi." -n 8 --temp 0 -t 2
    long=$(printf 'word %.0s' $(seq 1 100))
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
    if ldd "$celer" 2>/dev/null | grep -q libasan; then
        echo "SKIP bench-no-memory: ulimit -v does not apply under AddressSanitizer"
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
else
    echo "SKIPPED: model not found at '${model}': the model-backed CLI checks did not run" >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

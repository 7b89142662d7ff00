#!/usr/bin/env bash
# bench-vs-llamacpp.sh: `celer bench` and llama.cpp's llama-bench side by side on the same
# GGUF files with the same flags (-p -n -pg -t -r -o json), the two programs alternating
# (celer, llama, celer, llama, ...) over several rounds so that drift in the machine's
# speed (heat, other load) hits both. Prints a markdown table: per model and test the
# tokens/s of each (mean ± sample stddev over all repetitions of all rounds) and their ratio.
#
# Usage: scripts/bench-vs-llamacpp.sh [options]
#   -m FILE          a model to measure; repeatable (env MODELS, space-separated; default: the
#                    Q4_1 SmolLM2 in models/, plus its Q8_0 and Q4_K_M with --quantize)
#   --quantize       also measure Q8_0 and Q4_K_M copies of the first model, made once with
#                    llama-quantize --allow-requantize and kept beside it in models/
#                    (env QUANTIZE=1; the default when no -m is given)
#   --no-quantize    only the models given (env QUANTIZE=0)
#   -p N             prompt tokens of the pp test (env N_PROMPT, default 512)
#   -n N             decoded tokens of the tg test (env N_GEN, default 128)
#   -pg P,N          the pp+tg test, or "none" (env PG, default: -p,-n, e.g. 512,128)
#   -t N             threads (env THREADS, default 2)
#   -r N             repetitions per run (env REPS, default 5)
#   --rounds N       runs of each program per model (env ROUNDS, default 3)
#   -o FILE          also write the table to FILE (env OUT)
#   --keep DIR       keep each run's JSON and stderr in DIR (env KEEP; default: a temporary
#                    directory, removed at the end)
#   --celer-args A   extra flags for celer bench only, one string (env CELER_ARGS)
#   --llama-args A   extra flags for llama-bench only, e.g. "--poll 0" (env LLAMA_ARGS)
#   --celer PATH     the celer binary (env CELER, default build/celer, built if missing)
#   --no-build       do not run scripts/build-llamacpp.sh; use $LLAMACPP_DIR/build/bin as is
#   LLAMACPP_DIR     llama.cpp's cache directory (default ~/.cache/celer/llama.cpp)
#
# Example: scripts/bench-vs-llamacpp.sh -t 2 -r 5 --rounds 3 -o docs/vs-llamacpp.md
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "bench-vs-llamacpp: $*" >&2; }
die() { say "$*"; exit 1; }

models=()
[ -n "${MODELS:-}" ] && read -r -a models <<<"$MODELS"
quantize=${QUANTIZE:-}
n_prompt=${N_PROMPT:-512}
n_gen=${N_GEN:-128}
pg=${PG:-}
threads=${THREADS:-2}
reps=${REPS:-5}
rounds=${ROUNDS:-3}
out=${OUT:-}
keep=${KEEP:-}
celer=${CELER:-build/celer}
build_llama=1
celer_args=${CELER_ARGS:-}
llama_args=${LLAMA_ARGS:-}
llama_dir=${LLAMACPP_DIR:-$HOME/.cache/celer/llama.cpp}

need_value() { [ $# -ge 2 ] || die "option $1 needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
        -m) need_value "$@"; models+=("$2"); shift 2 ;;
        --quantize) quantize=1; shift ;;
        --no-quantize) quantize=0; shift ;;
        -p) need_value "$@"; n_prompt=$2; shift 2 ;;
        -n) need_value "$@"; n_gen=$2; shift 2 ;;
        -pg) need_value "$@"; pg=$2; shift 2 ;;
        -t) need_value "$@"; threads=$2; shift 2 ;;
        -r) need_value "$@"; reps=$2; shift 2 ;;
        --rounds) need_value "$@"; rounds=$2; shift 2 ;;
        -o) need_value "$@"; out=$2; shift 2 ;;
        --keep) need_value "$@"; keep=$2; shift 2 ;;
        --celer-args) need_value "$@"; celer_args=$2; shift 2 ;;
        --llama-args) need_value "$@"; llama_args=$2; shift 2 ;;
        --celer) need_value "$@"; celer=$2; shift 2 ;;
        --no-build) build_llama=0; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
done

positive() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 expects a positive integer, got '$2'"; }
positive -p "$n_prompt"
positive -n "$n_gen"
positive -t "$threads"
positive -r "$reps"
positive --rounds "$rounds"
[ -z "$pg" ] && pg=$n_prompt,$n_gen
[ "$pg" = none ] || [[ $pg =~ ^[1-9][0-9]*,[1-9][0-9]*$ ]] || die "-pg expects P,N or none, got '$pg'"
if [ ${#models[@]} -eq 0 ]; then
    models=(models/SmolLM2-135M-Instruct.Q4_1.gguf)
    quantize=${quantize:-1}
fi
quantize=${quantize:-0}
for m in "${models[@]}"; do [ -f "$m" ] || die "no model file $m"; done

# The tools: llama.cpp's (built or refreshed by build-llamacpp.sh), celer's.
if [ "$build_llama" = 1 ]; then
    bin=$(LLAMACPP_DIR=$llama_dir scripts/build-llamacpp.sh | tail -1)
else
    bin=$llama_dir/build/bin
fi
llama_bench=$bin/llama-bench
[ -x "$llama_bench" ] || die "no $llama_bench (run scripts/build-llamacpp.sh)"
if [ ! -x "$celer" ]; then
    say "building $celer"
    cmake -S . -B "$(dirname "$celer")" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$(dirname "$celer")" -j "$(nproc)" --target celer_cli >/dev/null
fi

# Requantized copies of the first model, made once: models/<stem>.Q8_0.gguf and .Q4_K_M.gguf.
if [ "$quantize" = 1 ]; then
    src=${models[0]}
    stem=$(basename "$src" .gguf)
    stem=${stem%.*}
    for type in Q8_0 Q4_K_M; do
        dst=$(dirname "$src")/$stem.$type.gguf
        if [ ! -f "$dst" ]; then
            say "quantizing $src to $dst"
            "$bin/llama-quantize" --allow-requantize "$src" "$dst.tmp" "$type" "$threads" >"$dst.log" 2>&1 ||
                { tail -20 "$dst.log" >&2; rm -f "$dst.tmp"; die "llama-quantize $type failed (log: $dst.log)"; }
            mv "$dst.tmp" "$dst"
            rm -f "$dst.log"
        fi
        [[ " ${models[*]} " == *" $dst "* ]] || models+=("$dst")
    done
fi

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    runs=$keep
else
    runs=$(mktemp -d)
    trap 'rm -rf "$runs"' EXIT
fi

# Flags both programs read the same way; celer skips its extra rows and probe here.
common=(-p "$n_prompt" -n "$n_gen" -t "$threads" -r "$reps" -o json)
[ "$pg" = none ] || common+=(-pg "$pg")
read -r -a celer_extra <<<"$celer_args"
read -r -a llama_extra <<<"$llama_args"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
say "$(basename "$llama_bench"): $("$llama_bench" --version 2>&1 | head -1)"
say "celer $commit; ${#models[@]} model(s), $rounds round(s), flags: ${common[*]}" \
    "${celer_args:+; celer also: $celer_args}${llama_args:+; llama-bench also: $llama_args}"

# run TOOL MODEL_INDEX ROUND: one run, its JSON to $runs/TOOL.MODEL_INDEX.ROUND.json
run() {
    local tool=$1 i=$2 round=$3 model=${models[$2]}
    local base=$runs/$tool.$i.$round
    local t0=$SECONDS
    if [ "$tool" = celer ]; then
        CELER_BUILD_COMMIT=$commit "$celer" bench -m "$model" "${common[@]}" --answer 0 --no-probe "${celer_extra[@]}" >"$base.json" 2>"$base.err"
    else
        "$llama_bench" -m "$model" "${common[@]}" "${llama_extra[@]}" >"$base.json" 2>"$base.err"
    fi || { tail -20 "$base.err" >&2; die "$tool failed on $model (round $round)"; }
    say "round $round/$rounds: $tool $(basename "$model"): $((SECONDS - t0)) s"
}

for round in $(seq 1 "$rounds"); do
    for i in "${!models[@]}"; do
        run celer "$i" "$round"
        run llama "$i" "$round"
    done
done

header="celer $commit vs llama.cpp $("$llama_bench" --version 2>&1 | sed -n 's/.*(build \([0-9]*\), commit \([0-9a-f]*\)).*/build \1, commit \2/p' | head -1)"
table=$(python3 - "$runs" "$rounds" "$header" "$threads" "$reps" "${models[@]}" <<'PY'
import json, math, os, sys

runs, rounds, header, threads, reps = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
models = sys.argv[6:]


def test_name(row):
    p, n = row["n_prompt"], row["n_gen"]
    return f"pp{p}" if n == 0 else f"tg{n}" if p == 0 else f"pp{p}+tg{n}"


def load(tool, i):
    """samples (tokens/s) of every test over all rounds, tests in the order met"""
    out = {}
    for r in range(1, rounds + 1):
        with open(os.path.join(runs, f"{tool}.{i}.{r}.json")) as f:
            rows = json.load(f)
        for row in rows:
            name = test_name(row)
            if tool == "celer" and row.get("test") != name:
                continue  # celer's ttft and e2e rows have no llama-bench counterpart
            out.setdefault(name, []).extend(row["samples_ts"])
    return out


def mean_sd(v):
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


cpu = "unknown"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
print(f"{header}; {cpu}, {os.cpu_count()} cores; {threads} threads, "
      f"{rounds} rounds x {reps} repetitions, programs alternating")
print()
print("| model | test | celer t/s | llama.cpp t/s | celer / llama.cpp |")
print("| --- | --- | ---: | ---: | ---: |")
for i, model in enumerate(models):
    celer, llama = load("celer", i), load("llama", i)
    for name in llama:
        if name not in celer:
            continue
        cm, cs = mean_sd(celer[name])
        lm, ls = mean_sd(llama[name])
        print(f"| {os.path.basename(model)} | {name} | {cm:.2f} ± {cs:.2f} | {lm:.2f} ± {ls:.2f} | {cm / lm:.2f} |")
PY
)
echo "$table"
if [ -n "$out" ]; then
    echo "$table" >"$out"
    say "table written to $out"
fi
[ -n "$keep" ] && say "runs kept in $keep"
exit 0

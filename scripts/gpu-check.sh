#!/usr/bin/env bash
# gpu-check.sh: the one-call GPU check. On a fresh GPU machine (no internet needed), in
# under ten minutes: builds celer with -DCELER_CUDA=ON (sm_90), runs the CUDA tests
# (ctest -R cuda), probes the device (`celer gpu-info`: copy bandwidth, bf16 matrix
# rate), writes random-weight models with `celer synth` (Llama-3-8B in Q4_K, Q8_0 and
# F16; Llama-3-70B in the q3q4 mix when disk and GPU memory allow; SmolLM2-135M, the real
# file from models/ when present), benchmarks each with `celer bench --gpu` (pp512, tg128,
# pp2048, time to first token of a 2k prompt, a 2,000-token answer, memory), and with
# llama.cpp's llama-bench when $LLAMACPP_BIN names a directory holding one, then prints
# one results table and writes it to a file. Every step logs; a failing step does not
# stop the others, and the table says which failed. Exit 0 when every step passed.
#
# --cpu runs the same pipeline on the CPU with tiny shapes and small counts (no CUDA
# build, no --gpu), which is how tests/test_gpu_check.sh tests this script.
#
# Usage: scripts/gpu-check.sh [options]
#   -o FILE            the results table (default: gpu-results.md); logs go to FILE's name + -logs/
#   --cpu              the CPU pipeline with tiny shapes (quick; for testing this script)
#   --build-dir DIR    use (and do not rebuild) the celer in DIR (default: build a fresh
#                      build-gpu, or build-cpu-check with --cpu)
#   --models LIST      comma-separated, of: smollm2, 8b-q4_k, 8b-q8_0, 8b-f16, 70b-q3q4 (default: all)
#   --model-dir DIR    where the synthetic files go (default: /dev/shm when it has room for
#                      the file and leaves 24 GB of memory, else LOGS/models); each is
#                      removed after its benchmarks unless --keep
#   --keep             keep the synthetic files
#   --budget S         seconds to aim for (default: 540): a model starts only when its rough
#                      need (20 s for SmolLM2 .. 240 s for the 70B) ends before S + 60
#   --gpu-flag         pass --gpu to bench even with --cpu (to see the failure path)
#   -h, --help         this help
# Environment: LLAMACPP_BIN (a llama.cpp build's bin/ with llama-bench), CUDA_ARCH
# (default 90), CELER_GPU_DEVICE (default 0).
set -u
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)

out=gpu-results.md
cpu=0
build_dir=
models=smollm2,8b-q4_k,8b-q8_0,8b-f16,70b-q3q4
model_dir=
keep=0
budget=540
gpu_flag=
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
    -o) out=$2; shift ;;
    --cpu | --dry-run) cpu=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --models) models=$2; shift ;;
    --model-dir) model_dir=$2; shift ;;
    --keep) keep=1 ;;
    --budget) budget=$2; shift ;;
    --gpu-flag) gpu_flag=--gpu ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu-check: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[ "$cpu" = 0 ] && gpu_flag=--gpu
case $out in /*) ;; *) out=$root/$out ;; esac
logs=${out%.md}-logs
rm -rf "$logs"
mkdir -p "$logs/results"
disk_dir=$logs/models
mkdir -p "$disk_dir"
[ -n "$model_dir" ] && mkdir -p "$model_dir"
device=${CELER_GPU_DEVICE:-0}
main_log=$logs/gpu-check.log
n_step=0
failures=0
log() { echo "$*" | tee -a "$main_log"; }

# step NAME LIMIT_S STDOUT -- command...: runs the command under a time limit, its stderr
# (and stdout, when STDOUT is -) into its own log; records "NAME: status" in steps.txt.
# With soft=1 in the environment a failure is recorded as skipped, not as failed.
step() {
    local name=$1 limit=$2 stdout=$3
    shift 4
    n_step=$((n_step + 1))
    local logf
    logf=$logs/$(printf %02d "$n_step")-$name.log
    [ "$stdout" = - ] && stdout=$logf
    local t0=$SECONDS rc
    log "== $name: $*"
    timeout --kill-after=10 "$limit" "$@" >"$stdout" 2>>"$logf"
    rc=$?
    local dt=$((SECONDS - t0)) status
    if [ "$rc" = 0 ]; then
        status="ok (${dt} s)"
    elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        status="FAILED: timed out after ${limit} s"
    else
        status="FAILED (exit $rc): $(grep -v '^[[:space:]]*$' "$logf" | tail -n 1 | cut -c1-200)"
    fi
    if [ "$rc" != 0 ] && [ "${soft:-0}" = 1 ]; then
        status="skipped: ${status#*: }"
    elif [ "$rc" != 0 ]; then
        failures=$((failures + 1))
    fi
    echo "$name: $status" >>"$logs/steps.txt"
    log "   $status  [$logf]"
    return "$rc"
}

skip() { # skip NAME REASON
    echo "$1: skipped: $2" >>"$logs/steps.txt"
    log "== $1: skipped: $2"
}

log "gpu-check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), mode $([ "$cpu" = 1 ] && echo cpu || echo gpu), logs in $logs"

# ---- 1. build ----
if [ -n "$build_dir" ]; then
    skip build "using $build_dir"
else
    # what the build needs, from the distribution's packages where missing (a no-op when
    # all is there; without a network a missing package is noted and configure says which)
    soft=1 step setup 180 - -- scripts/setup.sh
    if [ "$cpu" = 1 ]; then
        build_dir=$root/build-cpu-check
        step configure 300 - -- cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
    else
        build_dir=$root/build-gpu
        nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
        step configure 300 - -- cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCELER_CUDA=ON \
            -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" -DCMAKE_CUDA_COMPILER="$nvcc_bin"
    fi
    step build 480 - -- cmake --build "$build_dir" -j"$(nproc)"
fi
case $build_dir in /*) ;; *) build_dir=$root/$build_dir ;; esac
celer=$build_dir/celer
CELER_BUILD_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
export CELER_BUILD_COMMIT

# ---- 2. CUDA tests ----
if [ "$cpu" = 1 ]; then
    skip cuda-tests "CPU mode"
elif [ ! -x "$celer" ]; then
    skip cuda-tests "no build"
else
    # ctest's summary line last, so the table shows it (its full output stays in the log)
    # shellcheck disable=SC2016 # the inner script's own arguments
    step cuda-tests 300 - -- bash -c 'ctest --test-dir "$1" -R cuda --output-on-failure --no-tests=error >"$2" 2>&1
        rc=$?; cat "$2"; grep -E "tests passed|No tests were found" "$2" | tail -n 1; exit $rc' _ "$build_dir" "$logs/ctest-cuda.txt"
    summary=$(grep -E "tests passed" "$logs/ctest-cuda.txt" | tail -n 1)
    [ -n "$summary" ] && sed -i "\$s/\$/; $summary/" "$logs/steps.txt"
fi

# ---- 3. device probe ----
if [ -x "$celer" ]; then
    # on the CPU a build without CUDA is expected: its refusal is noted, not counted
    soft=$cpu step gpu-info 120 "$logs/results/gpu-info.json" -- "$celer" gpu-info --json --device "$device"
    [ -s "$logs/results/gpu-info.json" ] && log "   $(cat "$logs/results/gpu-info.json")"
else
    skip gpu-info "no celer binary at $celer"
fi
gpu_free_bytes=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1])).get("free_bytes", 0)))' \
    "$logs/results/gpu-info.json" 2>/dev/null || echo 0)

# ---- 4. models ----
# key, synth arguments (or a file), bench sizes. CPU mode shrinks every shape to a tiny
# one of the same kind (same types and mix, fewer and narrower layers).
tiny=(--layers 2 --n-embd 256 --n-ff 512 --n-head 4 --n-head-kv 2 --vocab 2000 --ctx 4096)
if [ "$cpu" = 1 ]; then
    pa=32; ng=8; reps=1; pb=64; answer=32; threads=(-t 2)
else
    pa=512; ng=128; reps=3; pb=2048; answer=2000; threads=()
fi

# disk_free BYTES_NEEDED DIR: true when DIR's file system has the room
disk_free() { [ "$(df -B1 --output=avail "$2" 2>/dev/null | tail -n 1)" -gt "$1" ] 2>/dev/null; }

# where_to BYTES: the directory for a file of that size: --model-dir if given; else memory
# (/dev/shm: written and read at memory speed) when it has the room and leaves 24 GB
# available to the rest; else the disk beside the logs
where_to() {
    if [ -n "$model_dir" ]; then
        echo "$model_dir"
        return
    fi
    local avail_kb
    avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo 2>/dev/null || echo 0)
    if [ -d /dev/shm ] && [ -w /dev/shm ] && disk_free $(($1 + 1000000000)) /dev/shm &&
        [ $((avail_kb * 1024 - $1)) -gt 24000000000 ]; then
        mkdir -p "/dev/shm/celer-gpu-check-$$" && echo "/dev/shm/celer-gpu-check-$$" && return
    fi
    echo "$disk_dir"
}

# synth_size ARGS...: the file size the synth arguments would write, in bytes
synth_size() { "$celer" synth "$@" --dry-run 2>/dev/null | sed -nE 's/^size: +([0-9.]+) GB.*/\1/p' | awk '{ printf "%.0f", $1 * 1e9 }'; }

run_model() { # run_model KEY LABEL TYPE NEED_S SYNTH-ARGS... (NEED_S: seconds it needs, roughly)
    local key=$1 label=$2 type=$3 need=$4
    shift 4
    local meta=$logs/results/$key.meta file size
    {
        echo "key=$key"
        echo "label=$label"
        echo "type=$type"
    } >"$meta"
    if [ $((SECONDS + need)) -gt $((budget + 60)) ]; then
        skip "$key" "not enough of the $budget s budget left (${SECONDS} s spent, it needs about $need s)"
        echo "status=skipped: time budget" >>"$meta"
        return
    fi
    if [ ! -x "$celer" ]; then
        skip "$key" "no celer binary at $celer"
        echo "status=skipped: no build" >>"$meta"
        return
    fi
    if [ "$1" = --file ]; then
        file=$2
        size=$(stat -c %s "$file")
    else
        size=$(synth_size "$@")
        if [ -z "$size" ]; then
            step "synth-$key" 60 - -- "$celer" synth "$@" --dry-run
            echo "status=failed: synth" >>"$meta"
            return
        fi
        local dir
        dir=$(where_to "$size")
        file=$dir/$key.gguf
        if ! disk_free $((size + 1000000000)) "$dir"; then
            skip "$key" "$(awk "BEGIN { printf \"%.1f\", $size / 1e9 }") GB file, not enough free disk in $dir"
            echo "status=skipped: disk" >>"$meta"
            return
        fi
        if [ "$cpu" = 0 ] && [ "$gpu_free_bytes" -gt 0 ] && [ $((size + size / 10 + 3000000000)) -gt "$gpu_free_bytes" ]; then
            skip "$key" "$(awk "BEGIN { printf \"%.1f\", $size / 1e9 }") GB file, $(awk "BEGIN { printf \"%.1f\", $gpu_free_bytes / 1e9 }") GB of GPU memory free"
            echo "status=skipped: GPU memory" >>"$meta"
            return
        fi
        if ! step "synth-$key" 300 - -- "$celer" synth "$@" --force -o "$file"; then
            echo "status=failed: synth" >>"$meta"
            rm -f "$file" "$file.tmp"
            return
        fi
    fi
    echo "file=$file" >>"$meta"
    echo "size=$size" >>"$meta"
    local watch_pid=
    if [ "$cpu" = 0 ] && command -v nvidia-smi >/dev/null; then # peak GPU memory, sampled every 250 ms
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i "$device" -lms 250 \
            >"$logs/results/$key.gpumem" 2>/dev/null &
        watch_pid=$!
    fi
    # pp and tg with repetitions; then a 2k prompt: its pp, time to first token, and the answer
    # on the CPU, bench's own bandwidth probe (the reference there) runs once, with the first model
    local probe=()
    [ "$cpu" = 1 ] && [ "$cpu_probed" = 1 ] && probe=(--no-probe)
    cpu_probed=1
    step "bench-$key" 300 "$logs/results/$key.bench.json" -- "$celer" bench -m "$file" $gpu_flag -p "$pa" -n "$ng" \
        -r "$reps" --answer 0 "${threads[@]}" "${probe[@]}" -o json
    step "bench-long-$key" 300 "$logs/results/$key.long.json" -- "$celer" bench -m "$file" $gpu_flag -p "$pb" -n 16 -r 1 \
        --answer "$answer" --no-probe "${threads[@]}" -o json
    if [ -n "$watch_pid" ]; then
        kill "$watch_pid" 2>/dev/null
        wait "$watch_pid" 2>/dev/null
    fi
    if [ -n "${LLAMACPP_BIN:-}" ] && [ -x "$LLAMACPP_BIN/llama-bench" ]; then
        local ngl=99
        [ "$cpu" = 1 ] && ngl=0
        step "llama-bench-$key" 300 "$logs/results/$key.llama.json" -- "$LLAMACPP_BIN/llama-bench" -m "$file" \
            -p "$pa,$pb" -n "$ng" -r "$reps" -ngl "$ngl" "${threads[@]}" -o json
    fi
    echo "status=done" >>"$meta"
    [ "$1" = --file ] || [ "$keep" = 1 ] || rm -f "$file"
}

cpu_probed=0
shape() { [ "$cpu" = 1 ] && echo "--like $1 ${tiny[*]}" || echo "--like $1"; }
tag=
[ "$cpu" = 1 ] && tag=" (tiny)"
# shellcheck disable=SC2046 # shape's words are separate arguments
for key in ${models//,/ }; do
    case $key in
    smollm2)
        real=$root/models/SmolLM2-135M-Instruct.Q4_1.gguf
        if [ "$cpu" = 0 ] && [ -f "$real" ]; then
            run_model smollm2 "SmolLM2-135M (real)" q4_1 20 --file "$real"
        else
            run_model smollm2 "SmolLM2-135M shape$tag" q4_1 20 $(shape smollm2-135m) --type q4_1
        fi
        ;;
    8b-q4_k) run_model "$key" "Llama-3-8B shape$tag" q4_K 40 $(shape llama3-8b) --type q4_K ;;
    8b-q8_0) run_model "$key" "Llama-3-8B shape$tag" q8_0 50 $(shape llama3-8b) --type q8_0 ;;
    8b-f16) run_model "$key" "Llama-3-8B shape$tag" f16 70 $(shape llama3-8b) --type f16 ;;
    70b-q3q4) run_model "$key" "Llama-3-70B shape$tag" q3q4 240 $(shape llama3-70b) --mix q3q4 ;;
    *) skip "$key" "unknown model key (known: smollm2, 8b-q4_k, 8b-q8_0, 8b-f16, 70b-q3q4)" ;;
    esac
done

rmdir "/dev/shm/celer-gpu-check-$$" 2>/dev/null

# ---- 5. the table ----
python3 "$root/scripts/gpu_check_table.py" --results "$logs/results" --steps "$logs/steps.txt" \
    --mode "$([ "$cpu" = 1 ] && echo cpu || echo gpu)" --commit "$CELER_BUILD_COMMIT" --answer "$answer" \
    --prompt "$pa" --gen "$ng" --long-prompt "$pb" >"$out"
rc=$?
cat "$out"
if [ "$rc" != 0 ]; then
    echo "gpu-check: the table could not be made (python3 and scripts/gpu_check_table.py are needed)" >&2
    failures=$((failures + 1))
fi
log "gpu-check: $failures failed step(s); table in $out, logs in $logs ($SECONDS s)"
[ "$failures" = 0 ]

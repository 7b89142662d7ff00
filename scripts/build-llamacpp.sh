#!/usr/bin/env bash
# build-llamacpp.sh: builds llama.cpp's llama-bench, llama-quantize, llama-perplexity,
# llama-imatrix and llama-server, for side-by-side measurements with celer
# (scripts/bench-vs-llamacpp.sh, scripts/quant-vs-llamacpp.sh,
# scripts/bench-serve-vs-llamacpp.sh), from the
# llama.cpp that the PyPI source distribution of llama-cpp-python vendors. Nothing of
# llama.cpp enters this repository: the sources and the build live in a cache directory.
#
# Usage: scripts/build-llamacpp.sh
#   LLAMACPP_DIR      cache directory (default: ~/.cache/celer/llama.cpp); the tools end up
#                     in $LLAMACPP_DIR/build/bin
#   LLAMACPP_SRC      an already extracted llama_cpp_python-<version> source tree to use
#                     instead of downloading one (e.g. /tmp/setup/sdist/llama_cpp_python-0.3.36)
#   LLAMACPP_VERSION  llama-cpp-python version to download (default: 0.3.36)
#   JOBS              parallel compile jobs (default: 2)
# Idempotent: a second run only rebuilds what changed; concurrent runs on one cache
# directory take turns. Prints the bin directory last.
set -euo pipefail

version=${LLAMACPP_VERSION:-0.3.36}
dir=${LLAMACPP_DIR:-$HOME/.cache/celer/llama.cpp}
jobs=${JOBS:-2}
targets=(llama-bench llama-quantize llama-perplexity llama-imatrix llama-server)
mkdir -p "$dir"

say() { echo "build-llamacpp: $*" >&2; }

# One build at a time per cache directory: a second caller waits for the first.
exec 9>"$dir/.lock"
if ! flock -n 9; then
    say "another build is running in $dir; waiting for it"
    flock 9
fi

# The llama-cpp-python source tree: given, or downloaded once and extracted into the cache.
if [ -n "${LLAMACPP_SRC:-}" ]; then
    src=$LLAMACPP_SRC
else
    src=$dir/llama_cpp_python-$version
    if [ ! -f "$src/vendor/llama.cpp/CMakeLists.txt" ]; then
        say "downloading the llama-cpp-python==$version source distribution"
        rm -rf "$dir/sdist"
        mkdir -p "$dir/sdist"
        python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$dir/sdist" "llama-cpp-python==$version"
        archive=$(ls "$dir"/sdist/llama_cpp_python-"$version".tar.gz)
        tar -xzf "$archive" -C "$dir"
    fi
fi
llama=$src/vendor/llama.cpp
if [ ! -f "$llama/CMakeLists.txt" ]; then
    say "no llama.cpp sources at $llama (is LLAMACPP_SRC a llama_cpp_python-<version> tree?)"
    exit 1
fi

# Reconfigure when the source tree changed, so that a cache never mixes two versions.
build=$dir/build
if [ -f "$build/.celer-src" ] && [ "$(cat "$build/.celer-src")" != "$llama" ]; then
    say "sources moved from $(cat "$build/.celer-src") to $llama: starting a fresh build"
    rm -rf "$build"
fi
# Configured again (same build tree, nothing wiped) when these options change, as when
# llama-server was added.
options=(-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON)
if [ ! -f "$build/CMakeCache.txt" ] || [ "$(cat "$build/.celer-options" 2>/dev/null)" != "${options[*]}" ]; then
    say "configuring $llama into $build"
    cmake -S "$llama" -B "$build" "${options[@]}" >"$dir/configure.log" 2>&1 ||
        { say "cmake configure failed; see $dir/configure.log"; tail -20 "$dir/configure.log" >&2; exit 1; }
    echo "$llama" >"$build/.celer-src"
    echo "${options[*]}" >"$build/.celer-options"
fi
say "building ${targets[*]} with $jobs jobs (log: $dir/build.log)"
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$dir/build.log" 2>&1 ||
    { say "build failed; see $dir/build.log"; tail -30 "$dir/build.log" >&2; exit 1; }
for t in "${targets[@]}"; do
    [ -x "$build/bin/$t" ] || { say "built, but $build/bin/$t is missing"; exit 1; }
done
say "done: $("$build/bin/llama-bench" --version 2>&1 | head -1)"
echo "$build/bin"

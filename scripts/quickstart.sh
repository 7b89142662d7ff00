#!/usr/bin/env bash
# One command from a fresh clone to a chat reply: installs what is missing, builds
# celer (release), downloads the default model and asks it a question.
# Usage: scripts/quickstart.sh ["your question"]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target celer_cli >/dev/null
scripts/get-model.sh
exec ./build/celer run --chat -n 200 --temp 0 -p "${1:-What is the capital of France? Answer in one sentence.}"

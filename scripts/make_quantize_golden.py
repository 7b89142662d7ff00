#!/usr/bin/env python3
"""Writes tests/data/quant/quantize_golden.bin, the reference data of test_golden in
tests/test_quantize.c: celer's quantized bytes for fixed pseudo-random rows, and the `gguf`
Python package's dequantization of those bytes (an implementation independent of celer's).

celer's quantizer is compiled from src/ into a temporary shared library (the system C
compiler, -O2 -std=c11, no -march=native: the test build uses -march=native, so the test
also checks that the bytes do not depend on the instruction set) and called with ctypes.

Rows are made by the generator test_quantize.c repeats: a 64-bit LCG (x = x * 6364136223846793005
+ 1442695040888963407 mod 2^64, draw = x >> 40, 24 bits); a value is the sum of three
(draw - 2^23), converted to float32 (round to nearest even) times 2^-25; every 37th value
(counting through the rows) times 8, block 3 of each row zero, block 5 the constant
0.046875. Importances (when their seed is not 0): column j is 0 if j % 11 == 0, else
((draw >> 8) + 1) * 2^-12.

Format (little-endian): "CQZ1", then records until end of file, each
    u32 type (ggml id), u32 rows, u32 n (per row), u32 seed, u32 importance seed (0: none),
    u32 n_bytes, u32 n_floats_bytes, the quantized bytes, gguf's dequantized float32 values

Usage: python3 scripts/make_quantize_golden.py   (needs numpy, gguf and a C compiler)
"""
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]
ROWS, N = 2, 512
MASK = (1 << 64) - 1


class Lcg:
    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & MASK
        return self.s >> 40


def make_rows(seed):
    g = Lcg(seed)
    x = np.empty(ROWS * N, np.float32)
    for i in range(ROWS * N):
        total = sum(g.next() - (1 << 23) for _ in range(3))
        v = np.float32(total) * np.float32(2.0 ** -25)
        if i % 37 == 0:
            v *= np.float32(8)
        if (i % N) // 32 == 3:
            v = np.float32(0)
        if (i % N) // 32 == 5:
            v = np.float32(0.046875)
        x[i] = v
    return x


def make_importance(seed):
    g = Lcg(seed)
    imp = np.empty(N, np.float32)
    for j in range(N):
        draw = g.next()  # drawn for every column, as the C loop's condition comes first
        imp[j] = 0.0 if j % 11 == 0 else np.float32(((draw >> 8) + 1) * 2.0 ** -12)
    return imp


def build_library(root, tmp):
    sources = [os.path.join(root, "src", p) for p in [
        "quant/quantize.c", "quant/quantize_fit.c", "quant/quantize_k.c", "quant/quant.c", "quant/quant_ref.c",
        "quant/quant_ref_k.c", "quant/quant_float.c", "core/status.c"]]
    lib = os.path.join(tmp, "libceler_quantize.so")
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", "-fPIC", "-shared", "-I" + os.path.join(root, "src"),
                    "-I" + os.path.join(root, "include"), *sources, "-lm", "-o", lib], check=True)
    so = ctypes.CDLL(lib)
    so.quant_quantize.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                  ctypes.c_void_p, ctypes.c_void_p]
    so.quant_quantize.restype = ctypes.c_int
    return so


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    path = os.path.join(root, "tests", "data", "quant", "quantize_golden.bin")
    with tempfile.TemporaryDirectory() as tmp:
        so = build_library(root, tmp)
        with open(path, "wb") as out:
            out.write(b"CQZ1")
            for k, qtype in enumerate(TYPES):
                for imp_seed in (0, 5000 + k):
                    seed = 100 + k
                    x = make_rows(seed)
                    imp = make_importance(imp_seed) if imp_seed else None
                    block, size = GGML_QUANT_SIZES[qtype]
                    buf = np.zeros(ROWS * N // block * size, np.uint8)
                    err = ctypes.create_string_buffer(512)
                    status = so.quant_quantize(int(qtype), x.ctypes.data, buf.ctypes.data, ROWS, N,
                                               imp.ctypes.data if imp is not None else None, err)
                    if status != 0:
                        sys.exit(f"quant_quantize {qtype.name}: {err.value.decode()}")
                    floats = dequantize(buf.reshape(-1, size), qtype).astype(np.float32).reshape(-1)
                    out.write(np.array([int(qtype), ROWS, N, seed, imp_seed, buf.size, floats.size * 4], "<u4").tobytes())
                    out.write(buf.tobytes())
                    out.write(floats.tobytes())
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()

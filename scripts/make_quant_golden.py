#!/usr/bin/env python3
"""Writes tests/data/quant/golden.bin: blocks of every tensor type celer reads, with
their dequantized values as computed by the `gguf` Python package (an implementation
independent of celer's). tests/test_quant.c checks celer's dequantizers against it.

Blocks: random bytes whose scale fields are set to random finite fp16 values, plus real
rows of the default model (Q4_1, Q8_0) when it is present.

Format (little-endian): repeated records of
    u32 type (ggml id), u32 n_elements, u32 n_bytes, n_bytes of blocks, n_elements f32
Usage: python3 scripts/make_quant_golden.py [MODEL]
"""
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

# byte offsets of fp16 scale fields inside one block
SCALES = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
          T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def random_blocks(rng, qtype, n_blocks):
    block, size = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        return rng.standard_normal(n_blocks).astype(np.float32).tobytes()
    if qtype == T.F16:
        return (rng.standard_normal(n_blocks) * 4).astype(np.float16).tobytes()
    if qtype == T.BF16:
        f = rng.standard_normal(n_blocks).astype(np.float32)
        return (f.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    raw = bytearray(rng.integers(0, 256, n_blocks * size, dtype=np.uint8).tobytes())
    for b in range(n_blocks):
        for off in SCALES[qtype]:
            val = np.float16(rng.uniform(-0.1, 0.1))
            raw[b * size + off: b * size + off + 2] = val.tobytes()
    return bytes(raw)


def record(out, qtype, data):
    block, size = GGML_QUANT_SIZES[qtype]
    n_blocks = len(data) // size
    arr = np.frombuffer(data, dtype=np.uint8).reshape(n_blocks, size)
    values = dequantize(arr, qtype).astype(np.float32).reshape(-1)
    assert values.size == n_blocks * block
    out.write(struct.pack("<III", int(qtype), values.size, len(data)))
    out.write(data)
    out.write(values.tobytes())


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    rng = np.random.default_rng(1234)
    path = os.path.join(root, "tests", "data", "quant", "golden.bin")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        for qtype in [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0,
                      T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]:
            block = GGML_QUANT_SIZES[qtype][0]
            record(out, qtype, random_blocks(rng, qtype, max(8, 2048 // block) if block > 1 else 512))
        if os.path.exists(model):
            reader = GGUFReader(model)
            for t in reader.tensors:
                if t.name in ("blk.0.attn_q.weight", "token_embd.weight"):
                    row_bytes = t.data.shape[-1] if t.data.ndim > 1 else t.data.size
                    record(out, t.tensor_type, bytes(np.asarray(t.data).reshape(-1)[: 4 * row_bytes]))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()

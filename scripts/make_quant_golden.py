#!/usr/bin/env python3
"""Writes tests/data/quant/golden.bin, the reference data of tests/test_quant.c, from two
implementations independent of celer:
  - the `gguf` Python package (numpy): dequantization of every tensor type, the simple
    reference quantizers (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, BF16); numpy itself for fp16 and
    for the float dot products;
  - libggml as built by llama-cpp-python (loaded with ctypes, never imported as llama_cpp):
    quantize_row_q8_{0,1,K}_ref for the activation types and ggml_vec_dot_*_generic, the
    scalar dot products celer's reference follows. That build fuses one multiply-add in
    five of them (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K), so for those the script also writes the
    generic dot as written, emulated in numpy float32 (dot_emulated).

Inputs: random blocks (random bytes, fp16 scale fields set to finite values in +-0.1),
random activations with hand-made rounding ties, every fp16 bit pattern, fp32 values at
and around every kind of fp16/bf16 rounding boundary, and real rows of the default model
(Q4_1, Q8_0, F32) when it is present.

Format (little-endian): the 4 bytes "CQG1", then records until end of file, each
    u32 kind, u32 type (ggml id), u32 source, u32 n (elements), u32 n_in, u32 n_out,
    n_in bytes of input, n_out bytes of expected output
  kind 1 DEQUANTIZE  in: blocks of `type`          out: f32[n]
  kind 2 QUANTIZE    in: f32[n]                    out: blocks of `type`
  kind 3 VEC_DOT     in: row of `type`, then a row of its vec_dot_type, n elements each
                     out: f32[1]
  source 1 gguf package, 2 libggml, 3 numpy

Usage: python3 scripts/make_quant_golden.py [MODEL]   (needs numpy, gguf, llama-cpp-python)
"""
import ctypes
import importlib.util
import os
import struct
import sys

import numpy as np
from gguf import GGMLQuantizationType as T, GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

DEQUANTIZE, QUANTIZE, VEC_DOT = 1, 2, 3
GGUF, GGML, NUMPY = 1, 2, 3
Q8_1, Q8_K = 9, 15  # activation types gguf does not implement
SIZES = {**{int(t): v for t, v in GGML_QUANT_SIZES.items()}, Q8_1: (32, 36), Q8_K: (256, 292)}

WEIGHT_TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.IQ4_NL]
VEC_DOT_TYPE = {T.Q4_0: T.Q8_0, T.Q5_0: T.Q8_0, T.Q8_0: T.Q8_0, T.IQ4_NL: T.Q8_0, T.Q4_1: Q8_1, T.Q5_1: Q8_1,
                T.Q2_K: Q8_K, T.Q3_K: Q8_K, T.Q4_K: Q8_K, T.Q5_K: Q8_K, T.Q6_K: Q8_K}
# byte offsets of the fp16 scale fields inside one block
SCALES = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.IQ4_NL: [0],
          T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}


def record(out, kind, qtype, source, n, data_in, data_out):
    out.write(struct.pack("<6I", kind, int(qtype), source, n, len(data_in), len(data_out)))
    out.write(data_in)
    out.write(data_out)


def random_blocks(rng, qtype, n_blocks):
    size = SIZES[int(qtype)][1]
    raw = bytearray(rng.integers(0, 256, n_blocks * size, dtype=np.uint8).tobytes())
    for b in range(n_blocks):
        for off in SCALES[qtype]:
            raw[b * size + off: b * size + off + 2] = np.float16(rng.uniform(-0.1, 0.1)).tobytes()
    return bytes(raw)


def extreme_blocks(rng, qtype, n_blocks, fill):
    """Blocks whose bytes are `fill` with bits 0x33 random: levels near one end of their
    range, so block sums are large with all their bits used and the order of the float
    operations after them shows in the result."""
    size = SIZES[int(qtype)][1]
    raw = bytearray((fill ^ (rng.integers(0, 256, n_blocks * size) & 0x33)).astype(np.uint8).tobytes())
    for b in range(n_blocks):
        for off in SCALES[qtype]:
            raw[b * size + off: b * size + off + 2] = np.float16(rng.uniform(0.01, 0.1)).tobytes()
    return bytes(raw)


def activations(rng, n):
    """Normal values at a few magnitudes, plus blocks that hit the quantizers' ties."""
    x = (rng.standard_normal(n) * rng.choice([1e-3, 1.0, 30.0])).astype(np.float32)
    if n >= 64:  # a block with max 127: q = x exactly, so halves are ties
        x[32:64] = np.float32([127.0] + [k + 0.5 for k in range(-15, 16)])
    if n >= 512:  # a super-block with max -127: Q8_K's iscale is 1
        x[256:512] = np.float32([-127.0] + [(k % 40) - 19.5 for k in range(255)])
    return x


def gguf_dequantize(qtype, data):
    size = SIZES[int(qtype)][1]
    arr = np.frombuffer(data, dtype=np.uint8).reshape(len(data) // size, size)
    return dequantize(arr, qtype).astype(np.float32).reshape(-1)


class Ggml:
    """The few libggml functions used, from llama-cpp-python's bundled build."""

    def __init__(self):
        spec = importlib.util.find_spec("llama_cpp")
        if spec is None:
            sys.exit("llama-cpp-python is needed (for libggml)")
        lib = os.path.join(os.path.dirname(spec.origin), "lib")
        self.base = ctypes.CDLL(os.path.join(lib, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
        self.cpu = ctypes.CDLL(os.path.join(lib, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
        self.cpu.ggml_cpu_init()

    def quantize(self, qtype, x):
        name = {T.Q8_0: "q8_0", Q8_1: "q8_1", Q8_K: "q8_K"}[qtype]
        block, size = SIZES[int(qtype)]
        buf = ctypes.create_string_buffer(x.size // block * size)
        fn = getattr(self.base, f"quantize_row_{name}_ref")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn(np.ascontiguousarray(x, np.float32).ctypes.data, buf, x.size)
        return buf.raw

    def vec_dot(self, qtype, n, row, act):
        w, a = T(qtype).name.lower().replace("_k", "_K"), {T.Q8_0: "q8_0", Q8_1: "q8_1", Q8_K: "q8_K"}[VEC_DOT_TYPE[qtype]]
        fn = getattr(self.cpu, f"ggml_vec_dot_{w}_{a}_generic")
        fn.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_char_p,
                       ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
        s = ctypes.c_float()
        fn(n, ctypes.byref(s), 0, row, 0, act, 0, 1)
        return s.value


def write_dequantize(out, rng, model):
    for qtype in WEIGHT_TYPES:
        block = SIZES[int(qtype)][0]
        data = random_blocks(rng, qtype, max(8, 2048 // block))
        record(out, DEQUANTIZE, qtype, GGUF, len(data) // SIZES[int(qtype)][1] * block, data, gguf_dequantize(qtype, data).tobytes())
    f32 = rng.standard_normal(512).astype(np.float32).tobytes()
    record(out, DEQUANTIZE, T.F32, NUMPY, 512, f32, f32)
    # every fp16 bit pattern (subnormals, infinities, NaNs included)
    f16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    record(out, DEQUANTIZE, T.F16, NUMPY, 65536, f16.tobytes(), f16.view(np.float16).astype(np.float32).tobytes())
    bf16 = np.concatenate([rng.integers(0, 65536, 4096), [0x0000, 0x8000, 0x0001, 0x807f, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffff]])
    bf16 = bf16.astype(np.uint16)
    record(out, DEQUANTIZE, T.BF16, GGUF, bf16.size, bf16.tobytes(), gguf_dequantize(T.BF16, bf16.tobytes()).tobytes())
    if os.path.exists(model):
        for t in GGUFReader(model).tensors:
            if t.name in ("blk.0.attn_q.weight", "token_embd.weight", "blk.0.attn_norm.weight"):
                rows = np.asarray(t.data)
                data = (rows[:4] if rows.ndim > 1 else rows).tobytes()
                n = len(data) // SIZES[int(t.tensor_type)][1] * SIZES[int(t.tensor_type)][0]
                record(out, DEQUANTIZE, t.tensor_type, GGUF, n, data, gguf_dequantize(t.tensor_type, data).tobytes())
    else:
        print(f"warning: {model} not found, no real rows", file=sys.stderr)


def fp16_boundaries(rng):
    """fp32 values at, just below and just above the midpoint of neighbouring fp16 values,
    the overflow and underflow edges, specials, and random values across fp16's range."""
    h = np.concatenate([np.arange(0, 0x400, 7), np.arange(0x400, 0x7bff, 61), [0x3ff, 0x400, 0x3c00, 0x7bfe, 0x7bff]]).astype(np.uint16)
    lo = h.view(np.float16).astype(np.float64)
    hi = np.where(h == 0x7bff, 65536.0, (h + 1).astype(np.uint16).view(np.float16).astype(np.float64))
    mid = ((lo + hi) / 2).astype(np.float32)
    edges = np.concatenate([mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))])
    special = np.float32([0.0, 2.0**-24, 2.0**-25, 2.0**-26, 1e-30, 1.4e-45, 65504.0, 65519.996, 65520.0, 1e10,
                          np.inf, 3.4028235e38, 1.0, 1.0 / 3.0])
    bits = (rng.integers(97, 145, 4000).astype(np.uint32) << 23) | rng.integers(0, 1 << 23, 4000).astype(np.uint32)
    values = np.concatenate([edges, special, bits.view(np.float32)])
    nans = np.uint32([0x7fc00000, 0x7f800001, 0x7fa00000, 0x7fffffff]).view(np.float32)
    return np.concatenate([values, -values, nans, -nans]).astype(np.float32)


def bf16_boundaries(rng):
    bits = rng.integers(0, 1 << 32, 4000, dtype=np.uint64).astype(np.uint32)
    ties = (rng.integers(0, 1 << 16, 200).astype(np.uint32) << 16) | 0x8000
    edge = np.uint32([0x7f7fffff, 0x7f7f7fff, 0x7f7f8000, 0x7f800000, 0x7fc00000, 0x7f800001, 0xff800001, 0x00008000,
                      0x00018000, 0x00000001, 0x80000000, 0x3f808000, 0x3f818000])
    return np.concatenate([bits, ties, ties + 1, ties - 1, edge]).view(np.float32)


def write_quantize(out, rng, ggml):
    for qtype in [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]:
        x = np.concatenate([activations(rng, 1024), np.zeros(32, np.float32), np.full(32, 0.25, np.float32)])
        record(out, QUANTIZE, qtype, GGUF, x.size, x.tobytes(), quantize(x.reshape(-1, 32), qtype).tobytes())
    for qtype in [T.Q8_0, Q8_1, Q8_K]:
        x = np.concatenate([activations(rng, 2048), np.zeros(256, np.float32)])
        got = ggml.quantize(qtype, x)
        if qtype == T.Q8_0:
            assert got == quantize(x.reshape(-1, 32), T.Q8_0).tobytes(), "gguf and libggml disagree on Q8_0"
        record(out, QUANTIZE, qtype, GGML, x.size, x.tobytes(), got)
    x = fp16_boundaries(rng)
    with np.errstate(over="ignore"):
        record(out, QUANTIZE, T.F16, NUMPY, x.size, x.tobytes(), x.astype(np.float16).tobytes())
    x = bf16_boundaries(rng)
    record(out, QUANTIZE, T.BF16, GGUF, x.size, x.tobytes(), quantize(x, T.BF16).tobytes())


def float_dot(qtype, x, y):
    """ggml's scalar float dot: each product rounded to float32, summed in order in float64."""
    prod = (x.astype(np.float32) * y.astype(np.float32)).astype(np.float64)
    return np.float32(np.cumsum(prod)[-1])


def f32(v):
    return np.float32(v)


def dot_emulated(qtype, n, row, act):
    """ggml_vec_dot_*_generic in numpy float32 scalars, without the fused multiply-adds
    gcc put into libggml's build of these five (the reference C never fuses)."""
    block, size = SIZES[int(qtype)]
    x = np.frombuffer(row, np.uint8).reshape(n // block, size)
    if qtype in (T.Q4_1, T.Q5_1):
        y = np.frombuffer(act, np.uint8).reshape(n // 32, 36)
        dx, mx = x[:, 0:2].copy().view(np.float16), x[:, 2:4].copy().view(np.float16)
        dy, sy = y[:, 0:2].copy().view(np.float16), y[:, 2:4].copy().view(np.float16)
        # the levels: gguf's dequantization of the blocks with d = 1 (fp16 0x3c00) and m = 0
        levels = gguf_dequantize(qtype, np.concatenate([np.full((n // 32, 2), [0, 0x3c], np.uint8), np.zeros((n // 32, 2), np.uint8), x[:, 4:]], 1).tobytes())
        sumi = (levels.reshape(-1, 32).astype(np.int64) * y[:, 4:].view(np.int8)).sum(1)
        total = f32(0)
        for b in range(n // 32):
            total = f32(total + f32(f32(f32(dx[b, 0]) * f32(dy[b, 0])) * f32(sumi[b]) + f32(f32(mx[b, 0]) * f32(sy[b, 0]))))
        return total
    y = np.frombuffer(act, np.uint8).reshape(n // 256, 292)
    d8 = y[:, 0:4].copy().view(np.float32)[:, 0]
    q8 = y[:, 4:260].view(np.int8).astype(np.int64)
    bsums = y[:, 260:292].copy().view(np.int16).astype(np.int64)
    if qtype == T.Q2_K:
        q = ((x[:, 16:80].reshape(-1, 2, 1, 32) >> np.uint8([0, 2, 4, 6]).reshape(1, 1, 4, 1)) & 3).reshape(-1, 256)
        sc = x[:, :16]
        dx, dmx = x[:, 80:82].copy().view(np.float16)[:, 0], x[:, 82:84].copy().view(np.float16)[:, 0]
        total = f32(0)
        for b in range(n // 256):
            isum = ((sc[b] & 0xF).astype(np.int64) * (q[b] * q8[b]).reshape(16, 16).sum(1)).sum()
            summs = (bsums[b] * (sc[b] >> 4)).sum()
            total = f32(total + f32(f32(f32(d8[b] * f32(dx[b])) * f32(isum)) - f32(f32(d8[b] * f32(dmx[b])) * f32(summs))))
        return total
    from gguf.quants import Q4_K
    dx, dmx = x[:, 0:2].copy().view(np.float16)[:, 0], x[:, 2:4].copy().view(np.float16)[:, 0]
    sc, mn = Q4_K.get_scale_min(x[:, 4:16].copy())
    qs = x[:, 48:] if qtype == T.Q5_K else x[:, 16:]
    q = ((qs.reshape(-1, 4, 1, 32) >> np.uint8([0, 4]).reshape(1, 1, 2, 1)) & 0xF).reshape(-1, 256).astype(np.int64)
    if qtype == T.Q5_K:
        q += 16 * ((x[:, 16:48].reshape(-1, 1, 32) >> np.uint8(np.arange(8)).reshape(1, 8, 1)) & 1).reshape(-1, 256)
    total, lanes = f32(0), [f32(0)] * 8
    for b in range(n // 256):
        aux = (np.repeat(sc[b].astype(np.int64), 32) * q[b] * q8[b]).reshape(32, 8).sum(0)
        d = f32(f32(dx[b]) * d8[b])
        lanes = [f32(lanes[l] + f32(d * f32(aux[l]))) for l in range(8)]
        total = f32(total - f32(f32(f32(dmx[b]) * d8[b]) * f32((bsums[b] * np.repeat(mn[b].astype(np.int64), 2)).sum())))
    for l in range(8):
        total = f32(total + lanes[l])
    return total


def dot_record(out, ggml, qtype, n, row, act):
    record(out, VEC_DOT, qtype, GGML, n, row + act, np.float32(ggml.vec_dot(qtype, n, row, act)).tobytes())
    if qtype in (T.Q4_1, T.Q5_1, T.Q2_K, T.Q4_K, T.Q5_K):
        record(out, VEC_DOT, qtype, NUMPY, n, row + act, dot_emulated(qtype, n, row, act).tobytes())


def write_vec_dot(out, rng, ggml, model):
    for qtype in WEIGHT_TYPES:
        block, size = SIZES[int(qtype)]
        for n in ([256, 512, 2048, 4096] if block == 256 else [32, 96, 576, 1536]):
            row = random_blocks(rng, qtype, n // block)
            act = ggml.quantize(VEC_DOT_TYPE[qtype], activations(rng, n))
            dot_record(out, ggml, qtype, n, row, act)
        # with activations of one sign near their block maximum; few blocks, so that a
        # last-bit difference in one block's term is not absorbed by the running sum
        for fill, n_blocks in [(f, b) for f in [0x00, 0x7F, 0xFF] for b in [1, 1, 1, 1, 2, 16]]:
            n = n_blocks * block
            row = extreme_blocks(rng, qtype, n_blocks, fill)
            act = ggml.quantize(VEC_DOT_TYPE[qtype], rng.uniform(0.9, 1.0, n).astype(np.float32))
            dot_record(out, ggml, qtype, n, row, act)
    if os.path.exists(model):
        for t in GGUFReader(model).tensors:
            if t.name in ("blk.0.attn_q.weight", "token_embd.weight"):
                n = int(t.shape[0])
                for r in range(3):
                    row = np.asarray(t.data)[r].tobytes()
                    act = ggml.quantize(VEC_DOT_TYPE[t.tensor_type], activations(rng, n))
                    dot_record(out, ggml, t.tensor_type, n, row, act)
    for qtype, dtype in [(T.F32, np.float32), (T.F16, np.float16)]:
        for n in [1, 100, 4096]:
            x, y = (rng.standard_normal(n) * 3).astype(dtype), (rng.standard_normal(n) * 3).astype(dtype)
            record(out, VEC_DOT, qtype, NUMPY, n, x.tobytes() + y.tobytes(), float_dot(qtype, x, y).tobytes())
    for n in [1, 100, 4096]:
        x, y = (rng.standard_normal((2, n)) * 3).astype(np.float32)
        bx, by = quantize(x, T.BF16).tobytes(), quantize(y, T.BF16).tobytes()
        record(out, VEC_DOT, T.BF16, NUMPY, n, bx + by,
               float_dot(T.BF16, gguf_dequantize(T.BF16, bx), gguf_dequantize(T.BF16, by)).tobytes())


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    rng = np.random.default_rng(1234)
    ggml = Ggml()
    path = os.path.join(root, "tests", "data", "quant", "golden.bin")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(b"CQG1")
        write_dequantize(out, rng, model)
        write_quantize(out, rng, ggml)
        write_vec_dot(out, rng, ggml, model)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compares celer's quantizers (quant_quantize) with llama.cpp's (ggml_quantize_chunk from the
libggml that llama-cpp-python bundles), the measurements behind docs/quantize.md.

  compare_quantizers.py error [TENSOR] [--imp]
      relative RMS error of both on gaussian rows (no TENSOR) or on the first 192 rows of a
      tensor of the default model, dequantized; with --imp, random log-normal importances
      (the error is then importance-weighted) given to both; also the throughput (one
      thread, CPU time).
  compare_quantizers.py requant OUT TYPE METHOD IMATRIX [SUBSTRING]
      writes the default model with its layer matrices (those whose name contains
      SUBSTRING, if given) requantized from their dequantized Q4_1 values to TYPE by METHOD:
      celer, celer_imp, ggml or ggml_imp (the _imp ones with the importances of IMATRIX, an
      imatrix.gguf from llama-imatrix); then `celer ppl -m OUT ...` measures it.

celer's quantizer is compiled from src/ into a temporary shared library. Needs numpy, gguf,
llama-cpp-python and a C compiler.
"""
import ctypes
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFReader, GGUFWriter
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
TYPES = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K]


def load_celer(tmp):
    sources = [os.path.join(ROOT, "src", p) for p in [
        "quant/quantize.c", "quant/quantize_fit.c", "quant/quantize_k.c", "quant/quant.c", "quant/quant_ref.c",
        "quant/quant_ref_k.c", "quant/quant_float.c", "core/status.c"]]
    lib = os.path.join(tmp, "libceler_quantize.so")
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-march=native", "-std=c11", "-D_GNU_SOURCE", "-fPIC", "-shared",
                    "-I" + os.path.join(ROOT, "src"), "-I" + os.path.join(ROOT, "include"), *sources, "-lm", "-o", lib], check=True)
    so = ctypes.CDLL(lib)
    so.quant_quantize.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                  ctypes.c_void_p, ctypes.c_void_p]
    return so


def load_ggml():
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None:
        sys.exit("llama-cpp-python is needed (for libggml)")
    base = ctypes.CDLL(os.path.join(os.path.dirname(spec.origin), "lib", "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    base.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_void_p]
    base.ggml_quantize_init.argtypes = [ctypes.c_int]
    return base


def quantize(lib, which, qtype, x, imp):
    """Bytes (rows, row_bytes) of x (rows, n) in qtype, and the CPU seconds it took."""
    rows, n = x.shape
    block, size = GGML_QUANT_SIZES[qtype]
    buf = np.zeros((rows, n // block * size), np.uint8)
    imp_ptr = imp.ctypes.data if imp is not None else None
    t0 = time.process_time()
    if which == "ggml":
        lib.ggml_quantize_init(int(qtype))
        lib.ggml_quantize_chunk(int(qtype), x.ctypes.data, buf.ctypes.data, 0, rows, n, imp_ptr)
    else:
        err = ctypes.create_string_buffer(512)
        if lib.quant_quantize(int(qtype), x.ctypes.data, buf.ctypes.data, rows, n, imp_ptr, err) != 0:
            sys.exit(f"quant_quantize {qtype.name}: {err.value.decode()}")
    return buf, time.process_time() - t0


def error_mode(args):
    rng = np.random.default_rng(5)
    tensor = next((a for a in args if not a.startswith("--")), None)
    if tensor:
        t = next(t for t in GGUFReader(MODEL).tensors if t.name == tensor)
        x = np.ascontiguousarray(dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)[:192])
    else:
        x = rng.standard_normal((64, 1536)).astype(np.float32)
    imp = np.exp(2 * rng.standard_normal(x.shape[1])).astype(np.float32) if "--imp" in args else None
    w = imp if imp is not None else np.ones(x.shape[1], np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        libs = {"ggml": load_ggml(), "celer": load_celer(tmp)}
        print(f"{'type':7s} {'llama.cpp':>10s} {'celer':>10s} {'ratio':>6s}   M weights/s (llama.cpp, celer)")
        for qtype in TYPES:
            if x.shape[1] % GGML_QUANT_SIZES[qtype][0]:
                continue
            res = {}
            for which, lib in libs.items():
                buf, seconds = quantize(lib, which, qtype, x, imp)
                y = dequantize(buf.reshape(-1, GGML_QUANT_SIZES[qtype][1]), qtype).reshape(x.shape)
                res[which] = (np.sqrt(((x - y) ** 2 * w).sum() / (x ** 2 * w).sum()), x.size / max(seconds, 1e-9) / 1e6)
            ratio = res["celer"][0] / res["ggml"][0] if res["ggml"][0] > 0 else float("nan")
            print(f"{qtype.name:7s} {res['ggml'][0]:10.5f} {res['celer'][0]:10.5f} {ratio:6.3f}   {res['ggml'][1]:6.1f} {res['celer'][1]:6.1f}")


def requant_mode(args):
    out_path, qtype, method, imatrix = args[0], T[args[1]], args[2], args[3]
    only = args[4] if len(args) > 4 else None
    sums, counts = {}, {}
    for t in GGUFReader(imatrix).tensors:
        if t.name.endswith(".in_sum2"):
            sums[t.name[:-len(".in_sum2")]] = np.asarray(t.data, np.float32)
        elif t.name.endswith(".counts"):
            counts[t.name[:-len(".counts")]] = float(np.asarray(t.data)[0])
    reader = GGUFReader(MODEL)
    writer = GGUFWriter(out_path, arch=reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        writer.add_key_value(field.name, field.contents(), kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
    with tempfile.TemporaryDirectory() as tmp:
        lib = load_ggml() if method.startswith("ggml") else load_celer(tmp)
        data = []
        for t in reader.tensors:
            if t.name in sums and (only is None or only in t.name):
                x = np.ascontiguousarray(dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32))
                imp = (sums[t.name] / counts[t.name]).astype(np.float32) if method.endswith("_imp") else None
                buf, _ = quantize(lib, "ggml" if method.startswith("ggml") else "celer", qtype, x, imp)
                writer.add_tensor_info(t.name, buf.shape, buf.dtype, buf.nbytes, qtype)
                data.append(buf)
            else:
                writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
                data.append(t.data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for d in data:
            writer.write_tensor_data(d)
        writer.close()
    print(f"wrote {out_path}")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("error", "requant"):
        sys.exit(__doc__)
    (error_mode if sys.argv[1] == "error" else requant_mode)(sys.argv[2:])


if __name__ == "__main__":
    main()

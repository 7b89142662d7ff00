#!/usr/bin/env python3
"""make_mix_golden.py: llama.cpp's logits for a celer-quantized file of every type.

celer quantize writes the model with the pins of tests/data/golden/mix/pins.tsv (no
calibration, so the bytes are deterministic); llama.cpp (llama-cpp-python) loads that
file and evaluates the longest prompt of tests/data/golden/model/prompts.tsv; its last-position
logits and the tensor types it saw go to tests/data/golden/mix/. tests/test_quant_llamacpp.c
quantizes the same way and checks celer's logits on its own file against these.

Usage: scripts/make_mix_golden.py [--celer build/celer] [--model M]
"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as mg  # noqa: E402  (llama.cpp wrappers with the fixed settings)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden", "mix")


def pins():
    base, rest = None, []
    for line in open(os.path.join(OUT, "pins.tsv")):
        if line.startswith("#") or not line.strip():
            continue
        a, b = line.rstrip("\n").split("\t")
        if a == "base":
            base = b
        else:
            rest.append((a, b))
    return base, rest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--celer", default=os.path.join(ROOT, "build", "celer"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    base, rest = pins()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mix.gguf")
        cmd = [args.celer, "quantize", "-m", args.model, "-o", path, base]
        for regex, t in rest:
            cmd += ["--tensor-type", f"{regex}={t}"]
        subprocess.run(cmd, check=True)
        import gguf
        reader = gguf.GGUFReader(path)
        types = [(t.name, t.tensor_type.name.lower()) for t in reader.tensors]
        mg.llama_cpp.llama_log_set(mg._LOG_CB, ctypes.c_void_p())
        mg.llama_cpp.llama_backend_init()
        model = mg.Model(path)
        rows = [l for l in open(os.path.join(ROOT, "tests", "data", "golden", "model", "prompts.tsv")) if not l.startswith("#")]
        ids = max(([int(x) for x in l.split("\t")[2].split()] for l in rows), key=len)  # the longest prompt
        ctx = mg.Context(model, mg.N_CTX)
        logits = ctx.eval_prompt(ids, False)
        ctx.free()
    mg.write_f32(os.path.join(OUT, "logits.f32"), logits[-1])
    with open(os.path.join(OUT, "types.tsv"), "w") as f:
        f.write(f"# tensor types of the file celer wrote, as the gguf package reads them (llama-cpp-python "
                f"{mg.llama_cpp.__version__}); see scripts/make_mix_golden.py\n")
        for n, t in types:
            f.write(f"{n}\t{t}\n")
    print(f"{len(types)} tensors, {len(ids)} prompt tokens, top token {int(np.argmax(logits[-1]))}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Times llama.cpp (through the llama-cpp-python package's direct bindings to llama_decode,
so no Python-side buffers are in the loop) the way `celer run` reports itself: prompt
evaluation tokens/s (time to first token, first token's sampling included) and decode
tokens/s for greedy generation, same GGUF, same thread count. Used by scripts/bench_cpu.sh.

Usage: bench_llamacpp.py MODEL PROMPT_FILE N_PREDICT THREADS
Prints one line: "llama.cpp prompt <n> tokens <tok/s> tok/s; generate <n> tokens <tok/s> tok/s"
"""
import sys
import time

import numpy as np
import llama_cpp
from llama_cpp import Llama


def decode(ctx, batch, tokens, start):
    """One llama_decode of tokens at positions start.., logits for the last only."""
    batch.n_tokens = len(tokens)
    for i, t in enumerate(tokens):
        batch.token[i] = t
        batch.pos[i] = start + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = i == len(tokens) - 1
    if llama_cpp.llama_decode(ctx, batch) != 0:
        raise SystemExit("llama_decode failed")


def main():
    model, prompt_file, n_predict, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    llm = Llama(model_path=model, n_ctx=2048, n_batch=512, n_ubatch=512, n_threads=threads, n_threads_batch=threads,
                verbose=False)
    n_vocab = llm.n_vocab()
    tokens = llm.tokenize(open(prompt_file, "rb").read(), add_bos=True, special=True)
    ctx = llm.ctx
    batch = llama_cpp.llama_batch_init(512, 0, 1)
    argmax = lambda: int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))))
    t0 = time.perf_counter()
    decode(ctx, batch, tokens, 0)
    tok = argmax()
    t1 = time.perf_counter()
    for i in range(n_predict - 1):
        decode(ctx, batch, [tok], len(tokens) + i)
        tok = argmax()
    t2 = time.perf_counter()
    llama_cpp.llama_batch_free(batch)
    print(f"llama.cpp prompt {len(tokens)} tokens {len(tokens) / (t1 - t0):.1f} tok/s; "
          f"generate {n_predict} tokens {(n_predict - 1) / (t2 - t1):.1f} tok/s")


if __name__ == "__main__":
    main()

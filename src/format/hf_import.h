/* hf_import.h: a Hugging Face model directory (config.json, tokenizer.json,
 * tokenizer_config.json, *.safetensors in F32/F16/BF16, sharded ones listed in
 * model.safetensors.index.json) as an in-memory gguf_file equal to what llama.cpp's
 * convert_hf_to_gguf.py writes for it, so model_load and tokenizer_init_from_gguf read
 * it unchanged. Architectures: LlamaForCausalLM, MistralForCausalLM (GGUF "llama") and
 * Qwen2ForCausalLM ("qwen2").
 *
 * Tensors: HF names become GGUF names (model.layers.N.self_attn.q_proj.weight ->
 * blk.N.attn_q.weight, ...); each is checked for presence, dtype and the shape config.json
 * implies, and any tensor the model would not use is an error, as in convert_hf_to_gguf.
 * Matrices keep their dtype and stay in the safetensors mappings; norms and biases become
 * F32 copies (model.c reads them as F32); for "llama" the Q and K rows are permuted from
 * HF's rotary halves to GGUF's interleaved pairs (copies); a Llama 3 rope scaling becomes
 * the rope_freqs.weight factors. The copies and mappings belong to the result:
 * gguf_close frees them. Metadata: hf_import.c; tokenizer (tokenizer.json's byte-level
 * BPE, or tokenizer.model's SentencePiece pieces): hf_tokenizer.c.
 * Tests: tests/test_hf_import.c (a directory written from the real model and compared
 * with it; tiny random Llama and Qwen2 directories; a SentencePiece vocabulary; one test
 * per error). */
#ifndef CELER_FORMAT_HF_IMPORT_H
#define CELER_FORMAT_HF_IMPORT_H

#include <stdbool.h>

#include "core/status.h"
#include "format/gguf.h"

/* Imports the directory dir. Errors are one line naming the file or tensor at fault. */
celer_status hf_import(const char *dir, gguf_file **out, celer_error *err);

/* Whether path names a directory (then it is opened with hf_import). */
bool hf_is_directory(const char *path);

/* A model source as celer's commands take it: a Hugging Face directory (hf_import) or a
 * GGUF file (gguf_open). */
celer_status model_file_open(const char *path, gguf_file **out, celer_error *err);

#endif

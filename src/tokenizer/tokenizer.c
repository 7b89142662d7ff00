/* tokenizer.c: loading a tokenizer from GGUF metadata: vocabulary, scores, types, merges,
 * special ids, the end-of-generation set and the piece of every token, with llama.cpp's
 * defaults and text-based detections (src/llama-vocab.cpp, llama_vocab::impl::load).
 * Encoding and pieces are in encode.c. Tests: tests/test_tokenizer.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

/* ---- typed metadata lookups where absence means "use the default" ---- */

static celer_status opt_str(const gguf_file *f, const char *key, const char **out, celer_error *err) {
    const gguf_string *s;
    celer_status st = gguf_get_str(f, key, &s, err);
    *out = st == CELER_OK ? s->data : NULL;
    return st == CELER_ERR_RANGE ? CELER_OK : st;
}

static celer_status opt_bool(const gguf_file *f, const char *key, bool *inout, celer_error *err) {
    bool v;
    celer_status st = gguf_get_bool(f, key, &v, err);
    if (st == CELER_OK) *inout = v;
    return st == CELER_ERR_RANGE ? CELER_OK : st;
}

/* A special id from the file replaces the default when it is inside the vocabulary. */
static celer_status opt_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t *inout, celer_error *err) {
    if (*inout >= n_vocab) *inout = -1; /* a default outside the vocabulary means none */
    uint32_t v;
    celer_status st = gguf_get_u32(f, key, &v, err);
    if (st == CELER_ERR_RANGE) return CELER_OK;
    if (st != CELER_OK) return st;
    if (v >= (uint32_t)n_vocab)
        fprintf(stderr, "celer: tokenizer: %s = %u is outside the vocabulary (%d tokens), using %d\n", key, v,
                n_vocab, *inout);
    else
        *inout = (int32_t)v;
    return CELER_OK;
}

/* ---- vocabulary ---- */

static celer_status load_texts(tokenizer *t, const gguf_file *f, celer_error *err) {
    const gguf_value *v;
    celer_status st = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &v, err);
    if (st == CELER_ERR_RANGE) return celer_error_set(err, CELER_ERR_FORMAT, "GGUF has no tokenizer.ggml.tokens");
    if (st != CELER_OK) return st;
    if (v->n == 0 || v->n > INT32_MAX - 1)
        return celer_error_set(err, CELER_ERR_FORMAT, "tokenizer.ggml.tokens: %llu tokens, expected 1..%d",
                               (unsigned long long)v->n, INT32_MAX - 1);
    const gguf_string *s = v->data;
    t->n_vocab = (int32_t)v->n;
    uint64_t total = 0;
    char empty[32];
    for (uint64_t i = 0; i < v->n; i++) /* llama.cpp reads C strings: text stops at a NUL */
        total += (s[i].data[0] ? strlen(s[i].data) : (size_t)snprintf(empty, sizeof(empty), "[EMPTY_%llu]", (unsigned long long)i)) + 1;
    t->text = malloc(total);
    t->text_off = malloc((v->n + 1) * sizeof(uint64_t));
    if (!t->text || !t->text_off || !strmap_init(&t->ids, v->n))
        return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory for %d tokens", t->n_vocab);
    uint64_t off = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->text_off[i] = off;
        if (s[i].data[0]) off += (uint64_t)sprintf(t->text + off, "%s", s[i].data) + 1;
        else off += (uint64_t)sprintf(t->text + off, "[EMPTY_%d]", i) + 1;
        t->text_off[i + 1] = off;
        if (strmap_put(&t->ids, token_text(t, i), token_len(t, i), NULL, 0, i) != i)
            return celer_error_set(err, CELER_ERR_FORMAT, "tokenizer.ggml.tokens: token %d '%s' repeats token %d", i,
                                   token_text(t, i), strmap_get(&t->ids, token_text(t, i), token_len(t, i), NULL, 0));
    }
    return CELER_OK;
}

/* Scores (FLOAT32 or INT32) and token types (INT32), each at least n_vocab long, optional. */
static celer_status load_scores_and_types(tokenizer *t, const gguf_file *f, celer_error *err) {
    t->score = calloc((size_t)t->n_vocab, sizeof(float));
    t->attr = malloc((size_t)t->n_vocab * sizeof(uint32_t));
    if (!t->score || !t->attr) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    const gguf_value *v;
    celer_status st = gguf_get_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_COUNT, &v, err);
    if (st == CELER_OK) {
        if (v->elem_type != GGUF_TYPE_FLOAT32 && v->elem_type != GGUF_TYPE_INT32)
            return celer_error_set(err, CELER_ERR_FORMAT, "tokenizer.ggml.scores: type %s, expected FLOAT32 or INT32",
                                   gguf_type_name(v->elem_type));
        if (v->n < (uint64_t)t->n_vocab)
            return celer_error_set(err, CELER_ERR_FORMAT, "tokenizer.ggml.scores: %llu scores for %d tokens",
                                   (unsigned long long)v->n, t->n_vocab);
        for (int32_t i = 0; i < t->n_vocab; i++) {
            int32_t k;
            memcpy(&k, (const char *)v->data + 4 * (size_t)i, 4);
            if (v->elem_type == GGUF_TYPE_INT32) t->score[i] = (float)k;
            else memcpy(&t->score[i], &k, 4);
        }
    } else if (st != CELER_ERR_RANGE) {
        return st;
    }
    /* token_type: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte */
    static const uint32_t type_attr[7] = {0, TOKEN_ATTR_NORMAL, TOKEN_ATTR_UNKNOWN, TOKEN_ATTR_CONTROL,
                                          TOKEN_ATTR_USER_DEFINED, TOKEN_ATTR_UNUSED, TOKEN_ATTR_BYTE};
    st = gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &v, err);
    if (st == CELER_ERR_RANGE) {
        for (int32_t i = 0; i < t->n_vocab; i++) t->attr[i] = TOKEN_ATTR_NORMAL;
        return CELER_OK;
    }
    if (st != CELER_OK) return st;
    if (v->n < (uint64_t)t->n_vocab)
        return celer_error_set(err, CELER_ERR_FORMAT, "tokenizer.ggml.token_type: %llu types for %d tokens",
                               (unsigned long long)v->n, t->n_vocab);
    for (int32_t i = 0; i < t->n_vocab; i++) {
        int32_t type;
        memcpy(&type, (const char *)v->data + 4 * (size_t)i, 4);
        t->attr[i] = type >= 0 && type < 7 ? type_attr[type] : 0;
    }
    return CELER_OK;
}

/* "left right" split at the first space after the first byte; a merge's rank is its index,
 * and a repeated pair keeps its first rank. */
static celer_status load_merges(tokenizer *t, const gguf_file *f, celer_error *err) {
    const gguf_value *v;
    celer_status st = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &v, err);
    if (st == CELER_ERR_RANGE) return celer_error_set(err, CELER_ERR_FORMAT, "GGUF has no tokenizer.ggml.merges (needed by a gpt2 tokenizer)");
    if (st != CELER_OK) return st;
    if (v->n > INT32_MAX) return celer_error_set(err, CELER_ERR_FORMAT, "tokenizer.ggml.merges: too many (%llu)", (unsigned long long)v->n);
    const gguf_string *s = v->data;
    uint64_t total = 0;
    for (uint64_t i = 0; i < v->n; i++) total += strlen(s[i].data) + 1;
    t->merge_text = malloc(total + 1);
    if (!t->merge_text || !strmap_init(&t->merges, v->n))
        return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory for %llu merges", (unsigned long long)v->n);
    char *p = t->merge_text;
    for (uint64_t i = 0; i < v->n; i++) {
        size_t len = strlen(s[i].data);
        memcpy(p, s[i].data, len + 1);
        char *space = len > 1 ? memchr(p + 1, ' ', len - 1) : NULL;
        if (space) strmap_put(&t->merges, p, (size_t)(space - p), space + 1, len - (size_t)(space - p) - 1, (int32_t)i);
        p += len + 1;
    }
    return CELER_OK;
}

/* ---- special tokens ---- */

static int32_t find_text(const tokenizer *t, const char *text) { return strmap_get(&t->ids, text, strlen(text), NULL, 0); }

/* The lowest id whose text is in the list (NULL-terminated), or -1. */
static int32_t find_any(const tokenizer *t, const char *const *texts) {
    int32_t best = -1;
    for (; *texts; texts++) {
        int32_t id = find_text(t, *texts);
        if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    return best;
}

static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>",
                                        "<end_of_utterance>", NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
                                            "▁<PRE>", "<|code_prefix|>", "<|prefix|>", NULL};
static const char *const fim_suf_texts[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>",
                                            "▁<SUF>", "<|code_suffix|>", "<|suffix|>", NULL};
static const char *const fim_mid_texts[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
                                            "▁<MID>", "<|code_middle|>", "<|middle|>", NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
                                        "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
                                        "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
                                        "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[", NULL};

/* Detects a special id by its text when the file does not give it; the token becomes a
 * control token (llama.cpp: "control-looking token ... was not control-type"). */
static int32_t detect(tokenizer *t, int32_t id, const char *const *texts) {
    if (id >= 0) return id;
    id = find_any(t, texts);
    if (id >= 0) t->attr[id] |= TOKEN_ATTR_CONTROL;
    return id;
}

static bool eog_has(const tokenizer *t, const char *text) {
    int32_t id = find_text(t, text);
    return id >= 0 && t->eog[id];
}

/* llama.cpp's exceptions: gpt-oss/solar-open "<|end|>" and gemma4/plamo "</s>" do not end
 * generation when the model has the tokens that replace them. */
static void eog_exceptions(tokenizer *t) {
    bool has_call = eog_has(t, "<|call|>") || eog_has(t, "<|calls|>");
    if (eog_has(t, "<|end|>") && has_call && (eog_has(t, "<|return|>") || eog_has(t, "<|flush|>"))) {
        int32_t id = find_text(t, "<|end|>");
        t->eog[id] = 0;
        t->attr[id] = TOKEN_ATTR_USER_DEFINED;
    }
    if (eog_has(t, "</s>") && (eog_has(t, "<|tool_response>") || eog_has(t, "<|plamo:eos|>"))) {
        int32_t id = find_text(t, "</s>");
        t->eog[id] = 0;
        t->attr[id] = TOKEN_ATTR_NORMAL;
    }
}

static celer_status load_special(tokenizer *t, const gguf_file *f, celer_error *err) {
    int32_t fim[6] = {-1, -1, -1, -1, -1, -1}; /* pre, suf, mid, pad, rep, sep */
    static const char *const keys[] = {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
                                       "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id",
                                       "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"};
    static const char *const old_keys[] = {"tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id",
                                           "tokenizer.ggml.middle_token_id"};
    celer_status st = CELER_OK;
    if (st == CELER_OK) st = opt_id(f, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos, err);
    if (st == CELER_OK) st = opt_id(f, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos, err);
    if (st == CELER_OK) st = opt_id(f, "tokenizer.ggml.eot_token_id", t->n_vocab, &t->eot, err);
    if (st == CELER_OK) st = opt_id(f, "tokenizer.ggml.eom_token_id", t->n_vocab, &t->eom, err);
    if (st == CELER_OK) st = opt_id(f, "tokenizer.ggml.unknown_token_id", t->n_vocab, &t->unk, err);
    for (int i = 0; st == CELER_OK && i < 6; i++) st = opt_id(f, keys[i], t->n_vocab, &fim[i], err);
    for (int i = 0; st == CELER_OK && i < 3; i++) st = opt_id(f, old_keys[i], t->n_vocab, &fim[i], err);
    if (st == CELER_OK) st = opt_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos, err);
    if (st == CELER_OK) st = opt_bool(f, "tokenizer.ggml.add_eos_token", &t->add_eos, err);
    if (st != CELER_OK) return st;

    t->eot = detect(t, t->eot, eot_texts);
    t->eom = detect(t, t->eom, eom_texts);
    static const char *const *const fim_texts[6] = {fim_pre_texts, fim_suf_texts, fim_mid_texts,
                                                    fim_pad_texts, fim_rep_texts, fim_sep_texts};
    for (int i = 0; i < 6; i++) fim[i] = detect(t, fim[i], fim_texts[i]);

    if (!(t->eog = calloc((size_t)t->n_vocab, 1))) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    for (int i = 3; i < 6; i++) /* fim pad, rep, sep */
        if (fim[i] >= 0) t->eog[fim[i]] = 1;
    for (const char *const *p = eog_texts; *p; p++) {
        int32_t id = find_text(t, *p);
        if (id >= 0) t->eog[id] = 1, t->attr[id] |= TOKEN_ATTR_CONTROL;
    }
    static const char *const always_rendered[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (const char *const *p = always_rendered; *p; p++) { /* llama.cpp's gpt-oss rule */
        int32_t id = find_text(t, *p);
        if (id >= 0) t->attr[id] = TOKEN_ATTR_USER_DEFINED;
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
    eog_exceptions(t);
    return CELER_OK;
}

typedef struct {
    size_t len;
    int32_t id;
} special_entry;

static int longest_first(const void *a, const void *b) {
    const special_entry *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The tokens cut out of the text before encoding, longest text first. */
static celer_status build_special_list(tokenizer *t, celer_error *err) {
    special_entry *e = malloc((size_t)t->n_vocab * sizeof(*e));
    if (!e) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    int32_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & (TOKEN_ATTR_CONTROL | TOKEN_ATTR_USER_DEFINED | TOKEN_ATTR_UNKNOWN))
            e[n++] = (special_entry){token_len(t, i), i};
    qsort(e, (size_t)n, sizeof(*e), longest_first);
    t->special = malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    if (!t->special) {
        free(e);
        return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    }
    for (int32_t i = 0; i < n; i++) t->special[i] = e[i].id;
    t->n_special = n;
    free(e);
    return CELER_OK;
}

/* llama.cpp strips the whitespace after special tokens of Phi-3 models (by general.name). */
static celer_status phi3_rstrip(tokenizer *t, const gguf_file *f, celer_error *err) {
    const char *name;
    celer_status st = opt_str(f, "general.name", &name, err);
    if (st != CELER_OK || !name) return st;
    char lower[256];
    size_t n = strlen(name) < sizeof(lower) - 1 ? strlen(name) : sizeof(lower) - 1;
    for (size_t i = 0; i < n; i++) lower[i] = (char)tolower((unsigned char)name[i]);
    lower[n] = '\0';
    if (!strstr(lower, "phi-3") && !strstr(lower, "phi3")) return CELER_OK;
    for (int32_t i = 0; i < t->n_special; i++) t->attr[t->special[i]] |= TOKEN_ATTR_RSTRIP;
    int32_t id = find_text(t, "</s>");
    if (id >= 0) t->attr[id] |= TOKEN_ATTR_RSTRIP;
    static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (int i = 0; i < 3; i++)
        if ((id = find_text(t, keep[i])) >= 0) t->attr[id] &= ~(uint32_t)TOKEN_ATTR_RSTRIP;
    return CELER_OK;
}

/* ---- pieces: llama.cpp's token_to_piece(special = true) of every token ---- */

/* Byte-level text back to bytes; a code point outside the byte map is written as
 * "[UNK_BYTE_0x<hex>" followed by the whole token text and "]", as llama.cpp does. */
static size_t decode_byte_level(const char *text, char *dst) {
    size_t len = strlen(text), n = 0;
    for (size_t pos = 0; pos < len;) {
        uint32_t cp = unicode_decode((const uint8_t *)text, len, &pos);
        int b = unicode_cp_to_byte(cp);
        if (b >= 0) {
            if (dst) dst[n] = (char)b;
            n++;
            continue;
        }
        uint8_t utf8[4];
        size_t k = unicode_encode(cp, utf8);
        char tmp[16];
        n += (size_t)snprintf(dst ? dst + n : tmp, dst ? 13 : sizeof(tmp), "[UNK_BYTE_0x");
        for (size_t j = 0; j < k; j++) n += (size_t)snprintf(dst ? dst + n : tmp, 3, "%02x", utf8[j]);
        if (dst) memcpy(dst + n, text, len), dst[n + len] = ']';
        n += len + 1;
    }
    return n;
}

/* SentencePiece text: U+2581 back to a space. */
static size_t unescape_spaces(const char *text, char *dst) {
    size_t n = 0;
    for (const char *p = text; *p;) {
        if (strncmp(p, "\xE2\x96\x81", 3) == 0) {
            if (dst) dst[n] = ' ';
            n++, p += 3;
        } else {
            if (dst) dst[n] = *p;
            n++, p++;
        }
    }
    return n;
}

/* A byte token "<0xAB>": the byte from characters 3 and 4, as llama.cpp's token_to_byte. */
static size_t byte_token(const char *text, char *dst) {
    if (strlen(text) < 5) return 0;
    char hex[3] = {text[3], text[4], 0};
    if (dst) dst[0] = (char)strtol(hex, NULL, 16);
    return 1;
}

/* Writes the piece into dst (when not NULL); returns its length. */
static size_t piece_of(const tokenizer *t, int32_t id, char *dst) {
    const char *text = token_text(t, id);
    uint32_t a = t->attr[id];
    if (a & (TOKEN_ATTR_UNKNOWN | TOKEN_ATTR_CONTROL | TOKEN_ATTR_USER_DEFINED)) {
        if (dst) memcpy(dst, text, token_len(t, id));
        return token_len(t, id);
    }
    if (a & TOKEN_ATTR_NORMAL) return t->kind == TOKENIZER_BPE ? decode_byte_level(text, dst) : unescape_spaces(text, dst);
    if (a & TOKEN_ATTR_BYTE) return byte_token(text, dst);
    return 0; /* undefined and unused tokens print nothing */
}

static celer_status build_pieces(tokenizer *t, celer_error *err) {
    t->piece_off = malloc(((size_t)t->n_vocab + 1) * sizeof(uint64_t));
    if (!t->piece_off) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    uint64_t total = 0;
    for (int32_t i = 0; i < t->n_vocab; i++) {
        t->piece_off[i] = total;
        size_t n = piece_of(t, i, NULL);
        if (n > t->max_piece) t->max_piece = n;
        total += n;
    }
    t->piece_off[t->n_vocab] = total;
    if (!(t->piece = malloc(total + 1))) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    for (int32_t i = 0; i < t->n_vocab; i++) CHECK(piece_of(t, i, t->piece + t->piece_off[i]) == t->piece_off[i + 1] - t->piece_off[i]);
    return CELER_OK;
}

/* ---- init ---- */

/* The model type decides the defaults that the file's keys may then override. */
static celer_status init_kind(tokenizer *t, const gguf_file *f, celer_error *err) {
    const char *model, *pre;
    celer_status st = opt_str(f, "tokenizer.ggml.model", &model, err);
    if (st == CELER_OK) st = opt_str(f, "tokenizer.ggml.pre", &pre, err);
    if (st != CELER_OK) return st;
    if (!model) return celer_error_set(err, CELER_ERR_FORMAT, "GGUF has no tokenizer.ggml.model");
    t->eot = t->eom = -1;
    if (strcmp(model, "llama") == 0) {
        t->kind = TOKENIZER_SPM;
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_bos = true, t->add_space_prefix = true;
    } else if (strcmp(model, "gpt2") == 0) {
        t->kind = TOKENIZER_BPE;
        t->bos = 11, t->eos = 11, t->unk = -1;
        pretokenizer_flags flags;
        if ((st = pretokenizer_init(&t->pre, pre, &flags, err)) != CELER_OK) return st;
        t->ignore_merges = flags.ignore_merges;
        t->add_bos = flags.add_bos;
        if (flags.no_bos) t->bos = -1;
    } else {
        return celer_error_set(err, CELER_ERR_UNSUPPORTED,
                               "tokenizer.ggml.model = '%s' is not supported (expected 'gpt2' or 'llama')", model);
    }
    return opt_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, err);
}

celer_status tokenizer_init_from_gguf(tokenizer **out, const gguf_file *f, celer_error *err) {
    *out = NULL;
    tokenizer *t = calloc(1, sizeof(*t));
    if (!t) return celer_error_set(err, CELER_ERR_NOMEM, "tokenizer: out of memory");
    celer_status st = init_kind(t, f, err);
    if (st == CELER_OK) st = load_texts(t, f, err);
    if (st == CELER_OK) st = load_scores_and_types(t, f, err);
    if (st == CELER_OK && t->kind == TOKENIZER_BPE) st = load_merges(t, f, err);
    if (st == CELER_OK) st = load_special(t, f, err);
    if (st == CELER_OK) st = build_special_list(t, err);
    if (st == CELER_OK) st = build_pieces(t, err);
    if (st == CELER_OK) st = phi3_rstrip(t, f, err);
    if (st != CELER_OK) {
        tokenizer_free(t);
        return st;
    }
    *out = t;
    return CELER_OK;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->text_off);
    free(t->score);
    free(t->attr);
    free(t->piece);
    free(t->piece_off);
    strmap_free(&t->ids);
    free(t->merge_text);
    strmap_free(&t->merges);
    free(t->special);
    free(t->eog);
    pretokenizer_free(t->pre);
    free(t);
}

int32_t tokenizer_n_vocab(const tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const tokenizer *t) { return t->eos; }
int32_t tokenizer_eot(const tokenizer *t) { return t->eot; }
bool tokenizer_add_bos(const tokenizer *t) { return t->add_bos; }
bool tokenizer_is_eog(const tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab && t->eog[id]; }
const char *tokenizer_model(const tokenizer *t) { return t->kind == TOKENIZER_BPE ? "gpt2" : "llama"; }
const char *tokenizer_pre(const tokenizer *t) { return t->pre ? pretokenizer_name(t->pre) : ""; }
size_t tokenizer_max_piece_len(const tokenizer *t) { return t->max_piece; }
const char *tokenizer_token_text(const tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab ? token_text(t, id) : NULL;
}

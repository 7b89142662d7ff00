/* hf_tokenizer.c: a Hugging Face tokenizer (tokenizer.json, tokenizer_config.json and the
 * special ids of config.json) as the tokenizer.* GGUF keys that llama.cpp's
 * convert_hf_to_gguf.py writes for a byte-level BPE vocabulary (its _set_vocab_gpt2 and
 * gguf-py's SpecialVocab), so that tokenizer_init_from_gguf reads it unchanged:
 *
 *   - tokens: model.vocab and added_tokens by id, ids without a token "[PAD<id>]" up to
 *     the embedding's rows; types NORMAL, CONTROL (added and special, or looking special
 *     like "<|...|>"), USER_DEFINED (other added tokens, U+2581 read as a space), UNUSED;
 *   - merges: "a b" strings as they are, [a, b] pairs joined with a space after spaces
 *     inside them became U+0120;
 *   - pre: the pre-tokenizer recognised from its structure (convert_hf_to_gguf hashes the
 *     tokens of a test text, which needs the Python tokenizer): GPT-2's ByteLevel,
 *     SmolLM/StarCoder's digits + ByteLevel, the Llama 3 and Qwen2 split expressions;
 *     anything else falls back to "default" with a warning;
 *   - special ids from tokenizer_config.json's "<type>_token" (looked up among the added
 *     tokens) then config.json's "<type>_token_id"; add_bos/add_eos from the
 *     post-processor then tokenizer_config.json; the chat template from
 *     tokenizer_config.json, chat_template.jinja or chat_template.json.
 * With a tokenizer.model (SentencePiece: Llama 2, Mistral v0.1-v0.3, TinyLlama), which
 * convert_hf_to_gguf prefers, the vocabulary is its pieces with their scores and types
 * (GGUF model "llama"), plus added_tokens.json and tokenizer_config.json's
 * added_tokens_decoder; a SentencePiece-style tokenizer.json without it is refused.
 * Tests: tests/test_hf_import.c. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "format/hf_internal.h"

enum { TYPE_NORMAL = 1, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5 };

typedef struct {
    const char *dir;
    char where[4200]; /* "<dir>/tokenizer.json", for messages */
    celer_error *err;
    int64_t n_vocab;
    const char **text; /* (n_vocab) borrowed from the JSON, the pieces or owned */
    int32_t *type;     /* (n_vocab) */
    float *score;      /* (n_vocab) SentencePiece only */
    char **owned;      /* strings this conversion made */
    size_t n_owned, cap_owned;
} vocab;

/* Keeps s (malloc'd) until the end of the conversion; NULL on out of memory. */
static const char *keep(vocab *v, char *s) {
    if (!s) return NULL;
    if (v->n_owned == v->cap_owned) {
        size_t cap = v->cap_owned ? 2 * v->cap_owned : 64;
        char **p = realloc(v->owned, cap * sizeof(*p));
        if (!p) {
            free(s);
            return NULL;
        }
        v->owned = p;
        v->cap_owned = cap;
    }
    return v->owned[v->n_owned++] = s;
}

static void vocab_free(vocab *v) {
    for (size_t i = 0; i < v->n_owned; i++) free(v->owned[i]);
    free(v->owned);
    free(v->text);
    free(v->type);
    free(v->score);
}

static celer_status oom(vocab *v) { return celer_error_set(v->err, CELER_ERR_NOMEM, "%s: out of memory", v->where); }

/* ---- tokens ---- */

static bool starts_ends(const char *s, const char *head, const char *tail) {
    size_t n = strlen(s), h = strlen(head), t = strlen(tail);
    return n >= h + t && strncmp(s, head, h) == 0 && strcmp(s + n - t, tail) == 0;
}

/* convert_hf_to_gguf's does_token_look_special. */
static bool looks_special(const char *s) {
    return strcmp(s, "<pad>") == 0 || strcmp(s, "<mask>") == 0 || strcmp(s, "<2mass>") == 0 || strcmp(s, "[@BOS@]") == 0 ||
           starts_ends(s, "<|", "|>") || starts_ends(s, "<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || starts_ends(s, "<unused", ">");
}

/* s with every U+2581 (SentencePiece's space) replaced by a space, malloc'd. */
static char *spaces_restored(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    if (!out) return NULL;
    while (*s) {
        if (strncmp(s, "\xE2\x96\x81", 3) == 0) *o++ = ' ', s += 3;
        else *o++ = *s++;
    }
    *o = '\0';
    return out;
}

/* A JSON number that is an integer in [0, 2^53]. */
static bool json_index(const cJSON *v, int64_t *out) {
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0) || v->valuedouble != floor(v->valuedouble))
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static celer_status check_id(vocab *v, const cJSON *id, const char *what, const char *token, int64_t *out) {
    if (!json_index(id, out)) return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: %s '%s' has no valid id", v->where, what, token);
    if (*out >= v->n_vocab)
        return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: %s '%s' has id %" PRId64 " but the model has %" PRId64 " token rows", v->where, what,
                               token, *out, v->n_vocab);
    return CELER_OK;
}

static celer_status load_vocab(vocab *v, const cJSON *model) {
    const cJSON *entries = hf_json_get(model, "vocab");
    if (!cJSON_IsObject(entries)) return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: model.vocab is missing or not an object", v->where);
    for (const cJSON *e = entries->child; e; e = e->next) {
        int64_t id = 0;
        celer_status st = check_id(v, e, "token", e->string, &id);
        if (st != CELER_OK) return st;
        if (v->text[id])
            return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: tokens '%s' and '%s' have the same id %" PRId64, v->where, v->text[id], e->string, id);
        v->text[id] = e->string;
        v->type[id] = TYPE_NORMAL;
    }
    return CELER_OK;
}

static celer_status load_added(vocab *v, const cJSON *added) {
    if (!added) return CELER_OK;
    if (!cJSON_IsArray(added)) return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: added_tokens is not an array", v->where);
    int i = 0;
    for (const cJSON *a = added->child; a; a = a->next, i++) {
        const char *content = hf_json_str(a, "content");
        if (!content) return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: added_tokens[%d] has no content", v->where, i);
        int64_t id = 0;
        celer_status st = check_id(v, hf_json_get(a, "id"), "added token", content, &id);
        if (st != CELER_OK) return st;
        bool special = cJSON_IsTrue(hf_json_get(a, "special"));
        if (special || looks_special(content)) {
            v->text[id] = content;
            v->type[id] = TYPE_CONTROL;
        } else {
            if (!(v->text[id] = keep(v, spaces_restored(content)))) return oom(v);
            v->type[id] = TYPE_USER_DEFINED;
        }
    }
    return CELER_OK;
}

static celer_status fill_unused(vocab *v) {
    for (int64_t id = 0; id < v->n_vocab; id++) {
        if (v->text[id]) continue;
        char buf[32];
        snprintf(buf, sizeof(buf), "[PAD%" PRId64 "]", id);
        if (!(v->text[id] = keep(v, strdup(buf)))) return oom(v);
        v->type[id] = TYPE_UNUSED;
    }
    return CELER_OK;
}

/* ---- merges ---- */

/* A merge pair's part with its spaces written as U+0120, appended at *p. */
static void put_part(char **p, const char *s) {
    for (; *s; s++) {
        if (*s == ' ') *(*p)++ = '\xC4', *(*p)++ = '\xA0';
        else *(*p)++ = *s;
    }
}

static celer_status write_merges(vocab *v, const cJSON *model, gguf_writer *w) {
    const cJSON *merges = hf_json_get(model, "merges");
    if (merges && !cJSON_IsArray(merges)) return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: model.merges is not an array", v->where);
    int n = merges ? cJSON_GetArraySize(merges) : 0;
    const char **strs = malloc((size_t)(n > 0 ? n : 1) * sizeof(*strs));
    if (!strs) return oom(v);
    celer_status st = CELER_OK;
    int i = 0;
    for (const cJSON *m = merges ? merges->child : NULL; m && st == CELER_OK; m = m->next, i++) {
        if (cJSON_IsString(m)) {
            strs[i] = m->valuestring;
            continue;
        }
        const cJSON *a = cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 ? m->child : NULL;
        if (!a || !cJSON_IsString(a) || !cJSON_IsString(a->next)) {
            st = celer_error_set(v->err, CELER_ERR_FORMAT, "%s: model.merges[%d] is neither \"a b\" nor a pair [\"a\", \"b\"]", v->where, i);
            break;
        }
        char *s = malloc(2 * (strlen(a->valuestring) + strlen(a->next->valuestring)) + 2), *p = s;
        if (!s || !keep(v, s)) {
            st = oom(v);
            break;
        }
        put_part(&p, a->valuestring);
        *p++ = ' ';
        put_part(&p, a->next->valuestring);
        *p = '\0';
        strs[i] = s;
    }
    if (st == CELER_OK) st = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", strs, (uint64_t)n, v->err);
    free(strs);
    return st;
}

/* ---- pre-tokenizer ---- */

/* The split expressions of Llama 3 and Qwen2 as their tokenizer.json files write them. */
#define HF_RE_LLAMA3                                                                                                 \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+" \
    "|\\s+(?!\\S)|\\s+"
#define HF_RE_QWEN2                                                                                                  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"      \
    "|\\s+(?!\\S)|\\s+"

static bool is_type(const cJSON *p, const char *type) {
    const char *t = hf_json_str(p, "type");
    return t && strcmp(t, type) == 0;
}

/* ByteLevel with its own GPT-2 expression (use_regex, true by default) or without. */
static bool is_byte_level(const cJSON *p, bool use_regex) {
    if (!is_type(p, "ByteLevel")) return false;
    const cJSON *r = hf_json_get(p, "use_regex");
    return (r ? cJSON_IsTrue(r) : true) == use_regex;
}

/* Split on a Regex pattern, keeping the matches as pieces. */
static const char *split_regex(const cJSON *p) {
    if (!is_type(p, "Split") || cJSON_IsTrue(hf_json_get(p, "invert"))) return NULL;
    const char *behavior = hf_json_str(p, "behavior");
    if (behavior && strcmp(behavior, "Isolated") != 0) return NULL;
    return hf_json_str(hf_json_get(p, "pattern"), "Regex");
}

/* The tokenizer.ggml.pre name for a pre_tokenizer, or NULL if not recognised. */
static const char *pre_name(const cJSON *pre) {
    if (is_byte_level(pre, true)) return "gpt-2";
    if (!is_type(pre, "Sequence")) return NULL;
    const cJSON *list = hf_json_get(pre, "pretokenizers");
    if (cJSON_GetArraySize(list) != 2) return NULL;
    const cJSON *first = list->child, *second = first->next;
    if (is_type(first, "Digits") && cJSON_IsTrue(hf_json_get(first, "individual_digits")) && is_byte_level(second, true))
        return "smollm";
    const char *re = split_regex(first);
    if (!re || !is_byte_level(second, false)) return NULL;
    if (strcmp(re, HF_RE_LLAMA3) == 0) return "llama-bpe";
    if (strcmp(re, HF_RE_QWEN2) == 0) return "qwen2";
    return NULL;
}

/* ---- special tokens ---- */

typedef struct {
    const char *type, *key;
} special_key;

static const special_key special_keys[] = {
    {"bos", "tokenizer.ggml.bos_token_id"}, {"eos", "tokenizer.ggml.eos_token_id"},
    {"unk", "tokenizer.ggml.unknown_token_id"}, {"sep", "tokenizer.ggml.seperator_token_id"},
    {"pad", "tokenizer.ggml.padding_token_id"}, {"cls", "tokenizer.ggml.cls_token_id"},
    {"mask", "tokenizer.ggml.mask_token_id"},
};
#define N_SPECIAL (sizeof(special_keys) / sizeof(special_keys[0]))

/* tokenizer_config.json's "<type>_token": a string or {"content": string}. */
static const char *config_token(const cJSON *tok_config, const char *type) {
    char key[32];
    snprintf(key, sizeof(key), "%s_token", type);
    const cJSON *e = hf_json_get(tok_config, key);
    if (cJSON_IsString(e)) return e->valuestring;
    return hf_json_str(e, "content");
}

/* The id of the first added token whose content is text, or -1. */
static int64_t added_id(const cJSON *added, const char *text) {
    for (const cJSON *a = cJSON_IsArray(added) ? added->child : NULL; a; a = a->next) {
        const char *content = hf_json_str(a, "content");
        int64_t id = -1;
        if (content && strcmp(content, text) == 0 && json_index(hf_json_get(a, "id"), &id)) return id;
    }
    return -1;
}

/* add_bos / add_eos (-1 unset, 0, 1) from the post-processor: ByteLevel leaves both off
 * unless a template adds them; a TemplateProcessing adds BOS when its single-sequence
 * template starts with the BOS (or CLS) token and EOS when it ends with the EOS token. */
static void post_processor_flags(const cJSON *post, const char *bos, const char *eos, int *add_bos, int *add_eos) {
    const cJSON *list = hf_json_get(post, "processors");
    const cJSON *first = cJSON_IsArray(list) ? list->child : post;
    for (const cJSON *p = first; p; p = cJSON_IsArray(list) ? p->next : NULL) {
        if (is_type(p, "ByteLevel")) {
            if (*add_bos < 0) *add_bos = 0;
            if (*add_eos < 0) *add_eos = 0;
        } else if (is_type(p, "RobertaProcessing")) {
            *add_bos = *add_eos = 1;
        } else if (is_type(p, "TemplateProcessing")) {
            const cJSON *single = hf_json_get(p, "single");
            if (cJSON_GetArraySize(single) < 2) continue;
            const char *head = hf_json_str(hf_json_get(single->child, "SpecialToken"), "id");
            const cJSON *last = single->child;
            while (last->next) last = last->next;
            const char *tail = hf_json_str(hf_json_get(last, "SpecialToken"), "id");
            if (head) *add_bos = !bos || strcmp(head, bos) == 0;
            if (tail) *add_eos = !eos || strcmp(tail, eos) == 0;
        }
    }
}

static celer_status write_specials(vocab *v, const cJSON *tok, const cJSON *tok_config, const cJSON *config, gguf_writer *w) {
    const cJSON *added = hf_json_get(tok, "added_tokens");
    const char *bos = config_token(tok_config, "bos"), *eos = config_token(tok_config, "eos");
    if (!bos) bos = config_token(tok_config, "cls");
    if (!eos) eos = config_token(tok_config, "sep");
    celer_status st = CELER_OK;
    for (size_t i = 0; i < N_SPECIAL && st == CELER_OK; i++) {
        const char *text = i == 0 ? bos : i == 1 ? eos : config_token(tok_config, special_keys[i].type);
        int64_t id = text ? added_id(added, text) : -1;
        char key[32];
        snprintf(key, sizeof(key), "%s_token_id", special_keys[i].type);
        if (id < 0 && !json_index(hf_json_get(config, key), &id)) id = -1; /* a list (Llama 3.1's eos) is not an id */
        if (id < 0) continue;
        if (id >= v->n_vocab) {
            fprintf(stderr, "celer: %s: %s token id %" PRId64 " is outside the vocabulary (%" PRId64 " tokens), ignored\n", v->dir,
                    special_keys[i].type, id, v->n_vocab);
            continue;
        }
        st = gguf_writer_set_u32(w, special_keys[i].key, (uint32_t)id, v->err);
    }
    int add_bos = -1, add_eos = -1;
    post_processor_flags(hf_json_get(tok, "post_processor"), bos, eos, &add_bos, &add_eos);
    bool b;
    if (add_bos < 0 && hf_json_bool(tok_config, "add_bos_token", "tokenizer_config.json", &b, NULL) == CELER_OK) add_bos = b;
    if (add_eos < 0 && hf_json_bool(tok_config, "add_eos_token", "tokenizer_config.json", &b, NULL) == CELER_OK) add_eos = b;
    if (st == CELER_OK && add_bos >= 0) st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", add_bos, v->err);
    if (st == CELER_OK && add_eos >= 0) st = gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", add_eos, v->err);
    return st;
}

/* tokenizer_config.json's chat_template (a string, or a list of {name, template} whose
 * "default" is the main one and the others tokenizer.chat_template.<name>), else
 * chat_template.jinja, else chat_template.json's chat_template. */
static celer_status write_chat_template(vocab *v, const cJSON *tok_config, gguf_writer *w) {
    const cJSON *t = hf_json_get(tok_config, "chat_template");
    if (cJSON_IsString(t)) return gguf_writer_set_str(w, "tokenizer.chat_template", t->valuestring, v->err);
    if (cJSON_IsArray(t)) {
        for (const cJSON *e = t->child; e; e = e->next) {
            const char *name = hf_json_str(e, "name"), *text = hf_json_str(e, "template");
            if (!name || !text) continue;
            char key[256];
            if (strcmp(name, "default") == 0) snprintf(key, sizeof(key), "tokenizer.chat_template");
            else if ((size_t)snprintf(key, sizeof(key), "tokenizer.chat_template.%s", name) >= sizeof(key)) continue;
            celer_status st = gguf_writer_set_str(w, key, text, v->err);
            if (st != CELER_OK) return st;
        }
        return CELER_OK;
    }
    char *jinja = NULL;
    size_t len = 0;
    celer_status st = hf_file_read(v->dir, "chat_template.jinja", &jinja, &len, v->err);
    if (st != CELER_OK) return st;
    if (jinja) {
        st = gguf_writer_set_str(w, "tokenizer.chat_template", jinja, v->err);
        free(jinja);
        return st;
    }
    cJSON *json = NULL;
    if ((st = hf_json_read(v->dir, "chat_template.json", false, &json, v->err)) != CELER_OK) return st;
    const char *text = hf_json_str(json, "chat_template");
    if (text) st = gguf_writer_set_str(w, "tokenizer.chat_template", text, v->err);
    cJSON_Delete(json);
    return st;
}

/* ---- SentencePiece (tokenizer.model) ---- */

/* convert_hf_to_gguf's _create_vocab_sentencepiece: the pieces by id (a USER_DEFINED
 * piece counts as NORMAL there), then added_tokens.json (USER_DEFINED) and
 * tokenizer_config.json's added_tokens_decoder (CONTROL when special or looking special,
 * else USER_DEFINED), both with score -1000; ids left over are "[PAD<id>]", UNUSED,
 * score -10000. */
static celer_status load_pieces(vocab *v, const hf_piece *pieces, size_t n) {
    if ((int64_t)n > v->n_vocab)
        fprintf(stderr, "celer: %s/tokenizer.model: %zu pieces but the model has %" PRId64 " token rows; the rest are ignored\n", v->dir, n, v->n_vocab);
    for (size_t id = 0; id < n && (int64_t)id < v->n_vocab; id++) {
        int32_t t = pieces[id].type;
        v->text[id] = pieces[id].text;
        v->score[id] = pieces[id].score;
        v->type[id] = t == 2 || t == 3 || t == 5 || t == 6 ? t : TYPE_NORMAL;
    }
    for (int64_t id = 0; id < v->n_vocab; id++) v->score[id] = v->text[id] ? v->score[id] : -10000.0f;
    return CELER_OK;
}

static celer_status load_spm_added(vocab *v, const cJSON *tok_config) {
    cJSON *added = NULL;
    celer_status st = hf_json_read(v->dir, "added_tokens.json", false, &added, v->err);
    for (const cJSON *e = added ? added->child : NULL; e && st == CELER_OK; e = e->next) {
        int64_t id = 0;
        if (!json_index(e, &id) || id >= v->n_vocab) continue; /* as convert_hf_to_gguf: out of range is skipped */
        if (!(v->text[id] = keep(v, strdup(e->string)))) st = oom(v);
        v->score[id] = -1000.0f;
        v->type[id] = TYPE_USER_DEFINED;
    }
    cJSON_Delete(added);
    const cJSON *decoder = hf_json_get(tok_config, "added_tokens_decoder");
    for (const cJSON *e = cJSON_IsObject(decoder) ? decoder->child : NULL; e && st == CELER_OK; e = e->next) {
        char *end = NULL;
        long long id = strtoll(e->string, &end, 10);
        const char *content = hf_json_str(e, "content");
        if (!content || *end || end == e->string || id < 0 || id >= v->n_vocab) continue;
        if (cJSON_IsTrue(hf_json_get(e, "special")) || looks_special(content)) {
            v->text[id] = content;
            v->type[id] = TYPE_CONTROL;
        } else {
            if (!(v->text[id] = keep(v, spaces_restored(content)))) st = oom(v);
            v->type[id] = TYPE_USER_DEFINED;
        }
        v->score[id] = -1000.0f;
    }
    return st;
}

static celer_status write_spm_tokens(vocab *v, const cJSON *tok_config, gguf_writer *w) {
    char *data = NULL, where[4200];
    size_t size = 0, n = 0;
    hf_piece *pieces = NULL;
    snprintf(where, sizeof(where), "%s/tokenizer.model", v->dir);
    celer_status st = hf_file_read(v->dir, "tokenizer.model", &data, &size, v->err);
    if (st == CELER_OK) st = hf_sentencepiece_read((const uint8_t *)data, size, where, &pieces, &n, v->err);
    free(data);
    if (st == CELER_OK && !(v->score = calloc((size_t)v->n_vocab, sizeof(float)))) st = oom(v);
    if (st == CELER_OK) st = load_pieces(v, pieces, n);
    if (st == CELER_OK) st = load_spm_added(v, tok_config);
    if (st == CELER_OK) st = fill_unused(v);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", v->err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", v->err);
    if (st == CELER_OK) st = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v->text, (uint64_t)v->n_vocab, v->err);
    if (st == CELER_OK) st = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v->score, (uint64_t)v->n_vocab, v->err);
    if (st == CELER_OK) st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->type, (uint64_t)v->n_vocab, v->err);
    hf_pieces_free(pieces, n);
    return st;
}

/* ---- the whole tokenizer ---- */

static celer_status check_model(vocab *v, const cJSON *model) {
    if (!cJSON_IsObject(model)) return celer_error_set(v->err, CELER_ERR_FORMAT, "%s: \"model\" is missing or not an object", v->where);
    const char *type = hf_json_str(model, "type");
    if (type && strcmp(type, "BPE") != 0)
        return celer_error_set(v->err, CELER_ERR_UNSUPPORTED, "%s: tokenizer model '%s' is not supported (only byte-level BPE)", v->where, type);
    if (cJSON_IsTrue(hf_json_get(model, "byte_fallback")))
        return celer_error_set(v->err, CELER_ERR_UNSUPPORTED,
                               "%s: SentencePiece-style BPE (byte_fallback, as in Llama 2 and Mistral) needs the directory's "
                               "tokenizer.model, which is missing",
                               v->where);
    return CELER_OK;
}

static celer_status write_bpe_tokens(vocab *v, const cJSON *tok, gguf_writer *w) {
    const cJSON *model = hf_json_get(tok, "model");
    celer_status st = check_model(v, model);
    if (st == CELER_OK) st = load_vocab(v, model);
    if (st == CELER_OK) st = load_added(v, hf_json_get(tok, "added_tokens"));
    if (st == CELER_OK) st = fill_unused(v);
    const char *pre = pre_name(hf_json_get(tok, "pre_tokenizer"));
    if (st == CELER_OK && !pre) {
        fprintf(stderr, "celer: %s: pre-tokenizer not recognised (known: GPT-2, SmolLM, Llama 3, Qwen2), using the default expressions\n", v->where);
        pre = "default";
    }
    if (st == CELER_OK) st = gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", v->err);
    if (st == CELER_OK) st = gguf_writer_set_str(w, "tokenizer.ggml.pre", pre, v->err);
    if (st == CELER_OK) st = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", v->text, (uint64_t)v->n_vocab, v->err);
    if (st == CELER_OK) st = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->type, (uint64_t)v->n_vocab, v->err);
    if (st == CELER_OK) st = write_merges(v, model, w);
    return st;
}

celer_status hf_tokenizer_import(const char *dir, const cJSON *config, const char *arch, int64_t n_vocab, gguf_writer *w, celer_error *err) {
    vocab v = {.dir = dir, .err = err, .n_vocab = n_vocab};
    snprintf(v.where, sizeof(v.where), "%s/tokenizer.json", dir);
    cJSON *tok = NULL, *tok_config = NULL;
    char path[4200];
    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    struct stat sb;
    bool spm = stat(path, &sb) == 0; /* convert_hf_to_gguf tries SentencePiece first */
    celer_status st = hf_json_read(dir, "tokenizer.json", !spm, &tok, err);
    if (st == CELER_OK) st = hf_json_read(dir, "tokenizer_config.json", false, &tok_config, err);
    if (st == CELER_OK && n_vocab > INT32_MAX)
        st = celer_error_set(err, CELER_ERR_UNSUPPORTED, "%s: %" PRId64 " tokens is more than supported", dir, n_vocab);
    if (st == CELER_OK) {
        v.text = calloc((size_t)n_vocab, sizeof(*v.text));
        v.type = calloc((size_t)n_vocab, sizeof(*v.type));
        if (!v.text || !v.type) st = oom(&v);
    }
    bool llama = strcmp(arch, "llama") == 0, space_prefix;
    if (st == CELER_OK && llama && hf_json_bool(tok_config, "add_prefix_space", "tokenizer_config.json", &space_prefix, NULL) == CELER_OK)
        st = gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", space_prefix, err); /* Llamas only, as convert_hf_to_gguf */
    if (st == CELER_OK) st = spm ? write_spm_tokens(&v, tok_config, w) : write_bpe_tokens(&v, tok, w);
    if (st == CELER_OK) st = write_specials(&v, tok, tok_config, config, w);
    int64_t config_vocab = 0; /* convert_hf_to_gguf: a Llama with 49152 tokens (SmolLM, Granite) adds no BOS */
    if (st == CELER_OK && llama && hf_json_int(config, "vocab_size", "config.json", 0, INT64_MAX, &config_vocab, NULL) == CELER_OK &&
        config_vocab == 49152)
        st = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false, err);
    if (st == CELER_OK) st = write_chat_template(&v, tok_config, w);
    vocab_free(&v);
    cJSON_Delete(tok);
    cJSON_Delete(tok_config);
    return st;
}

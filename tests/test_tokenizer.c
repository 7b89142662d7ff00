/* test_tokenizer.c: the tokenizer against llama.cpp, exactly.
 *
 * tests/data/golden/tokens.tsv (scripts/make_golden_tokens.py) holds what llama.cpp gives
 * for hard strings on SmolLM2 (the real model, $CELER_MODEL), on a small SentencePiece
 * vocabulary (tests/data/tokenizer/spm_llama2.gguf, also as a "Phi-3" model and without
 * the prefix space) and on a small byte-level BPE vocabulary under 32 pre-tokenizer types
 * (bpe_small.gguf, its tokenizer.ggml.pre replaced here; 16 of them checked per text, 16 by
 * a digest over all texts). Every case must match id for id, and so must the decoded bytes, the EOG set, BOS,
 * EOS, add_bos and every token's piece. Also: the streaming detokenizer, UTF-8 decoding,
 * the Unicode stand-ins, errors, and the speed on all of wiki.test.raw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "format/gguf.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

/* ---- helpers ---- */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0', *len = (size_t)n;
    return buf;
}

/* The full WikiText-2 test text is not in the repository: $CELER_WIKI or the shared copy. */
static char *read_full_wiki(size_t *len) {
    const char *path = getenv("CELER_WIKI") ? getenv("CELER_WIKI") : "/work/shared/data/wiki.test.raw";
    char *text = read_file(path, len);
    if (!text) print_message("SKIPPED: wiki.test.raw not found at %s (set CELER_WIKI)\n", path);
    return text;
}

static const char *source_dir(void) {
    const char *d = getenv("CELER_SOURCE_DIR");
    return d ? d : ".";
}

static char *source_file(const char *rel, size_t *len) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", source_dir(), rel);
    char *buf = read_file(path, len);
    if (!buf) fail_msg("cannot read %s", path);
    return buf;
}

/* Decodes hex ("-" is empty) into a malloc'd buffer. */
static char *unhex(const char *hex, size_t *len) {
    if (strcmp(hex, "-") == 0) hex = "";
    size_t n = strlen(hex) / 2;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/* Splits a line in place at tabs; returns the number of fields. */
static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) break;
        *tab = '\0';
        p = tab + 1;
    }
    return n;
}

static uint64_t fnv_pieces(const tokenizer *t, bool special) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int32_t id = 0; id < tokenizer_n_vocab(t); id++) {
        const char *p;
        size_t n;
        assert_int_equal(tokenizer_piece(t, id, special, &p, &n, NULL), CELER_OK);
        uint8_t len[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
        for (int i = 0; i < 4; i++) h = (h ^ len[i]) * 0x100000001b3ull;
        for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    }
    return h;
}

/* ---- loading the goldens' models ---- */

/* A committed vocabulary with one key replaced (a string, or a bool when str is NULL). */
static tokenizer *load_with_key(const char *file, const char *key, const char *str, bool flag) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/data/tokenizer/%s", source_dir(), file);
    gguf_file *f;
    celer_error err = {0};
    assert_int_equal(gguf_open(path, &f, &err), CELER_OK);
    gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key.data, key) != 0) assert_int_equal(gguf_writer_copy_kv(w, &f->kv[i], &err), CELER_OK);
    if (str) assert_int_equal(gguf_writer_set_str(w, key, str, &err), CELER_OK);
    else assert_int_equal(gguf_writer_set_bool(w, key, flag, &err), CELER_OK);
    void *buf;
    size_t size;
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size, &err), CELER_OK);
    gguf_writer_free(w);
    gguf_close(f);
    tokenizer *t = NULL;
    assert_int_equal(gguf_parse(buf, size, &f, &err), CELER_OK);
    if (tokenizer_init_from_gguf(&t, f, &err) != CELER_OK) fail_msg("%s with %s replaced: %s", file, key, err.msg);
    gguf_close(f);
    free(buf);
    return t;
}

/* bpe_small.gguf under another pre-tokenizer: the same vocabulary, other expressions. */
static tokenizer *load_bpe_with_pre(const char *pre) {
    return load_with_key("bpe_small.gguf", "tokenizer.ggml.pre", pre, false);
}

static tokenizer *load_path(const char *path) {
    gguf_file *f;
    celer_error err = {0};
    if (gguf_open(path, &f, &err) != CELER_OK) fail_msg("%s", err.msg);
    tokenizer *t = NULL;
    if (tokenizer_init_from_gguf(&t, f, &err) != CELER_OK) fail_msg("%s: %s", path, err.msg);
    gguf_close(f);
    return t;
}

static const char *model_path(void) {
    const char *m = getenv("CELER_MODEL");
    return m ? m : "models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

static bool have_model(void) {
    FILE *f = fopen(model_path(), "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* NULL (and a loud message) when the golden needs the real model and it is missing. */
static tokenizer *load_label(const char *label) {
    char path[4096];
    if (strcmp(label, "@smollm") == 0) {
        if (!have_model()) return NULL;
        return load_path(model_path());
    }
    if (strcmp(label, "spm") == 0) {
        snprintf(path, sizeof(path), "%s/tests/data/tokenizer/spm_llama2.gguf", source_dir());
        return load_path(path);
    }
    if (strcmp(label, "spm:phi3") == 0) return load_with_key("spm_llama2.gguf", "general.name", "Phi-3 mini", false);
    if (strcmp(label, "spm:noprefix") == 0)
        return load_with_key("spm_llama2.gguf", "tokenizer.ggml.add_space_prefix", NULL, false);
    if (strncmp(label, "bpe:", 4) == 0) return load_bpe_with_pre(label + 4);
    fail_msg("unknown golden model label %s", label);
    return NULL;
}

/* ---- goldens ---- */

typedef struct {
    char **texts; /* (n_texts) inputs, hex-decoded */
    size_t *lens;
    size_t n_texts;
    char *head, *full; /* the whole files of "whole" rows; full may be missing */
    size_t head_len, full_len;
    int failures, cases, skipped;
} golden_run;

static uint64_t fnv_ids(uint64_t h, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) h = (h ^ (((uint32_t)ids[i] >> (8 * k)) & 0xFF)) * 0x100000001b3ull;
    return h;
}

/* All texts in one mode: the count and hash of every text's ids, each followed by -1. */
static void check_digest(const tokenizer *t, char **f, const char *label, golden_run *g) {
    bool add_special = atoi(f[2]) != 0, parse_special = atoi(f[3]) != 0;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t total = 0;
    const int32_t end = -1;
    for (size_t i = 0; i < g->n_texts; i++) {
        int32_t *ids;
        size_t n;
        celer_error err = {0};
        assert_int_equal(tokenizer_encode(t, g->texts[i], g->lens[i], add_special, parse_special, &ids, &n, &err), CELER_OK);
        h = fnv_ids(fnv_ids(h, ids, n), &end, 1);
        total += n + 1;
        free(ids);
    }
    char hash[32];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)h);
    g->cases += (int)g->n_texts;
    if (total != (size_t)atoll(f[4]) || strcmp(hash, f[5]) != 0) {
        g->failures++;
        print_error("%s digest add_special %d parse_special %d: %zu ids, hash %s; llama.cpp: %s ids, hash %s\n", label,
                    add_special, parse_special, total, hash, f[4], f[5]);
    }
}

/* A whole file at once: the count and an FNV-1a hash of the ids. */
static void check_whole(const tokenizer *t, char **f, const char *label, golden_run *g) {
    bool full = strcmp(f[2], "full") == 0;
    if (full && !g->full) {
        g->skipped++;
        return;
    }
    int32_t *ids;
    size_t n;
    celer_error err = {0};
    assert_int_equal(tokenizer_encode(t, full ? g->full : g->head, full ? g->full_len : g->head_len, true, false, &ids,
                                      &n, &err), CELER_OK);
    uint64_t h = fnv_ids(0xcbf29ce484222325ull, ids, n);
    char hash[32];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)h);
    g->cases++;
    if (n != (size_t)atoll(f[3]) || strcmp(hash, f[4]) != 0) {
        g->failures++;
        print_error("%s whole %s: %zu ids, hash %s; llama.cpp: %s ids, hash %s\n", label, f[2], n, hash, f[3], f[4]);
    }
    free(ids);
}

static void check_info(const tokenizer *t, char **f, const char *label, golden_run *g) {
    bool ok = tokenizer_n_vocab(t) == atoi(f[2]) && tokenizer_bos(t) == atoi(f[3]) && tokenizer_eos(t) == atoi(f[4]) &&
              tokenizer_add_bos(t) == (atoi(f[5]) != 0);
    char eog[4096] = "", *w = eog;
    for (int32_t id = 0; id < tokenizer_n_vocab(t) && w < eog + sizeof(eog) - 16; id++)
        if (tokenizer_is_eog(t, id)) w += sprintf(w, "%s%d", w == eog ? "" : ",", id);
    if (w == eog) strcpy(eog, "-");
    char h1[32], h2[32];
    snprintf(h1, sizeof(h1), "%016llx", (unsigned long long)fnv_pieces(t, true));
    snprintf(h2, sizeof(h2), "%016llx", (unsigned long long)fnv_pieces(t, false));
    ok = ok && strcmp(eog, f[6]) == 0 && strcmp(h1, f[7]) == 0 && strcmp(h2, f[8]) == 0;
    if (!ok) {
        g->failures++;
        print_error("%s info: n_vocab %d bos %d eos %d add_bos %d eog %s pieces %s %s; llama.cpp: %s %s %s %s %s %s %s\n",
                    label, tokenizer_n_vocab(t), tokenizer_bos(t), tokenizer_eos(t), tokenizer_add_bos(t), eog, h1, h2,
                    f[2], f[3], f[4], f[5], f[6], f[7], f[8]);
    }
}

static void check_case(const tokenizer *t, char **f, const char *label, golden_run *g) {
    size_t index = (size_t)atoi(f[2]);
    assert_true(index < g->n_texts);
    bool add_special = atoi(f[3]) != 0, parse_special = atoi(f[4]) != 0;
    int32_t *ids;
    size_t n;
    celer_error err = {0};
    assert_int_equal(tokenizer_encode(t, g->texts[index], g->lens[index], add_special, parse_special, &ids, &n, &err),
                     CELER_OK);
    char *got = malloc(12 * n + 2), *w = got;
    *w = '\0';
    for (size_t i = 0; i < n; i++) w += sprintf(w, "%s%d", i ? " " : "", ids[i]);
    if (n == 0) strcpy(got, "-");
    size_t dec_len = 0, want_len;
    char *dec = malloc(tokenizer_max_piece_len(t) * n + 1);
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t pn;
        assert_int_equal(tokenizer_piece(t, ids[i], true, &p, &pn, NULL), CELER_OK);
        memcpy(dec + dec_len, p, pn), dec_len += pn;
    }
    char *want = strcmp(f[6], "=") == 0 ? NULL : unhex(f[6], &want_len);
    if (!want) want_len = g->lens[index];
    bool dec_ok = dec_len == want_len && memcmp(dec, want ? want : g->texts[index], dec_len) == 0;
    g->cases++;
    if (strcmp(got, f[5]) != 0 || !dec_ok) {
        if (g->failures++ < 12)
            print_error("%s text %zu add_special %d parse_special %d:\n  celer:     %.400s\n  llama.cpp: %.400s%s\n", label,
                        index, add_special, parse_special, got, f[5], dec_ok ? "" : "\n  (decoded bytes differ)");
    }
    free(want);
    free(dec);
    free(got);
    free(ids);
}

static void golden_tokens(void **state) {
    (void)state;
    size_t len;
    char *tsv = source_file("tests/data/golden/tokens.tsv", &len);
    golden_run g = {0};
    g.head = source_file("tests/data/text/wiki.test.head.raw", &g.head_len);
    g.full = read_full_wiki(&g.full_len);
    tokenizer *t = NULL;
    char label[256] = "";
    bool skipping = false;
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[10];
        int nf = split_tabs(line, f, 10);
        if (line[0] == '#') continue;
        if (strcmp(f[0], "text") == 0 && nf == 3) {
            g.texts = realloc(g.texts, (g.n_texts + 1) * sizeof(char *));
            g.lens = realloc(g.lens, (g.n_texts + 1) * sizeof(size_t));
            g.texts[g.n_texts] = unhex(f[2], &g.lens[g.n_texts]);
            g.n_texts++;
        } else if (strcmp(f[0], "info") == 0 && nf == 9) {
            tokenizer_free(t);
            snprintf(label, sizeof(label), "%s", f[1]);
            t = load_label(label);
            skipping = t == NULL;
            if (skipping) print_message("SKIPPED: model not found at %s (its golden cases are not checked)\n", model_path());
            else check_info(t, f, label, &g);
        } else if (strcmp(f[0], "whole") == 0 && nf == 5) {
            assert_string_equal(f[1], label);
            if (skipping) g.skipped++;
            else check_whole(t, f, label, &g);
        } else if (strcmp(f[0], "digest") == 0 && nf == 6) {
            assert_string_equal(f[1], label);
            if (skipping) g.skipped++;
            else check_digest(t, f, label, &g);
        } else if (strcmp(f[0], "case") == 0 && nf == 7) {
            assert_string_equal(f[1], label);
            if (skipping) g.skipped++;
            else check_case(t, f, label, &g);
        } else {
            fail_msg("malformed golden line: %.80s", f[0]);
        }
    }
    tokenizer_free(t);
    for (size_t i = 0; i < g.n_texts; i++) free(g.texts[i]);
    free(g.texts);
    free(g.lens);
    free(g.head);
    free(g.full);
    free(tsv);
    print_message("tokens.tsv: %d cases checked, %d skipped, %d failed\n", g.cases, g.skipped, g.failures);
    assert_int_equal(g.failures, 0);
}

/* ---- streaming detokenizer ---- */

/* True when buf[0..n) is whole UTF-8 characters (strictly valid, shortest form). */
static bool whole_utf8(const char *buf, size_t n) {
    for (size_t pos = 0; pos < n;) {
        uint8_t b = (uint8_t)buf[pos];
        size_t k = b < 0x80 ? 1 : b >= 0xC2 && b < 0xE0 ? 2 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xF0 && b < 0xF5 ? 4 : 0;
        if (k == 0 || pos + k > n) return false;
        for (size_t j = 1; j < k; j++)
            if (((uint8_t)buf[pos + j] & 0xC0) != 0x80) return false;
        pos += k;
    }
    return true;
}

/* Feeds the ids of text one at a time: every output is whole characters, and all of them
 * together are the concatenated pieces. */
static void stream_and_check(const tokenizer *t, const char *text, const char *decoded, size_t min_split_tokens) {
    int32_t *ids;
    size_t n;
    celer_error err = {0};
    assert_int_equal(tokenizer_encode(t, text, strlen(text), false, false, &ids, &n, &err), CELER_OK);
    size_t cap = tokenizer_max_piece_len(t) + DETOKENIZER_SLACK;
    char *chunk = malloc(cap), *all = malloc(strlen(text) * 4 + 16), *full = malloc(strlen(text) * 4 + 16);
    size_t n_all = 0, n_full = 0, split_tokens = 0;
    detokenizer d;
    detokenizer_init(&d);
    for (size_t i = 0; i < n; i++) {
        const char *p;
        size_t pn;
        assert_int_equal(tokenizer_piece(t, ids[i], false, &p, &pn, NULL), CELER_OK);
        memcpy(full + n_full, p, pn), n_full += pn;
        if (!whole_utf8(p, pn)) split_tokens++;
        size_t k = detokenizer_push(&d, t, ids[i], chunk, cap);
        assert_true(whole_utf8(chunk, k));
        memcpy(all + n_all, chunk, k), n_all += k;
    }
    n_all += detokenizer_flush(&d, all + n_all, 8);
    assert_int_equal(n_all, n_full);
    assert_memory_equal(all, full, n_full);
    assert_int_equal(n_full, strlen(decoded));
    assert_memory_equal(full, decoded, n_full);
    assert_true(split_tokens >= min_split_tokens); /* the test did exercise partial characters */
    free(chunk);
    free(all);
    free(full);
    free(ids);
}

static void streaming_detokenizer(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/data/tokenizer/spm_llama2.gguf", source_dir());
    tokenizer *spm = load_path(path); /* CJK and emoji fall back to one-byte tokens here */
    const char *text = "🦙 llamas 🚀👍🏽 你好世界 日本語のテキスト café";
    char spaced[256];
    snprintf(spaced, sizeof(spaced), " %s", text); /* SentencePiece's prefix space */
    stream_and_check(spm, text, spaced, 20);
    tokenizer_free(spm);
    tokenizer *bpe = load_bpe_with_pre("smollm");
    stream_and_check(bpe, text, text, 5);
    tokenizer_free(bpe);
    if (!have_model()) {
        print_message("SKIPPED: model not found at %s (SmolLM2 streaming part)\n", model_path());
        return;
    }
    tokenizer *smol = load_path(model_path());
    text = "🦙 llamas 🚀👍🏽 你好世界 日本語のテキスト café ẞ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢";
    stream_and_check(smol, text, text, 2);
    tokenizer_free(smol);
}

/* Bytes that can never finish a character are passed on, not held. */
static void detokenizer_invalid_bytes(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/data/tokenizer/spm_llama2.gguf", source_dir());
    tokenizer *t = load_path(path);
    celer_error err = {0};
    int32_t *ids;
    size_t n;
    const char text[] = "\xF0\x9F" "a\xE4\xBD" "\xFF";
    assert_int_equal(tokenizer_encode(t, text, sizeof(text) - 1, false, false, &ids, &n, &err), CELER_OK);
    char out[512];
    size_t total = 0;
    detokenizer d;
    detokenizer_init(&d);
    for (size_t i = 0; i < n; i++) total += detokenizer_push(&d, t, ids[i], out + total, sizeof(out) - total);
    total += detokenizer_flush(&d, out + total, sizeof(out) - total);
    assert_int_equal(total, sizeof(text)); /* the prefix space, then the bytes as they are */
    assert_memory_equal(out, " " "\xF0\x9F" "a\xE4\xBD" "\xFF", total);
    assert_int_equal(detokenizer_push(&d, t, -5, out, sizeof(out)), 0);
    free(ids);
    tokenizer_free(t);
}

/* ---- unicode ---- */

static void utf8_decoding_as_llama_cpp(void **state) {
    (void)state;
    struct {
        const char *in;
        size_t len;
        uint32_t cps[6];
        size_t n;
    } cases[] = {
        {"a\xC3\xA9", 3, {'a', 0xE9}, 2},
        {"\xC3", 1, {0xFFFD}, 1},                          /* truncated */
        {"\xC3(", 2, {0xFFFD, '('}, 2},                    /* lead without continuation */
        {"\x80x", 2, {0xFFFD, 'x'}, 2},                    /* stray continuation */
        {"\xC0\x80", 2, {0}, 1},                           /* overlong accepted */
        {"\xED\xA0\x80", 3, {0xD800}, 1},                  /* surrogate accepted */
        {"\xF0\x9F\xA6\x99", 4, {0x1F999}, 1},
        {"\xF4\x90\x80\x80", 4, {0xFFFD}, 1},              /* above U+10FFFF */
        {"\xF8\x88\x80\x80\x80", 5, {0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}, 5},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t pos = 0, k = 0;
        while (pos < cases[c].len) {
            assert_true(k < cases[c].n);
            assert_int_equal(unicode_decode((const uint8_t *)cases[c].in, cases[c].len, &pos), cases[c].cps[k++]);
        }
        assert_int_equal(k, cases[c].n);
    }
    for (int b = 0; b < 256; b++) {
        uint32_t cp = unicode_byte_to_cp((uint8_t)b);
        assert_true(cp >= 0x21 && cp <= 0x143);
        assert_int_equal(unicode_cp_to_byte(cp), b);
    }
    assert_int_equal(unicode_byte_to_cp(' '), 0x120); /* 'Ġ' */
    assert_int_equal(unicode_cp_to_byte(0x144), -1);
    assert_int_equal(unicode_cp_to_byte(0x20), -1);
}

/* Every stand-in is in its class for this PCRE2, whatever its Unicode version. */
static void unicode_class_matches_pcre2(void **state) {
    (void)state;
    const char *classes = "LNPSM";
    pcre2_code *re[5];
    for (int i = 0; i < 5; i++) {
        char pat[16];
        snprintf(pat, sizeof(pat), "^\\p{%c}$", classes[i]);
        int e;
        PCRE2_SIZE at;
        re[i] = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &e, &at, NULL);
        assert_non_null(re[i]);
    }
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    assert_true(unicode_delta_count > 0);
    for (size_t r = 0; r < unicode_delta_count; r++) {
        const unicode_delta_range *d = &unicode_delta_ranges[r];
        assert_true(d->first <= d->last);
        if (r > 0) assert_true(unicode_delta_ranges[r - 1].last < d->first);
        for (uint32_t cp = d->first; cp <= d->last; cp++) {
            uint32_t s = unicode_pcre2_stand_in(cp);
            uint8_t a[4], b[4];
            assert_int_equal(unicode_encode(cp, a), unicode_encode(s, b));
            size_t n = unicode_encode(s, b);
            for (int i = 0; i < 5; i++) {
                bool want = classes[i] == d->cls;
                assert_int_equal(pcre2_match(re[i], b, n, 0, 0, md, NULL) >= 0, want);
            }
        }
    }
    assert_int_equal(unicode_pcre2_stand_in('a'), 'a');
    assert_int_equal(unicode_pcre2_stand_in(0x4E00), 0x4E00);
    pcre2_match_data_free(md);
    for (int i = 0; i < 5; i++) pcre2_code_free(re[i]);
}

static void strmap_pairs(void **state) {
    (void)state;
    strmap m;
    assert_true(strmap_init(&m, 8));
    assert_int_equal(strmap_put(&m, "ab", 2, "c", 1, 7), 7);
    assert_int_equal(strmap_put(&m, "ab", 2, "c", 1, 9), 7); /* the first value stays */
    assert_int_equal(strmap_put(&m, "a", 1, "bc", 2, 3), 3); /* same bytes, other split */
    assert_int_equal(strmap_get(&m, "ab", 2, "c", 1), 7);
    assert_int_equal(strmap_get(&m, "a", 1, "bc", 2), 3);
    assert_int_equal(strmap_get(&m, "abc", 3, NULL, 0), -1);
    strmap_set(&m, "ab", 2, "c", 1, 11);
    assert_int_equal(strmap_get(&m, "ab", 2, "c", 1), 11);
    strmap_free(&m);
}

/* ---- errors ---- */

static celer_status init_from_writer(gguf_writer *w, tokenizer **t, celer_error *err) {
    void *buf;
    size_t size;
    celer_error e2 = {0};
    assert_int_equal(gguf_writer_to_buffer(w, &buf, &size, &e2), CELER_OK);
    gguf_file *f;
    assert_int_equal(gguf_parse(buf, size, &f, &e2), CELER_OK);
    celer_status st = tokenizer_init_from_gguf(t, f, err);
    gguf_close(f);
    free(buf);
    return st;
}

static void errors_are_clear(void **state) {
    (void)state;
    celer_error err = {0};
    tokenizer *t = NULL;
    const char *toks[] = {"a", "b", "ab", "a"};
    gguf_writer *w = gguf_writer_new();
    assert_int_equal(init_from_writer(w, &t, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "tokenizer.ggml.model"));

    gguf_writer_set_str(w, "tokenizer.ggml.model", "bert", &err);
    assert_int_equal(init_from_writer(w, &t, &err), CELER_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'bert'"));

    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", &err);
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "no-such-pre", &err);
    assert_int_equal(init_from_writer(w, &t, &err), CELER_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'no-such-pre'"));

    gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2", &err);
    assert_int_equal(init_from_writer(w, &t, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "tokenizer.ggml.tokens"));

    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4, &err);
    const char *merges[] = {"a b"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1, &err);
    assert_int_equal(init_from_writer(w, &t, &err), CELER_ERR_FORMAT); /* "a" twice */
    assert_non_null(strstr(err.msg, "repeats token 0"));

    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3, &err);
    float scores[2] = {0};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 2, &err);
    assert_int_equal(init_from_writer(w, &t, &err), CELER_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "2 scores for 3 tokens"));

    float scores3[3] = {0};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores3, 3, &err);
    assert_int_equal(init_from_writer(w, &t, &err), CELER_OK);
    int32_t *ids;
    size_t n;
    assert_int_equal(tokenizer_encode(t, "abab", 4, true, false, &ids, &n, &err), CELER_OK);
    assert_int_equal(n, 2); /* no BOS: gpt2 default add_bos is false; "ab" "ab" */
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 2);
    free(ids);
    const char *p;
    size_t pn;
    assert_int_equal(tokenizer_piece(t, 3, false, &p, &pn, &err), CELER_ERR_RANGE);
    assert_non_null(strstr(err.msg, "token id 3"));
    assert_int_equal(tokenizer_piece(t, -1, false, &p, &pn, &err), CELER_ERR_RANGE);
    assert_false(tokenizer_is_eog(t, 99));
    assert_int_equal(tokenizer_bos(t), -1); /* the default 11 is outside 3 tokens */
    tokenizer_free(t);
    gguf_writer_free(w);
}

/* A megabyte-long word: expressions with repeated groups must still match (no JIT stack
 * or match-limit error), and every byte comes back. */
static void long_words(void **state) {
    (void)state;
    size_t n = 1 << 20;
    char *text = malloc(n);
    memset(text, 'A', n);
    const char *pres[] = {"tekken", "gpt-4o"};
    for (int i = 0; i < 2; i++) {
        tokenizer *t = load_bpe_with_pre(pres[i]);
        int32_t *ids;
        size_t n_ids;
        celer_error err = {0};
        if (tokenizer_encode(t, text, n, false, false, &ids, &n_ids, &err) != CELER_OK) fail_msg("%s: %s", pres[i], err.msg);
        size_t total = 0;
        for (size_t k = 0; k < n_ids; k++) {
            const char *p;
            size_t pn;
            assert_int_equal(tokenizer_piece(t, ids[k], false, &p, &pn, NULL), CELER_OK);
            total += pn;
        }
        assert_int_equal(total, n);
        free(ids);
        tokenizer_free(t);
    }
    free(text);
}

/* ---- speed ---- */

/* All of wiki.test.raw (1.3 MB) with SmolLM2; the committed head repeated if it is missing. */
static void encodes_wiki_quickly(void **state) {
    (void)state;
    if (!have_model()) {
        print_message("SKIPPED: model not found at %s\n", model_path());
        skip();
    }
    size_t len;
    char *text = read_full_wiki(&len);
    if (!text) {
        size_t head_len;
        char *head = source_file("tests/data/text/wiki.test.head.raw", &head_len);
        text = malloc(32 * head_len);
        for (int i = 0; i < 32; i++) memcpy(text + i * head_len, head, head_len);
        len = 32 * head_len;
        free(head);
    }
    tokenizer *t = load_path(model_path());
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int32_t *ids;
    size_t n;
    celer_error err = {0};
    assert_int_equal(tokenizer_encode(t, text, len, true, false, &ids, &n, &err), CELER_OK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    print_message("%zu bytes -> %zu tokens in %.3f s (%.1f MB/s)\n", len, n, s, (double)len / s / 1e6);
    assert_true(n > len / 8 && n < len / 2);
    assert_true(s < 30.0); /* generous: sanitizer builds are slow; release: well under a second */
    free(ids);
    free(text);
    tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utf8_decoding_as_llama_cpp),
        cmocka_unit_test(unicode_class_matches_pcre2),
        cmocka_unit_test(strmap_pairs),
        cmocka_unit_test(errors_are_clear),
        cmocka_unit_test(golden_tokens),
        cmocka_unit_test(streaming_detokenizer),
        cmocka_unit_test(detokenizer_invalid_bytes),
        cmocka_unit_test(long_words),
        cmocka_unit_test(encodes_wiki_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

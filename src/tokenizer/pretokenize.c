/* pretokenize.c: the pre-tokenizer table (tokenizer.ggml.pre -> expressions) and the
 * splitter that runs the expressions in PCRE2. Tests: tests/test_tokenizer.c. */
#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"

/* ---- the expressions, as llama.cpp's src/llama-vocab.cpp lists them ----
 * Non-ASCII characters are written as PCRE2 \x{...} escapes: as literal UTF-8 an editor's
 * Unicode normalisation can silently change them (U+1F7D becomes U+03CE under NFC). */

#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_TAIL "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3 RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" RE_TAIL
#define RE_QWEN2 RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" RE_TAIL
#define RE_PUNCT_WORD "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
#define RE_CASED_WORDS(L, M)                                                                      \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[" L "])([^a-z]))*((?=[" L "])([^A-Z]))+" M                       \
    "|[^\\r\\n\\p{L}\\p{N}]?((?=[" L "])([^a-z]))+((?=[" L "])([^A-Z]))*" M

static const char *const re_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+",
                                         "[0-9][0-9][0-9]", NULL};
static const char *const re_llama3[] = {RE_LLAMA3, NULL};
static const char *const re_jais2[] = {
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+"
                    "|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)"
                    "|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
    NULL};
static const char *const re_deepseek_llm[] = {
    "[\r\n]",
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "\\s+$",
    "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
    "\\p{N}+",
    NULL};
static const char *const re_deepseek3[] = {
    "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    RE_PUNCT_WORD "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_spark2_5[] = {
    "\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    RE_PUNCT_WORD "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
    "\\p{N}", NULL};
static const char *const re_deepseek_coder[] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
                                                "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}", NULL};
static const char *const re_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const re_starcoder[] = {"\\p{N}", RE_GPT2, NULL};
static const char *const re_gpt2[] = {RE_GPT2, NULL};
static const char *const re_qwen2[] = {RE_QWEN2, NULL};
static const char *const re_qwen35[] = {
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*"
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_poro[] = {RE_PORO, NULL};
static const char *const re_viking[] = {RE_PORO, "\\p{N}", NULL};
static const char *const re_tekken[] = {
    RE_CASED_WORDS("\\p{L}", "") "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", NULL};
static const char *const re_chameleon[] = {
    "<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )", "\\p{N}",
    "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2, NULL};
static const char *const re_gpt4o[] = {
    RE_CASED_WORDS("\\p{L}", RE_CONTRACTIONS "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*"
                                                  "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_granite_multi[] = {
    RE_CASED_WORDS("\\p{L}\\p{M}", RE_CONTRACTIONS "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*"
                                                        "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_youtu[] = {
    "[\\x{AC00}-\\x{D7A3}\\x{3131}-\\x{318E}]+|[\\x{FF01}\\x{2026}\\x{201C}\\x{201D}\\x{2018}\\x{2019}\\x{2014}\\x{FF1A}\\x{FF1B}\\x{FF0C}\\x{3001}-\\x{303F}\\x{FE30}-\\x{FE4F}]+|[\\x{3105}-\\x{312F}]+|[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" RE_CONTRACTIONS
    "?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" RE_CONTRACTIONS
    "?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_superbpe[] = {"\\p{N}+", "(?=(\\d{3})+(?!\\d))", NULL};
static const char *const re_bailingmoe[] = {
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_seed_coder[] = {
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+"
                    "|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_ufakzeka[] = {"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" RE_TAIL, NULL};
static const char *const re_laguna[] = {"[^\\n]+|[\\n]+", RE_QWEN2, NULL};
static const char *const re_exaone_moe[] = {
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}"
                    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const re_minicpm5[] = {
    "\\p{N}{1,3}", RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+" RE_TAIL, NULL};

typedef struct {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *const *regexes;
    pretokenizer_flags flags;
} pre_spec;

#define IGNORE_MERGES {.ignore_merges = true}
static const pre_spec pre_specs[] = {
    {"default", re_default, {0}},
    {"llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|jina-v5-nano", re_llama3,
     {.ignore_merges = true, .add_bos = true}},
    {"dbrx|smaug-bpe", re_llama3, {0}},
    {"jais-2", re_jais2, {0}},
    {"deepseek-llm", re_deepseek_llm, {0}},
    {"deepseek-coder", re_deepseek_coder, {0}},
    {"deepseek-v3|hunyuan-dense|hy_v4|joyai-llm", re_deepseek3, {0}},
    {"spark2_5", re_spark2_5, {0}},
    {"falcon", re_falcon, {0}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|mellum2", re_starcoder, {0}},
    {"gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|mellum|modern-bert"
     "|jina-v1-en|jina-v2-code|roberta-bpe|mpt|olmo|jais|trillion|granite-docling|exaone4",
     re_gpt2, {0}},
    {"qwen2|deepseek-r1-qwen|kormo|f2llmv2|stablelm2|hunyuan|solar-open|megrez|grok-2", re_qwen2, {0}},
    {"qwen35", re_qwen35, {0}},
    {"poro-chat|bloom|gpt3-finnish", re_poro, {0}},
    {"chatglm-bpe", re_llama3, {.no_bos = true}},
    {"glm4|glm5", re_llama3, {.ignore_merges = true, .no_bos = true}},
    {"viking", re_viking, {0}},
    {"tekken", re_tekken, {.ignore_merges = true, .add_bos = true}},
    {"chameleon", re_chameleon, {.add_bos = true}},
    {"gpt-4o|llama4|kanana2|talkie|minimax-m2", re_gpt4o, {0}},
    {"granite-embed-multi-97m", re_granite_multi, IGNORE_MERGES},
    {"youtu", re_youtu, IGNORE_MERGES},
    {"superbpe", re_superbpe, {0}},
    {"bailingmoe|bailingmoe2|llada-moe", re_bailingmoe, {0}},
    {"seed-coder", re_seed_coder, {0}},
    {"ufakzeka", re_ufakzeka, {0}},
    {"laguna", re_laguna, {0}},
    {"exaone-moe", re_exaone_moe, {0}},
    {"minicpm5", re_minicpm5, IGNORE_MERGES},
};

#define PRE_MAX_REGEX 8

typedef struct {
    pcre2_code *code;
    bool categories; /* uses \p{...}: matched against the subject with stand-ins */
} pre_regex;

struct pretokenizer {
    const pre_spec *spec;
    const char *name;
    pre_regex re[PRE_MAX_REGEX];
    int n_re;
};

static bool names_contain(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return true;
        if (!bar) return false;
        p = bar + 1;
    }
}

/* llama.cpp reads \p{Lu} \p{Ll} \p{Lt} \p{Lm} \p{Lo} all as \p{L}; so does celer. */
static char *rewrite_letter_subclasses(const char *re) {
    char *out = strdup(re);
    if (!out) return NULL;
    char *w = out;
    for (const char *r = re; *r;) {
        if (strncmp(r, "\\p{L", 4) == 0 && r[4] && strchr("ultmo", r[4]) && r[5] == '}') {
            memcpy(w, "\\p{L}", 5);
            w += 5;
            r += 6;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return out;
}

static celer_status compile_one(pre_regex *out, const char *pattern, celer_error *err) {
    out->categories = strstr(pattern, "\\p{") != NULL;
    char *re = rewrite_letter_subclasses(pattern);
    if (!re) return celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    int code;
    PCRE2_SIZE at;
    /* $ means end of subject only, as in ECMAScript; no UCP: \s, \d, \b stay ASCII */
    out->code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY,
                              &code, &at, NULL);
    free(re);
    if (!out->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return celer_error_set(err, CELER_ERR_FORMAT, "pre-tokenizer: an expression does not compile (%s at offset %zu): %.200s",
                               (const char *)msg, (size_t)at, pattern);
    }
    (void)pcre2_jit_compile(out->code, PCRE2_JIT_COMPLETE); /* interpreted if JIT is missing */
    return CELER_OK;
}

celer_status pretokenizer_init(pretokenizer **out, const char *name, pretokenizer_flags *flags,
                               celer_error *err) {
    *out = NULL;
    if (!name) {
        fprintf(stderr, "celer: tokenizer: missing tokenizer.ggml.pre, using 'default' "
                        "(generation quality will be degraded; consider regenerating the model)\n");
        name = "default";
    }
    const pre_spec *spec = NULL;
    for (size_t i = 0; i < sizeof(pre_specs) / sizeof(pre_specs[0]) && !spec; i++)
        if (names_contain(pre_specs[i].names, name)) spec = &pre_specs[i];
    if (!spec)
        return celer_error_set(err, CELER_ERR_UNSUPPORTED,
                               "tokenizer.ggml.pre = '%s' is an unknown or unsupported pre-tokenizer type", name);
    pretokenizer *p = calloc(1, sizeof(*p) + strlen(name) + 1);
    if (!p) return celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    p->spec = spec;
    p->name = strcpy((char *)(p + 1), name);
    for (; spec->regexes[p->n_re]; p->n_re++) {
        CHECK(p->n_re < PRE_MAX_REGEX);
        celer_status st = compile_one(&p->re[p->n_re], spec->regexes[p->n_re], err);
        if (st != CELER_OK) {
            pretokenizer_free(p);
            return st;
        }
    }
    *flags = spec->flags;
    *out = p;
    return CELER_OK;
}

void pretokenizer_free(pretokenizer *p) {
    if (!p) return;
    for (int i = 0; i < p->n_re; i++) pcre2_code_free(p->re[i].code);
    free(p);
}

const char *pretokenizer_name(const pretokenizer *p) { return p->name; }

/* ---- splitting ---- */

/* The text as code points and as the two subjects PCRE2 matches; both subjects have the
 * same layout, so one offset table serves both. */
typedef struct {
    uint32_t *cps;      /* (n_cps) decoded as llama.cpp decodes */
    size_t n_cps;
    uint8_t *raw;       /* (n_bytes) non-ASCII White_Space as U+000B, surrogates as U+E000 */
    uint8_t *cat;       /* (n_bytes) as raw, plus stand-ins for post-Unicode-14 code points */
    size_t n_bytes;
    size_t *byte_at;    /* (n_cps + 1) subject offset of each code point */
    uint32_t *cp_at;    /* (n_bytes + 1) code point index at a subject offset (boundaries only) */
    size_t *seg;        /* (n_seg + 1) piece boundaries in code points; grows per expression */
    size_t n_seg, cap_seg;
    size_t *next;       /* boundaries being built */
    size_t n_next, cap_next;
} split_work;

static void work_free(split_work *w) {
    free(w->cps);
    free(w->raw);
    free(w->cat);
    free(w->byte_at);
    free(w->cp_at);
    free(w->seg);
    free(w->next);
}

static uint32_t subject_cp(uint32_t cp) {
    if (cp >= 0x80 && unicode_is_whitespace(cp)) return 0x0B;
    if (cp >= 0xD800 && cp < 0xE000) return 0xE000; /* not valid in UTF-8 for PCRE2; class "other" either way */
    return cp;
}

static celer_status work_prepare(split_work *w, const uint8_t *text, size_t len, celer_error *err) {
    memset(w, 0, sizeof(*w));
    w->cps = malloc((len + 1) * sizeof(uint32_t));
    w->byte_at = malloc((len + 1) * sizeof(size_t));
    w->raw = malloc(3 * len + 1); /* an invalid byte becomes 3 bytes of U+FFFD */
    w->cat = malloc(3 * len + 1);
    if (!w->cps || !w->byte_at || !w->raw || !w->cat) return celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    size_t nb = 0;
    for (size_t pos = 0; pos < len;) {
        uint32_t cp = unicode_decode(text, len, &pos);
        uint32_t s = subject_cp(cp);
        w->byte_at[w->n_cps] = nb;
        w->cps[w->n_cps++] = cp;
        size_t k = unicode_encode(s, w->raw + nb);
        size_t k2 = unicode_encode(unicode_pcre2_stand_in(s), w->cat + nb);
        CHECK(k == k2);
        nb += k;
    }
    w->byte_at[w->n_cps] = nb;
    w->n_bytes = nb;
    w->cp_at = malloc((nb + 1) * sizeof(uint32_t));
    if (!w->cp_at) return celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    for (size_t i = 0; i <= w->n_cps; i++) w->cp_at[w->byte_at[i]] = (uint32_t)i;
    return CELER_OK;
}

static bool push_boundary(split_work *w, size_t cp) {
    if (w->n_next > 0 && w->next[w->n_next - 1] == cp) return true; /* empty piece: drop */
    if (w->n_next == w->cap_next) {
        size_t cap = w->cap_next ? 2 * w->cap_next : 64;
        size_t *p = realloc(w->next, cap * sizeof(size_t));
        if (!p) return false;
        w->next = p;
        w->cap_next = cap;
    }
    w->next[w->n_next++] = cp;
    return true;
}

/* Splits code points [c0, c1) by one expression: each match is a piece, and so is each
 * stretch between matches (std::regex_iterator semantics: after an empty match, retry
 * there for a non-empty one, else move on one character). */
static celer_status split_piece(split_work *w, const pre_regex *re, pcre2_match_data *md,
                                pcre2_match_context *mc, size_t c0, size_t c1, celer_error *err) {
    const uint8_t *subject = (re->categories ? w->cat : w->raw) + w->byte_at[c0];
    size_t base = w->byte_at[c0], n = w->byte_at[c1] - base;
    size_t start = 0;
    uint32_t options = 0;
    while (start <= n) {
        int rc = pcre2_match(re->code, subject, n, start, options | PCRE2_NO_UTF_CHECK, md, mc);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* very long words: the interpreter keeps its frames on the heap */
            rc = pcre2_match(re->code, subject, n, start, options | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (options == 0 || start >= n) break;
            options = 0; /* no non-empty match here: step one character */
            start = w->byte_at[w->cp_at[base + start] + 1] - base;
            continue;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof(msg));
            return celer_error_set(err, CELER_ERR_RANGE, "pre-tokenizer: matching failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (!push_boundary(w, w->cp_at[base + ov[0]]) || !push_boundary(w, w->cp_at[base + ov[1]]))
            return celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
        options = ov[0] == ov[1] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
        start = ov[1];
    }
    if (!push_boundary(w, c1)) return celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    return CELER_OK;
}

static celer_status run_expression(split_work *w, const pre_regex *re, pcre2_match_data *md,
                                   pcre2_match_context *mc, celer_error *err) {
    w->n_next = 0;
    if (!push_boundary(w, 0)) return celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    for (size_t i = 0; i < w->n_seg; i++) {
        celer_status st = split_piece(w, re, md, mc, w->seg[i], w->seg[i + 1], err);
        if (st != CELER_OK) return st;
    }
    size_t *t = w->seg, cap = w->cap_seg;
    w->seg = w->next, w->cap_seg = w->cap_next, w->n_seg = w->n_next - 1;
    w->next = t, w->cap_next = cap, w->n_next = 0;
    return CELER_OK;
}

/* Emits piece [c0, c1) GPT-2 byte-encoded: each byte of the UTF-8 text as its code point. */
static celer_status emit_word(const split_work *w, size_t c0, size_t c1, char *buf,
                              pretokenizer_word_fn fn, void *user, celer_error *err) {
    size_t nb = 0;
    for (size_t i = c0; i < c1; i++) {
        uint8_t utf8[4];
        size_t k = unicode_encode(w->cps[i], utf8);
        for (size_t j = 0; j < k; j++) nb += unicode_encode(unicode_byte_to_cp(utf8[j]), (uint8_t *)buf + nb);
    }
    return fn(user, buf, nb, err);
}

celer_status pretokenizer_split(const pretokenizer *p, const char *text, size_t len,
                                pretokenizer_word_fn fn, void *user, celer_error *err) {
    if (len == 0) return CELER_OK;
    split_work w;
    celer_status st = work_prepare(&w, (const uint8_t *)text, len, err);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_jit_stack *js = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, NULL);
    char *buf = NULL;
    if (st == CELER_OK && (!md || !mc || !js)) st = celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    if (st == CELER_OK) {
        pcre2_jit_stack_assign(mc, NULL, js);
        pcre2_set_match_limit(mc, UINT32_MAX); /* a megabyte-long word may take that long; not an error */
        w.seg = malloc(2 * sizeof(size_t));
        if (!w.seg) st = celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
        else w.seg[0] = 0, w.seg[1] = w.n_cps, w.n_seg = 1, w.cap_seg = 2;
    }
    for (int i = 0; st == CELER_OK && i < p->n_re; i++) st = run_expression(&w, &p->re[i], md, mc, err);
    size_t longest = 0;
    for (size_t i = 0; st == CELER_OK && i < w.n_seg; i++)
        if (w.seg[i + 1] - w.seg[i] > longest) longest = w.seg[i + 1] - w.seg[i];
    if (st == CELER_OK && !(buf = malloc(8 * longest + 1))) /* a code point: <= 4 bytes, each <= 2 */
        st = celer_error_set(err, CELER_ERR_NOMEM, "pre-tokenizer: out of memory");
    for (size_t i = 0; st == CELER_OK && i < w.n_seg; i++) st = emit_word(&w, w.seg[i], w.seg[i + 1], buf, fn, user, err);
    free(buf);
    pcre2_jit_stack_free(js);
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    work_free(&w);
    return st;
}

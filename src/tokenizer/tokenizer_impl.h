/* tokenizer_impl.h: the tokenizer's data, shared by tokenizer.c (loading, special tokens,
 * pieces), bpe.c and spm.c. Not for use outside src/tokenizer/. Tests: tests/test_tokenizer.c. */
#ifndef CELER_TOKENIZER_IMPL_H
#define CELER_TOKENIZER_IMPL_H

#include "tokenizer/pretokenize.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tokenizer.h"

/* Token attributes, the bits of llama.cpp's llama_token_attr. */
enum {
    TOKEN_ATTR_UNKNOWN = 1 << 0,
    TOKEN_ATTR_UNUSED = 1 << 1,
    TOKEN_ATTR_NORMAL = 1 << 2,
    TOKEN_ATTR_CONTROL = 1 << 3,
    TOKEN_ATTR_USER_DEFINED = 1 << 4,
    TOKEN_ATTR_BYTE = 1 << 5,
    TOKEN_ATTR_LSTRIP = 1 << 7,
    TOKEN_ATTR_RSTRIP = 1 << 8,
};

typedef enum { TOKENIZER_BPE, TOKENIZER_SPM } tokenizer_kind;

struct tokenizer {
    tokenizer_kind kind;
    int32_t n_vocab;
    char *text;          /* every token's text, each NUL-terminated */
    uint64_t *text_off;  /* (n_vocab + 1) */
    float *score;        /* (n_vocab) SPM merge priority */
    uint32_t *attr;      /* (n_vocab) TOKEN_ATTR_* */
    char *piece;         /* every token's piece with render_special, back to back */
    uint64_t *piece_off; /* (n_vocab + 1) */
    size_t max_piece;
    strmap ids;          /* text -> id */
    char *merge_text;    /* BPE: the merges, "left right" each NUL-terminated */
    strmap merges;       /* BPE: (left, right) -> rank */
    int32_t *special;    /* (n_special) CONTROL/USER_DEFINED/UNKNOWN ids, longest text first */
    int32_t n_special;
    uint8_t *eog;        /* (n_vocab) 1 = ends generation */
    int32_t bos, eos, eot, eom, unk;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    pretokenizer *pre;   /* BPE only */
};

static inline const char *token_text(const tokenizer *t, int32_t id) { return t->text + t->text_off[id]; }
static inline size_t token_len(const tokenizer *t, int32_t id) {
    return (size_t)(t->text_off[id + 1] - t->text_off[id] - 1);
}

/* A growing array of token ids. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} token_list;

celer_status token_list_push(token_list *l, int32_t id, celer_error *err);

/* Merging, shared by BPE and SPM: a doubly linked chain of symbols over one string, and a
 * priority queue of candidate merges of neighbours. */
typedef struct {
    int32_t prev, next; /* -1 at the ends */
    uint32_t off, n;    /* bytes of the string; n = 0 once merged into its left neighbour */
} merge_symbol;

typedef struct {
    double key;           /* higher merges first: -rank (BPE) or score (SPM) */
    int32_t left, right;  /* symbol indices; ties go to the smaller left */
    uint32_t size;        /* bytes of both when queued: stale once either has grown */
} merge_candidate;

typedef struct {
    merge_candidate *heap; /* (cap) binary max-heap */
    size_t n, cap;
} merge_queue;

celer_status merge_queue_push(merge_queue *q, merge_candidate c, celer_error *err);
bool merge_queue_pop(merge_queue *q, merge_candidate *out);
void merge_queue_free(merge_queue *q);

/* Splits s into one symbol per UTF-8 character (length from the lead byte, as llama.cpp). */
celer_status merge_symbols_init(merge_symbol **syms, size_t *cap, size_t *n_syms, const char *s, size_t n,
                                celer_error *err);

/* Encodes one run of plain text (no special tokens in it) and appends the ids. */
celer_status bpe_encode(const tokenizer *t, const char *text, size_t len, token_list *out, celer_error *err);
/* text is already escaped (spaces as U+2581, the prefix space added). */
celer_status spm_encode(const tokenizer *t, const char *text, size_t len, token_list *out, celer_error *err);

#endif

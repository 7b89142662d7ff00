/* sampler.c: penalties, top-k/top-p/min-p, temperature and a seeded draw. Tested in
 * tests/test_sampler.c. */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    int32_t id;
    float logit;
    float p;
} candidate;

struct sampler {
    sampler_params p;
    int32_t n_vocab;
    candidate *cand;  /* (n_vocab) */
    float *logits;    /* (n_vocab) penalised copy */
    int32_t *counts;  /* (n_vocab) occurrences in the history, zero between calls */
    int32_t *history; /* (repeat_last_n) ring of recent tokens */
    int32_t n_history, history_pos;
    uint64_t rng[4];
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) { /* xoshiro256** */
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static double uniform01(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0); }

void sampler_params_default(sampler_params *p) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *p = (sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                          .repeat_last_n = 64, .seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec};
}

celer_status sampler_params_validate(const sampler_params *p, celer_error *err) {
    if (!(p->temperature >= 0.0f) || !isfinite(p->temperature))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "temperature %g must be a finite number >= 0", (double)p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "top_p %g must be in (0, 1]", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "min_p %g must be in [0, 1]", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "repeat_penalty %g must be a finite number > 0", (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > (1 << 20))
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "repeat_last_n %d must be in [0, 1048576]", p->repeat_last_n);
    if (!isfinite(p->presence_penalty) || fabsf(p->presence_penalty) > 2.0f || !isfinite(p->frequency_penalty) ||
        fabsf(p->frequency_penalty) > 2.0f)
        return celer_error_set(err, CELER_ERR_INVALID_ARG, "presence/frequency penalties must be in [-2, 2]");
    return CELER_OK;
}

celer_status sampler_init(sampler **out, const sampler_params *p, int32_t n_vocab, celer_error *err) {
    *out = NULL;
    celer_status st = sampler_params_validate(p, err);
    if (st != CELER_OK) return st;
    if (n_vocab < 1) return celer_error_set(err, CELER_ERR_INVALID_ARG, "sampler: vocabulary size %d", n_vocab);
    sampler *s = calloc(1, sizeof(*s));
    if (!s) return celer_error_set(err, CELER_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof(candidate));
    s->logits = malloc((size_t)n_vocab * sizeof(float));
    s->counts = calloc((size_t)n_vocab, sizeof(int32_t));
    s->history = malloc((size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1) * sizeof(int32_t));
    if (!s->cand || !s->logits || !s->counts || !s->history) {
        sampler_free(s);
        return celer_error_set(err, CELER_ERR_NOMEM, "sampler: out of memory for %d tokens", n_vocab);
    }
    sampler_reset(s);
    *out = s;
    return CELER_OK;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->logits);
    free(s->counts);
    free(s->history);
    free(s);
}

void sampler_reset(sampler *s) {
    s->n_history = 0;
    s->history_pos = 0;
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

void sampler_accept(sampler *s, int32_t token) {
    if (s->p.repeat_last_n == 0 || token < 0 || token >= s->n_vocab) return;
    s->history[s->history_pos] = token;
    s->history_pos = (s->history_pos + 1) % s->p.repeat_last_n;
    if (s->n_history < s->p.repeat_last_n) s->n_history++;
}

static void apply_penalties(sampler *s) {
    const sampler_params *p = &s->p;
    if (s->n_history == 0 || (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f)) return;
    for (int32_t i = 0; i < s->n_history; i++) s->counts[s->history[i]]++;
    for (int32_t i = 0; i < s->n_history; i++) {
        int32_t t = s->history[i], c = s->counts[t];
        if (c == 0) continue; /* already penalised */
        float *l = &s->logits[t];
        *l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
        *l -= (float)c * p->frequency_penalty + p->presence_penalty;
        s->counts[t] = 0;
    }
}

static int by_logit_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Moves the k largest candidates to the front (unordered), by quickselect. */
static void select_top_k(candidate *c, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        candidate pivot = c[(lo + hi) / 2];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (by_logit_desc(&c[i], &pivot) < 0) i++;
            while (by_logit_desc(&c[j], &pivot) > 0) j--;
            if (i <= j) {
                candidate t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* p = softmax(logit / temp) over c[0..n). */
static void softmax(candidate *c, int32_t n, float temp) {
    float max = c[0].logit;
    for (int32_t i = 1; i < n; i++) max = fmaxf(max, c[i].logit);
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += c[i].p = expf((c[i].logit - max) / temp);
    for (int32_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

int32_t sampler_sample(sampler *s, const float *logits) {
    const sampler_params *p = &s->p;
    memcpy(s->logits, logits, (size_t)s->n_vocab * sizeof(float));
    apply_penalties(s);
    if (p->temperature <= 0.0f) {
        int32_t best = 0;
        for (int32_t i = 1; i < s->n_vocab; i++)
            if (s->logits[i] > s->logits[best]) best = i;
        return best;
    }
    int32_t n = s->n_vocab;
    for (int32_t i = 0; i < n; i++) s->cand[i] = (candidate){.id = i, .logit = s->logits[i]};
    if (p->top_k > 0 && p->top_k < n) {
        select_top_k(s->cand, n, p->top_k);
        n = p->top_k;
    }
    qsort(s->cand, (size_t)n, sizeof(candidate), by_logit_desc);
    softmax(s->cand, n, 1.0f);
    if (p->top_p < 1.0f) { /* the smallest prefix whose mass reaches top_p */
        double cum = 0.0;
        for (int32_t i = 0; i < n; i++) {
            cum += s->cand[i].p;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) { /* drop tokens below min_p x the most likely one's probability */
        float floor_p = p->min_p * s->cand[0].p;
        int32_t keep = 1;
        while (keep < n && s->cand[keep].p >= floor_p) keep++;
        n = keep;
    }
    softmax(s->cand, n, p->temperature);
    double u = uniform01(s->rng), cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += s->cand[i].p;
        if (u < cum) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}

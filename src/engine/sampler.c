/* sampler.c: penalties, top-k, top-p, min-p, temperature and a seeded draw, in
 * llama.cpp's default order (common/sampling.cpp: penalties -> top_k -> top_p -> min_p ->
 * temperature -> dist). Like llama.cpp, top-p and min-p see the logits before the
 * temperature. Tested in tests/test_sampler.c. */
#include "engine/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOP_P_BANDS 64          /* top-p pre-filter: bands of logits below the max ... */
#define TOP_P_BAND_WIDTH 0.25f  /* ... each this wide (16 logits in all, then the rest) */
#define MAX_LAST_N (1 << 20)

typedef struct {
    int32_t id;
    float logit;
    float p; /* unnormalized probability during the draw */
} candidate;

struct sampler {
    sampler_params p;
    int32_t n_vocab;
    float *logits;    /* (n_vocab) penalized copy of the input, NaN -> -inf */
    candidate *cand;  /* (n_vocab) surviving candidates, cand[0..n_cand) */
    int32_t n_cand;
    bool sorted;      /* cand is in descending order of logit (ties: lower id first) */
    int32_t *counts;  /* (n_vocab) occurrences of each token in the history */
    int32_t *history; /* (max(repeat_last_n, 1)) ring of the last tokens */
    int32_t n_history, history_pos;
    uint64_t rng[4];  /* xoshiro256** state */
};

/* ---- generator: xoshiro256**, state filled by splitmix64 (Blackman and Vigna) ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform01(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

/* ---- parameters, lifetime, history ---- */

void sampler_params_default(sampler_params *p) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t clock_seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    *p = (sampler_params){.temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                          .repeat_last_n = 64, .presence_penalty = 0.0f, .frequency_penalty = 0.0f,
                          .seed = splitmix64(&clock_seed)};
}

celer_status sampler_params_validate(const sampler_params *p, celer_error *err) {
    const celer_status bad = CELER_ERR_INVALID_ARG;
    if (!(p->temperature >= 0.0f && isfinite(p->temperature)))
        return celer_error_set(err, bad, "sampler: temperature %g must be a finite number >= 0 (0 = greedy)", (double)p->temperature);
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return celer_error_set(err, bad, "sampler: top_p %g must be in (0, 1] (1 = off)", (double)p->top_p);
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return celer_error_set(err, bad, "sampler: min_p %g must be in [0, 1] (0 = off)", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return celer_error_set(err, bad, "sampler: repeat_penalty %g must be a finite number > 0 (1 = off)", (double)p->repeat_penalty);
    if (p->repeat_last_n < 0 || p->repeat_last_n > MAX_LAST_N)
        return celer_error_set(err, bad, "sampler: repeat_last_n %d must be in [0, %d] (0 = no penalties)", p->repeat_last_n, MAX_LAST_N);
    if (!(fabsf(p->presence_penalty) <= 2.0f))
        return celer_error_set(err, bad, "sampler: presence_penalty %g must be in [-2, 2] (0 = off)", (double)p->presence_penalty);
    if (!(fabsf(p->frequency_penalty) <= 2.0f))
        return celer_error_set(err, bad, "sampler: frequency_penalty %g must be in [-2, 2] (0 = off)", (double)p->frequency_penalty);
    return CELER_OK;
}

celer_status sampler_init(sampler **out, const sampler_params *p, int32_t n_vocab, celer_error *err) {
    *out = NULL;
    celer_status st = sampler_params_validate(p, err);
    if (st != CELER_OK) return st;
    if (n_vocab < 1) return celer_error_set(err, CELER_ERR_INVALID_ARG, "sampler: vocabulary size %d must be >= 1", n_vocab);
    sampler *s = calloc(1, sizeof(*s));
    if (!s) return celer_error_set(err, CELER_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->logits = malloc((size_t)n_vocab * sizeof(float));
    s->cand = malloc((size_t)n_vocab * sizeof(candidate));
    s->counts = calloc((size_t)n_vocab, sizeof(int32_t));
    s->history = malloc((size_t)(p->repeat_last_n > 0 ? p->repeat_last_n : 1) * sizeof(int32_t));
    if (!s->logits || !s->cand || !s->counts || !s->history) {
        sampler_free(s);
        return celer_error_set(err, CELER_ERR_NOMEM, "sampler: out of memory for a vocabulary of %d tokens", n_vocab);
    }
    sampler_reset(s);
    *out = s;
    return CELER_OK;
}

void sampler_free(sampler *s) {
    if (!s) return;
    free(s->logits);
    free(s->cand);
    free(s->counts);
    free(s->history);
    free(s);
}

void sampler_reset(sampler *s) {
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof(int32_t));
    s->n_history = 0;
    s->history_pos = 0;
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* The ring keeps the last repeat_last_n tokens; counts follows it. */
void sampler_accept(sampler *s, int32_t token) {
    int32_t last_n = s->p.repeat_last_n;
    if (last_n == 0 || token < 0 || token >= s->n_vocab) return;
    if (s->n_history == last_n) s->counts[s->history[s->history_pos]]--;
    else s->n_history++;
    s->history[s->history_pos] = token;
    s->counts[token]++;
    s->history_pos = (s->history_pos + 1) % last_n;
}

/* ---- the chain ---- */

static bool penalties_on(const sampler_params *p) {
    return p->repeat_last_n > 0 && (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

/* s->logits = the input with NaN -> -inf, then llama.cpp's penalties on each distinct
 * recent token t seen c times: repeat (positive logits divided, others multiplied), then
 * - c * frequency - presence. counts[t] is negated while t is done, so each token is
 * penalized once in O(repeat_last_n). */
static void copy_penalized(sampler *s, const float *logits) {
    const sampler_params *p = &s->p;
    float *l = s->logits;
    for (int32_t i = 0; i < s->n_vocab; i++) l[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    if (!penalties_on(p)) return;
    for (int32_t i = 0; i < s->n_history; i++) {
        int32_t t = s->history[i], c = s->counts[t];
        if (c <= 0) continue; /* done already */
        l[t] = l[t] > 0.0f ? l[t] / p->repeat_penalty : l[t] * p->repeat_penalty;
        l[t] -= (float)c * p->frequency_penalty + p->presence_penalty;
        s->counts[t] = -c;
    }
    for (int32_t i = 0; i < s->n_history; i++)
        if (s->counts[s->history[i]] < 0) s->counts[s->history[i]] *= -1;
}

static float max_of(const float *x, int32_t n) { /* x holds no NaN */
    float max = x[0];
    for (int32_t i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    return max;
}

static int32_t argmax(const float *x, int32_t n) { /* the first maximum: ties to the lowest id */
    float max = max_of(x, n);
    int32_t i = 0;
    while (x[i] != max) i++;
    return i;
}

/* a ranks before b: larger logit, or the same logit and a lower id. */
static bool ranks_before(candidate a, candidate b) { return a.logit > b.logit || (a.logit == b.logit && a.id < b.id); }

/* Min-heap on rank (the worst-ranked candidate at the root). */
static void heap_sift_down(candidate *h, int32_t n, int32_t i) {
    for (;;) {
        int32_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_before(h[worst], h[l])) worst = l;
        if (r < n && ranks_before(h[worst], h[r])) worst = r;
        if (worst == i) return;
        candidate t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

/* cand[0..m) = the m best-ranked tokens of s->logits, in rank order: a heap of the best m
 * seen so far, then heap sort (O(n_vocab log m)). */
static void select_top(sampler *s, int32_t m) {
    candidate *h = s->cand;
    for (int32_t i = 0; i < m; i++) h[i] = (candidate){.id = i, .logit = s->logits[i]};
    for (int32_t i = m / 2 - 1; i >= 0; i--) heap_sift_down(h, m, i);
    for (int32_t i = m; i < s->n_vocab; i++) {
        candidate c = {.id = i, .logit = s->logits[i]};
        if (ranks_before(c, h[0])) {
            h[0] = c;
            heap_sift_down(h, m, 0);
        }
    }
    for (int32_t n = m - 1; n > 0; n--) { /* the worst goes to the end */
        candidate t = h[0];
        h[0] = h[n];
        h[n] = t;
        heap_sift_down(h, n, 0);
    }
    s->n_cand = m;
    s->sorted = true;
}

/* Length of the shortest prefix of the sorted cand[0..n) whose mass exp(logit - max)
 * reaches target; n if none does. */
static int32_t mass_prefix(const candidate *c, int32_t n, float max, double target) {
    double cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += expf(c[i].logit - max);
        if (cum >= target) return i + 1;
    }
    return n;
}

static int by_rank(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    return ranks_before(*x, *y) ? -1 : ranks_before(*y, *x) ? 1 : 0;
}

/* Which band of TOP_P_BAND_WIDTH logits below the max a logit falls in; the last band
 * takes everything further down (and -inf). */
static int32_t band_of(float logit, float max) {
    float d = (max - logit) * (1.0f / TOP_P_BAND_WIDTH);
    return d < (float)(TOP_P_BANDS - 1) ? (int32_t)d : TOP_P_BANDS - 1;
}

/* Keeps the smallest most-likely set whose probability reaches top_p (llama.cpp includes
 * the token that crosses it). Without a prior top-k, one pass sums the mass per band of
 * logits below the max; the nucleus lies within the top bands that reach top_p, so only
 * their tokens are gathered and sorted, not the whole vocabulary. */
static void apply_top_p(sampler *s) {
    double target_share = s->p.top_p;
    if (s->sorted) {
        float max = s->cand[0].logit;
        double sum = 0.0;
        for (int32_t i = 0; i < s->n_cand; i++) sum += expf(s->cand[i].logit - max);
        s->n_cand = mass_prefix(s->cand, s->n_cand, max, target_share * sum);
        return;
    }
    const float *l = s->logits;
    float max = max_of(l, s->n_vocab);
    if (isinf(max)) { /* all -inf or some +inf: the draw settles it */
        for (int32_t i = 0; i < s->n_vocab; i++) s->cand[i] = (candidate){.id = i, .logit = l[i]};
        s->n_cand = s->n_vocab;
        return;
    }
    double band_mass[TOP_P_BANDS] = {0}, sum = 0.0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        float e = expf(l[i] - max);
        band_mass[band_of(l[i], max)] += e;
        sum += e;
    }
    int32_t last_band = 0;
    for (double cum = band_mass[0]; cum < target_share * sum && last_band < TOP_P_BANDS - 1;) cum += band_mass[++last_band];
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++)
        if (band_of(l[i], max) <= last_band) s->cand[n++] = (candidate){.id = i, .logit = l[i]};
    qsort(s->cand, (size_t)n, sizeof(candidate), by_rank);
    s->n_cand = mass_prefix(s->cand, n, max, target_share * sum);
    s->sorted = true;
}

/* Keeps tokens with p >= min_p * p_max, i.e. logit >= max + log(min_p), in their order. */
static void apply_min_p(sampler *s, bool have_cand) {
    const float *src = s->logits;
    int32_t n = s->n_vocab;
    float max = have_cand ? s->cand[0].logit : max_of(src, n);
    if (have_cand && !s->sorted)
        for (int32_t i = 1; i < s->n_cand; i++) max = s->cand[i].logit > max ? s->cand[i].logit : max;
    float floor = max + logf(s->p.min_p);
    int32_t kept = 0;
    if (have_cand) {
        for (int32_t i = 0; i < s->n_cand; i++)
            if (s->cand[i].logit >= floor) s->cand[kept++] = s->cand[i];
    } else {
        for (int32_t i = 0; i < n; i++)
            if (src[i] >= floor) s->cand[kept++] = (candidate){.id = i, .logit = src[i]};
    }
    if (kept > 0) s->n_cand = kept; /* none only if every logit is -inf: keep them all */
}

/* Draws from softmax(logit / T) over cand[0..n_cand) with one uniform number. */
static int32_t draw(sampler *s) {
    candidate *c = s->cand;
    int32_t n = s->n_cand;
    double u = uniform01(s->rng);
    float max = c[0].logit;
    for (int32_t i = 1; i < n; i++) max = c[i].logit > max ? c[i].logit : max;
    if (isinf(max)) { /* all -inf, or a +inf: the first candidate with the max logit */
        for (int32_t i = 0; i < n; i++)
            if (c[i].logit == max) return c[i].id;
    }
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += c[i].p = expf((c[i].logit - max) / s->p.temperature);
    double target = u * sum, cum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (cum > target) return c[i].id;
    }
    for (int32_t i = n - 1; i > 0; i--) /* rounding left target at the total: last token with p > 0 */
        if (c[i].p > 0.0f) return c[i].id;
    return c[0].id;
}

/* cand[0..n_cand) = the tokens of s->logits that top-k, top-p and min-p keep. */
static void apply_filters(sampler *s) {
    const sampler_params *p = &s->p;
    int32_t n = s->n_vocab;
    bool have_cand = false;
    s->sorted = false;
    s->n_cand = n;
    if (p->top_k > 0 && p->top_k < n) {
        select_top(s, p->top_k);
        have_cand = true;
    }
    if (p->top_p < 1.0f) {
        apply_top_p(s);
        have_cand = true;
    }
    if (p->min_p > 0.0f) {
        apply_min_p(s, have_cand);
        have_cand = true;
    }
    if (!have_cand)
        for (int32_t i = 0; i < n; i++) s->cand[i] = (candidate){.id = i, .logit = s->logits[i]};
}

int32_t sampler_sample(sampler *s, const float *logits) {
    copy_penalized(s, logits);
    if (s->p.temperature <= 0.0f) return argmax(s->logits, s->n_vocab);
    apply_filters(s);
    return draw(s);
}

int32_t sampler_candidates(sampler *s, const float *logits, int32_t *ids) {
    copy_penalized(s, logits);
    apply_filters(s);
    for (int32_t i = 0; i < s->n_cand; i++) ids[i] = s->cand[i].id;
    return s->n_cand;
}

/* sampler.h: turns logits into the next token, the way llama.cpp's default chain does:
 * repetition/presence/frequency penalties over the last repeat_last_n tokens, then top-k,
 * top-p, min-p, temperature and a seeded draw; or the argmax when the temperature is 0.
 *
 * All scratch is allocated by sampler_init; sampling allocates nothing. Top-k is a heap
 * selection (O(n_vocab log k)); top-p without top-k sums the probability mass in bands of
 * logits below the max and sorts only the tokens of the bands that reach top_p, not the
 * whole vocabulary. The generator is xoshiro256** seeded by splitmix64
 * and each non-greedy draw takes exactly one number from it, so the same seed gives the
 * same tokens on every machine. Tests: tests/test_sampler.c. */
#ifndef CELER_ENGINE_SAMPLER_H
#define CELER_ENGINE_SAMPLER_H

#include <stdint.h>

#include "core/status.h"

typedef struct {
    float temperature;       /* 0: greedy (argmax, ties to the lowest id); else logits / T */
    int32_t top_k;           /* keep the k most likely tokens; <= 0: off */
    float top_p;             /* keep the smallest most-likely set with mass >= top_p; 1: off */
    float min_p;             /* keep tokens with p >= min_p * p_max; 0: off */
    float repeat_penalty;    /* 1: off; recent tokens' logits: positive / penalty, others * penalty */
    int32_t repeat_last_n;   /* how many recent tokens all three penalties look at; 0: off */
    float presence_penalty;  /* subtracted once from each recent token's logit; 0: off (OpenAI) */
    float frequency_penalty; /* subtracted per occurrence in the recent tokens; 0: off (OpenAI) */
    uint64_t seed;
} sampler_params;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalties,
 * last_n 64; the seed comes from the clock (set it for a reproducible run). */
void sampler_params_default(sampler_params *p);

/* Refuses temperature < 0 or not finite, top_p outside (0, 1], min_p outside [0, 1],
 * repeat_penalty <= 0 or not finite, repeat_last_n outside [0, 2^20], presence or
 * frequency penalty outside [-2, 2]; the message names the option and its value. */
celer_status sampler_params_validate(const sampler_params *p, celer_error *err);

typedef struct sampler sampler;

/* Validates p and allocates the scratch for a vocabulary of n_vocab tokens. */
celer_status sampler_init(sampler **out, const sampler_params *p, int32_t n_vocab, celer_error *err);
void sampler_free(sampler *s);
/* Forgets the history and restarts the generator from the seed. */
void sampler_reset(sampler *s);
/* Records a token (prompt or generated) for the penalties; ids outside [0, n_vocab) are
 * ignored. */
void sampler_accept(sampler *s, int32_t token);
/* The next token, in [0, n_vocab). logits is not modified; a NaN logit counts as -inf. */
int32_t sampler_sample(sampler *s, const float *logits /* (n_vocab) */);
/* The tokens a draw at a temperature above 0 chooses from: what the penalties, top-k,
 * top-p and min-p leave, whatever the temperature. Writes their ids (most likely first
 * when top-k or top-p ran, else in id order) and returns how many (>= 1). Draws nothing
 * from the generator. For tests and for showing the candidates. */
int32_t sampler_candidates(sampler *s, const float *logits /* (n_vocab) */, int32_t *ids /* (n_vocab) */);

#endif

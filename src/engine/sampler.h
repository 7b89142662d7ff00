/* sampler.h: turns logits into the next token: repetition/presence/frequency
 * penalties, then top-k, top-p, min-p, temperature and a seeded draw (llama.cpp's default
 * order), or argmax when the temperature is 0. All scratch is allocated by sampler_init;
 * sampling allocates nothing. The generator is xoshiro256** seeded by splitmix64, so
 * the same seed gives the same tokens on every machine. Tests: tests/test_sampler.c. */
#ifndef CELER_ENGINE_SAMPLER_H
#define CELER_ENGINE_SAMPLER_H

#include <stdint.h>

#include "core/status.h"

typedef struct {
    float temperature;      /* 0: greedy (argmax, ties to the lowest id) */
    int32_t top_k;          /* <= 0: off */
    float top_p;            /* 1: off */
    float min_p;            /* 0: off */
    float repeat_penalty;   /* 1: off; divides positive, multiplies negative logits of recent tokens */
    int32_t repeat_last_n;  /* how many recent tokens the penalties look at */
    float presence_penalty; /* 0: off (OpenAI semantics) */
    float frequency_penalty;
    uint64_t seed;
} sampler_params;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalties, last 64,
 * seed from the clock. */
void sampler_params_default(sampler_params *p);
celer_status sampler_params_validate(const sampler_params *p, celer_error *err);

typedef struct sampler sampler;

celer_status sampler_init(sampler **out, const sampler_params *p, int32_t n_vocab, celer_error *err);
void sampler_free(sampler *s);
void sampler_reset(sampler *s); /* forgets the history and re-seeds */
void sampler_accept(sampler *s, int32_t token); /* history for the penalties */
int32_t sampler_sample(sampler *s, const float *logits /* (n_vocab), not modified */);

#endif

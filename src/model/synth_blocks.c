/* synth_blocks.c: random but valid weight blocks of every type celer runs, for
 * `celer synth`. The quant bytes are random (uniform levels); the fp16 scale of every
 * block is one constant per tensor, and the K-quants' sub-block scales are drawn from a
 * pool of packed random scales, with the mins set so each sub-block's values are centred
 * on zero (types without a min flip the sign of d at random, block by block). The scale is chosen so that the values' RMS is the target:
 *   RMS = d * sqrt(E[sub-scale^2]) * sqrt(E[level^2]), levels centred.
 * Float types draw from a table of uniform values in [-sqrt(3) rms, sqrt(3) rms].
 * Tests: tests/test_synth.c (every type dequantized by the reference: RMS and mean). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "model/synth.h"
#include "quant/blocks.h"
#include "quant/quant.h"

#define SYNTH_POOL 256   /* packed sub-block scale sets per tensor */
#define SYNTH_TABLE 4096 /* float values per tensor (12 random bits pick one) */

static uint64_t rng_next(uint64_t *s) { /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Mean of k^2 over the integers lo..hi. */
static double mean_square(int lo, int hi) {
    double sum = 0;
    for (int k = lo; k <= hi; k++) sum += (double)k * k;
    return sum / (hi - lo + 1);
}

/* A type's layout and value scheme: x = d * sub-scale * (level - centre). */
typedef struct {
    uint32_t type;
    size_t d_offset, dmin_offset; /* of the fp16 scale and min fields */
    bool has_min;
    double level_ms;      /* E[(level - centre)^2] over the uniform levels */
    double centre;        /* dmin * m = centre * d * sub-scale */
    int scale_lo, scale_hi; /* sub-block scales uniform in [lo, hi]; 0, 0: none */
    size_t scale_offset, scale_bytes;
} block_scheme;

static const int8_t iq4_nl_values[16] = IQ4_NL_VALUES;

static double iq4_nl_ms(void) {
    double s = 0;
    for (int i = 0; i < 16; i++) s += (double)iq4_nl_values[i] * iq4_nl_values[i];
    return s / 16;
}

static bool scheme_of(uint32_t type, block_scheme *s) {
    memset(s, 0, sizeof(*s));
    s->type = type;
    switch (type) {
    case QUANT_Q4_0: s->level_ms = mean_square(-8, 7); return true;
    case QUANT_Q5_0: s->level_ms = mean_square(-16, 15); return true;
    case QUANT_Q8_0: s->level_ms = mean_square(-128, 127); return true;
    case QUANT_IQ4_NL: s->level_ms = iq4_nl_ms(); return true;
    case QUANT_Q4_1: /* x = q d + m, m = -7.5 d: levels -7.5 .. 7.5 */
        *s = (block_scheme){type, 0, offsetof(block_q4_1, m), true, 21.25, 7.5, 0, 0, 0, 0};
        return true;
    case QUANT_Q5_1:
        *s = (block_scheme){type, 0, offsetof(block_q5_1, m), true, 85.25, 15.5, 0, 0, 0, 0};
        return true;
    case QUANT_Q2_K: /* x = d sc q - dmin m, m = sc, dmin = 1.5 d: d sc (q - 1.5) */
        *s = (block_scheme){type, offsetof(block_q2_K, d), offsetof(block_q2_K, dmin), true, 1.25, 1.5, 8, 15,
                            offsetof(block_q2_K, scales), 16};
        return true;
    case QUANT_Q3_K: /* x = d (sc - 32) q, q in -4..3 */
        *s = (block_scheme){type, offsetof(block_q3_K, d), 0, false, mean_square(-4, 3), 0, 16, 31,
                            offsetof(block_q3_K, scales), 12};
        return true;
    case QUANT_Q4_K:
        *s = (block_scheme){type, 0, 2, true, 21.25, 7.5, 32, 63, offsetof(block_q4_K, scales), K_SCALE_SIZE};
        return true;
    case QUANT_Q5_K:
        *s = (block_scheme){type, 0, 2, true, 85.25, 15.5, 32, 63, offsetof(block_q5_K, scales), K_SCALE_SIZE};
        return true;
    case QUANT_Q6_K: /* x = d sc (q - 32), q in 0..63 */
        *s = (block_scheme){type, offsetof(block_q6_K, d), 0, false, mean_square(-32, 31), 0, 64, 127,
                            offsetof(block_q6_K, scales), 16};
        return true;
    default: return false;
    }
}

/* ---- packing sub-block scales as the dequantizers unpack them ---- */

static void pack_q4_k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t q[12]) {
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

/* 16 six-bit values (stored scale + 32): low nibbles in bytes 0..7, high bits in 8..11. */
static void pack_q3_k_scales(const uint8_t stored[16], uint8_t q[12]) {
    memset(q, 0, 12);
    for (int j = 0; j < 16; j++) {
        q[j % 8] |= (uint8_t)((stored[j] & 0xF) << (j < 8 ? 0 : 4));
        q[8 + j % 4] |= (uint8_t)((stored[j] >> 4) << (2 * (j / 4)));
    }
}

static void pack_scales(const block_scheme *s, uint64_t *rng, uint8_t *out) {
    uint8_t sc[16];
    int n = s->type == QUANT_Q4_K || s->type == QUANT_Q5_K ? 8 : 16;
    for (int j = 0; j < n; j++) sc[j] = (uint8_t)(s->scale_lo + (int)(rng_next(rng) % (uint64_t)(s->scale_hi - s->scale_lo + 1)));
    switch (s->type) {
    case QUANT_Q2_K:
        for (int j = 0; j < 16; j++) out[j] = (uint8_t)(sc[j] | (sc[j] << 4)); /* scale and min alike */
        break;
    case QUANT_Q3_K:
        for (int j = 0; j < 16; j++) sc[j] = (uint8_t)(sc[j] + 32);
        pack_q3_k_scales(sc, out);
        break;
    case QUANT_Q4_K: case QUANT_Q5_K: pack_q4_k_scales(sc, sc, out); break;
    case QUANT_Q6_K: memcpy(out, sc, 16); break;
    default: break;
    }
}

/* ---- float tables ---- */

static celer_status float_table(synth_blocks *b, float rms, celer_error *err) {
    size_t elem = b->type == QUANT_F32 ? 4 : 2;
    b->values = malloc(SYNTH_TABLE * elem);
    if (!b->values) return celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory");
    float a = rms * sqrtf(3.0f);
    for (int i = 0; i < SYNTH_TABLE; i++) {
        float v = a * (2.0f * ((float)i + 0.5f) / SYNTH_TABLE - 1.0f);
        if (b->type == QUANT_F32) memcpy((uint8_t *)b->values + 4 * (size_t)i, &v, 4);
        else b->values[i] = b->type == QUANT_F16 ? celer_fp32_to_fp16(v) : celer_fp32_to_bf16(v);
    }
    return CELER_OK;
}

celer_status synth_blocks_init(synth_blocks *b, uint32_t type, float rms, uint64_t seed, celer_error *err) {
    memset(b, 0, sizeof(*b));
    const quant_traits *tr = quant_get_traits(type);
    if (!tr || !tr->vec_dot) return celer_error_set(err, CELER_ERR_UNSUPPORTED, "synth: type %s is not a weight type", quant_type_name(type));
    b->type = type;
    b->block_bytes = tr->type_size;
    b->block_size = tr->block_size;
    if (type == QUANT_F32 || type == QUANT_F16 || type == QUANT_BF16) return float_table(b, rms, err);
    block_scheme s;
    if (!scheme_of(type, &s)) return celer_error_set(err, CELER_ERR_UNSUPPORTED, "synth: no random blocks for type %s", tr->name);
    double scale_ms = s.scale_hi ? mean_square(s.scale_lo, s.scale_hi) : 1.0;
    float d = (float)(rms / (sqrt(scale_ms) * sqrt(s.level_ms)));
    b->d = celer_fp32_to_fp16(d);
    /* the min: dmin m = centre d sc with m = sc (K-quants), or m = -centre d (Q4_1, Q5_1) */
    float d_rounded = celer_fp16_to_fp32(b->d);
    if (s.has_min) b->dmin = celer_fp32_to_fp16(s.scale_hi ? (float)s.centre * d_rounded : -(float)s.centre * d_rounded);
    if (s.scale_hi) {
        b->scale_offset = s.scale_offset;
        b->scale_bytes = s.scale_bytes;
        b->scale_pool = malloc(SYNTH_POOL * s.scale_bytes);
        if (!b->scale_pool) return celer_error_set(err, CELER_ERR_NOMEM, "synth: out of memory");
        uint64_t rng = seed | 1;
        for (int i = 0; i < SYNTH_POOL; i++) pack_scales(&s, &rng, b->scale_pool + (size_t)i * s.scale_bytes);
    }
    b->d_offset = s.d_offset;
    b->dmin_offset = s.has_min ? s.dmin_offset : SIZE_MAX;
    return CELER_OK;
}

void synth_blocks_free(synth_blocks *b) {
    free(b->scale_pool);
    free(b->values);
    memset(b, 0, sizeof(*b));
}

static void fill_random(uint8_t *dst, size_t n, uint64_t *rng) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t r = rng_next(rng);
        memcpy(dst + i, &r, 8);
    }
    if (i < n) {
        uint64_t r = rng_next(rng);
        memcpy(dst + i, &r, n - i);
    }
}

static void fill_floats(const synth_blocks *b, uint8_t *dst, uint64_t n, uint64_t *rng) {
    if (b->type == QUANT_F32) {
        for (uint64_t i = 0; i < n; i++) memcpy(dst + 4 * i, (const uint8_t *)b->values + 4 * (rng_next(rng) % SYNTH_TABLE), 4);
        return;
    }
    uint16_t *out = (uint16_t *)(void *)dst;
    uint64_t i = 0;
    for (; i + 4 <= n; i += 4) { /* four 12-bit indices from one draw */
        uint64_t r = rng_next(rng);
        out[i] = b->values[r & 4095], out[i + 1] = b->values[(r >> 16) & 4095];
        out[i + 2] = b->values[(r >> 32) & 4095], out[i + 3] = b->values[(r >> 48) & 4095];
    }
    for (; i < n; i++) out[i] = b->values[rng_next(rng) & 4095];
}

void synth_blocks_fill(const synth_blocks *b, void *dst, uint64_t n_blocks, uint64_t *rng) {
    uint8_t *p = dst;
    if (b->values) {
        fill_floats(b, p, n_blocks, rng);
        return;
    }
    fill_random(p, (size_t)(n_blocks * b->block_bytes), rng);
    bool has_min = b->dmin_offset != SIZE_MAX;
    for (uint64_t i = 0; i < n_blocks; i++, p += b->block_bytes) {
        uint64_t r = rng_next(rng);
        /* levels such as -8..7 lean negative: a random sign of d centres them on average */
        uint16_t d = has_min ? b->d : (uint16_t)(b->d ^ ((r >> 63) << 15));
        memcpy(p + b->d_offset, &d, 2);
        if (has_min) memcpy(p + b->dmin_offset, &b->dmin, 2);
        if (b->scale_pool) memcpy(p + b->scale_offset, b->scale_pool + (r % SYNTH_POOL) * b->scale_bytes, b->scale_bytes);
    }
}

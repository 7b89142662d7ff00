/* blocks.h: ggml's block layouts, byte for byte; a GGUF tensor of a block type is an array
 * of these. fp16 fields hold IEEE binary16 bit patterns (convert with core/half.h).
 * Sizes and field offsets are checked at compile time against ggml's (ggml-common.h).
 * Used by the reference functions in quant_ref*.c; tested through tests/test_quant.c. */
#ifndef CELER_QUANT_BLOCKS_H
#define CELER_QUANT_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define QK_K 256        /* K-quant super-block */
#define K_SCALE_SIZE 12 /* Q4_K/Q5_K: 8 scales + 8 mins, 6 bits each */

/* Element j of a 32-block sits in qs[j % 16], low nibble for j < 16, high nibble after. */
typedef struct {
    uint16_t d;            /* fp16 scale: x = (q - 8) d */
    uint8_t qs[QK4_0 / 2]; /* (32) 4-bit q */
} block_q4_0;

typedef struct {
    uint16_t d, m;         /* fp16 scale and min: x = q d + m */
    uint8_t qs[QK4_1 / 2]; /* (32) 4-bit q */
} block_q4_1;

typedef struct {
    uint16_t d;            /* fp16 scale: x = (q - 16) d */
    uint8_t qh[4];         /* (32) bit j = fifth bit of element j (little-endian u32) */
    uint8_t qs[QK5_0 / 2]; /* (32) low 4 bits */
} block_q5_0;

typedef struct {
    uint16_t d, m; /* fp16: x = q d + m */
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;

typedef struct {
    uint16_t d;        /* fp16 scale: x = q d */
    int8_t qs[QK8_0];  /* (32) */
} block_q8_0;

/* IQ4_NL: 4-bit indices into a fixed non-linear table of 16 levels (ggml's kvalues_iq4nl),
 * denser near zero where weights are; nibble order as Q4_0. */
#define IQ4_NL_VALUES {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
typedef struct {
    uint16_t d;             /* fp16 scale: x = d IQ4_NL_VALUES[q] */
    uint8_t qs[QK4_NL / 2]; /* (32) 4-bit indices */
} block_iq4_nl;

typedef struct {
    uint16_t d, s;     /* fp16 scale and d * sum(qs) (used by the Q4_1/Q5_1 dots for the min term) */
    int8_t qs[QK8_1];  /* (32) */
} block_q8_1;

/* K-quants: 256 elements in sub-blocks of 16 or 32, each with a quantized scale (and min). */
typedef struct {
    uint8_t scales[QK_K / 16]; /* (16) low nibble: scale, high nibble: min, of each 16 */
    uint8_t qs[QK_K / 4];      /* (256) 2-bit q */
    uint16_t d, dmin;          /* fp16: x = d sc q - dmin m */
} block_q2_K;

typedef struct {
    uint8_t hmask[QK_K / 8]; /* (256) high bit; a clear bit subtracts 4 */
    uint8_t qs[QK_K / 4];    /* (256) low 2 bits */
    uint8_t scales[12];      /* (16) 6-bit scales, stored +32 */
    uint16_t d;              /* fp16: x = d (sc - 32) q */
} block_q3_K;

typedef struct {
    uint16_t d, dmin;               /* fp16: x = d sc q - dmin m */
    uint8_t scales[K_SCALE_SIZE];   /* (8 scales, 8 mins) 6 bits each, one per 32 */
    uint8_t qs[QK_K / 2];           /* (256) 4-bit q */
} block_q4_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8]; /* (256) fifth bit */
    uint8_t qs[QK_K / 2]; /* (256) low 4 bits */
} block_q5_K;

typedef struct {
    uint8_t ql[QK_K / 2];      /* (256) low 4 bits */
    uint8_t qh[QK_K / 4];      /* (256) high 2 bits */
    int8_t scales[QK_K / 16];  /* (16) 8-bit signed scales */
    uint16_t d;                /* fp16: x = d sc (q - 32) */
} block_q6_K;

/* Activation type of the K-quant dots. */
typedef struct {
    float d;                   /* fp32 scale: x = q d */
    int8_t qs[QK_K];           /* (256) */
    int16_t bsums[QK_K / 16];  /* (16) sum of each 16 qs */
} block_q8_K;

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
_Static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");
_Static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
_Static_assert(sizeof(block_q2_K) == 84, "block_q2_K size");
_Static_assert(sizeof(block_q3_K) == 110, "block_q3_K size");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

/* Field offsets (sizes alone would not catch two fields swapped). */
_Static_assert(offsetof(block_q5_0, qs) == 6 && offsetof(block_q5_1, qh) == 4 && offsetof(block_q5_1, qs) == 8, "q5 layout");
_Static_assert(offsetof(block_q8_1, qs) == 4, "q8_1 layout");
_Static_assert(offsetof(block_q2_K, qs) == 16 && offsetof(block_q2_K, d) == 80, "q2_K layout");
_Static_assert(offsetof(block_q3_K, qs) == 32 && offsetof(block_q3_K, scales) == 96 && offsetof(block_q3_K, d) == 108,
               "q3_K layout");
_Static_assert(offsetof(block_q4_K, scales) == 4 && offsetof(block_q4_K, qs) == 16, "q4_K layout");
_Static_assert(offsetof(block_q5_K, qh) == 16 && offsetof(block_q5_K, qs) == 48, "q5_K layout");
_Static_assert(offsetof(block_q6_K, qh) == 128 && offsetof(block_q6_K, scales) == 192 && offsetof(block_q6_K, d) == 208,
               "q6_K layout");
_Static_assert(offsetof(block_q8_K, qs) == 4 && offsetof(block_q8_K, bsums) == 260, "q8_K layout");

#endif

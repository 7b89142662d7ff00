/* kernels.c: the kernel tables and their run-time choice (see kernels.h). The scalar
 * table is the reference: the traits' quantize_row and vec_dot. On x86 the AVX2 entries
 * replace it where the CPU has AVX2, FMA and F16C, and the AVX-512 entries replace some
 * of those where it also has AVX-512 F/BW/VL/DQ and VNNI (CELER_SIMD=avx2 keeps the AVX2
 * table, CELER_SIMD=scalar the scalar one). */
#include "quant/kernels.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "quant/kernels_arm.h"
#include "quant/kernels_x86.h"
#include "quant/quant.h"

#ifdef CELER_KERNELS_X86
#include <cpuid.h>

/* AVX2, FMA and F16C present, and the OS saves the ymm registers (OSXSAVE, XCR0). */
static bool cpu_has_avx2_fma_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
    if (!(fma && osxsave && avx && f16c)) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & 6u) != 6u) return false; /* xmm and ymm state */
    if (__get_cpuid_max(0, NULL) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    return b & (1u << 5); /* AVX2 */
}

/* AVX-512 F, DQ, BW, VL and VNNI present, and the OS saves the opmask and zmm registers
 * (XCR0 bits 5, 6 and 7, with the xmm and ymm bits 1 and 2); asked after the AVX2 check. */
static bool cpu_has_avx512_vnni(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31), vnni = c & (1u << 11);
    if (!(f && dq && bw && vl && vnni)) return false;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    return (xcr0_lo & 0xe6u) == 0xe6u;
}
#endif

static const quant_traits *traits_of(uint32_t type) { return quant_get_traits(type); }

static void gemm_scalar(uint32_t type, int64_t k, const void *w, size_t w_row_bytes, int64_t r0, int64_t r1, const void *act,
                        size_t act_row_bytes, int64_t n, float *y, int64_t ldy) {
    const quant_traits *t = traits_of(type);
    for (int64_t r = r0; r < r1; r++)
        for (int64_t i = 0; i < n; i++)
            y[i * ldy + r] = t->vec_dot(k, (const char *)w + r * (int64_t)w_row_bytes, (const char *)act + i * (int64_t)act_row_bytes);
}

#define SCALAR_TABLE(t, id, act)                                                                                        \
    static void gemm_##t(int64_t k, const void *w, size_t wb, int64_t r0, int64_t r1, const void *a, size_t ab, int64_t n, \
                         float *y, int64_t ldy) {                                                                       \
        gemm_scalar(id, k, w, wb, r0, r1, a, ab, n, y, ldy);                                                           \
    }                                                                                                                  \
    static void quantize_##t(const float *x, void *dst, int64_t k) { traits_of(act)->quantize_row(x, dst, k); }

SCALAR_TABLE(f32, QUANT_F32, QUANT_F32)
SCALAR_TABLE(f16, QUANT_F16, QUANT_F16)
SCALAR_TABLE(bf16, QUANT_BF16, QUANT_BF16)
SCALAR_TABLE(q4_0, QUANT_Q4_0, QUANT_Q8_0)
SCALAR_TABLE(q4_1, QUANT_Q4_1, QUANT_Q8_1)
SCALAR_TABLE(q5_0, QUANT_Q5_0, QUANT_Q8_0)
SCALAR_TABLE(q5_1, QUANT_Q5_1, QUANT_Q8_1)
SCALAR_TABLE(q8_0, QUANT_Q8_0, QUANT_Q8_0)
SCALAR_TABLE(iq4_nl, QUANT_IQ4_NL, QUANT_Q8_0)
SCALAR_TABLE(q2_K, QUANT_Q2_K, QUANT_Q8_K)
SCALAR_TABLE(q3_K, QUANT_Q3_K, QUANT_Q8_K)
SCALAR_TABLE(q4_K, QUANT_Q4_K, QUANT_Q8_K)
SCALAR_TABLE(q5_K, QUANT_Q5_K, QUANT_Q8_K)
SCALAR_TABLE(q6_K, QUANT_Q6_K, QUANT_Q8_K)

#define ROW(id, t) [id] = {.quantize_act = quantize_##t, .gemm = gemm_##t}
static const quant_kernels scalar[QUANT_TYPE_COUNT] = {
    ROW(QUANT_F32, f32),   ROW(QUANT_F16, f16),   ROW(QUANT_BF16, bf16), ROW(QUANT_Q4_0, q4_0), ROW(QUANT_Q4_1, q4_1),
    ROW(QUANT_Q5_0, q5_0), ROW(QUANT_Q5_1, q5_1), ROW(QUANT_Q8_0, q8_0), ROW(QUANT_Q2_K, q2_K), ROW(QUANT_Q3_K, q3_K),
    ROW(QUANT_Q4_K, q4_K), ROW(QUANT_Q5_K, q5_K), ROW(QUANT_Q6_K, q6_K), ROW(QUANT_IQ4_NL, iq4_nl),
};

const quant_kernels *quant_kernels_scalar(uint32_t type) {
    return type < QUANT_TYPE_COUNT && scalar[type].gemm ? &scalar[type] : NULL;
}

/* The table quant_kernels_get serves: the scalar one with the entries this CPU can run
 * faster replaced, built once. */
static quant_kernels fast[QUANT_TYPE_COUNT];
static const char *fast_isa = "scalar";
static pthread_once_t fast_once = PTHREAD_ONCE_INIT;

static void fast_init(void) {
    memcpy(fast, scalar, sizeof(fast));
    const char *force = getenv("CELER_SIMD");
    if (force && strcmp(force, "scalar") == 0) return;
#ifdef CELER_KERNELS_X86
    if (cpu_has_avx2_fma_f16c()) {
        quant_kernels_fill_avx2(fast);
        quant_kernels_fill_avx2_k(fast);
        fast_isa = "avx2";
        /* CELER_SIMD=avx2 stops here on an AVX-512 machine (for comparisons) */
        if (!(force && strcmp(force, "avx2") == 0) && cpu_has_avx512_vnni()) {
            quant_kernels_fill_avx512(fast);
            quant_kernels_fill_avx512_k(fast);
            fast_isa = "avx512";
        }
    }
#endif
#ifdef CELER_KERNELS_NEON
    quant_kernels_fill_neon(fast);
    fast_isa = "neon";
#endif
}

const quant_kernels *quant_kernels_get(uint32_t type) {
    pthread_once(&fast_once, fast_init);
    return type < QUANT_TYPE_COUNT && fast[type].gemm ? &fast[type] : NULL;
}

const char *quant_kernels_isa(void) {
    pthread_once(&fast_once, fast_init);
    return fast_isa;
}

size_t quant_kernels_packed_bytes(const quant_kernels *kern, int64_t rows, size_t w_row_bytes) {
    if (!kern || kern->pack_rows <= 0 || rows <= 0) return 0;
    const int64_t p = kern->pack_rows;
    return (size_t)((rows + p - 1) / p * p) * w_row_bytes;
}

// cuda_quant.cuh: device dequantization of ggml's block types, 8 elements at a time:
// dequant8<TYPE>(row, c, v) writes elements 8c..8c+7 of a row in the file's layout. Every
// type's blocks hold a multiple of 8 elements and each 8 shares one block and one
// sub-block scale, so one function per type serves the matrix-vector kernels, the
// embedding lookup and the dequantize-to-F16 pass of the GEMM path.
// Each follows its scalar reference in src/quant/quant_ref.c / quant_ref_k.c (the
// comments name the layout; tests/test_cuda_ops.c checks every type against it).
#ifndef CELER_BACKEND_CUDA_QUANT_CUH
#define CELER_BACKEND_CUDA_QUANT_CUH

#include "backend/cuda/cuda_common.cuh"

// blocks.h is C11; its layout checks hold in C++ too (the offsets below rely on them).
#define _Static_assert static_assert
extern "C" {
#include "quant/blocks.h"
#include "quant/quant.h"
}
#undef _Static_assert

// The types the CUDA kernels read, and a switch that calls F<TYPE>::run(args...) for a
// runtime type id (false if the type has no CUDA kernel).
#define CUDA_QUANT_TYPES(X) \
    X(QUANT_F32) X(QUANT_F16) X(QUANT_BF16) X(QUANT_Q8_0) X(QUANT_Q4_0) X(QUANT_Q4_1) X(QUANT_Q5_0) X(QUANT_Q5_1) \
    X(QUANT_IQ4_NL) X(QUANT_Q2_K) X(QUANT_Q3_K) X(QUANT_Q4_K) X(QUANT_Q5_K) X(QUANT_Q6_K)

static inline bool cuda_quant_supported(uint32_t type) {
#define CASE(t) \
    case t: return true;
    switch (type) { CUDA_QUANT_TYPES(CASE) default: return false; }
#undef CASE
}

// Loads as wide as each field's alignment allows: blocks sit at multiples of their size
// from rows that start at multiples of the row size from a 256-byte aligned upload, so
// e.g. every 8 quantized bytes of a Q4_K chunk are 8-byte aligned, of a Q4_0 chunk only
// 2-byte aligned (18-byte blocks). On the host (tests) the same functions use memcpy and
// record an address less aligned than the device load assumes in cuda_host_misaligned().
#ifndef __CUDA_ARCH__
bool &cuda_host_misaligned(void); // dequant.cu
#endif

template <int ALIGN> CUDA_HD void check_align(const uint8_t *p) {
#ifndef __CUDA_ARCH__
    if ((uintptr_t)p % ALIGN != 0) cuda_host_misaligned() = true;
#else
    (void)p;
#endif
}

// fp16 bits of a scale: every block type keeps them 2-byte aligned.
CUDA_HD uint16_t load_u16(const uint8_t *p) {
    check_align<2>(p);
#ifdef __CUDA_ARCH__
    return *(const uint16_t *)p;
#else
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
#endif
}

// 8 bytes from an address aligned to ALIGN (2, 4 or 8) bytes: 4, 2 or 1 loads.
template <int ALIGN> CUDA_HD void load8(const uint8_t *p, uint8_t b[8]) {
    static_assert(ALIGN == 2 || ALIGN == 4 || ALIGN == 8, "load8: 2-, 4- or 8-byte alignment");
    check_align<ALIGN>(p);
#ifdef __CUDA_ARCH__
    uint32_t lo, hi;
    if (ALIGN == 8) {
        const uint2 u = *(const uint2 *)p;
        lo = u.x, hi = u.y;
    } else if (ALIGN == 4) {
        lo = ((const uint32_t *)p)[0], hi = ((const uint32_t *)p)[1];
    } else {
        const uint16_t *h = (const uint16_t *)p;
        lo = h[0] | (uint32_t)h[1] << 16, hi = h[2] | (uint32_t)h[3] << 16;
    }
CUDA_UNROLL
    for (int k = 0; k < 4; k++) b[k] = (uint8_t)(lo >> (8 * k)), b[k + 4] = (uint8_t)(hi >> (8 * k));
#else
    memcpy(b, p, 8);
#endif
}

// Q4_K/Q5_K: scale and min of sub-block j (0..7), 6 bits each in 12 bytes (get_scale_min_k4).
CUDA_HD void k4_scale_min(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

__constant__ int8_t cuda_iq4_nl_values[16] = IQ4_NL_VALUES;
static const int8_t host_iq4_nl_values[16] = IQ4_NL_VALUES;
CUDA_HD int iq4_nl_value(int q) {
#ifdef __CUDA_ARCH__
    return cuda_iq4_nl_values[q];
#else
    return host_iq4_nl_values[q];
#endif
}

template <int TYPE> struct dequant;

template <> struct dequant<QUANT_F32> {
    static constexpr int block = 32, bytes = 128; // any multiple of 8 works; 32 for the row checks
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        check_align<16>(row + c * 32);
        const float4 *p = (const float4 *)(row + c * 32);
        float4 a = p[0], b = p[1];
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    }
};

template <> struct dequant<QUANT_F16> {
    static constexpr int block = 32, bytes = 64;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        check_align<16>(row + c * 16);
        uint4 u = *(const uint4 *)(row + c * 16); // one 16-byte load
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
CUDA_UNROLL
        for (int k = 0; k < 4; k++) {
            v[2 * k] = half_bits_to_float((uint16_t)(w[k] & 0xffffu));
            v[2 * k + 1] = half_bits_to_float((uint16_t)(w[k] >> 16));
        }
    }
};

template <> struct dequant<QUANT_BF16> {
    static constexpr int block = 32, bytes = 64;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        check_align<16>(row + c * 16);
        uint4 u = *(const uint4 *)(row + c * 16);
        const uint32_t w[4] = {u.x, u.y, u.z, u.w};
CUDA_UNROLL
        for (int k = 0; k < 4; k++) {
            v[2 * k] = bits_to_float(w[k] << 16);
            v[2 * k + 1] = bits_to_float(w[k] & 0xffff0000u);
        }
    }
};

// Q8_0 (34 bytes): d, qs[32]; x = q d.
template <> struct dequant<QUANT_Q8_0> {
    static constexpr int block = 32, bytes = 34;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 4) * bytes;
        const float d = half_bits_to_float(load_u16(b));
        uint8_t q[8];
        load8<2>(b + 2 + (c % 4) * 8, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = (float)(int8_t)q[k] * d;
    }
};

// Q4_0 (18 bytes): d, qs[16]; element j in qs[j % 16], low nibble for j < 16; x = (q - 8) d.
template <> struct dequant<QUANT_Q4_0> {
    static constexpr int block = 32, bytes = 18;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 4) * bytes;
        const int j0 = (int)(c % 4) * 8, shift = j0 < 16 ? 0 : 4;
        const float d = half_bits_to_float(load_u16(b));
        uint8_t q[8];
        load8<2>(b + 2 + j0 % 16, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = (float)(((q[k] >> shift) & 0x0F) - 8) * d;
    }
};

// Q4_1 (20 bytes): d, m, qs[16]; x = q d + m.
template <> struct dequant<QUANT_Q4_1> {
    static constexpr int block = 32, bytes = 20;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 4) * bytes;
        const int j0 = (int)(c % 4) * 8, shift = j0 < 16 ? 0 : 4;
        const float d = half_bits_to_float(load_u16(b)), m = half_bits_to_float(load_u16(b + 2));
        uint8_t q[8];
        load8<4>(b + 4 + j0 % 16, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = (float)((q[k] >> shift) & 0x0F) * d + m;
    }
};

// Fifth bits of a Q5 block: bit j of the little-endian u32 qh belongs to element j.
CUDA_HD uint32_t q5_high(const uint8_t *qh) { return (uint32_t)load_u16(qh) | (uint32_t)load_u16(qh + 2) << 16; }

// Q5_0 (22 bytes): d, qh[4], qs[16]; x = (q - 16) d.
template <> struct dequant<QUANT_Q5_0> {
    static constexpr int block = 32, bytes = 22;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 4) * bytes;
        const int j0 = (int)(c % 4) * 8, shift = j0 < 16 ? 0 : 4;
        const float d = half_bits_to_float(load_u16(b));
        const uint32_t qh = q5_high(b + 2);
        uint8_t q[8];
        load8<2>(b + 6 + j0 % 16, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) {
            const int level = ((q[k] >> shift) & 0x0F) | (int)(((qh >> (j0 + k)) & 1) << 4);
            v[k] = (float)(level - 16) * d;
        }
    }
};

// Q5_1 (24 bytes): d, m, qh[4], qs[16]; x = q d + m.
template <> struct dequant<QUANT_Q5_1> {
    static constexpr int block = 32, bytes = 24;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 4) * bytes;
        const int j0 = (int)(c % 4) * 8, shift = j0 < 16 ? 0 : 4;
        const float d = half_bits_to_float(load_u16(b)), m = half_bits_to_float(load_u16(b + 2));
        const uint32_t qh = q5_high(b + 4);
        uint8_t q[8];
        load8<8>(b + 8 + j0 % 16, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) {
            const int level = ((q[k] >> shift) & 0x0F) | (int)(((qh >> (j0 + k)) & 1) << 4);
            v[k] = (float)level * d + m;
        }
    }
};

// IQ4_NL (18 bytes): d, qs[16] as Q4_0; x = d table[q].
template <> struct dequant<QUANT_IQ4_NL> {
    static constexpr int block = 32, bytes = 18;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 4) * bytes;
        const int j0 = (int)(c % 4) * 8, shift = j0 < 16 ? 0 : 4;
        const float d = half_bits_to_float(load_u16(b));
        uint8_t q[8];
        load8<2>(b + 2 + j0 % 16, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = d * (float)iq4_nl_value((q[k] >> shift) & 0x0F);
    }
};

// Q2_K (84 bytes): scales[16] (low nibble scale, high nibble min, per 16), qs[64], d, dmin.
// Element p: bits 2s..2s+1 of qs[32 (p / 128) + p % 32], s = (p / 32) % 4; x = d sc q - dmin m.
template <> struct dequant<QUANT_Q2_K> {
    static constexpr int block = 256, bytes = 84;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 32) * bytes;
        const int p = (int)(c % 32) * 8, shift = 2 * ((p / 32) % 4);
        const float d = half_bits_to_float(load_u16(b + 80)), dmin = half_bits_to_float(load_u16(b + 82));
        const int sc = b[p / 16];
        const float dl = d * (float)(sc & 0x0F), ml = dmin * (float)(sc >> 4);
        uint8_t q[8];
        load8<4>(b + 16 + (p / 128) * 32 + p % 32, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = dl * (float)((q[k] >> shift) & 3) - ml;
    }
};

// Q3_K (110 bytes): hmask[32], qs[64], scales[12], d. Element p (l = p % 32, bit = p / 32):
// low 2 bits as Q2_K, minus 4 where bit `bit` of hmask[l] is clear; 16 six-bit scales
// stored +32 (low 4 bits in bytes 0..7, high 2 bits in 8..11); x = d (sc - 32) q.
template <> struct dequant<QUANT_Q3_K> {
    static constexpr int block = 256, bytes = 110;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 32) * bytes;
        const int p = (int)(c % 32) * 8, bit = p / 32, shift = 2 * (bit % 4), l0 = p % 32, j = p / 16;
        const float d = half_bits_to_float(load_u16(b + 108));
        const int low = (b[96 + j % 8] >> (4 * (j / 8))) & 0x0F, high = (b[96 + 8 + j % 4] >> (2 * (j / 4))) & 3;
        const float dl = d * (float)((low | high << 4) - 32);
        uint8_t q[8], h[8];
        load8<2>(b + 32 + (p / 128) * 32 + l0, q);
        load8<2>(b + l0, h);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = dl * (float)(((q[k] >> shift) & 3) - (((h[k] >> bit) & 1) ? 0 : 4));
    }
};

// Q4_K (144 bytes): d, dmin, scales[12], qs[128]. Element p: nibble (p / 32) % 2 of
// qs[32 (p / 64) + p % 32]; sub-block p / 32; x = d sc q - dmin m.
template <> struct dequant<QUANT_Q4_K> {
    static constexpr int block = 256, bytes = 144;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 32) * bytes;
        const int p = (int)(c % 32) * 8, shift = 4 * ((p / 32) % 2);
        int sc, m;
        k4_scale_min(p / 32, b + 4, &sc, &m);
        const float dl = half_bits_to_float(load_u16(b)) * (float)sc, ml = half_bits_to_float(load_u16(b + 2)) * (float)m;
        uint8_t q[8];
        load8<8>(b + 16 + (p / 64) * 32 + p % 32, q);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = dl * (float)((q[k] >> shift) & 0x0F) - ml;
    }
};

// Q5_K (176 bytes): d, dmin, scales[12], qh[32], qs[128]: Q4_K's nibble plus 16 where bit
// p / 32 of qh[p % 32] is set.
template <> struct dequant<QUANT_Q5_K> {
    static constexpr int block = 256, bytes = 176;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 32) * bytes;
        const int p = (int)(c % 32) * 8, shift = 4 * ((p / 32) % 2), bit = p / 32;
        int sc, m;
        k4_scale_min(p / 32, b + 4, &sc, &m);
        const float dl = half_bits_to_float(load_u16(b)) * (float)sc, ml = half_bits_to_float(load_u16(b + 2)) * (float)m;
        uint8_t q[8], h[8];
        load8<8>(b + 48 + (p / 64) * 32 + p % 32, q);
        load8<8>(b + 16 + p % 32, h);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) v[k] = dl * (float)(((q[k] >> shift) & 0x0F) + (((h[k] >> bit) & 1) ? 16 : 0)) - ml;
    }
};

// Q6_K (210 bytes): ql[128], qh[64], scales[16] (int8), d. Element p = 128 h + 32 k + l:
// nibble k / 2 of ql[64 h + 32 (k % 2) + l], bits 2k..2k+1 of qh[32 h + l]; x = d sc (q - 32).
template <> struct dequant<QUANT_Q6_K> {
    static constexpr int block = 256, bytes = 210;
    static CUDA_HD void run(const uint8_t *row, int64_t c, float v[8]) {
        const uint8_t *b = row + (c / 32) * bytes;
        const int p = (int)(c % 32) * 8, h = p / 128, k4 = (p / 32) % 4, l0 = p % 32;
        const float dl = half_bits_to_float(load_u16(b + 208)) * (float)(int8_t)b[192 + p / 16];
        uint8_t lo[8], hi[8];
        load8<2>(b + 64 * h + 32 * (k4 % 2) + l0, lo);
        load8<2>(b + 128 + 32 * h + l0, hi);
CUDA_UNROLL
        for (int k = 0; k < 8; k++) {
            const int level = (((lo[k] >> (4 * (k4 / 2))) & 0x0F) | (((hi[k] >> (2 * k4)) & 3) << 4)) - 32;
            v[k] = dl * (float)level;
        }
    }
};

#endif

/* kernels_x86.h: the x86 SIMD kernel tables behind quant_kernels_get (kernels.c).
 * kernels_avx2.c (32-element block types and floats) and kernels_avx2_k.c (K-quants and
 * the q8_K activation) are compiled with -mavx2 -mfma -mf16c whatever the rest of the
 * build targets, and are only called after kernels.c has checked at run time that the
 * CPU has AVX2, FMA and F16C. kernels_avx512.c (32-element block types) and
 * kernels_avx512_k.c (Q4_K, Q5_K, Q6_K) are compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq -mavx512vnni (and the AVX2 flags) and only called, after the AVX2
 * fills, where the CPU also has those and the OS saves the zmm state. Each fill function
 * overwrites the entries (or, for AVX-512, the fields of an entry) of the types it
 * accelerates and leaves the others alone.
 *
 * Testing without AVX-512 hardware: compiled with CELER_AVX512_EMULATED defined,
 * kernels_avx512*.c take their intrinsics from SIMDe (libsimde-dev: portable C
 * implementations under the intrinsics' names) instead of the compiler, need no
 * -mavx512 flag and run on any x86 CPU; their fill functions are then named
 * quant_kernels_fill_avx512_emulated and quant_kernels_fill_avx512_k_emulated. test_kernels_avx512 (tests/test_kernels.c built a
 * second time) checks that table against the scalar reference. */
#ifndef CELER_QUANT_KERNELS_X86_H
#define CELER_QUANT_KERNELS_X86_H

#include "quant/kernels.h"
#include "quant/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#define CELER_KERNELS_X86 1
void quant_kernels_fill_avx2(quant_kernels table[QUANT_TYPE_COUNT]);
void quant_kernels_fill_avx2_k(quant_kernels table[QUANT_TYPE_COUNT]);
void quant_kernels_fill_avx512(quant_kernels table[QUANT_TYPE_COUNT]);
void quant_kernels_fill_avx512_k(quant_kernels table[QUANT_TYPE_COUNT]);
#endif

#ifdef CELER_AVX512_EMULATED
void quant_kernels_fill_avx512_emulated(quant_kernels table[QUANT_TYPE_COUNT]);
void quant_kernels_fill_avx512_k_emulated(quant_kernels table[QUANT_TYPE_COUNT]);
#endif

#endif

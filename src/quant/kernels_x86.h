/* kernels_x86.h: the x86 SIMD kernel tables behind quant_kernels_get (kernels.c).
 * kernels_avx2.c (32-element block types and floats) and kernels_avx2_k.c (K-quants and
 * the q8_K activation) are compiled with -mavx2 -mfma -mf16c whatever the rest of the
 * build targets, and are only called after kernels.c has checked at run time that the
 * CPU has AVX2, FMA and F16C. Each fill function overwrites the entries of the types it
 * accelerates and leaves the others (the scalar reference) alone. */
#ifndef CELER_QUANT_KERNELS_X86_H
#define CELER_QUANT_KERNELS_X86_H

#include "quant/kernels.h"
#include "quant/quant.h"

#if defined(__x86_64__) || defined(__i386__)
#define CELER_KERNELS_X86 1
void quant_kernels_fill_avx2(quant_kernels table[QUANT_TYPE_COUNT]);
void quant_kernels_fill_avx2_k(quant_kernels table[QUANT_TYPE_COUNT]);
#endif

#endif

/* kernels_arm.h: the Arm SIMD kernel table behind quant_kernels_get (kernels.c).
 * kernels_neon.c fills the entries of the types it accelerates on AArch64 (Advanced SIMD
 * is always present there) and leaves the others (the scalar reference) alone. */
#ifndef CELER_QUANT_KERNELS_ARM_H
#define CELER_QUANT_KERNELS_ARM_H

#include "quant/kernels.h"
#include "quant/quant.h"

#if defined(__aarch64__) && defined(__ARM_NEON)
#define CELER_KERNELS_NEON 1
void quant_kernels_fill_neon(quant_kernels table[QUANT_TYPE_COUNT]);
#endif

#endif

/* kernels_avx2.c: AVX2 kernels for the 32-element block types and the float types
 * (see kernels_x86.h). */
#include "quant/kernels_x86.h"

#ifdef CELER_KERNELS_X86
void quant_kernels_fill_avx2(quant_kernels table[QUANT_TYPE_COUNT]) { (void)table; }
#endif

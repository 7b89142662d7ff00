/* kernels_avx2_k.c: AVX2 kernels for the K-quants (see kernels_x86.h). */
#include "quant/kernels_x86.h"

#ifdef CELER_KERNELS_X86
void quant_kernels_fill_avx2_k(quant_kernels table[QUANT_TYPE_COUNT]) { (void)table; }
#endif

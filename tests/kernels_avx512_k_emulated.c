/* kernels_avx512_k_emulated.c: src/quant/kernels_avx512_k.c for test_kernels_avx512,
 * built with CELER_AVX512_EMULATED (see kernels_avx512_emulated.c). */
#include "quant/kernels_avx512_k.c"

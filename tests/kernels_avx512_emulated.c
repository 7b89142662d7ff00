/* kernels_avx512_emulated.c: src/quant/kernels_avx512.c for test_kernels_avx512, built
 * with CELER_AVX512_EMULATED (defined for the whole target in CMakeLists.txt): its
 * intrinsics from SIMDe, no -mavx512 flag, so it runs on any x86 CPU. A file of its own
 * because the library's copy of kernels_avx512.c carries the -mavx512* options. */
#include "quant/kernels_avx512.c"

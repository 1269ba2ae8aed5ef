// The AVX2 kernels with AVX-VNNI dot products (compiled with -mavx2 -mfma -mf16c -mavxvnni; see
// KernelsAvx2.inc).
#define DECLAI_KERNELS_VNNI 1
#define DECLAI_KERNEL_TABLE_NAME "avx-vnni"
#define DECLAI_KERNEL_TABLE_FN avxVnniKernelTableUnchecked
#include "KernelsAvx2.inc"

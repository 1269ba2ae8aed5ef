// The AVX2 + FMA + F16C kernel table (compiled with -mavx2 -mfma -mf16c; see KernelsAvx2.inc).
#define DECLAI_KERNEL_TABLE_NAME "avx2"
#define DECLAI_KERNEL_TABLE_FN avx2KernelTableUnchecked
#include "KernelsAvx2.inc"

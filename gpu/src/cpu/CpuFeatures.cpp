#include "declai/gpu/CpuFeatures.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define DECLAI_X86 1
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace declai::cpu {

// Defined in simd/KernelsAvx2.cpp (compiled with -mavx2 -mfma -mf16c); must only run when the CPU has them.
const KernelTable& avx2KernelTableUnchecked();
// Defined in simd/KernelsAvxVnni.cpp (adds -mavxvnni).
const KernelTable& avxVnniKernelTableUnchecked();
// Defined in simd/KernelsAvx512.cpp (-mavx512f -mavx512bw -mavx512vl -mavx512vnni).
const KernelTable& avx512KernelTableUnchecked();
// Also in simd/KernelsAvx512.cpp (adds -mamx-tile -mamx-int8).
const KernelTable& amxKernelTableUnchecked();

namespace {

#ifdef DECLAI_X86
uint64_t readXcr0() {
    uint32_t eax = 0;
    uint32_t edx = 0;
    // xgetbv with ecx = 0; written as bytes so no -mxsave is needed for this file.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

// Linux hands out the AMX tile state per process on request (the tile data is 8 KiB of extra context
// per thread); without the grant the first tile instruction faults.
bool requestAmxPermission() {
#if defined(__linux__) && defined(__x86_64__)
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
}
#endif

CpuFeatures detect() {
    CpuFeatures f;
#ifdef DECLAI_X86
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return f;
    const bool osxsave = (ecx & (1u << 27)) != 0;
    f.fma = (ecx & (1u << 12)) != 0;
    f.f16c = (ecx & (1u << 29)) != 0;
    const bool avx = (ecx & (1u << 28)) != 0;
    if (osxsave && avx) {
        const uint64_t xcr0 = readXcr0();
        f.osYmm = (xcr0 & 0x6) == 0x6;              // SSE and AVX state
        f.osZmm = f.osYmm && (xcr0 & 0xE0) == 0xE0; // opmask, ZMM_Hi256, Hi16_ZMM
        f.osAmx = (xcr0 & 0x60000) == 0x60000;      // XTILECFG, XTILEDATA
    }
    if (__get_cpuid_max(0, nullptr) >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        f.avx2 = (ebx & (1u << 5)) != 0;
        f.avx512f = (ebx & (1u << 16)) != 0;
        f.avx512bw = (ebx & (1u << 30)) != 0;
        f.avx512vl = (ebx & (1u << 31)) != 0;
        f.avx512vnni = (ecx & (1u << 11)) != 0;
        f.avx512fp16 = (edx & (1u << 23)) != 0;
        f.amxTile = (edx & (1u << 24)) != 0;
        f.amxInt8 = (edx & (1u << 25)) != 0;
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avxVnni = (eax & (1u << 4)) != 0;
        f.avx512bf16 = (eax & (1u << 5)) != 0;
    }
    // Only ask for the tile state when the CPU and the OS have it.
    f.osAmx = f.osAmx && f.amxTile && f.amxInt8 && requestAmxPermission();
#endif
#if defined(__aarch64__)
    f.neon = true;
#endif
    return f;
}

} // namespace

std::string CpuFeatures::toString() const {
    std::string s;
    auto add = [&](bool on, const char* name) {
        if (!on)
            return;
        if (!s.empty())
            s.push_back(' ');
        s.append(name);
    };
    add(avx2, "avx2");
    add(fma, "fma");
    add(f16c, "f16c");
    add(avxVnni, "avx-vnni");
    add(avx512f, "avx512f");
    add(avx512bw, "avx512bw");
    add(avx512vl, "avx512vl");
    add(avx512vnni, "avx512vnni");
    add(avx512bf16, "avx512bf16");
    add(amxTile && osAmx, "amx-tile");
    add(amxInt8 && osAmx, "amx-int8");
    add(neon, "neon");
    if (s.empty())
        s = "none";
    return s;
}

const CpuFeatures& cpuFeatures() {
    static const CpuFeatures features = detect();
    return features;
}

DotFn KernelTable::dotFor(TensorType weightType) const {
    switch (weightType) {
    case TensorType::F32:
        return dotF32;
    case TensorType::F16:
        return dotF16;
    case TensorType::BF16:
        return dotBF16;
    case TensorType::Q8_0:
        return dotQ8_0;
    case TensorType::Q4_0:
        return dotQ4_0;
    case TensorType::Q4_K:
        return dotQ4_K;
    case TensorType::Q6_K:
        return dotQ6_K;
    case TensorType::Q4_1:
        return dotQ4_1;
    case TensorType::Q5_0:
        return dotQ5_0;
    case TensorType::Q5_1:
        return dotQ5_1;
    case TensorType::Q2_K:
        return dotQ2_K;
    case TensorType::Q3_K:
        return dotQ3_K;
    case TensorType::Q5_K:
        return dotQ5_K;
    case TensorType::IQ4_NL:
        return dotIQ4_NL;
    case TensorType::IQ4_XS:
        return dotIQ4_XS;
    default:
        return nullptr;
    }
}

const GemmKernel* KernelTable::stripsGemmFor(TensorType weightType) const {
    const GemmKernel* g = weightType == TensorType::Q4_0   ? &stripsQ4_0
                          : weightType == TensorType::Q8_0 ? &stripsQ8_0
                                                           : nullptr;
    return g && g->run ? g : nullptr;
}

const GemmKernel* KernelTable::gemmFor(TensorType weightType) const {
    const GemmKernel* g = nullptr;
    switch (weightType) {
    case TensorType::F16:
        g = &gemmF16;
        break;
    case TensorType::Q8_0:
        g = &gemmQ8_0;
        break;
    case TensorType::Q4_0:
        g = &gemmQ4_0;
        break;
    case TensorType::Q4_K:
        g = &gemmQ4_K;
        break;
    case TensorType::Q6_K:
        g = &gemmQ6_K;
        break;
    case TensorType::Q5_K:
        g = &gemmQ5_K;
        break;
    case TensorType::IQ4_XS:
        g = &gemmIQ4_XS;
        break;
    case TensorType::Q3_K:
        g = &gemmQ3_K;
        break;
    case TensorType::IQ4_NL:
        g = &gemmIQ4_NL;
        break;
    case TensorType::Q5_0:
        g = &gemmQ5_0;
        break;
    case TensorType::Q4_1:
        g = &gemmQ4_1;
        break;
    case TensorType::Q5_1:
        g = &gemmQ5_1;
        break;
    default:
        return nullptr;
    }
    return g->run ? g : nullptr;
}

QuantizeFn KernelTable::activationQuantizerFor(TensorType weightType) const {
    switch (weightType) {
    case TensorType::F16:
        return toF16;
    case TensorType::BF16:
        return toBF16;
    case TensorType::Q8_0:
    case TensorType::Q4_0:
    case TensorType::Q5_0:
    case TensorType::IQ4_NL:
        return quantizeQ8_0;
    case TensorType::Q4_1:
    case TensorType::Q5_1:
        return quantizeQ8_1;
    case TensorType::Q2_K:
    case TensorType::Q3_K:
    case TensorType::Q4_K:
    case TensorType::Q5_K:
    case TensorType::Q6_K:
    case TensorType::IQ4_XS:
        return quantizeQ8_K;
    default:
        return nullptr;
    }
}

const KernelTable* avx2Kernels() {
#ifdef DECLAI_X86
    if (cpuFeatures().hasAvx2Set())
        return &avx2KernelTableUnchecked();
#endif
    return nullptr;
}

const KernelTable* avxVnniKernels() {
#ifdef DECLAI_X86
    if (cpuFeatures().hasAvx2Set() && cpuFeatures().avxVnni)
        return &avxVnniKernelTableUnchecked();
#endif
    return nullptr;
}

const KernelTable* avx512Kernels() {
#ifdef DECLAI_X86
    if (cpuFeatures().hasAvx512Set())
        return &avx512KernelTableUnchecked();
#endif
    return nullptr;
}

const KernelTable* amxKernels() {
#ifdef DECLAI_X86
    if (cpuFeatures().hasAmxSet())
        return &amxKernelTableUnchecked();
#endif
    return nullptr;
}

#if !defined(__aarch64__)
// AArch64 builds define this in simd/KernelsNeon.cpp; other architectures have no NEON table.
const KernelTable* neonKernels() {
    return nullptr;
}
#endif

const KernelTable& activeKernels() {
    static const KernelTable* table = [] {
        const char* forced = std::getenv("DECLAI_CPU_KERNELS");
        if (forced && std::strcmp(forced, "scalar") == 0)
            return &scalarKernels();
        // An AArch64 build has exactly one SIMD table; none of the x86 ones below exist there.
        if (const KernelTable* neon = neonKernels())
            return neon;
        const bool forceAvx2 = forced && std::strcmp(forced, "avx2") == 0;
        const bool forceVnni = forced && std::strcmp(forced, "avx-vnni") == 0;
        const bool force512 = forced && std::strcmp(forced, "avx512") == 0;
        if (const KernelTable* amx = amxKernels(); amx && !forceAvx2 && !forceVnni && !force512)
            return amx;
        if (const KernelTable* wide = avx512Kernels(); wide && !forceAvx2 && !forceVnni)
            return wide;
        if (const KernelTable* vnni = avxVnniKernels(); vnni && !forceAvx2)
            return vnni;
        if (const KernelTable* avx2 = avx2Kernels())
            return avx2;
        return &scalarKernels();
    }();
    return *table;
}

} // namespace declai::cpu

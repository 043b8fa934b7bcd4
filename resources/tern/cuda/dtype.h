// The element types of activation tensors (tern.runtime.DType): f32, bf16 and f16 storage, every value
// widened to f32 on load and rounded back (to nearest even) on store, so all arithmetic is f32 whatever
// the storage. bf16 and f16 are structs of their 16 bits, not unsigned short, so that load() and store()
// overload on them. Valid for sm_70 and later: the bf16 rounding is done in integer arithmetic (the cvt
// instruction for bf16 needs sm_80), the f16 one with cvt.rn.f16.f32 (sm_53+).
#ifndef TERN_DTYPE_H
#define TERN_DTYPE_H

struct bf16 { unsigned short bits; };
struct f16 { unsigned short bits; };

__device__ __forceinline__ float load(float x) { return x; }
__device__ __forceinline__ float load(bf16 x) { return __uint_as_float((unsigned)x.bits << 16); }
__device__ __forceinline__ float load(f16 x) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(x.bits));
    return f;
}

// f32 -> bf16 rounding to nearest even (as torch and Java's DTypes.toBf16): NaN stays a (quiet) NaN,
// values past the largest bf16 round to infinity.
__device__ __forceinline__ unsigned short bf16_bits(float v) {
    unsigned u = __float_as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (unsigned short)(u >> 16);
}

__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(bf16* p, float v) { p->bits = bf16_bits(v); }
__device__ __forceinline__ void store(f16* p, float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    p->bits = h;
}

// extern "C" kernels per storage type: TERN_EACH_TYPE(M) expands M(suffix, type) for every type, the
// suffix being what CudaBackend appends to the kernel name ("_f32", "_bf16", "_f16").
#define TERN_EACH_TYPE(M) M(f32, float) M(bf16, bf16) M(f16, f16)
// Kernels with two storage types (an input and an output): M(suffixIn, typeIn, suffixOut, typeOut).
#define TERN_EACH_PAIR(M) \
    M(f32, float, f32, float) M(f32, float, bf16, bf16) M(f32, float, f16, f16) \
    M(bf16, bf16, f32, float) M(bf16, bf16, bf16, bf16) M(bf16, bf16, f16, f16) \
    M(f16, f16, f32, float) M(f16, f16, bf16, bf16) M(f16, f16, f16, f16)

#endif

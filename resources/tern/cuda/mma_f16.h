// The f16 tensor-core pieces of the packed products: f32 <-> f16 conversions, half2 packing, HFMA2, a
// one-instruction (a & b) | c, and mma.sync m16n8k16 with f16 inputs and f32 accumulation (sm_80+).
// packed_gemv.cu and ternary_mma.cu include it. Kernels.java inlines it where a source includes it.
#ifndef TERN_MMA_F16_H
#define TERN_MMA_F16_H

__device__ __forceinline__ unsigned short f32_to_f16(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ float f16_to_f32(unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ unsigned pair(unsigned short lo, unsigned short hi) {
    return (unsigned)lo | ((unsigned)hi << 16);
}

__device__ __forceinline__ unsigned hfma2(unsigned a, unsigned b, unsigned c) {
    unsigned d;
    asm("fma.rn.f16x2 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// (a & b) | c in one LOP3: written out because with two immediate constants the compiler emits two.
__device__ __forceinline__ unsigned and_or(unsigned a, unsigned b, unsigned c) {
    unsigned d;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

__device__ __forceinline__ void mma16816(float* d, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                         unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// The decode of 2-bit codes c = t + 1 into f16 pairs of t (ternary_layout.h): for pair q (0..3) of a half-word,
// and_or(word, mask[q], 0x64006400) is the f16 pair 1024 + c 4^q, and hfma2 of it with mul[q], add[q] is
// (1024 + c 4^q) 4^-q - (1024 4^-q + 1) = t, exactly.
__device__ __forceinline__ void ternary_f16_decode_constants(unsigned* mul, unsigned* add, unsigned* mask) {
#pragma unroll
    for (int q = 0; q < 4; q++) {
        float s = 1.0f / (float)(1 << (2 * q));
        unsigned short hs = f32_to_f16(s), hb = f32_to_f16(-(1024.0f * s + 1.0f));
        mul[q] = pair(hs, hs);
        add[q] = pair(hb, hb);
        mask[q] = 0x00030003u << (2 * q);
    }
}

#endif

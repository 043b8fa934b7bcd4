// Eight consecutive activations at a time (rmsnorm.cu, swiglu.cu, rope.cu): one 16-byte load or store for
// bf16 and f16, two for f32, when the address is 16-byte aligned; element by element otherwise. Either way
// the same eight values are widened to f32 (dtype.h) or rounded from it, so the choice changes the traffic,
// never a result: callers pick it per pointer and keep their arithmetic order fixed by the shape alone.
#ifndef TERN_VEC8_H
#define TERN_VEC8_H

// Include dtype.h before this file (Kernels.source inlines includes one level deep).

__device__ __forceinline__ bool aligned16(const void* p) { return ((unsigned long long)p & 15ull) == 0; }

__device__ __forceinline__ void unpack2(unsigned w, bf16, float* v) {
    v[0] = __uint_as_float(w << 16);
    v[1] = __uint_as_float(w & 0xffff0000u);
}
__device__ __forceinline__ void unpack2(unsigned w, f16, float* v) {
    f16 a, b;
    a.bits = (unsigned short)(w & 0xffffu);
    b.bits = (unsigned short)(w >> 16);
    v[0] = load(a);
    v[1] = load(b);
}
template <typename T> __device__ __forceinline__ unsigned pack2(const float* v) {
    T a, b;
    store(&a, v[0]);
    store(&b, v[1]);
    return (unsigned)a.bits | ((unsigned)b.bits << 16);
}

// v[0..7] = p[0..7] widened; vec: p is 16-byte aligned.
template <typename T> __device__ __forceinline__ void load8(const T* p, float* v, bool vec) {
    if (vec) {
        uint4 u = *(const uint4*)p;
        unpack2(u.x, T(), v); unpack2(u.y, T(), v + 2); unpack2(u.z, T(), v + 4); unpack2(u.w, T(), v + 6);
    } else {
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = load(p[j]);
    }
}
__device__ __forceinline__ void load8(const float* p, float* v, bool vec) {
    if (vec) {
        float4 a = ((const float4*)p)[0], b = ((const float4*)p)[1];
        v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
    } else {
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = p[j];
    }
}

// p[0..7] = v[0..7] rounded to T; vec: p is 16-byte aligned.
template <typename T> __device__ __forceinline__ void store8(T* p, const float* v, bool vec) {
    if (vec) {
        *(uint4*)p = make_uint4(pack2<T>(v), pack2<T>(v + 2), pack2<T>(v + 4), pack2<T>(v + 6));
    } else {
#pragma unroll
        for (int j = 0; j < 8; j++) store(p + j, v[j]);
    }
}
__device__ __forceinline__ void store8(float* p, const float* v, bool vec) {
    if (vec) {
        ((float4*)p)[0] = make_float4(v[0], v[1], v[2], v[3]);
        ((float4*)p)[1] = make_float4(v[4], v[5], v[6], v[7]);
    } else {
#pragma unroll
        for (int j = 0; j < 8; j++) p[j] = v[j];
    }
}

// v rounded to T and widened back: what a store then a load of the same element would give.
template <typename T> __device__ __forceinline__ float rounded(float v) {
    T t;
    store(&t, v);
    return load(t);
}

#endif

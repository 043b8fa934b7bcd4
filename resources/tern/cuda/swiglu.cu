// SwiGLU, forward and backward: out = silu(gate) * up. Long sizes, grid-stride loops. Activations may be
// stored in f32, bf16 or f16 (dtype.h: one instantiation per type, named with the type as suffix);
// arithmetic is f32. Valid for sm_70 and later.

#include "dtype.h"
#include "grid_stride.h"
#include "vec8.h"

__device__ __forceinline__ float sigmoidf(float g) { return 1.0f / (1.0f + expf(-g)); }

// Both kernels run over groups of eight elements (16-byte loads and stores, vec8.h) when every pointer is
// 16-byte aligned, and element by element otherwise and for the last n % 8; each element's arithmetic is
// the same either way.

// out = silu(gate) * up, silu(g) = g * sigmoid(g)
__device__ __forceinline__ float swiglu_fwd_one(float g, float u) { return g * sigmoidf(g) * u; }

template <typename T> __device__ __forceinline__ void swiglu_fwd_impl(const T* gate, const T* up, T* out, long n) {
    long groups = aligned16(gate) && aligned16(up) && aligned16(out) ? n / 8 : 0;
    GRID_STRIDE(t, groups) {
        float g[8], u[8];
        load8(gate + 8 * t, g, true);
        load8(up + 8 * t, u, true);
#pragma unroll
        for (int j = 0; j < 8; j++) g[j] = swiglu_fwd_one(g[j], u[j]);
        store8(out + 8 * t, g, true);
    }
    GRID_STRIDE(t, n - 8 * groups) {
        long i = 8 * groups + t;
        store(out + i, swiglu_fwd_one(load(gate[i]), load(up[i])));
    }
}

// dgate = dout * up * silu'(g), silu'(g) = s (1 + g (1 - s)); dup = dout * silu(g)
__device__ __forceinline__ void swiglu_bwd_one(float d, float g, float u, float* dg, float* du) {
    float s = sigmoidf(g);
    *dg = d * u * s * fmaf(g, 1.0f - s, 1.0f);   // explicit: one rounding in every instantiation
    *du = d * g * s;
}

template <typename T> __device__ __forceinline__ void swiglu_bwd_impl(const T* dout, const T* gate, const T* up,
                                                                      T* dgate, T* dup, long n) {
    long groups = aligned16(dout) && aligned16(gate) && aligned16(up) && aligned16(dgate) && aligned16(dup) ? n / 8 : 0;
    GRID_STRIDE(t, groups) {
        float d[8], g[8], u[8];
        load8(dout + 8 * t, d, true);
        load8(gate + 8 * t, g, true);
        load8(up + 8 * t, u, true);
#pragma unroll
        for (int j = 0; j < 8; j++) swiglu_bwd_one(d[j], g[j], u[j], &g[j], &u[j]);
        store8(dgate + 8 * t, g, true);
        store8(dup + 8 * t, u, true);
    }
    GRID_STRIDE(t, n - 8 * groups) {
        long i = 8 * groups + t;
        float dg, du;
        swiglu_bwd_one(load(dout[i]), load(gate[i]), load(up[i]), &dg, &du);
        store(dgate + i, dg);
        store(dup + i, du);
    }
}

#define SWIGLU_KERNELS(S, T) \
    extern "C" __global__ void swiglu_fwd_##S(const T* gate, const T* up, T* out, long n) { swiglu_fwd_impl(gate, up, out, n); } \
    extern "C" __global__ void swiglu_bwd_##S(const T* dout, const T* gate, const T* up, T* dgate, T* dup, long n) { \
        swiglu_bwd_impl(dout, gate, up, dgate, dup, n); }
TERN_EACH_TYPE(SWIGLU_KERNELS)

// SwiGLU, forward and backward: out = silu(gate) * up. Long sizes, grid-stride loops. Activations may be
// stored in f32, bf16 or f16 (dtype.h: one instantiation per type, named with the type as suffix);
// arithmetic is f32. Valid for sm_70 and later.

#include "dtype.h"
#include "grid_stride.h"

__device__ __forceinline__ float sigmoidf(float g) { return 1.0f / (1.0f + expf(-g)); }

// out = silu(gate) * up, silu(g) = g * sigmoid(g)
template <typename T> __device__ __forceinline__ void swiglu_fwd_impl(const T* gate, const T* up, T* out, long n) {
    GRID_STRIDE(i, n) { float g = load(gate[i]); store(out + i, g * sigmoidf(g) * load(up[i])); }
}

// dgate = dout * up * silu'(g), silu'(g) = s (1 + g (1 - s)); dup = dout * silu(g)
template <typename T> __device__ __forceinline__ void swiglu_bwd_impl(const T* dout, const T* gate, const T* up,
                                                                      T* dgate, T* dup, long n) {
    GRID_STRIDE(i, n) {
        float g = load(gate[i]), s = sigmoidf(g), d = load(dout[i]);
        store(dgate + i, d * load(up[i]) * s * fmaf(g, 1.0f - s, 1.0f));   // explicit: one rounding in every instantiation
        store(dup + i, d * g * s);
    }
}

#define SWIGLU_KERNELS(S, T) \
    extern "C" __global__ void swiglu_fwd_##S(const T* gate, const T* up, T* out, long n) { swiglu_fwd_impl(gate, up, out, n); } \
    extern "C" __global__ void swiglu_bwd_##S(const T* dout, const T* gate, const T* up, T* dgate, T* dup, long n) { \
        swiglu_bwd_impl(dout, gate, up, dgate, dup, n); }
TERN_EACH_TYPE(SWIGLU_KERNELS)

// Elementwise ops and the reductions read back by the host (Σ x², all finite), for one tensor or many in
// one launch. Long sizes, grid-stride loops (a launch never needs more blocks than the device can hold at
// once). Activations may be stored in f32, bf16 or f16 (dtype.h: each kernel has one instantiation per type,
// named with the type as suffix); arithmetic is f32. The multi-tensor sums read gradients, which stay f32.
// Valid for sm_70 and later: atomicAdd on double is sm_60+.

#include "dtype.h"
#include "multi_tensor.h"
#include "grid_stride.h"
#include "block_reduce.h"

template <typename T> __device__ __forceinline__ void fill_impl(T* x, float v, long n) {
    GRID_STRIDE(i, n) store(x + i, v);
}

template <typename T> __device__ __forceinline__ void add_impl(const T* a, const T* b, T* out, long n) {
    GRID_STRIDE(i, n) store(out + i, load(a[i]) + load(b[i]));
}

template <typename T> __device__ __forceinline__ void scale_impl(T* x, float alpha, long n) {
    GRID_STRIDE(i, n) store(x + i, load(x[i]) * alpha);
}

#define ELEMENTWISE_KERNELS(S, T) \
    extern "C" __global__ void fill_##S(T* x, float v, long n) { fill_impl(x, v, n); } \
    extern "C" __global__ void add_##S(const T* a, const T* b, T* out, long n) { add_impl(a, b, out, n); } \
    extern "C" __global__ void scale_##S(T* x, float alpha, long n) { scale_impl(x, alpha, n); }
TERN_EACH_TYPE(ELEMENTWISE_KERNELS)

// y += alpha x, and dst = src converted (rounded to nearest even when narrowing), for every pair of types:
// a bf16 activation gradient added into an f32 parameter gradient, a tensor cast for a product's operand.
template <typename X, typename Y> __device__ __forceinline__ void axpy_impl(float alpha, const X* x, Y* y, long n) {
    GRID_STRIDE(i, n) store(y + i, fmaf(alpha, load(x[i]), load(y[i])));
}

template <typename X, typename Y> __device__ __forceinline__ void convert_impl(const X* x, Y* y, long n) {
    GRID_STRIDE(i, n) store(y + i, load(x[i]));
}

#define PAIR_KERNELS(SX, X, SY, Y) \
    extern "C" __global__ void axpy_##SX##_##SY(float alpha, const X* x, Y* y, long n) { axpy_impl(alpha, x, y, n); } \
    extern "C" __global__ void convert_##SX##_##SY(const X* x, Y* y, long n) { convert_impl(x, y, n); }
TERN_EACH_PAIR(PAIR_KERNELS)

// Block-wide sum of one double per thread; blockDim.x is a multiple of 32, at most 1024.
// Σ x² in double: each thread sums its stride in double, blocks add into *out (zeroed by the caller).
template <typename T> __device__ __forceinline__ void sumsq_impl(const T* x, long n, double* out) {
    double s = 0;
    GRID_STRIDE(i, n) { double v = load(x[i]); s += v * v; }
    s = block_sum_double(s);
    if (threadIdx.x == 0) atomicAdd(out, s);
}

// *flag (set to 1 by the caller) becomes 0 when any element is NaN or infinite.
template <typename T> __device__ __forceinline__ void all_finite_impl(const T* x, long n, int* flag) {
    bool ok = true;
    GRID_STRIDE(i, n) ok &= (__float_as_uint(load(x[i])) & 0x7f800000u) != 0x7f800000u;   // exponent all ones: Inf or NaN
    if (!__all_sync(0xffffffffu, ok) && (threadIdx.x & 31) == 0) *flag = 0;
}

#define REDUCE_KERNELS(S, T) \
    extern "C" __global__ void sumsq_##S(const T* x, long n, double* out) { sumsq_impl(x, n, out); } \
    extern "C" __global__ void all_finite_##S(const T* x, long n, int* flag) { all_finite_impl(x, n, flag); }
TERN_EACH_TYPE(REDUCE_KERNELS)

// Σ x² of each of many tensors in one launch (table and starts as adamw_multi_f32): partial[b] = the sum of
// block b's chunk in double, as sumsq_f32; sum_blocks_f64 then adds each tensor's blocks. No atomics: the
// gradient norm has the same bits on every run (a double atomicAdd's order is the hardware's).
extern "C" __global__ void sumsq_multi_f32(const float* const* xs, const long* sizes, const long* starts,
                                           int tensors, double* partial) {
    int t = tensor_of_block(starts, tensors, blockIdx.x);
    const float* x = xs[t];
    long first = (blockIdx.x - starts[t]) * (long)CHUNK;
    long end = min(sizes[t], first + CHUNK);
    double s = 0;
    for (long i = first + threadIdx.x; i < end; i += blockDim.x) { double v = x[i]; s += v * v; }
    s = block_sum_double(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// out[t] = Σ partial[b] over tensor t's blocks (starts as above), one block per tensor, in a fixed order.
extern "C" __global__ void sum_blocks_f64(const double* partial, const long* starts, int tensors, double* out) {
    int t = blockIdx.x;
    double s = 0;
    for (long b = starts[t] + threadIdx.x; b < starts[t + 1]; b += blockDim.x) s += partial[b];
    s = block_sum_double(s);
    if (threadIdx.x == 0) out[t] = s;
}

// dsts[t] = srcs[t] converted, for many tensors in one launch (the weights of a training step rounded to
// their bf16 operands: one launch instead of one per weight).
#define CONVERT_MULTI(SX, X, SY, Y) \
    extern "C" __global__ void convert_multi_##SX##_##SY(const X* const* srcs, Y* const* dsts, const long* sizes, \
                                                          const long* starts, int tensors) { \
        int t = tensor_of_block(starts, tensors, blockIdx.x); \
        const X* x = srcs[t]; Y* y = dsts[t]; \
        long first = (blockIdx.x - starts[t]) * (long)CHUNK, end = min(sizes[t], first + CHUNK); \
        for (long i = first + threadIdx.x; i < end; i += blockDim.x) store(y + i, load(x[i])); \
    }
CONVERT_MULTI(f32, float, bf16, bf16) CONVERT_MULTI(f32, float, f16, f16)

// xs[t][i] = 0 for many f32 tensors in one launch (gradients before a step).
extern "C" __global__ void zero_multi_f32(float* const* xs, const long* sizes, const long* starts, int tensors) {
    int t = tensor_of_block(starts, tensors, blockIdx.x);
    float* x = xs[t];
    long first = (blockIdx.x - starts[t]) * (long)CHUNK, end = min(sizes[t], first + CHUNK);
    for (long i = first + threadIdx.x; i < end; i += blockDim.x) x[i] = 0.0f;
}

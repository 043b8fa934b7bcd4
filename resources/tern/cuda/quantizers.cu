// The fake quantizers of quantization-aware training: ternary weights (absmean scale per shard, computed on
// the device, round, clamp), for one weight or every weight of a step at once, and the k-bit and binary
// quantizers. Weights are f32; the fake-quantized operand and the activations the k-bit quantizer rounds
// may be stored as f32, bf16 or f16 (dtype.h: kernels with a type suffix). Valid for sm_70 and later.

#include "dtype.h"
#include "multi_tensor.h"
#include "ternary_scale.h"
#include "block_reduce.h"

// sums[s] += Σ |w| over shard s (sums zeroed by the caller). blockIdx.y is the shard; blocks along x
// split the shard's elements. A ROWS shard is a contiguous run of rows; a COLS shard a band of columns.
extern "C" __global__ void tern_abs_sum(const float* w, int rows, int cols, int shards, int axis, double* sums) {
    int s = blockIdx.y;
    int extent = axis == 0 ? rows : cols;
    // first index whose shard is s: ceil(s * extent / shards)
    int lo = (int)(((long)s * extent + shards - 1) / shards);
    int hi = (int)(((long)(s + 1) * extent + shards - 1) / shards);
    double acc = 0;
    if (axis == 0) {
        long begin = (long)lo * cols, end = (long)hi * cols;
        for (long i = begin + (long)blockIdx.x * blockDim.x + threadIdx.x; i < end; i += (long)blockDim.x * gridDim.x)
            acc += fabs((double)w[i]);
    } else {
        int width = hi - lo;
        long n = (long)rows * width;
        for (long e = (long)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (long)blockDim.x * gridDim.x) {
            long r = e / width; int c = lo + (int)(e - r * width);
            acc += fabs((double)w[r * cols + c]);
        }
    }
    acc = block_sum_double(acc);
    if (threadIdx.x == 0) atomicAdd(&sums[s], acc);
}

// gammas[s] = eps + (float)(sums[s] / count_s), count_s the weights of shard s (as Quantizers.absmeanScales
// and the CPU backend compute it: the double quotient rounded to f32, then the f32 sum), on the device, so
// that a fake-quantized operand needs no host synchronization. One thread per shard.
extern "C" __global__ void tern_gammas(const double* sums, int rows, int cols, int shards, int axis, float eps,
                                       float* gammas) {
    int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= shards) return;
    int extent = axis == 0 ? rows : cols;
    long lo = ((long)s * extent + shards - 1) / shards, hi = ((long)(s + 1) * extent + shards - 1) / shards;
    long count = (hi - lo) * (axis == 0 ? cols : rows);
    gammas[s] = eps + (float)(count == 0 ? 0.0 : sums[s] / (double)count);
}

// out = gamma * clamp(rint(w / gamma), -1, 1), elementwise; out may alias w (f32).
template <typename T>
__device__ __forceinline__ void tern_fake_quant_impl(const float* w, int rows, int cols, const float* gammas,
                                                     int shards, int axis, T* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        int r = (int)(i / cols), c = (int)(i - (long)r * cols);
        float g = gammas[axis == 0 ? shard_of(r, shards, rows) : shard_of(c, shards, cols)];
        store(out + i, g * (float)ternary_of(w[i], g));
    }
}

#define TERNARY_FAKE_QUANT_KERNELS(S, T) \
    extern "C" __global__ void tern_fake_quant_##S(const float* w, int rows, int cols, const float* gammas, \
                                                   int shards, int axis, T* out) { \
        tern_fake_quant_impl(w, rows, cols, gammas, shards, axis, out); }
TERN_EACH_TYPE(TERNARY_FAKE_QUANT_KERNELS)

// ---- fake quantizers: per-unit reductions and the elementwise apply ---------------------------------

// out[r] = Σ_c |x[r, c]| in double; grid-stride over rows, one block per row at a time.
extern "C" __global__ void abs_sum_rows(const float* x, int rows, int cols, double* out) {
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        double acc = 0;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) acc += fabs((double)x[(long)r * cols + c]);
        acc = block_sum_double(acc);
        if (threadIdx.x == 0) out[r] = acc;
    }
}

__device__ float block_max_f(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    float total = 0.0f;
    if (warp == 0) {
        total = lane < (blockDim.x >> 5) ? partial[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) total = fmaxf(total, __shfl_down_sync(0xffffffffu, total, o));
    }
    return total;
}

// out[r] = max_c |x[r, c]|.
template <typename T>
__device__ __forceinline__ void abs_max_rows_impl(const T* x, int rows, int cols, float* out) {
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
        float m = 0.0f;
        for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, fabsf(load(x[(long)r * cols + c])));
        m = block_max_f(m);
        if (threadIdx.x == 0) out[r] = m;
    }
}

// *out = max |x| over the whole tensor, as float bits (non-negative floats order like their bits).
template <typename T>
__device__ __forceinline__ void abs_max_all_impl(const T* x, long n, unsigned* out) {
    float m = 0.0f;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x)
        m = fmaxf(m, fabsf(load(x[i])));
    m = block_max_f(m);
    if (threadIdx.x == 0) atomicMax(out, __float_as_uint(m));
}

// out = alpha * sign(w), sign(0) = +1; alpha per row (perRow) or one for the tensor.
extern "C" __global__ void binary_apply(const float* w, int rows, int cols, const float* scales, int perRow, float* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        float a = scales[perRow ? (int)(i / cols) : 0];
        out[i] = w[i] >= 0.0f ? a : -a;
    }
}

// out = s * clamp(rint(x / s), -q, q) with s = max|x| / q per row (perRow) or for the tensor (s = 1 where the max
// is 0). The maxes come from abs_max_rows / abs_max_all on the device (a non-negative float's bits order as an
// int's, so abs_max_all's int is read as the float), so the scales never travel to the host and back: no
// host synchronization per quantized tensor. IEEE division, as the CPU's max / q.
template <typename T>
__device__ __forceinline__ void symq_apply_impl(const T* x, int rows, int cols, const float* maxes, int perRow,
                                                float q, T* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        float m = maxes[perRow ? (int)(i / cols) : 0];
        float s = m == 0.0f ? 1.0f : __fdiv_rn(m, q);
        store(out + i, s * fminf(fmaxf(rintf(load(x[i]) / s), -q), q));
    }
}

#define SYMQ_KERNELS(S, T) \
    extern "C" __global__ void abs_max_rows_##S(const T* x, int rows, int cols, float* out) { \
        abs_max_rows_impl(x, rows, cols, out); } \
    extern "C" __global__ void abs_max_all_##S(const T* x, long n, unsigned* out) { abs_max_all_impl(x, n, out); } \
    extern "C" __global__ void symq_apply_##S(const T* x, int rows, int cols, const float* maxes, int perRow, float q, \
                                              T* out) { \
        symq_apply_impl(x, rows, cols, maxes, perRow, q, out); }
TERN_EACH_TYPE(SYMQ_KERNELS)

// ---- every ternary weight of a step at once -----------------------------------------------------------------
// The fake-quantized operands of all block linears in three launches (instead of three per weight): the
// absmean sums, the scales, and γ·T stored in the operand type. Per tensor t the table gives its size and
// columns, its shards (at most MAX_SHARDS) along axis (0 rows, 1 columns), and where its shards' sums and
// scales start (off[t]); blocks as multi_tensor.h.
#define MAX_SHARDS 8

__device__ __forceinline__ int shard_of_element(long i, int cols, long rows, int shards, int axis) {
    return axis == 0 ? shard_of((int)(i / cols), shards, (int)rows) : shard_of((int)(i % cols), shards, cols);
}

// sums[off[t] + s] += Σ|w| over the block's elements of shard s (zeroed by the caller), in double.
extern "C" __global__ void tern_abs_sum_multi(const float* const* ws, const long* sizes, const long* cols,
                                              const long* shards, const long* axes, const long* off,
                                              const long* starts, int tensors, double* sums) {
    int t = tensor_of_block(starts, tensors, blockIdx.x);
    const float* w = ws[t];
    int c = (int)cols[t], ns = (int)shards[t], axis = (int)axes[t];
    long rows = sizes[t] / c;
    long first = (blockIdx.x - starts[t]) * (long)CHUNK, end = min(sizes[t], first + CHUNK);
    double acc[MAX_SHARDS];
#pragma unroll
    for (int s = 0; s < MAX_SHARDS; s++) acc[s] = 0.0;
    for (long i = first + threadIdx.x; i < end; i += blockDim.x) {
        int sh = shard_of_element(i, c, rows, ns, axis);
        double a = fabs((double)w[i]);
#pragma unroll
        for (int s = 0; s < MAX_SHARDS; s++) acc[s] += s == sh ? a : 0.0;   // registers, no dynamic index
    }
    for (int s = 0; s < ns; s++) {
        double total = block_sum_double(acc[s]);
        if (threadIdx.x == 0 && total != 0.0) atomicAdd(sums + off[t] + s, total);
    }
}

// gammas[off[t] + s] = eps + (float)(sums / count) as tern_gammas, for every shard of every tensor; one thread each.
extern "C" __global__ void tern_gammas_multi(const double* sums, const long* sizes, const long* cols, const long* shards,
                                             const long* axes, const long* off, int tensors, float eps, float* gammas) {
    int t = blockIdx.x;
    if (t >= tensors) return;
    int c = (int)cols[t], ns = (int)shards[t];
    long rows = sizes[t] / c;
    for (int s = threadIdx.x; s < ns; s += blockDim.x) {
        long extent = axes[t] == 0 ? rows : c;
        long lo = ((long)s * extent + ns - 1) / ns, hi = ((long)(s + 1) * extent + ns - 1) / ns;
        long count = (hi - lo) * (axes[t] == 0 ? c : rows);
        gammas[off[t] + s] = eps + (float)(count == 0 ? 0.0 : sums[off[t] + s] / (double)count);
    }
}

#define TERN_FAKE_QUANT_MULTI(S, T) \
    extern "C" __global__ void tern_fake_quant_multi_##S(const float* const* ws, T* const* outs, const long* sizes, \
            const long* cols, const long* shards, const long* axes, const long* off, const long* starts, int tensors, \
            const float* gammas) { \
        int t = tensor_of_block(starts, tensors, blockIdx.x); \
        const float* w = ws[t]; T* out = outs[t]; \
        int c = (int)cols[t], ns = (int)shards[t], axis = (int)axes[t]; \
        long rows = sizes[t] / c; \
        long first = (blockIdx.x - starts[t]) * (long)CHUNK, end = min(sizes[t], first + CHUNK); \
        for (long i = first + threadIdx.x; i < end; i += blockDim.x) { \
            float g = gammas[off[t] + shard_of_element(i, c, rows, ns, axis)]; \
            store(out + i, g * (float)ternary_of(w[i], g)); \
        } \
    }
TERN_FAKE_QUANT_MULTI(f32, float) TERN_FAKE_QUANT_MULTI(bf16, bf16) TERN_FAKE_QUANT_MULTI(f16, f16)

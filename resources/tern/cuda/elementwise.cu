// Elementwise ops, reductions to the host, SwiGLU and AdamW. f32 data, long sizes, grid-stride loops
// (a launch never needs more blocks than the device can hold at once). Valid for sm_70 and later:
// atomicAdd on double is sm_60+.

#define GRID_STRIDE(i, n) \
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long)blockDim.x * gridDim.x)

extern "C" __global__ void fill_f32(float* x, float v, long n) {
    GRID_STRIDE(i, n) x[i] = v;
}

extern "C" __global__ void add_f32(const float* a, const float* b, float* out, long n) {
    GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}

extern "C" __global__ void axpy_f32(float alpha, const float* x, float* y, long n) {
    GRID_STRIDE(i, n) y[i] = fmaf(alpha, x[i], y[i]);
}

extern "C" __global__ void scale_f32(float* x, float alpha, long n) {
    GRID_STRIDE(i, n) x[i] *= alpha;
}

// Block-wide sum of one double per thread; blockDim.x is a multiple of 32, at most 1024.
__device__ double block_sum_double(double v) {
    __shared__ double partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();                      // partial may still be read by a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    double total = 0;
    if (warp == 0) {
        total = lane < (blockDim.x >> 5) ? partial[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) total += __shfl_down_sync(0xffffffffu, total, o);
    }
    return total;                         // valid in thread 0
}

// Σ x² in double: each thread sums its stride in double, blocks add into *out (zeroed by the caller).
extern "C" __global__ void sumsq_f32(const float* x, long n, double* out) {
    double s = 0;
    GRID_STRIDE(i, n) { double v = x[i]; s += v * v; }
    s = block_sum_double(s);
    if (threadIdx.x == 0) atomicAdd(out, s);
}

// *flag (set to 1 by the caller) becomes 0 when any element is NaN or infinite.
extern "C" __global__ void all_finite_f32(const float* x, long n, int* flag) {
    bool ok = true;
    GRID_STRIDE(i, n) ok &= (__float_as_uint(x[i]) & 0x7f800000u) != 0x7f800000u;   // exponent all ones: Inf or NaN
    if (!__all_sync(0xffffffffu, ok) && (threadIdx.x & 31) == 0) *flag = 0;
}

__device__ __forceinline__ float sigmoidf(float g) { return 1.0f / (1.0f + expf(-g)); }

// out = silu(gate) * up, silu(g) = g * sigmoid(g)
extern "C" __global__ void swiglu_fwd(const float* gate, const float* up, float* out, long n) {
    GRID_STRIDE(i, n) { float g = gate[i]; out[i] = g * sigmoidf(g) * up[i]; }
}

// dgate = dout * up * silu'(g), silu'(g) = s (1 + g (1 - s)); dup = dout * silu(g)
extern "C" __global__ void swiglu_bwd(const float* dout, const float* gate, const float* up,
                                      float* dgate, float* dup, long n) {
    GRID_STRIDE(i, n) {
        float g = gate[i], s = sigmoidf(g), d = dout[i];
        dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
        dup[i] = d * g * s;
    }
}

// torch.optim.AdamW's single-tensor step, in its order of operations:
// p *= decay (1 - lr wd); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²; p -= stepSize m / (sqrt(v)/sqrtBc2 + eps)
// with stepSize = lr / (1 - b1^t) and sqrtBc2 = sqrt(1 - b2^t), computed on the host in double.
extern "C" __global__ void adamw_f32(float* p, const float* grad, float* m, float* v, long n,
                                     float b1, float b2, float eps, float decay, float stepSize,
                                     float sqrtBc2, float gradScale) {
    GRID_STRIDE(i, n) {
        float g = grad[i] * gradScale;
        float mi = fmaf(b1, m[i], (1.0f - b1) * g);
        float vi = fmaf(b2, v[i], (1.0f - b2) * g * g);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / sqrtBc2 + eps;
        p[i] = p[i] * decay - stepSize * mi / denom;
    }
}

// Many tensors in one launch: the table holds each tensor's pointers and size, and starts[t] is the first
// block of tensor t (each block takes CHUNK consecutive elements of one tensor; starts has tensors + 1
// entries, the last the grid size). A block finds its tensor by binary search, so large and small tensors
// get blocks in proportion to their sizes (one block row per tensor starved the 25.7M-element embedding).
#define CHUNK 4096

__device__ __forceinline__ int tensor_of_block(const long* starts, int tensors, long block) {
    int lo = 0, hi = tensors - 1;                       // the last t with starts[t] <= block: never an empty tensor
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= block) lo = mid; else hi = mid - 1;
    }
    return lo;
}

extern "C" __global__ void adamw_multi_f32(float* const* params, const float* const* grads,
                                           float* const* ms, float* const* vs, const long* sizes,
                                           const long* starts, int tensors,
                                           float b1, float b2, float eps, float decay, float stepSize,
                                           float sqrtBc2, float gradScale) {
    int t = tensor_of_block(starts, tensors, blockIdx.x);
    float* p = params[t]; const float* gr = grads[t]; float* m = ms[t]; float* v = vs[t];
    long first = (blockIdx.x - starts[t]) * (long)CHUNK;
    long end = min(sizes[t], first + CHUNK);
    for (long i = first + threadIdx.x; i < end; i += blockDim.x) {
        float g = gr[i] * gradScale;
        float mi = fmaf(b1, m[i], (1.0f - b1) * g);
        float vi = fmaf(b2, v[i], (1.0f - b2) * g * g);
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / sqrtBc2 + eps;
        p[i] = p[i] * decay - stepSize * mi / denom;
    }
}

// Σ x² of each of many tensors in one launch (table and starts as adamw_multi_f32): out[t] += the block
// sums of tensor t, in double, as sumsq_f32.
extern "C" __global__ void sumsq_multi_f32(const float* const* xs, const long* sizes, const long* starts,
                                           int tensors, double* out) {
    int t = tensor_of_block(starts, tensors, blockIdx.x);
    const float* x = xs[t];
    long first = (blockIdx.x - starts[t]) * (long)CHUNK;
    long end = min(sizes[t], first + CHUNK);
    double s = 0;
    for (long i = first + threadIdx.x; i < end; i += blockDim.x) { double v = x[i]; s += v * v; }
    s = block_sum_double(s);
    if (threadIdx.x == 0) atomicAdd(out + t, s);
}

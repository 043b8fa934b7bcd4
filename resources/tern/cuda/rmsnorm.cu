// RMSNorm, forward (alone and fused with the residual add before it) and backward. Activations are stored
// as T (f32, bf16 or f16: dtype.h; one instantiation per type, suffixed with its name); the weight, its
// gradient and rstd stay f32, and all arithmetic and every sum is f32. Valid for sm_70 and later.

#include "dtype.h"
#include "vec8.h"

// One warp per row (rows in a grid-stride loop over warps), no shared memory and no block barrier: a row of
// dim elements is read in chunks of W = 8 consecutive elements when dim % 8 == 0 (16-byte loads where the
// pointers are aligned, vec8.h), else W = 1; lane l takes chunks l, l + 32, ..., the first CACHED of them
// kept in registers for the second pass. The order of every sum depends on dim alone, never on the storage
// type or the alignment, so each instantiation computes the f32 kernel's numbers bit for bit.
#define RMS_CACHED 2

__device__ __forceinline__ float warp_sum_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;                              // every lane gets the total
}

template <typename T, int W> __device__ __forceinline__ void chunk_load(const T* p, float* v, bool vec) {
    if (W == 8) load8(p, v, vec); else v[0] = load(p[0]);
}
template <typename T, int W> __device__ __forceinline__ void chunk_store(T* p, const float* v, bool vec) {
    if (W == 8) store8(p, v, vec); else store(p, v[0]);
}

// out = s * r * w with r = 1 / sqrt(mean(s²) + eps) per row; rstd[row] = r. With a residual (y non-null)
// s = x + y is the sum, written to sum (the residual stream, rounded to T as a separate add would round
// it), and the norm is taken of the rounded sum, so the fused op equals add then rmsnorm bit for bit;
// without one s = x and sum is unused.
template <typename T, int W>
__device__ __forceinline__ void rmsnorm_fwd_rows(const T* x, const T* y, const float* w, float eps, int rows, int dim,
                                                 T* sum, T* out, float* rstd) {
    int lane = threadIdx.x & 31, chunks = dim / W;
    bool vec = W == 8 && aligned16(x) && aligned16(out) && aligned16(w) && (!y || (aligned16(y) && aligned16(sum)));
    for (int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; row < rows; row += (gridDim.x * blockDim.x) >> 5) {
        const T* xr = x + (long)row * dim;
        const T* yr = y ? y + (long)row * dim : xr;
        T* sr = y ? sum + (long)row * dim : (T*)xr;
        float cache[RMS_CACHED][W];
        float ss = 0.0f;
        for (int k = 0, c = lane; c < chunks; k++, c += 32) {
            float v[W];
            chunk_load<T, W>(xr + c * W, v, vec);
            if (y) {
                float b[W];
                chunk_load<T, W>(yr + c * W, b, vec);
#pragma unroll
                for (int j = 0; j < W; j++) v[j] = rounded<T>(v[j] + b[j]);
                chunk_store<T, W>(sr + c * W, v, vec);
            }
#pragma unroll
            for (int j = 0; j < W; j++) ss = fmaf(v[j], v[j], ss);
#pragma unroll
            for (int q = 0; q < RMS_CACHED; q++)
                if (q == k) {
#pragma unroll
                    for (int j = 0; j < W; j++) cache[q][j] = v[j];
                }
        }
        ss = warp_sum_f(ss);
        float r = 1.0f / sqrtf(ss / dim + eps);
        T* o = out + (long)row * dim;
        for (int k = 0, c = lane; c < chunks; k++, c += 32) {
            float v[W], wt[W];
            if (k < RMS_CACHED) {
#pragma unroll
                for (int q = 0; q < RMS_CACHED; q++)
                    if (q == k) {
#pragma unroll
                        for (int j = 0; j < W; j++) v[j] = cache[q][j];
                    }
            } else {
                chunk_load<T, W>(sr + c * W, v, vec);      // this lane read (or wrote) it above
            }
            chunk_load<float, W>(w + c * W, wt, vec);
#pragma unroll
            for (int j = 0; j < W; j++) v[j] = v[j] * r * wt[j];
            chunk_store<T, W>(o + c * W, v, vec);
        }
        if (lane == 0) rstd[row] = r;
    }
}

template <typename T>
__device__ __forceinline__ void rmsnorm_fwd_impl(const T* x, const T* y, const float* w, float eps, int rows, int dim,
                                                 T* sum, T* out, float* rstd) {
    if (dim % 8 == 0) rmsnorm_fwd_rows<T, 8>(x, y, w, eps, rows, dim, sum, out, rstd);
    else rmsnorm_fwd_rows<T, 1>(x, y, w, eps, rows, dim, sum, out, rstd);
}

// dx = r w g - x r³ mean(g w x) per row (g = dout), plus addend when it is non-null (the residual stream's
// own gradient, when the norm was fused with the add before it; it may be dx itself). Rows, chunks and the
// order of the sum as in rmsnorm_fwd_rows; the second pass reads g and x again (from L1: the lane read
// them in the first).
template <typename T, int W>
__device__ __forceinline__ void rmsnorm_bwd_dx_rows(const T* dout, const T* x, const float* w, const float* rstd,
                                                    const T* addend, int rows, int dim, T* dx) {
    int lane = threadIdx.x & 31, chunks = dim / W;
    bool vec = W == 8 && aligned16(dout) && aligned16(x) && aligned16(w) && aligned16(dx) && (!addend || aligned16(addend));
    for (int row = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; row < rows; row += (gridDim.x * blockDim.x) >> 5) {
        const T* xr = x + (long)row * dim;
        const T* g = dout + (long)row * dim;
        float dot = 0.0f;
        for (int c = lane; c < chunks; c += 32) {
            float gv[W], xv[W], wt[W];
            chunk_load<T, W>(g + c * W, gv, vec);
            chunk_load<T, W>(xr + c * W, xv, vec);
            chunk_load<float, W>(w + c * W, wt, vec);
#pragma unroll
            for (int j = 0; j < W; j++) dot = fmaf(gv[j] * wt[j], xv[j], dot);
        }
        dot = warp_sum_f(dot);
        float r = rstd[row];
        float cf = r * r * r * dot / dim;
        T* o = dx + (long)row * dim;
        const T* a = addend ? addend + (long)row * dim : 0;
        for (int c = lane; c < chunks; c += 32) {
            float gv[W], xv[W], wt[W], av[W];
            chunk_load<T, W>(g + c * W, gv, vec);
            chunk_load<T, W>(xr + c * W, xv, vec);
            chunk_load<float, W>(w + c * W, wt, vec);
            if (a) chunk_load<T, W>(a + c * W, av, vec);
#pragma unroll
            for (int j = 0; j < W; j++) {
                float v = fmaf(-xv[j], cf, __fmul_rn(__fmul_rn(r, wt[j]), gv[j]));   // explicit: see rope
                gv[j] = a ? v + av[j] : v;
            }
            chunk_store<T, W>(o + c * W, gv, vec);
        }
    }
}

template <typename T>
__device__ __forceinline__ void rmsnorm_bwd_dx_impl(const T* dout, const T* x, const float* w, const float* rstd,
                                                    const T* addend, int rows, int dim, T* dx) {
    if (dim % 8 == 0) rmsnorm_bwd_dx_rows<T, 8>(dout, x, w, rstd, addend, rows, dim, dx);
    else rmsnorm_bwd_dx_rows<T, 1>(dout, x, w, rstd, addend, rows, dim, dx);
}

// dw[d] += Σ_row g x r in two passes with a fixed order, so the sum has the same bits on every run:
// blockIdx.x picks 256 columns and blockIdx.y a band of rows, whose partial sum goes to partial[band][d];
// rmsnorm_bwd_dw_sum then adds the bands in order.
template <typename T>
__device__ __forceinline__ void rmsnorm_bwd_dw_impl(const T* dout, const T* x, const float* rstd,
                                                    int rows, int dim, int rowsPerBand, float* partial) {
    int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= dim) return;
    int r0 = blockIdx.y * rowsPerBand, r1 = min(rows, r0 + rowsPerBand);
    float acc = 0.0f;
    for (int r = r0; r < r1; r++) acc = fmaf(load(dout[(long)r * dim + d]) * load(x[(long)r * dim + d]), rstd[r], acc);
    partial[(long)blockIdx.y * dim + d] = acc;
}

extern "C" __global__ void rmsnorm_bwd_dw_sum(const float* partial, int bands, int dim, float* dw) {
    int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= dim) return;
    float acc = 0.0f;
    for (int b = 0; b < bands; b++) acc += partial[(long)b * dim + d];
    dw[d] += acc;
}

#define RMSNORM_KERNELS(S, T) \
    extern "C" __global__ void rmsnorm_fwd_##S(const T* x, const T* y, const float* w, float eps, int rows, int dim, \
                                               T* sum, T* out, float* rstd) { \
        rmsnorm_fwd_impl(x, y, w, eps, rows, dim, sum, out, rstd); } \
    extern "C" __global__ void rmsnorm_bwd_dx_##S(const T* dout, const T* x, const float* w, const float* rstd, \
                                                  const T* addend, int rows, int dim, T* dx) { \
        rmsnorm_bwd_dx_impl(dout, x, w, rstd, addend, rows, dim, dx); } \
    extern "C" __global__ void rmsnorm_bwd_dw_##S(const T* dout, const T* x, const float* rstd, int rows, int dim, \
                                                  int rowsPerBand, float* partial) { \
        rmsnorm_bwd_dw_impl(dout, x, rstd, rows, dim, rowsPerBand, partial); }
TERN_EACH_TYPE(RMSNORM_KERNELS)

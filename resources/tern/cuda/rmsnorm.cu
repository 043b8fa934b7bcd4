// RMSNorm, forward (alone and fused with the residual add before it) and backward. Activations are stored
// as T (f32, bf16 or f16: dtype.h; one instantiation per type, suffixed with its name); the weight, its
// gradient and rstd stay f32, and all arithmetic and every sum is f32. Valid for sm_70 and later.

#include "dtype.h"
#include "block_reduce.h"

// out = s * r * w with r = 1 / sqrt(mean(s²) + eps) per row; rstd[row] = r. One block per row. With a
// residual (y non-null) s = x + y is the sum, written to sum (the residual stream, rounded to T as a
// separate add would round it), and the norm is taken of the rounded sum, so the fused op equals add then
// rmsnorm bit for bit; without one s = x and sum is unused.
template <typename T>
__device__ __forceinline__ void rmsnorm_fwd_impl(const T* x, const T* y, const float* w, float eps, int rows, int dim,
                                                 T* sum, T* out, float* rstd) {
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* xr = x + (long)row * dim;
        const T* yr = y ? y + (long)row * dim : xr;
        T* sr = y ? sum + (long)row * dim : (T*)xr;
        float ss = 0.0f;
        for (int d = threadIdx.x; d < dim; d += blockDim.x) {
            float v;
            if (y) {
                store(sr + d, load(xr[d]) + load(yr[d]));
                v = load(sr[d]);            // this thread wrote it: the rounded sum
            } else {
                v = load(xr[d]);
            }
            ss = fmaf(v, v, ss);
        }
        ss = block_sum_f(ss);
        float r = 1.0f / sqrtf(ss / dim + eps);
        T* o = out + (long)row * dim;
        for (int d = threadIdx.x; d < dim; d += blockDim.x) store(o + d, load(sr[d]) * r * w[d]);
        if (threadIdx.x == 0) rstd[row] = r;
    }
}

// dx = r w g - x r³ mean(g w x) per row (g = dout), plus addend when it is non-null (the residual stream's
// own gradient, when the norm was fused with the add before it). One block per row.
template <typename T>
__device__ __forceinline__ void rmsnorm_bwd_dx_impl(const T* dout, const T* x, const float* w, const float* rstd,
                                                    const T* addend, int rows, int dim, T* dx) {
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        const T* xr = x + (long)row * dim;
        const T* g = dout + (long)row * dim;
        float dot = 0.0f;
        for (int d = threadIdx.x; d < dim; d += blockDim.x) dot = fmaf(load(g[d]) * w[d], load(xr[d]), dot);
        dot = block_sum_f(dot);
        float r = rstd[row];
        float c = r * r * r * dot / dim;
        T* o = dx + (long)row * dim;
        const T* a = addend ? addend + (long)row * dim : 0;
        for (int d = threadIdx.x; d < dim; d += blockDim.x) {
            float v = fmaf(-load(xr[d]), c, __fmul_rn(__fmul_rn(r, w[d]), load(g[d])));   // explicit: see rope
            store(o + d, a ? v + load(a[d]) : v);
        }
    }
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

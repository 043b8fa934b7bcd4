// Layer kernels: embedding, RMSNorm (alone and fused with the residual add before it), rotary embedding,
// fused cross-entropy. Activations are stored as T (f32, bf16 or f16: dtype.h; one instantiation per type,
// suffixed with its name); weights, their gradients, rstd and the losses stay f32, and all arithmetic and
// every sum is f32. Valid for sm_70 and later.

#include "dtype.h"

// NVRTC has no <math.h>: the one constant we use from it.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

__device__ float block_sum_f(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (blockDim.x >> 5) ? partial[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    return partial[0];                    // every thread gets the total
}

__device__ float block_max_all(float v) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (blockDim.x >> 5) ? partial[lane] : -INFINITY;
        for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    return partial[0];
}

// ---- embedding ----------------------------------------------------------------------------------------

// out[i] = table[ids[i]]; blocks over output rows, threads over the dimension. ids were checked on the host.
template <typename T>
__device__ __forceinline__ void embedding_fwd_impl(const float* table, const int* ids, int n, int dim, T* out) {
    for (int i = blockIdx.x; i < n; i += gridDim.x) {
        const float* src = table + (long)ids[i] * dim;
        T* dst = out + (long)i * dim;
        for (int d = threadIdx.x; d < dim; d += blockDim.x) store(dst + d, src[d]);
    }
}

// dtable[id] += Σ dout[i] over the positions i holding id, in increasing i. The host groups the positions by
// id (csr = [uniques ids | uniques+1 starts | n positions]), so each id's row is owned by one block and summed
// in a fixed order: the same bits on every run (atomics would add in arrival order), which bit-exact
// resumption of a GPU run needs.
template <typename T>
__device__ __forceinline__ void embedding_bwd_impl(const T* dout, const int* csr, int uniques, int dim, float* dtable) {
    const int* starts = csr + uniques;
    const int* positions = csr + 2 * uniques + 1;
    for (int u = blockIdx.x; u < uniques; u += gridDim.x) {
        float* dst = dtable + (long)csr[u] * dim;
        int p0 = starts[u], p1 = starts[u + 1];
        for (int d = threadIdx.x; d < dim; d += blockDim.x) {
            float acc = dst[d];
            for (int p = p0; p < p1; p++) acc += load(dout[(long)positions[p] * dim + d]);
            dst[d] = acc;
        }
    }
}

// ---- RMSNorm --------------------------------------------------------------------------------------------

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

// ---- rotary embedding ------------------------------------------------------------------------------------

// Hugging Face rotate_half: dimension i pairs with i + headDim/2, angle pos * theta^(-2i/headDim),
// pos = posOffset + row % seq. The angle is computed in double: at positions in the thousands a float
// angle is off by 1e-4 radians. sign = -1 rotates backwards (the backward pass). out may alias x.
// The rotation of (x[i], x[i + half]) by pos · theta^(-2i / headDim), its cos and sin taken in double
// and rounded to f32. rope_table_f32 tabulates them once per (headDim, theta) for positions [0, positions)
// as [pos][i] = (cos, sin); rope_f32 then reads the table instead of calling pow and sincos in double for
// every element (which made it ~4x slower than its memory traffic).
extern "C" __global__ void rope_table_f32(float2* table, int positions, int headDim, float theta) {
    int half = headDim / 2;
    long n = (long)positions * half;
    for (long t = (long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (long)blockDim.x * gridDim.x) {
        int i = (int)(t % half), pos = (int)(t / half);
        double angle = (double)pos * pow((double)theta, -2.0 * i / headDim);
        double s, c;
        sincos(angle, &s, &c);
        table[t] = make_float2((float)c, (float)s);
    }
}

template <typename T>
__device__ __forceinline__ void rope_impl(const T* x, T* out, const float2* table, int rows, int seq, int heads,
                                          int headDim, int posOffset, float sign) {
    int half = headDim / 2;
    long n = (long)rows * heads * half;
    for (long t = (long)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (long)blockDim.x * gridDim.x) {
        int i = (int)(t % half);
        long rh = t / half;
        int h = (int)(rh % heads);
        int row = (int)(rh / heads);
        int pos = posOffset + row % seq;
        float2 cs = table[(long)pos * half + i];
        float sn = cs.y * sign;
        long base = (long)row * heads * headDim + (long)h * headDim;
        float a = load(x[base + i]), b = load(x[base + i + half]);
        // Explicit fused multiply-adds: left to the compiler, the f32 and bf16 instantiations may contract
        // different products, and a rotation near cancellation then differs in the last f32 bits.
        store(out + base + i, fmaf(a, cs.x, __fmul_rn(-b, sn)));
        store(out + base + i + half, fmaf(b, cs.x, __fmul_rn(a, sn)));
    }
}

#define LAYER_KERNELS(S, T) \
    extern "C" __global__ void embedding_fwd_##S(const float* table, const int* ids, int n, int dim, T* out) { \
        embedding_fwd_impl(table, ids, n, dim, out); } \
    extern "C" __global__ void embedding_bwd_##S(const T* dout, const int* csr, int uniques, int dim, float* dtable) { \
        embedding_bwd_impl(dout, csr, uniques, dim, dtable); } \
    extern "C" __global__ void rmsnorm_fwd_##S(const T* x, const T* y, const float* w, float eps, int rows, int dim, \
                                               T* sum, T* out, float* rstd) { \
        rmsnorm_fwd_impl(x, y, w, eps, rows, dim, sum, out, rstd); } \
    extern "C" __global__ void rmsnorm_bwd_dx_##S(const T* dout, const T* x, const float* w, const float* rstd, \
                                                  const T* addend, int rows, int dim, T* dx) { \
        rmsnorm_bwd_dx_impl(dout, x, w, rstd, addend, rows, dim, dx); } \
    extern "C" __global__ void rmsnorm_bwd_dw_##S(const T* dout, const T* x, const float* rstd, int rows, int dim, \
                                                  int rowsPerBand, float* partial) { \
        rmsnorm_bwd_dw_impl(dout, x, rstd, rows, dim, rowsPerBand, partial); } \
    extern "C" __global__ void rope_##S(const T* x, T* out, const float2* table, int rows, int seq, int heads, \
                                        int headDim, int posOffset, float sign) { \
        rope_impl(x, out, table, rows, seq, heads, headDim, posOffset, sign); }
TERN_EACH_TYPE(LAYER_KERNELS)

// ---- cross-entropy ---------------------------------------------------------------------------------------

// One block per row (logits stored as L, their gradient as G): softmax, loss = logsumexp - logit[target] (0 for ignored rows, target -1), and when
// writeGrad, dlogits = gradScale (softmax - onehot) (0 for ignored rows). gradScale = lossScale / count.
template <typename L, typename G>
__device__ __forceinline__ void cross_entropy_impl(const L* logits, const int* targets, int n, int vocab,
                                                   G* dlogits, int writeGrad, float gradScale, float* rowLoss) {
    for (int row = blockIdx.x; row < n; row += gridDim.x) {
        const L* z = logits + (long)row * vocab;
        int t = targets[row];
        // One read for the max and the sum (online: a thread's sum is rescaled when its max grows), then
        // the block's (max, sum) pairs are combined at the block's max: two passes over the row, not three.
        float tm = -INFINITY, ts = 0.0f;
        for (int c = threadIdx.x; c < vocab; c += blockDim.x) {
            float v = load(z[c]);
            if (v > tm) {
                ts = fmaf(ts, expf(tm - v), 1.0f);  // expf(-inf) = 0 on the first element
                tm = v;
            } else if (tm != -INFINITY || v != v) {  // not while all so far are -inf (NaN still propagates)
                ts += expf(v - tm);
            }
        }
        float mx = block_max_all(tm);
        float sum = block_sum_f(tm == -INFINITY ? 0.0f : ts * expf(tm - mx));
        if (threadIdx.x == 0) rowLoss[row] = t < 0 ? 0.0f : logf(sum) + mx - load(z[t]);
        if (writeGrad) {
            G* g = dlogits + (long)row * vocab;
            float inv = 1.0f / sum;
            for (int c = threadIdx.x; c < vocab; c += blockDim.x)
                store(g + c, t < 0 ? 0.0f : __fmul_rn(gradScale, fmaf(expf(load(z[c]) - mx), inv, c == t ? -1.0f : 0.0f)));
        }
    }
}

#define CROSS_ENTROPY_KERNELS(SL, L, SG, G) \
    extern "C" __global__ void cross_entropy_##SL##_##SG(const L* logits, const int* targets, int n, int vocab, \
                                                         G* dlogits, int writeGrad, float gradScale, float* rowLoss) { \
        cross_entropy_impl(logits, targets, n, vocab, dlogits, writeGrad, gradScale, rowLoss); }
TERN_EACH_PAIR(CROSS_ENTROPY_KERNELS)

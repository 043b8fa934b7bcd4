// Fused cross-entropy: the loss per row and, in the same pass, the gradient of the logits. Logits and their
// gradient are stored as f32, bf16 or f16 (dtype.h; one instantiation per pair of types, suffixed with their
// names); the losses stay f32, and all arithmetic and every sum is f32. Valid for sm_70 and later.

#include "dtype.h"
#include "block_reduce.h"

// NVRTC has no <math.h>: the one constant we use from it.
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif

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

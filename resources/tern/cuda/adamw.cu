// AdamW, for one tensor or many in one launch. Master weights, gradients and moments are f32. Long sizes,
// grid-stride loops. Valid for sm_70 and later.

#include "multi_tensor.h"
#include "grid_stride.h"

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

// Many tensors in one launch: the table holds each tensor's pointers and size (multi_tensor.h).
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

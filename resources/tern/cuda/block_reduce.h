// Block-wide sums: float (every thread gets it), shared by rmsnorm.cu and cross_entropy.cu, and double
// (valid in thread 0), shared by elementwise.cu and quantizers.cu (NVRTC has no include path: Kernels.java
// inlines this file). blockDim.x is a multiple of 32, at most 1024.
#ifndef TERN_BLOCK_REDUCE_H
#define TERN_BLOCK_REDUCE_H

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

#endif

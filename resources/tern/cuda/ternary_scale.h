// A weight's shard and its ternary rounding, shared by ternary.cu (packing, unpacking) and quantizers.cu
// (fake quantization); Kernels.java inlines this file, as NVRTC is given no include path.
#ifndef TERN_TERNARY_SCALE_H
#define TERN_TERNARY_SCALE_H

// Shard of a row (axis 0 = ROWS) or column (axis 1 = COLS): floor(index * shards / extent), as
// TernaryWeights.shardOf.
__device__ __forceinline__ int shard_of(int index, int shards, int extent) {
    return (int)((long)index * shards / extent);
}

// clamp(rint(w / gamma), -1, 1); rintf rounds half to even, as torch.round.
__device__ __forceinline__ int ternary_of(float w, float gamma) {
    float q = rintf(w / gamma);
    return q > 0.0f ? 1 : (q < 0.0f ? -1 : 0);
}

#endif

// Many tensors in one launch (elementwise.cu, adamw.cu, quantizers.cu): each block takes CHUNK consecutive
// elements of one tensor; starts[t] is the first block of tensor t (tensors + 1 entries, the last the grid
// size), so large and small tensors get blocks in proportion to their sizes (one block row per tensor starved
// the 25.7M-element embedding). MultiTensor.java builds the tables.
#ifndef TERN_MULTI_TENSOR_H
#define TERN_MULTI_TENSOR_H

#define CHUNK 4096

// The tensor of a block, by binary search: the last t with starts[t] <= block (never an empty tensor).
__device__ __forceinline__ int tensor_of_block(const long* starts, int tensors, long block) {
    int lo = 0, hi = tensors - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= block) lo = mid; else hi = mid - 1;
    }
    return lo;
}

#endif

// Ternary weights packed at 2 bits per weight, and unpacked to gamma * T (the operand of the cuBLAS ternary
// path). Weights are f32; the unpacked operand may be stored as f32, bf16 or f16 (dtype.h: kernels with a
// type suffix). Valid for sm_70 and later.
//
// Packing (TernaryLayout.java), shaped for the tensor-core matrix-vector kernel (ternary_mma.cu): the
// matrix is cut into blocks of 16 rows x 32 columns (rows padded to 16, columns to 32), stored block-row
// by block-row; a block is 32 words, word l for lane l of a warp, holding exactly the 16 weights that lane
// needs as its A fragments of two m16n8k16 MMAs (k-tiles h = 0, 1). Within the block, weight (lr, lc):
//   g = lr % 8, rowHalf = lr / 8, h = lc / 16, kk = lc % 16, tig = (kk % 8) / 2, kHalf = kk / 8, parity = kk % 2
//   lane = 4 g + tig, pair p = 4 h + rowHalf + 2 kHalf, bit = 2 (p % 4) + 8 (p / 4) + 16 parity.
// Each 2-bit code is t + 1 (0 = -1, 1 = 0, 2 = +1; padding holds 1): an affine code, so the tensor-core
// kernel turns a code into an f16 t with one mask and one fused multiply-add, no branches.

#include "ternary_layout.h"
#include "dtype.h"
#include "ternary_scale.h"

// One thread per packed word: it gathers its 16 weights (see the layout above) and writes the word whole.
extern "C" __global__ void tern_pack(const float* w, int rows, int cols, int kcCount, const float* gammas,
                                     int shards, int axis, unsigned* packed) {
    long words = (long)((rows + 15) / 16) * kcCount * 32;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < words; i += (long)blockDim.x * gridDim.x) {
        int lane = (int)(i & 31);
        long blk = i >> 5;
        int rt = (int)(blk / kcCount), kc = (int)(blk - (long)rt * kcCount);
        unsigned word = 0;
#pragma unroll
        for (int p = 0; p < 8; p++)
#pragma unroll
            for (int parity = 0; parity < 2; parity++) {
                int r = rt * 16 + tern_block_row(lane, p), c = kc * 32 + tern_block_col(lane, p, parity);
                int code = 1;                                    // padding: t = 0
                if (r < rows && c < cols) {
                    float g = gammas[axis == 0 ? shard_of(r, shards, rows) : shard_of(c, shards, cols)];
                    code = ternary_of(w[(long)r * cols + c], g) + 1;
                }
                word |= (unsigned)code << tern_bit(p, parity);
            }
        packed[i] = word;
    }
}

// out[r, c] = gamma * T[r, c].
template <typename T>
__device__ __forceinline__ void tern_unpack_impl(const unsigned* packed, int rows, int cols, int kcCount,
                                                 const float* gammas, int shards, int axis, T* out) {
    long n = (long)rows * cols;
    for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)blockDim.x * gridDim.x) {
        int r = (int)(i / cols), c = (int)(i - (long)r * cols);
        float g = gammas[axis == 0 ? shard_of(r, shards, rows) : shard_of(c, shards, cols)];
        store(out + i, g * (float)tern_value(packed, kcCount, r, c));
    }
}

#define TERNARY_UNPACK_KERNELS(S, T) \
    extern "C" __global__ void tern_unpack_##S(const unsigned* packed, int rows, int cols, int kcCount, \
                                               const float* gammas, int shards, int axis, T* out) { \
        tern_unpack_impl(packed, rows, cols, kcCount, gammas, shards, axis, out); }
TERN_EACH_TYPE(TERNARY_UNPACK_KERNELS)

// The ternary packing shared by ternary.cu, matmul.cu and ternary_mma.cu (described in ternary.cu and
// TernaryLayout.java). Kernel sources are compiled one by one; Kernels.java inlines this header where a
// source includes it, since NVRTC is given no include path.
#ifndef TERN_LAYOUT_H
#define TERN_LAYOUT_H

// Row within the 16-row block of pair p (0..7) held by `lane`: g + 8 rowHalf.
__device__ __forceinline__ int tern_block_row(int lane, int p) {
    return (lane >> 2) + 8 * (p & 1);
}

// Column within the 32-column block of pair p, element `parity` (0: even k, 1: odd k).
__device__ __forceinline__ int tern_block_col(int lane, int p, int parity) {
    return 16 * (p >> 2) + 8 * ((p >> 1) & 1) + 2 * (lane & 3) + parity;
}

__device__ __forceinline__ int tern_bit(int p, int parity) {
    return 2 * (p & 3) + 8 * (p >> 2) + 16 * parity;
}

// t in {-1, 0, 1} of (r, c); kcCount = 32-column blocks per block-row.
__device__ __forceinline__ int tern_value(const unsigned* w, int kcCount, int r, int c) {
    int lr = r & 15, lc = c & 31;
    int g = lr & 7, rowHalf = lr >> 3, h = lc >> 4, kk = lc & 15;
    int lane = 4 * g + ((kk & 7) >> 1);
    int p = 4 * h + rowHalf + 2 * (kk >> 3);
    unsigned word = w[((long)(r >> 4) * kcCount + (c >> 5)) * 32 + lane];
    return (int)((word >> tern_bit(p, kk & 1)) & 3u) - 1;
}

#endif

package tern.cuda;

/**
 * Where the CUDA backend keeps each ternary weight in its 2-bit packing (resources/tern/cuda/
 * ternary_layout.h is the kernels' copy of these rules). The matrix is cut into blocks of 16 rows × 32
 * columns (rows padded to a multiple of 16, columns to 32), stored block-row by block-row; a block is 32
 * words, word l holding exactly the 16 weights that lane l of a warp needs as its A fragments of two
 * m16n8k16 tensor-core MMAs, so the matrix-vector kernel reads a block as one coalesced 128-byte load and
 * decodes it in registers. Weight (lr, lc) of a block:
 * <pre>
 *   g = lr % 8, rowHalf = lr / 8, h = lc / 16, kk = lc % 16, tig = (kk % 8) / 2, kHalf = kk / 8, parity = kk % 2
 *   lane = 4g + tig,  pair p = 4h + rowHalf + 2·kHalf,  bit = 2·(p % 4) + 8·(p / 4) + 16·parity
 * </pre>
 * Each 2-bit code is t + 1 (0 → −1, 1 → 0, 2 → +1; padding holds 1): an affine code lets the kernel turn
 * a pair of codes into f16 values of t with one mask and one fused multiply-add. (This differs from the
 * host codes of {@code DType.TERNARY2}; the packed tensor is backend-specific, as TernaryWeights says.)
 * After the words come the per-shard scales γ as f32, so one device allocation holds everything a kernel
 * needs.
 */
final class TernaryLayout {
    private TernaryLayout() {}

    /** 32-column blocks per block-row. */
    static int kcCount(int cols) {
        return (cols + 31) / 32;
    }

    static int paddedRows(int rows) {
        return (rows + 15) / 16 * 16;
    }

    static long packedBytes(int rows, int cols) {
        return (long) paddedRows(rows) * kcCount(cols) * 8;       // 16 rows × 32 columns × 2 bits = 128 bytes per block
    }

    static long wordIndex(int cols, int r, int c) {
        int lr = r & 15, lc = c & 31, kk = lc & 15;
        int lane = 4 * (lr & 7) + ((kk & 7) >> 1);
        return ((long) (r >> 4) * kcCount(cols) + (c >> 5)) * 32 + lane;
    }

    static int bit(int r, int c) {
        int lr = r & 15, lc = c & 31, kk = lc & 15;
        int p = 4 * (lc >> 4) + (lr >> 3) + 2 * (kk >> 3);
        return 2 * (p & 3) + 8 * (p >> 2) + 16 * (kk & 1);
    }

    /** The ternary value {-1, 0, 1} of (r, c) in host copies of the packed words. */
    static int decode(int[] words, int cols, int r, int c) {
        return ((words[(int) wordIndex(cols, r, c)] >>> bit(r, c)) & 3) - 1;
    }
}

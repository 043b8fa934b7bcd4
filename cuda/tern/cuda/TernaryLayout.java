package tern.cuda;

/**
 * Where the CUDA backend keeps each ternary weight in its 2-bit packing (the kernels in ternary.cu and
 * matmul.cu decode the same layout). A row of {@code cols} weights takes {@link #wordsPerRow} 32-bit words:
 * each run of 512 columns is 32 words, and column c sits in word (c / 512)·32 + c % 32, at bits
 * 2·((c % 512) / 32). So when lane l of a warp reads word l of a run, the 16 weights it holds are columns
 * l, l+32, …, l+480: the warp's word loads are coalesced and its reads of the matching activations fall
 * on 32 different shared-memory banks. Codes: 00 = 0, 01 = +1, 10 = −1 (as {@code DType.TERNARY2}).
 * Padding columns hold 00. After the words come the per-shard scales γ as f32, so one device allocation
 * carries everything a kernel needs.
 */
final class TernaryLayout {
    static final int RUN = 512;

    private TernaryLayout() {}

    static int wordsPerRow(int cols) {
        return 32 * ((cols + RUN - 1) / RUN);
    }

    static long wordIndex(int wordsPerRow, int r, int c) {
        return (long) r * wordsPerRow + (c / RUN) * 32 + (c % 32);
    }

    static int shift(int c) {
        return 2 * ((c % RUN) / 32);
    }

    /** The ternary value {-1, 0, 1} of (r, c) in host copies of the packed words. */
    static int decode(int[] words, int wordsPerRow, int r, int c) {
        int code = (words[(int) wordIndex(wordsPerRow, r, c)] >>> shift(c)) & 3;
        return code == 1 ? 1 : code == 2 ? -1 : 0;
    }

    static long packedBytes(int rows, int cols) {
        return 4L * rows * wordsPerRow(cols);
    }
}

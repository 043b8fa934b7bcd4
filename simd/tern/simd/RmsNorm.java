package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * RMSNorm over the last dimension: out = x·r⊙w with r = 1/sqrt(mean(x²) + eps), r saved per row.
 * Backward, per row with g = dout: dx_j = r·w_j·g_j − r³·x_j·(1/n)·Σ_k g_k·w_k·x_k, and dw_j += Σ_rows g_j·x_j·r.
 */
final class RmsNorm {
    /** A chunk should hold at least this many elements before it is worth a fork. */
    private static final int MIN_CHUNK_ELEMENTS = 1 << 14;

    private final FloatKernels k;

    RmsNorm(FloatKernels kernels) { this.k = kernels; }

    void forward(MemorySegment x, MemorySegment w, float eps, MemorySegment out, MemorySegment rstd, int rows, int cols) {
        Parallel.range(rows, minRows(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                long at = (long) r * cols;
                double meanSquare = k.sumOfSquares(x, at, cols) / cols;
                float rs = (float) (1 / Math.sqrt(meanSquare + eps));
                ScalarFloatKernels.set(rstd, r, rs);
                k.scaledProduct(rs, x, at, w, 0, out, at, cols);
            }
        });
    }

    void backward(MemorySegment dout, MemorySegment x, MemorySegment w, MemorySegment rstd,
                  MemorySegment dx, MemorySegment dw, int rows, int cols) {
        // Rows are cut into blocks whose size depends only on cols; each block sums its weight gradient
        // privately and the partials are added in block order, so dweight is the same bits whatever the
        // thread count or timing (a resumed run on another machine continues identically).
        int rowsPerBlock = minRows(cols);
        int blocks = (rows + rowsPerBlock - 1) / rowsPerBlock;
        MemorySegment partial = Scratch.floats((long) blocks * cols);
        Parallel.range(blocks, 1, (b0, b1) -> {
            MemorySegment gw = Scratch.reused(0, cols);
            for (int block = b0; block < b1; block++) {
                long mine = (long) block * cols;
                for (int r = block * rowsPerBlock; r < Math.min(rows, (block + 1) * rowsPerBlock); r++) {
                    long at = (long) r * cols;
                    float rs = ScalarFloatKernels.get(rstd, r);
                    k.scaledProduct(1f, dout, at, w, 0, gw, 0, cols);                     // g⊙w
                    float dotGwx = k.dot(gw, 0, x, at, cols);                               // Σ g·w·x
                    // term 1: r·(g⊙w); term 2: −r³/n·(Σ g·w·x)·x
                    k.scale(rs, gw, 0, dx, at, cols);
                    k.axpy(-rs * rs * rs * dotGwx / cols, x, at, dx, at, cols);
                    k.addScaledProduct(rs, dout, at, x, at, partial, mine, cols);        // dw += r·g⊙x
                }
            }
        });
        for (int block = 0; block < blocks; block++) k.axpy(1f, partial, (long) block * cols, dw, 0, cols);
    }

    private static int minRows(int cols) {
        return Math.max(1, MIN_CHUNK_ELEMENTS / Math.max(1, cols));
    }
}

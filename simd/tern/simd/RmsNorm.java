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
        int minRows = minRows(cols);
        int chunks = Math.min(Parallel.THREADS, Math.max(1, rows / minRows));
        // Each chunk sums its rows' weight gradients privately; the partials are added in chunk order
        // afterwards, so the result does not depend on thread timing.
        MemorySegment[] partial = new MemorySegment[chunks];
        for (int c = 0; c < chunks; c++) partial[c] = Scratch.floats(cols);
        Parallel.range(chunks, 1, (c0, c1) -> {
            for (int c = c0; c < c1; c++) {
                int r0 = (int) ((long) c * rows / chunks), r1 = (int) ((long) (c + 1) * rows / chunks);
                MemorySegment gwSeg = Scratch.floats(cols);
                for (int r = r0; r < r1; r++) {
                    long at = (long) r * cols;
                    float rs = ScalarFloatKernels.get(rstd, r);
                    k.scaledProduct(1f, dout, at, w, 0, gwSeg, 0, cols);                  // g⊙w
                    float dotGwx = k.dot(gwSeg, 0, x, at, cols);                            // Σ g·w·x
                    // term 1: r·(g⊙w); term 2: −r³/n·(Σ g·w·x)·x
                    k.scale(rs, gwSeg, 0, dx, at, cols);
                    k.axpy(-rs * rs * rs * dotGwx / cols, x, at, dx, at, cols);
                    k.addScaledProduct(rs, dout, at, x, at, partial[c], 0, cols);         // dw += r·g⊙x
                }
            }
        });
        for (MemorySegment p : partial) k.axpy(1f, p, 0, dw, 0, cols);
    }

    private static int minRows(int cols) {
        return Math.max(1, MIN_CHUNK_ELEMENTS / Math.max(1, cols));
    }
}

package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * The inner loops of {@link FloatMatmul}: a register-tiled product of packed panels and the two
 * matrix-vector shapes of a decode step. Two implementations: {@link FloatMatmulScalar} (plain Java) and
 * {@link FloatMatmulVector} (Vector API, loaded only when {@link Vectorization#ENABLED}). Their tiles compute
 * every output element with the same fused multiply-adds in the same order, so they agree bit for bit;
 * the matrix-vector kernels differ only in summation order (the vector one sums lanes at the end).
 */
interface FloatMatmulKernels {


    /** The Vector API kernels when enabled, else the scalar ones. */
    // Naming FloatMatmulVector only in the taken branch keeps it (and jdk.incubator.vector) unloaded on
    // the scalar path: HotSpot resolves classes lazily and the verifier treats interface types as Object.
    static FloatMatmulKernels preferred() {
        return Vectorization.ENABLED ? FloatMatmulVector.INSTANCE : FloatMatmulScalar.INSTANCE;
    }

    /** Rows of one register tile; packed A panels are this tall. */
    int mr();

    /** Columns of one register tile (a multiple of the vector length); packed B panels are this wide. */
    int nr();

    /**
     * c[rows × cols] (+)= Ap · Bp over kc steps, where Ap is one {@link #mr}-row panel packed [p][mr] at
     * {@code ap[apOff..]} and Bp one {@link #nr}-column panel packed [p][nr] at {@code bp[bpOff..]}, both padded with
     * zeros. Only the rows × cols corner is written to c (row stride ldc, element offset cOff); with
     * {@code add} the tile is added to c, otherwise it replaces it.
     */
    void tile(float[] ap, int apOff, float[] bp, int bpOff, int kc,
              MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add);

    /**
     * ap[at + 4·p + r] ← a[from + r·lda + p] for r < 4, p < kc: four whole rows of a row-major op(a) interleaved
     * into one packed 4-row panel (a copy: the products' bits do not depend on how it is done). This default, the
     * plain loop with p outside, is what the scalar path runs; the Vector API kernels transpose in registers.
     */
    default void packRows4(MemorySegment a, long from, long lda, int kc, float[] ap, int at) {
        long r0 = from, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda;
        for (int p = 0; p < kc; p++) {
            int o = at + 4 * p;
            ap[o] = a.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, r0 + p);
            ap[o + 1] = a.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, r1 + p);
            ap[o + 2] = a.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, r2 + p);
            ap[o + 3] = a.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, r3 + p);
        }
    }

    /**
     * ap[at + mr·p + r] ← a[from + r·lda + p] for r < mr, p < kc: one whole mr-row panel of a row-major op(a)
     * (a copy). This default copies each row's run out of the segment, then spreads it over the panel.
     */
    default void packRows(MemorySegment a, long from, long lda, int mr, int kc, float[] ap, int at, float[] line) {
        for (int r = 0; r < mr; r++) {
            MemorySegment.copy(a, java.lang.foreign.ValueLayout.JAVA_FLOAT, (from + r * lda) * Float.BYTES, line, 0, kc);
            for (int p = 0; p < kc; p++) ap[at + p * mr + r] = line[p];
        }
    }

    /**
     * dst[at + p·w + j] ← src[from + p·stride + j] for p < kc, j < w: one packed panel, w wide, from kc rows of a
     * row-major matrix (a copy, written in order). This default copies each row's run from the segment.
     */
    default void packPanel(MemorySegment src, long from, long stride, int kc, int w, float[] dst, int at) {
        for (int p = 0; p < kc; p++)
            MemorySegment.copy(src, java.lang.foreign.ValueLayout.JAVA_FLOAT, (from + p * stride) * Float.BYTES, dst, at + p * w, w);
    }

    /**
     * y[j] (+)= Σ_p x[p]·w[j][p] for j in [j0, j1): one row of activations times the transpose of a
     * row-major w [*, k] (the decode-time linear layer).
     */
    void matvecRows(MemorySegment x, MemorySegment w, int k, MemorySegment y, int j0, int j1, boolean add);

    /** y[j] (+)= Σ_p x[p]·b[p][j] for j in [j0, j1): one row times a row-major b [k, n]. */
    void matvecCols(MemorySegment x, MemorySegment b, int k, int n, MemorySegment y, int j0, int j1, boolean add);

    /**
     * Runs {@code steps} rounds of independent fused multiply-adds with nothing but registers (the peak
     * probe of {@link FloatMatmulPeak}); returns the flops done and a value that keeps them alive.
     */
    double[] fmaBurst(long steps);
}

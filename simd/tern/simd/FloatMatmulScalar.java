package tern.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java twin of {@link FloatMatmulVector}: the same order of {@link Math#fma} per output element in a
 * tile (lane j of the vector kernel is column j here), so tiles give identical bits on both paths.
 */
final class FloatMatmulScalar implements FloatMatmulKernels {
    static final FloatMatmulScalar INSTANCE = new FloatMatmulScalar();

    /** Tile width; any value gives the same sums, since the order over p does not depend on it. */
    private static final int NR = 64;
    /** Tile height; like NR, free: the packed A panels follow it. */
    private static final int MR = 4;

    private FloatMatmulScalar() {}

    @Override public int mr() { return MR; }

    @Override public int nr() { return NR; }

    @Override
    public void tile(float[] ap, int apOff, float[] bp, int bpOff, int kc,
                     MemorySegment c, long cOff, int ldc, int rows, int cols, boolean add) {
        float[] acc = new float[cols];
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(acc, 0f);
            for (int p = 0; p < kc; p++) {
                float a = ap[apOff + p * MR + r];
                int b = bpOff + p * NR;
                for (int j = 0; j < cols; j++) acc[j] = Math.fma(a, bp[b + j], acc[j]);
            }
            long row = cOff + (long) r * ldc;
            for (int j = 0; j < cols; j++) {
                float v = add ? c.getAtIndex(ValueLayout.JAVA_FLOAT, row + j) + acc[j] : acc[j];
                c.setAtIndex(ValueLayout.JAVA_FLOAT, row + j, v);
            }
        }
    }

    @Override
    public void matvecRows(MemorySegment x, MemorySegment w, int k, MemorySegment y, int j0, int j1, boolean add) {
        for (int j = j0; j < j1; j++) {
            float acc = 0;
            long row = (long) j * k;
            for (int p = 0; p < k; p++)
                acc = Math.fma(x.getAtIndex(ValueLayout.JAVA_FLOAT, p), w.getAtIndex(ValueLayout.JAVA_FLOAT, row + p), acc);
            y.setAtIndex(ValueLayout.JAVA_FLOAT, j, add ? y.getAtIndex(ValueLayout.JAVA_FLOAT, j) + acc : acc);
        }
    }

    @Override
    public void matvecCols(MemorySegment x, MemorySegment b, int k, int n, MemorySegment y, int j0, int j1, boolean add) {
        for (int j = j0; j < j1; j++) {
            float acc = 0;
            for (int p = 0; p < k; p++)
                acc = Math.fma(x.getAtIndex(ValueLayout.JAVA_FLOAT, p), b.getAtIndex(ValueLayout.JAVA_FLOAT, (long) p * n + j), acc);
            y.setAtIndex(ValueLayout.JAVA_FLOAT, j, add ? y.getAtIndex(ValueLayout.JAVA_FLOAT, j) + acc : acc);
        }
    }

    @Override
    public double[] fmaBurst(long steps) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        // The accumulator as the addend, as in the tile (see FloatMatmulVector.fmaBurst); sums stay normal.
        final float m = 1e-3f, c = 1e-3f;
        for (long i = 0; i < steps; i++) {
            a0 = Math.fma(m, c, a0); a1 = Math.fma(m, c, a1); a2 = Math.fma(m, c, a2); a3 = Math.fma(m, c, a3);
            a4 = Math.fma(m, c, a4); a5 = Math.fma(m, c, a5); a6 = Math.fma(m, c, a6); a7 = Math.fma(m, c, a7);
        }
        return new double[] {16.0 * steps, a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7};
    }
}

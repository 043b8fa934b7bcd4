package tern.simd;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java twin of {@link TernaryVector}: output row o of a block is lane o of the vector kernel, and
 * each sum is built in the same order (plus entries in group order, minus entries in group order, then
 * their difference), so both paths give identical bits.
 */
final class TernaryScalar implements TernaryKernels {
    static final TernaryScalar INSTANCE = new TernaryScalar();

    private TernaryScalar() {}

    @Override
    public void tables(float[] x, int xOff, int groups, float[] tbl, int tOff) {
        for (int g = 0; g < groups; g++)
            for (int e = 0; e < 16; e++) {
                float s = 0f;
                for (int t = 0; t < 4; t++) if ((e >>> t & 1) != 0) s += x[xOff + 4 * g + t];
                tbl[tOff + 16 * g + e] = s;
            }
    }

    @Override
    public void sums(float[] tbl, int tOff, int tStride, int xr, MemorySegment codes, long blockBytes, long panelOffset,
                     int b0, int g0, int g1, float[] out, int outOff, int ldOut) {
        for (int r = 0; r < xr; r++) {
            int t0 = tOff + r * tStride;
            for (int b = 0; b < 4; b++) {
                long base = panelOffset + (b0 + b) * blockBytes;
                for (int j = 0; j < TernaryPanel.BLOCK; j++) {
                    float plus = 0f, minus = 0f;
                    for (int g = g0; g < g1; g++) {
                        int code = codes.get(ValueLayout.JAVA_BYTE, base + 16L * g + j);
                        plus += tbl[t0 + 16 * g + (code & 15)];
                        minus += tbl[t0 + 16 * g + (code >>> 4 & 15)];
                    }
                    out[outOff + r * ldOut + 16 * b + j] = plus - minus;
                }
            }
        }
    }
}

package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * The inner loops of {@link TernaryMatmul}. Two implementations give identical bits (the same float
 * additions in the same order): {@link TernaryScalar} (plain Java) and {@link TernaryVector} (Vector API,
 * loaded only when {@link Vectorization#ENABLED}).
 */
interface TernaryKernels {

    /** The Vector API kernels when enabled, else the scalar ones. */
    // Naming TernaryVector only in the taken branch keeps it (and jdk.incubator.vector) unloaded on the
    // scalar path: HotSpot resolves classes lazily and the verifier treats interface types as Object.
    static TernaryKernels preferred() {
        return Vectorization.ENABLED ? TernaryVector.INSTANCE : TernaryScalar.INSTANCE;
    }

    /**
     * Subset-sum tables of one activation row: for each group g &lt; groups and each 4-bit pattern e,
     * tbl[tOff + 16g + e] = Σ over the set bits t of e, in order t = 0..3, of x[xOff + 4g + t]
     * (starting from +0). x must hold 4·groups values (zero padded).
     */
    void tables(float[] x, int xOff, int groups, float[] tbl, int tOff);

    /**
     * Unscaled ternary sums of one tile. For activation rows r &lt; xr (tables of row r start at
     * tbl[tOff + r·tStride], 16 floats per group) and output rows 16b + j of the 4 blocks b in
     * [b0, b0 + 4) of a panel whose blocks start at {@code blockBytes·b} in {@code codes} (16 code bytes per
     * group): out[outOff + r·ldOut + 16(b − b0) + j] = P − M, where P sums, over groups g in [g0, g1) in
     * order, the table entry selected by the row's plus nibble, and M likewise with the minus nibble.
     * xr is 1..4.
     */
    void sums(float[] tbl, int tOff, int tStride, int xr, MemorySegment codes, long blockBytes, long panelOffset,
              int b0, int g0, int g1, float[] out, int outOff, int ldOut);
}

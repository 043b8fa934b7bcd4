package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * Inner loops of {@link PackedMatmul} on the {@link PackedTernary} layout, in two twins:
 * {@link PackedScalar} (plain Java) and {@link PackedVector} (Vector API, loaded only when
 * {@link Vectorization#ENABLED}). Both only add and subtract activations chosen by the codes.
 */
interface PackedKernels {

    /** The Vector API kernels when enabled and 512-bit vectors are preferred here, else the scalar ones. */
    static PackedKernels preferred() {
        // PackedVector is named only in the taken branch, so the scalar path never loads jdk.incubator.vector.
        return Vectorization.ENABLED && PackedVector.SUPPORTED ? PackedVector.INSTANCE : PackedScalar.INSTANCE;
    }

    /**
     * Float subset-sum tables: for groups g in [g0, g1) of a segment starting at column c0 (its columns
     * end at c1; missing columns count as 0) and each pattern e &lt; 16,
     * tbl[16(g − g0) + e] = Σ over set bits j of e of x[xOff + c0 + 4(g − g0) + j].
     */
    void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl);

    /** The same subset sums of int8 activations as int16, each table twice (32 lanes: one permute of 32). */
    void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl);

    /**
     * acc[accOff + i] += Σ over groups g in [g0, g1) of (tbl[tOff + 16(g−g0) + plus nibble] − tbl[… minus nibble])
     * for the 64 rows i of the tile whose codes start at {@code tile} (group g's line at tile + 64g).
     */
    void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff);

    /** The int8 twin of {@link #floatTile}: tables of 32 shorts per group, exact integer sums. */
    void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff);
}

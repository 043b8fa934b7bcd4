package tern.simd;

import java.lang.foreign.MemorySegment;

/**
 * Inner loops of {@link PackedMatmul} on the {@link PackedTernary} layout, in two twins:
 * {@link PackedScalar} (plain Java) and {@link PackedVector} (Vector API, loaded only when
 * {@link Vectorization#ENABLED}). Both only add and subtract activations chosen by the codes.
 *
 * <p>Tables ({@link PackedVector}'s; {@link PackedDigits} keeps its own per-group values in the same
 * slots): for each group of 9 columns, three tables (one per triple) of {@link #TABLE} entries;
 * entry e &lt; 27 of triple j's table is Σ over i &lt; 3 of (digit i of e − 1)·x[column 3j + i of the
 * group], summed in the order i = 0, 1, 2 starting from 0 (missing columns count as 0); entries 27..31
 * are 0 (no valid code selects them).
 */
interface PackedKernels {
    /** Entries per triple table: 27 used, padded to one 32-lane int16 (or two 16-lane f32) register. */
    int TABLE = 32;
    /** Table entries per group of 9 columns. */
    int GROUP_TABLE = 3 * TABLE;

    /** Triples of the whole groups covering columns [c0, c1): every table a segment needs, padding included. */
    static int triples(int c0, int c1) { return 3 * ((c1 - c0 + PackedTernary.GROUP - 1) / PackedTernary.GROUP); }

    /** The switch that forces the lookup or the decoding kernels at 128 and 256 bits (tests, benchmarks). */
    String KERNEL_PROPERTY = "tern.packed.kernel";

    /**
     * The Vector API kernels when enabled (at {@link Vectorization#BITS}) on a little-endian machine, else
     * the scalar ones. At 512 bits, and below it where the CPU permutes natively, the table lookups
     * ({@link PackedVector}); below 512 bits otherwise the decoding kernels ({@link PackedDigits}), which
     * need no permute: measured on AVX2 (one core, per 16 codes of a 128-row L1-resident tile pair),
     * lookups 11.8 ns int8 / 20.3 ns float, decoding 8.1 / 15.2 ns; with AVX-512 forced to 256 bits the
     * lookups win (3.8 / 7.2 ns). Where the decoding kernels would run, int8 products run on the 2-bit
     * repack ({@link PackedTwoBit}, float ones still decode t9): on Zen 3 (AVX2, one core) 1024×1024 int8
     * took 53 µs decoding t9, see BENCHMARKS.md for the 2-bit kernel.
     * {@code -Dtern.packed.kernel=lookup|digits|twobit} overrides the choice below 512 bits.
     */
    static PackedKernels preferred() {
        // PackedVector is named only in the taken branch, so the scalar path never loads jdk.incubator.vector.
        if (!Vectorization.ENABLED || !PackedVector.SUPPORTED) return PackedScalar.INSTANCE;
        String kernel = System.getProperty(KERNEL_PROPERTY, "").strip();
        if (!kernel.matches("|lookup|digits|twobit"))
            throw new IllegalArgumentException("-D" + KERNEL_PROPERTY + "=" + kernel + ": expected lookup, digits or twobit");
        // The decoding kernels carry four code registers a pass: 512 bits has two a line, so lookups there.
        if (Vectorization.BITS == 512) return PackedVector.INSTANCE;
        if (kernel.isEmpty()) kernel = Vectorization.NATIVE_PERMUTES ? "lookup" : "twobit";
        return switch (kernel) {
            case "lookup" -> PackedVector.INSTANCE;
            case "digits" -> PackedDigits.INSTANCE;
            default -> PackedTwoBit.INSTANCE;
        };
    }

    /**
     * Float signed-sum tables of a segment starting at column c0 (its columns end at c1):
     * tbl[tOff + 96(g − g0) + 32j + e] for its groups, as the interface comment defines them.
     */
    void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl, int tOff);

    /** The same tables of int8 activations, as exact int16 sums (|sum| ≤ 3·127). */
    void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl, int tOff);

    /**
     * acc[accOff + i] += Σ over groups g in [g0, g1), triples j &lt; 3 of tbl[tOff + 96(g−g0) + 32j + field j of code(i, g)]
     * for the 64 rows i of the tile whose codes start at {@code tile} (group g's codes at tile + 128g).
     */
    void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff);

    /** {@link #floatTile} of two tiles over the same groups, as {@link #int8TilePair} is of {@link #int8Tile}. */
    default void floatTilePair(float[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                               float[] acc, int accA, int accB) {
        floatTile(tbl, tOff, codes, tileA, g0, g1, acc, accA);
        floatTile(tbl, tOff, codes, tileB, g0, g1, acc, accB);
    }

    /**
     * The whole int8 product ({@link PackedMatmul#matmul} with int8 activations, arguments checked) when this
     * kernel family has its own driver (a layout of its own, {@link PackedTwoBit}); false: the caller runs
     * the table-and-tile loops of this interface.
     */
    default boolean int8Product(PackedTernary[] ws, int[] firstTile, float[] x, int m, float[][] ys) { return false; }

    /** Builds what this family keeps beside a matrix (a repacked copy), so a model's load pays it, not its first token. */
    default void prepare(PackedTernary w) {}

    /** q ← x[off..off+n) quantized as {@link PackedMatmul#quantizeInt8} does; returns the scale s. */
    default float quantizeInt8(float[] x, int off, int n, byte[] q) { return PackedMatmul.quantizeInt8(x, off, n, q); }

    /** The int8 twin of {@link #floatTile}: int16 tables, exact integer sums. */
    void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff);

    /**
     * {@link #int8Tile} of two tiles over the same groups (tile A into acc[accA..], tile B into acc[accB..]).
     * A kernel that reads the two code streams side by side keeps twice the cache-line misses in flight
     * and loads each table once for both; this default runs the tiles one after the other.
     */
    default void int8TilePair(short[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                              int[] acc, int accA, int accB) {
        int8Tile(tbl, tOff, codes, tileA, g0, g1, acc, accA);
        int8Tile(tbl, tOff, codes, tileB, g0, g1, acc, accB);
    }
}

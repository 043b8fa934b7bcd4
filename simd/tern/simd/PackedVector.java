package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API kernels of {@link PackedMatmul}, at the width {@link Vectorization} chose (L = 4, 8 or 16
 * float or int lanes, 2L int16 lanes). A tile's 64 codes of one group are two cache lines; field j of a
 * code (bits 5j..5j+4) indexes triple j's table of 32 entries. The file layout is the same at every
 * width; only how many registers a table and a line take changes.
 *
 * <p>Int8 activations: a triple's table is 32 int16 sums, {@code 32 / 2L} registers. At 512 bits it is
 * one register and {@code selectFrom} is one {@code vpermw} over 32 rows (the Vector API wraps the index
 * to 5 bits, which also strips the fields above); at 256 bits the two-table {@code selectFrom} wraps to 5
 * bits (one {@code vpermi2w} with AVX-512VL); at 128 bits two two-table lookups and a blend on bit 4.
 * Per 9 weights × 2L rows: one load, two shifts, three lookups, three adds; the tables' loads are shared
 * by a pass's code vectors. int16 lanes are exact for {@link #INT16_GROUPS} groups (|Σ| ≤ 9·127 per
 * group, 28·1143 &lt; 2¹⁵); then the partial sums are widened into int32 accumulators.
 *
 * <p>Float activations: a triple's table is 32 f32, {@code 32 / L} registers (their bits as int lanes):
 * one two-table {@code selectFrom} ({@code vpermi2d}) at 512 bits, two and a blend at 256, four and three
 * blends at 128. A line is read as int lanes of two codes (even row low, odd row high), so no code is
 * widened: six shifted lookups per int vector, one more shift than widening would cost, and C2 re-widens
 * at every use.
 *
 * <p>The tile kernels live in {@link PackedTiles512} (one-register int16 tables) and
 * {@link PackedTilesNarrow} (several registers per table); this class builds the tables and dispatches
 * on the width, a constant C2 folds.
 */
final class PackedVector implements PackedKernels {
    static final PackedVector INSTANCE = new PackedVector();

    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Short> S = Species.S;
    private static final int L = Species.FLOATS, SL = 2 * L;
    /** Registers per triple table: int16 (1, 2, 4) and f32 (2, 4, 8). */
    private static final int SP = TABLE / SL, FP = TABLE / L;
    /** Groups an int16 accumulator can take without overflow (see the class comment). */
    static final int INT16_GROUPS = 28;

    /** True on little-endian machines (the codes are little-endian int16 read as lanes). */
    static final boolean SUPPORTED = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    /**
     * Lanes of the triple tables: PLUS[i][v] (MINUS[i][v]) is set in lane l when digit i of e = vL + l is
     * 2 (0), i.e. the pattern adds (subtracts) the triple's column i; lanes e ≥ 27 are in neither.
     * int16: WEIGHT[i][v] holds the weights −1, 0, +1 of entries e = v·2L + l.
     */
    private static final VectorMask<Float>[][] PLUS = floatMasks(2), MINUS = floatMasks(0);
    private static final ShortVector[][] WEIGHT = shortWeights();

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[][] floatMasks(int digit) {
        VectorMask<Float>[][] m = new VectorMask[3][FP];
        for (int i = 0; i < 3; i++)
            for (int v = 0; v < FP; v++) {
                boolean[] bits = new boolean[L];
                for (int l = 0; l < L; l++) {
                    int e = L * v + l;
                    bits[l] = e < PackedTernary.PATTERNS && PackedTernary.digit(e, i) + 1 == digit;
                }
                m[i][v] = VectorMask.fromArray(F, bits, 0);
            }
        return m;
    }

    private static ShortVector[][] shortWeights() {
        ShortVector[][] w = new ShortVector[3][SP];
        for (int i = 0; i < 3; i++) {
            short[] v = new short[TABLE];
            for (int e = 0; e < PackedTernary.PATTERNS; e++) v[e] = (short) PackedTernary.digit(e, i);
            for (int p = 0; p < SP; p++) w[i][p] = ShortVector.fromArray(S, v, SL * p);
        }
        return w;
    }

    private PackedVector() {}

    /** Which tile kernels run and how the tables sit in registers at this width, for reports. */
    static String layout() {
        return (L == 16 ? "PackedTiles512" : "PackedTilesNarrow") + ": int16 tables in " + SP + ", f32 tables in " + FP + " registers";
    }

    @Override
    public void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl, int tOff) {
        FloatVector zero = FloatVector.zero(F);
        for (int t = 0, c = c0; t < PackedKernels.triples(c0, c1); t++, c += PackedTernary.TRIPLE) {
            FloatVector a = FloatVector.broadcast(F, c < c1 ? x[xOff + c] : 0f);
            FloatVector b = FloatVector.broadcast(F, c + 1 < c1 ? x[xOff + c + 1] : 0f);
            FloatVector d = FloatVector.broadcast(F, c + 2 < c1 ? x[xOff + c + 2] : 0f);
            // The scalar twin's operations in its order (0 ± a ± b ± d, each where the pattern has it).
            for (int v = 0; v < FP; v++)
                zero.add(a, PLUS[0][v]).sub(a, MINUS[0][v]).add(b, PLUS[1][v]).sub(b, MINUS[1][v])
                    .add(d, PLUS[2][v]).sub(d, MINUS[2][v]).intoArray(tbl, tOff + TABLE * t + L * v);
        }
    }

    @Override
    public float quantizeInt8(float[] x, int off, int n, byte[] q) { return Int8Quantizer.quantize(x, off, n, q); }

    @Override
    public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl, int tOff) {
        for (int t = 0, c = c0; t < PackedKernels.triples(c0, c1); t++, c += PackedTernary.TRIPLE) {
            short a = c < c1 ? q[qOff + c] : 0, b = c + 1 < c1 ? q[qOff + c + 1] : 0, d = c + 2 < c1 ? q[qOff + c + 2] : 0;
            for (int v = 0; v < SP; v++)
                WEIGHT[0][v].mul(a).add(WEIGHT[1][v].mul(b)).add(WEIGHT[2][v].mul(d)).intoArray(tbl, tOff + TABLE * t + SL * v);
        }
    }

    // ---- tiles: one-register tables at 512 bits, several below (two classes, each written out for C2) ----

    @Override
    public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        if (L == 16) PackedTiles512.floatTile(tbl, tOff, codes, tile, g0, g1, acc, accOff);
        else PackedTilesNarrow.floatTile(tbl, tOff, codes, tile, g0, g1, acc, accOff);
    }

    @Override
    public void floatTilePair(float[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                              float[] acc, int accA, int accB) {
        if (L == 16) PackedTiles512.floatTilePair(tbl, tOff, codes, tileA, tileB, g0, g1, acc, accA, accB);
        else PackedTilesNarrow.floatTilePair(tbl, tOff, codes, tileA, tileB, g0, g1, acc, accA, accB);
    }

    @Override
    public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        if (L == 16) PackedTiles512.int8Tile(tbl, tOff, codes, tile, g0, g1, acc, accOff);
        else PackedTilesNarrow.int8Tile(tbl, tOff, codes, tile, g0, g1, acc, accOff);
    }

    /**
     * Two tiles side by side: one load of the tables serves both tiles' code registers. From memory this
     * is what counts: one tile's lookups stall on one stream's misses, two streams keep twice the misses
     * in flight (one core, 16384×16384: ~9 → ~11–16 GB/s in a harness).
     */
    @Override
    public void int8TilePair(short[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                             int[] acc, int accA, int accB) {
        if (L == 16) PackedTiles512.int8TilePair(tbl, tOff, codes, tileA, tileB, g0, g1, acc, accA, accB);
        else PackedTilesNarrow.int8TilePair(tbl, tOff, codes, tileA, tileB, g0, g1, acc, accA, accB);
    }
}

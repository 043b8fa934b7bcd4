package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
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
 * <p>A pass over the groups covers two code vectors per tile (2·2L rows with int16 lanes, 2·2L rows of
 * int lanes with floats): one pass at 512 bits, 2 at 256, 4 at 128; the tables are re-read from L1 by
 * every pass, the codes only once.
 */
final class PackedVector implements PackedKernels {
    static final PackedVector INSTANCE = new PackedVector();

    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final VectorSpecies<Short> S = Species.S;
    private static final int L = Species.FLOATS, SL = 2 * L;
    /** Registers per triple table: int16 (1, 2, 4) and f32 (2, 4, 8). */
    private static final int SP = TABLE / SL, FP = TABLE / L;
    /** Bytes of one vector. */
    private static final int VB = 4 * L;
    /** Passes over a tile's groups: each covers two code vectors of its 128-byte lines. */
    private static final int PASSES = PackedTernary.LINE / (2 * VB);
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Groups an int16 accumulator can take without overflow (see the class comment). */
    static final int INT16_GROUPS = 28;
    private static final int LINE = PackedTernary.LINE;

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
    public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl, int tOff) {
        for (int t = 0, c = c0; t < PackedKernels.triples(c0, c1); t++, c += PackedTernary.TRIPLE) {
            short a = c < c1 ? q[qOff + c] : 0, b = c + 1 < c1 ? q[qOff + c + 1] : 0, d = c + 2 < c1 ? q[qOff + c + 2] : 0;
            for (int v = 0; v < SP; v++)
                WEIGHT[0][v].mul(a).add(WEIGHT[1][v].mul(b)).add(WEIGHT[2][v].mul(d)).intoArray(tbl, tOff + TABLE * t + SL * v);
        }
    }

    // ---- lookups (only the first SP or FP table registers are read; the rest are placeholders) ----------

    /** Entry (index mod 32) of an int16 table in SP registers. */
    private static ShortVector lookup(ShortVector index, ShortVector t0, ShortVector t1, ShortVector t2, ShortVector t3) {
        if (SP == 1) return index.selectFrom(t0);
        if (SP == 2) return index.selectFrom(t0, t1);
        return index.selectFrom(t0, t1).blend(index.selectFrom(t2, t3), index.and((short) 16).compare(VectorOperators.NE, 0));
    }

    /** Entry (index mod 32) of an f32 table in FP registers, as float bits. */
    private static IntVector lookup(IntVector index, IntVector t0, IntVector t1, IntVector t2, IntVector t3,
                                    IntVector t4, IntVector t5, IntVector t6, IntVector t7) {
        if (FP == 2) return index.selectFrom(t0, t1);
        if (FP == 4) return index.selectFrom(t0, t1).blend(index.selectFrom(t2, t3), index.and(16).compare(VectorOperators.NE, 0));
        VectorMask<Integer> bit3 = index.and(8).compare(VectorOperators.NE, 0);
        IntVector lo = index.selectFrom(t0, t1).blend(index.selectFrom(t2, t3), bit3);
        IntVector hi = index.selectFrom(t4, t5).blend(index.selectFrom(t6, t7), bit3);
        return lo.blend(hi, index.and(16).compare(VectorOperators.NE, 0));
    }

    /** Part v of a float table at t as int bits, or the placeholder p when the table has no part v. */
    private static IntVector part(float[] tbl, int t, int v, IntVector p) {
        return v < FP ? FloatVector.fromArray(F, tbl, t + L * v).reinterpretAsInts() : p;
    }

    private static ShortVector part(short[] tbl, int t, int v, ShortVector p) {
        return v < SP ? ShortVector.fromArray(S, tbl, t + SL * v) : p;
    }

    // ---- float activations --------------------------------------------------------------------------

    /** Lane selectors that interleave two vectors (lanes 0..L−1 of the pair, then L..2L−1): a, b → a₀ b₀ a₁ b₁ … */
    private static final IntVector INTERLEAVE_LO = interleave(0), INTERLEAVE_HI = interleave(L / 2);

    private static IntVector interleave(int from) {
        int[] idx = new int[L];
        for (int l = 0; l < L; l++) idx[l] = (l % 2 == 0 ? 0 : L) + from + l / 2;
        return IntVector.fromArray(I, idx, 0);
    }

    @Override
    public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        floatTiles(tbl, tOff, codes, tile, tile, false, g0, g1, acc, accOff, accOff);
    }

    /** {@link #floatTile} of two tiles, the table registers shared (see {@link #int8TilePair} for why). */
    @Override
    public void floatTilePair(float[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                              float[] acc, int accA, int accB) {
        floatTiles(tbl, tOff, codes, tileA, tileB, true, g0, g1, acc, accA, accB);
    }

    /**
     * One or two tiles. The codes of a line are read as int lanes of two codes each (no widening): the
     * low halves are the even rows, the high halves the odd rows, and the sums are interleaved back at the
     * end. One sum chain per (code vector, parity); each step adds its three lookups first. Written out
     * (no helper taking the accumulators): C2 will not inline a vector helper it has already compiled on
     * its own.
     */
    private static void floatTiles(float[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, boolean two,
                                   int g0, int g1, float[] acc, int accA, int accB) {
        for (int pass = 0; pass < PASSES; pass++) {
            int off = 2 * VB * pass, row = 4 * L * pass;   // bytes into a line; first row of the pass
            FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0, e2 = e0, o2 = e0, e3 = e0, o3 = e0;
            for (int g = g0; g < g1; g++) {
                int t = tOff + GROUP_TABLE * (g - g0);
                IntVector a0 = part(tbl, t, 0, null), a1 = part(tbl, t, 1, a0), a2 = part(tbl, t, 2, a0), a3 = part(tbl, t, 3, a0);
                IntVector a4 = part(tbl, t, 4, a0), a5 = part(tbl, t, 5, a0), a6 = part(tbl, t, 6, a0), a7 = part(tbl, t, 7, a0);
                int u = t + TABLE;
                IntVector b0 = part(tbl, u, 0, null), b1 = part(tbl, u, 1, b0), b2 = part(tbl, u, 2, b0), b3 = part(tbl, u, 3, b0);
                IntVector b4 = part(tbl, u, 4, b0), b5 = part(tbl, u, 5, b0), b6 = part(tbl, u, 6, b0), b7 = part(tbl, u, 7, b0);
                int w = t + 2 * TABLE;
                IntVector d0 = part(tbl, w, 0, null), d1 = part(tbl, w, 1, d0), d2 = part(tbl, w, 2, d0), d3 = part(tbl, w, 3, d0);
                IntVector d4 = part(tbl, w, 4, d0), d5 = part(tbl, w, 5, d0), d6 = part(tbl, w, 6, d0), d7 = part(tbl, w, 7, d0);
                long at = tileA + (long) LINE * g + off;
                IntVector c0 = IntVector.fromMemorySegment(I, codes, at, LE), c1 = IntVector.fromMemorySegment(I, codes, at + VB, LE);
                e0 = e0.add(lookup(c0, a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                        .add(lookup(c0.lanewise(VectorOperators.LSHR, 5), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                        .add(lookup(c0.lanewise(VectorOperators.LSHR, 10), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                o0 = o0.add(lookup(c0.lanewise(VectorOperators.LSHR, 16), a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                        .add(lookup(c0.lanewise(VectorOperators.LSHR, 21), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                        .add(lookup(c0.lanewise(VectorOperators.LSHR, 26), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                e1 = e1.add(lookup(c1, a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                        .add(lookup(c1.lanewise(VectorOperators.LSHR, 5), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                        .add(lookup(c1.lanewise(VectorOperators.LSHR, 10), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                o1 = o1.add(lookup(c1.lanewise(VectorOperators.LSHR, 16), a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                        .add(lookup(c1.lanewise(VectorOperators.LSHR, 21), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                        .add(lookup(c1.lanewise(VectorOperators.LSHR, 26), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                if (two) {
                    long bt = tileB + (long) LINE * g + off;
                    IntVector c2 = IntVector.fromMemorySegment(I, codes, bt, LE), c3 = IntVector.fromMemorySegment(I, codes, bt + VB, LE);
                    e2 = e2.add(lookup(c2, a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                            .add(lookup(c2.lanewise(VectorOperators.LSHR, 5), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                            .add(lookup(c2.lanewise(VectorOperators.LSHR, 10), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                    o2 = o2.add(lookup(c2.lanewise(VectorOperators.LSHR, 16), a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                            .add(lookup(c2.lanewise(VectorOperators.LSHR, 21), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                            .add(lookup(c2.lanewise(VectorOperators.LSHR, 26), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                    e3 = e3.add(lookup(c3, a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                            .add(lookup(c3.lanewise(VectorOperators.LSHR, 5), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                            .add(lookup(c3.lanewise(VectorOperators.LSHR, 10), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                    o3 = o3.add(lookup(c3.lanewise(VectorOperators.LSHR, 16), a0, a1, a2, a3, a4, a5, a6, a7).reinterpretAsFloats()
                            .add(lookup(c3.lanewise(VectorOperators.LSHR, 21), b0, b1, b2, b3, b4, b5, b6, b7).reinterpretAsFloats())
                            .add(lookup(c3.lanewise(VectorOperators.LSHR, 26), d0, d1, d2, d3, d4, d5, d6, d7).reinterpretAsFloats()));
                }
            }
            // Code vector j of the pass holds rows row + 2Lj + [0, 2L): even ones in e_j, odd ones in o_j.
            addInto(acc, accA + row, INTERLEAVE_LO.selectFrom(e0.reinterpretAsInts(), o0.reinterpretAsInts()));
            addInto(acc, accA + row + L, INTERLEAVE_HI.selectFrom(e0.reinterpretAsInts(), o0.reinterpretAsInts()));
            addInto(acc, accA + row + 2 * L, INTERLEAVE_LO.selectFrom(e1.reinterpretAsInts(), o1.reinterpretAsInts()));
            addInto(acc, accA + row + 3 * L, INTERLEAVE_HI.selectFrom(e1.reinterpretAsInts(), o1.reinterpretAsInts()));
            if (two) {
                addInto(acc, accB + row, INTERLEAVE_LO.selectFrom(e2.reinterpretAsInts(), o2.reinterpretAsInts()));
                addInto(acc, accB + row + L, INTERLEAVE_HI.selectFrom(e2.reinterpretAsInts(), o2.reinterpretAsInts()));
                addInto(acc, accB + row + 2 * L, INTERLEAVE_LO.selectFrom(e3.reinterpretAsInts(), o3.reinterpretAsInts()));
                addInto(acc, accB + row + 3 * L, INTERLEAVE_HI.selectFrom(e3.reinterpretAsInts(), o3.reinterpretAsInts()));
            }
        }
    }

    private static void addInto(float[] acc, int off, IntVector bits) {
        FloatVector.fromArray(F, acc, off).add(bits.reinterpretAsFloats()).intoArray(acc, off);
    }

    // ---- int8 activations ---------------------------------------------------------------------------

    @Override
    public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        for (int pass = 0; pass < PASSES; pass++) {
            int off = 2 * VB * pass, row = 2 * SL * pass;   // bytes into a line; first row of the pass
            for (int start = g0; start < g1; start += INT16_GROUPS) {
                int end = Math.min(g1, start + INT16_GROUPS);
                // The pass's two code vectors, each in two chains (fields 0 + 1, field 2) so the adds overlap.
                ShortVector a0 = ShortVector.zero(S), b0 = a0, a1 = a0, b1 = a0;
                for (int g = start; g < end; g++) {
                    int t = tOff + GROUP_TABLE * (g - g0), u = t + TABLE, w = t + 2 * TABLE;
                    ShortVector t0 = part(tbl, t, 0, null), t1 = part(tbl, t, 1, t0), t2 = part(tbl, t, 2, t0), t3 = part(tbl, t, 3, t0);
                    ShortVector u0 = part(tbl, u, 0, null), u1 = part(tbl, u, 1, u0), u2 = part(tbl, u, 2, u0), u3 = part(tbl, u, 3, u0);
                    ShortVector w0 = part(tbl, w, 0, null), w1 = part(tbl, w, 1, w0), w2 = part(tbl, w, 2, w0), w3 = part(tbl, w, 3, w0);
                    long at = tile + (long) LINE * g + off;
                    ShortVector c0 = ShortVector.fromMemorySegment(S, codes, at, LE), c1 = ShortVector.fromMemorySegment(S, codes, at + VB, LE);
                    a0 = a0.add(lookup(c0, t0, t1, t2, t3)).add(lookup(c0.lanewise(VectorOperators.LSHR, 5), u0, u1, u2, u3));
                    b0 = b0.add(lookup(c0.lanewise(VectorOperators.LSHR, 10), w0, w1, w2, w3));
                    a1 = a1.add(lookup(c1, t0, t1, t2, t3)).add(lookup(c1.lanewise(VectorOperators.LSHR, 5), u0, u1, u2, u3));
                    b1 = b1.add(lookup(c1.lanewise(VectorOperators.LSHR, 10), w0, w1, w2, w3));
                }
                a0 = a0.add(b0);
                a1 = a1.add(b1);
                // Widened in place (no helper: C2 would not inline one it compiled on its own).
                int r = accOff + row;
                IntVector.fromArray(I, acc, r).add(a0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, r);
                IntVector.fromArray(I, acc, r + L).add(a0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, r + L);
                IntVector.fromArray(I, acc, r + SL).add(a1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, r + SL);
                IntVector.fromArray(I, acc, r + SL + L).add(a1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, r + SL + L);
            }
        }
    }

    /**
     * Two tiles side by side: per group, one load of the tables serves four code vectors (two per tile).
     * From memory this is what counts: one tile's lookups stall on one stream's misses, two streams keep
     * twice the misses in flight (one core, 16384×16384: ~9 → ~11–16 GB/s in a harness). One sum
     * chain per code vector; the int32 sums live in acc between the int16 runs.
     */
    @Override
    public void int8TilePair(short[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                             int[] acc, int accA, int accB) {
        for (int pass = 0; pass < PASSES; pass++) {
            int off = 2 * VB * pass, row = 2 * SL * pass;
            for (int start = g0; start < g1; start += INT16_GROUPS) {
                int end = Math.min(g1, start + INT16_GROUPS);
                ShortVector a0 = ShortVector.zero(S), a1 = a0, b0 = a0, b1 = a0;
                for (int g = start; g < end; g++) {
                    int t = tOff + GROUP_TABLE * (g - g0), u = t + TABLE, w = t + 2 * TABLE;
                    ShortVector t0 = part(tbl, t, 0, null), t1 = part(tbl, t, 1, t0), t2 = part(tbl, t, 2, t0), t3 = part(tbl, t, 3, t0);
                    ShortVector u0 = part(tbl, u, 0, null), u1 = part(tbl, u, 1, u0), u2 = part(tbl, u, 2, u0), u3 = part(tbl, u, 3, u0);
                    ShortVector w0 = part(tbl, w, 0, null), w1 = part(tbl, w, 1, w0), w2 = part(tbl, w, 2, w0), w3 = part(tbl, w, 3, w0);
                    long at = tileA + (long) LINE * g + off, bt = tileB + (long) LINE * g + off;
                    ShortVector c0 = ShortVector.fromMemorySegment(S, codes, at, LE), c1 = ShortVector.fromMemorySegment(S, codes, at + VB, LE);
                    ShortVector d0 = ShortVector.fromMemorySegment(S, codes, bt, LE), d1 = ShortVector.fromMemorySegment(S, codes, bt + VB, LE);
                    a0 = a0.add(lookup(c0, t0, t1, t2, t3)).add(lookup(c0.lanewise(VectorOperators.LSHR, 5), u0, u1, u2, u3))
                           .add(lookup(c0.lanewise(VectorOperators.LSHR, 10), w0, w1, w2, w3));
                    a1 = a1.add(lookup(c1, t0, t1, t2, t3)).add(lookup(c1.lanewise(VectorOperators.LSHR, 5), u0, u1, u2, u3))
                           .add(lookup(c1.lanewise(VectorOperators.LSHR, 10), w0, w1, w2, w3));
                    b0 = b0.add(lookup(d0, t0, t1, t2, t3)).add(lookup(d0.lanewise(VectorOperators.LSHR, 5), u0, u1, u2, u3))
                           .add(lookup(d0.lanewise(VectorOperators.LSHR, 10), w0, w1, w2, w3));
                    b1 = b1.add(lookup(d1, t0, t1, t2, t3)).add(lookup(d1.lanewise(VectorOperators.LSHR, 5), u0, u1, u2, u3))
                           .add(lookup(d1.lanewise(VectorOperators.LSHR, 10), w0, w1, w2, w3));
                }
                int ra = accA + row, rb = accB + row;
                IntVector.fromArray(I, acc, ra).add(a0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, ra);
                IntVector.fromArray(I, acc, ra + L).add(a0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, ra + L);
                IntVector.fromArray(I, acc, ra + SL).add(a1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, ra + SL);
                IntVector.fromArray(I, acc, ra + SL + L).add(a1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, ra + SL + L);
                IntVector.fromArray(I, acc, rb).add(b0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, rb);
                IntVector.fromArray(I, acc, rb + L).add(b0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, rb + L);
                IntVector.fromArray(I, acc, rb + SL).add(b1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, rb + SL);
                IntVector.fromArray(I, acc, rb + SL + L).add(b1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, rb + SL + L);
            }
        }
    }
}

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
 * Vector API kernels of {@link PackedMatmul}. A tile's 64 codes of one group are two cache lines of 32
 * int16 lanes; field j of a lane (bits 5j..5j+4) indexes triple j's table of 32 entries.
 *
 * <p>Int8 activations: a triple's table is one register of 32 int16 sums and {@code selectFrom} is one
 * {@code vpermw} over 32 rows (the Vector API wraps the index to 5 bits with an AND, which also strips
 * the fields above). Per 9 weights × 32 rows: one load, two shifts, three ANDs, three permutes, three
 * adds; the tables' three loads are shared by the tile's two row halves. int16 lanes are exact for
 * {@link #INT16_GROUPS} groups (|Σ| ≤ 9·127 per group, 28·1143 &lt; 2¹⁵); then the partial sums are
 * widened into int32 accumulators.
 *
 * <p>Float activations: a triple's table is two registers of 16 f32 (its bits as int lanes) and the
 * two-table {@code selectFrom} is one {@code vpermi2d} over 16 rows, which wraps the index to 5 bits like
 * the int16 case. A line is read as 16 int lanes of two codes (even row low, odd row high), so no code is
 * widened: six shifted lookups per line, one more shift than widening would cost, and C2 re-widens at
 * every use.
 */
final class PackedVector implements PackedKernels {
    static final PackedVector INSTANCE = new PackedVector();

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_512;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    /** Groups an int16 accumulator can take without overflow (see the class comment). */
    static final int INT16_GROUPS = 28;
    private static final int LINE = PackedTernary.LINE;

    /** True when 512-bit vectors are the preferred (fast) shape here. */
    static final boolean SUPPORTED = FloatVector.SPECIES_PREFERRED.length() >= 16
            && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    /**
     * Lanes of the triple tables: PLUS[i] (MINUS[i]) is set in lane e when digit i of e is 2 (0), i.e.
     * the pattern adds (subtracts) the triple's column i; lanes ≥ 27 are in neither. Floats: lanes
     * 0..15 and 16..31 as two masks each; int16: the weights −1, 0, +1 as a vector.
     */
    private static final VectorMask<Float>[][] PLUS = floatMasks(2), MINUS = floatMasks(0);
    private static final ShortVector[] WEIGHT = shortWeights();

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[][] floatMasks(int digit) {
        VectorMask<Float>[][] m = new VectorMask[3][2];
        for (int i = 0; i < 3; i++)
            for (int half = 0; half < 2; half++) {
                boolean[] bits = new boolean[16];
                for (int l = 0; l < 16; l++) {
                    int e = 16 * half + l;
                    bits[l] = e < PackedTernary.PATTERNS && PackedTernary.digit(e, i) + 1 == digit;
                }
                m[i][half] = VectorMask.fromArray(F, bits, 0);
            }
        return m;
    }

    private static ShortVector[] shortWeights() {
        ShortVector[] w = new ShortVector[3];
        for (int i = 0; i < 3; i++) {
            short[] v = new short[TABLE];
            for (int e = 0; e < PackedTernary.PATTERNS; e++) v[e] = (short) PackedTernary.digit(e, i);
            w[i] = ShortVector.fromArray(S, v, 0);
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
            for (int half = 0; half < 2; half++)
                zero.add(a, PLUS[0][half]).sub(a, MINUS[0][half]).add(b, PLUS[1][half]).sub(b, MINUS[1][half])
                    .add(d, PLUS[2][half]).sub(d, MINUS[2][half]).intoArray(tbl, tOff + TABLE * t + 16 * half);
        }
    }

    @Override
    public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl, int tOff) {
        for (int t = 0, c = c0; t < PackedKernels.triples(c0, c1); t++, c += PackedTernary.TRIPLE) {
            short a = c < c1 ? q[qOff + c] : 0, b = c + 1 < c1 ? q[qOff + c + 1] : 0, d = c + 2 < c1 ? q[qOff + c + 2] : 0;
            WEIGHT[0].mul(a).add(WEIGHT[1].mul(b)).add(WEIGHT[2].mul(d)).intoArray(tbl, tOff + TABLE * t);
        }
    }

    /** Lane selectors that interleave two vectors (lanes 0..15 of the pair, then 16..31): a, b → a₀ b₀ a₁ b₁ … */
    private static final IntVector INTERLEAVE_LO = interleave(0), INTERLEAVE_HI = interleave(8);

    private static IntVector interleave(int from) {
        int[] idx = new int[16];
        for (int l = 0; l < 16; l++) idx[l] = (l % 2 == 0 ? 0 : 16) + from + l / 2;
        return IntVector.fromArray(I, idx, 0);
    }

    @Override
    public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        // The 32 codes of a line are read as 16 int lanes of two codes each (no widening): the low halves
        // are the even rows, the high halves the odd rows, and the sums are interleaved back at the end.
        // One sum chain per (32-row line, parity); each step adds its three lookups first. Written out (no
        // helper method): C2 will not inline a vector helper it has already compiled on its own.
        FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0;
        for (int g = g0; g < g1; g++) {
            int t = tOff + GROUP_TABLE * (g - g0);
            IntVector lo0 = FloatVector.fromArray(F, tbl, t).reinterpretAsInts(), hi0 = FloatVector.fromArray(F, tbl, t + 16).reinterpretAsInts();
            IntVector lo1 = FloatVector.fromArray(F, tbl, t + 32).reinterpretAsInts(), hi1 = FloatVector.fromArray(F, tbl, t + 48).reinterpretAsInts();
            IntVector lo2 = FloatVector.fromArray(F, tbl, t + 64).reinterpretAsInts(), hi2 = FloatVector.fromArray(F, tbl, t + 80).reinterpretAsInts();
            long at = tile + (long) LINE * g;
            IntVector c0 = IntVector.fromMemorySegment(I, codes, at, LE), c1 = IntVector.fromMemorySegment(I, codes, at + 64, LE);
            e0 = e0.add(c0.selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c0.lanewise(VectorOperators.LSHR, 5).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c0.lanewise(VectorOperators.LSHR, 10).selectFrom(lo2, hi2).reinterpretAsFloats()));
            o0 = o0.add(c0.lanewise(VectorOperators.LSHR, 16).selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c0.lanewise(VectorOperators.LSHR, 21).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c0.lanewise(VectorOperators.LSHR, 26).selectFrom(lo2, hi2).reinterpretAsFloats()));
            e1 = e1.add(c1.selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c1.lanewise(VectorOperators.LSHR, 5).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c1.lanewise(VectorOperators.LSHR, 10).selectFrom(lo2, hi2).reinterpretAsFloats()));
            o1 = o1.add(c1.lanewise(VectorOperators.LSHR, 16).selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c1.lanewise(VectorOperators.LSHR, 21).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c1.lanewise(VectorOperators.LSHR, 26).selectFrom(lo2, hi2).reinterpretAsFloats()));
        }
        addInto(acc, accOff, INTERLEAVE_LO.selectFrom(e0.reinterpretAsInts(), o0.reinterpretAsInts()));
        addInto(acc, accOff + 16, INTERLEAVE_HI.selectFrom(e0.reinterpretAsInts(), o0.reinterpretAsInts()));
        addInto(acc, accOff + 32, INTERLEAVE_LO.selectFrom(e1.reinterpretAsInts(), o1.reinterpretAsInts()));
        addInto(acc, accOff + 48, INTERLEAVE_HI.selectFrom(e1.reinterpretAsInts(), o1.reinterpretAsInts()));
    }

    /** {@link #floatTile} of two tiles, the table registers shared (see {@link #int8TilePair} for why). */
    @Override
    public void floatTilePair(float[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                              float[] acc, int accA, int accB) {
        FloatVector e0 = FloatVector.zero(F), o0 = e0, e1 = e0, o1 = e0, e2 = e0, o2 = e0, e3 = e0, o3 = e0;
        for (int g = g0; g < g1; g++) {
            int t = tOff + GROUP_TABLE * (g - g0);
            IntVector lo0 = FloatVector.fromArray(F, tbl, t).reinterpretAsInts(), hi0 = FloatVector.fromArray(F, tbl, t + 16).reinterpretAsInts();
            IntVector lo1 = FloatVector.fromArray(F, tbl, t + 32).reinterpretAsInts(), hi1 = FloatVector.fromArray(F, tbl, t + 48).reinterpretAsInts();
            IntVector lo2 = FloatVector.fromArray(F, tbl, t + 64).reinterpretAsInts(), hi2 = FloatVector.fromArray(F, tbl, t + 80).reinterpretAsInts();
            long at = tileA + (long) LINE * g, bt = tileB + (long) LINE * g;
            IntVector c0 = IntVector.fromMemorySegment(I, codes, at, LE), c1 = IntVector.fromMemorySegment(I, codes, at + 64, LE);
            IntVector c2 = IntVector.fromMemorySegment(I, codes, bt, LE), c3 = IntVector.fromMemorySegment(I, codes, bt + 64, LE);
            e0 = e0.add(c0.selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c0.lanewise(VectorOperators.LSHR, 5).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c0.lanewise(VectorOperators.LSHR, 10).selectFrom(lo2, hi2).reinterpretAsFloats()));
            o0 = o0.add(c0.lanewise(VectorOperators.LSHR, 16).selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c0.lanewise(VectorOperators.LSHR, 21).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c0.lanewise(VectorOperators.LSHR, 26).selectFrom(lo2, hi2).reinterpretAsFloats()));
            e1 = e1.add(c1.selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c1.lanewise(VectorOperators.LSHR, 5).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c1.lanewise(VectorOperators.LSHR, 10).selectFrom(lo2, hi2).reinterpretAsFloats()));
            o1 = o1.add(c1.lanewise(VectorOperators.LSHR, 16).selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c1.lanewise(VectorOperators.LSHR, 21).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c1.lanewise(VectorOperators.LSHR, 26).selectFrom(lo2, hi2).reinterpretAsFloats()));
            e2 = e2.add(c2.selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c2.lanewise(VectorOperators.LSHR, 5).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c2.lanewise(VectorOperators.LSHR, 10).selectFrom(lo2, hi2).reinterpretAsFloats()));
            o2 = o2.add(c2.lanewise(VectorOperators.LSHR, 16).selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c2.lanewise(VectorOperators.LSHR, 21).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c2.lanewise(VectorOperators.LSHR, 26).selectFrom(lo2, hi2).reinterpretAsFloats()));
            e3 = e3.add(c3.selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c3.lanewise(VectorOperators.LSHR, 5).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c3.lanewise(VectorOperators.LSHR, 10).selectFrom(lo2, hi2).reinterpretAsFloats()));
            o3 = o3.add(c3.lanewise(VectorOperators.LSHR, 16).selectFrom(lo0, hi0).reinterpretAsFloats()
                    .add(c3.lanewise(VectorOperators.LSHR, 21).selectFrom(lo1, hi1).reinterpretAsFloats())
                    .add(c3.lanewise(VectorOperators.LSHR, 26).selectFrom(lo2, hi2).reinterpretAsFloats()));
        }
        addInto(acc, accA, INTERLEAVE_LO.selectFrom(e0.reinterpretAsInts(), o0.reinterpretAsInts()));
        addInto(acc, accA + 16, INTERLEAVE_HI.selectFrom(e0.reinterpretAsInts(), o0.reinterpretAsInts()));
        addInto(acc, accA + 32, INTERLEAVE_LO.selectFrom(e1.reinterpretAsInts(), o1.reinterpretAsInts()));
        addInto(acc, accA + 48, INTERLEAVE_HI.selectFrom(e1.reinterpretAsInts(), o1.reinterpretAsInts()));
        addInto(acc, accB, INTERLEAVE_LO.selectFrom(e2.reinterpretAsInts(), o2.reinterpretAsInts()));
        addInto(acc, accB + 16, INTERLEAVE_HI.selectFrom(e2.reinterpretAsInts(), o2.reinterpretAsInts()));
        addInto(acc, accB + 32, INTERLEAVE_LO.selectFrom(e3.reinterpretAsInts(), o3.reinterpretAsInts()));
        addInto(acc, accB + 48, INTERLEAVE_HI.selectFrom(e3.reinterpretAsInts(), o3.reinterpretAsInts()));
    }

    private static void addInto(float[] acc, int off, IntVector bits) {
        FloatVector.fromArray(F, acc, off).add(bits.reinterpretAsFloats()).intoArray(acc, off);
    }

    @Override
    public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        IntVector i0 = IntVector.fromArray(I, acc, accOff), i1 = IntVector.fromArray(I, acc, accOff + 16);
        IntVector i2 = IntVector.fromArray(I, acc, accOff + 32), i3 = IntVector.fromArray(I, acc, accOff + 48);
        for (int start = g0; start < g1; start += INT16_GROUPS) {
            int end = Math.min(g1, start + INT16_GROUPS);
            // Rows 0..31 and 32..63, each in two chains (fields 0 + 1, field 2) so the adds overlap.
            ShortVector a0 = ShortVector.zero(S), b0 = a0, a1 = a0, b1 = a0;
            for (int g = start; g < end; g++) {
                int t = tOff + GROUP_TABLE * (g - g0);
                ShortVector t0 = ShortVector.fromArray(S, tbl, t), t1 = ShortVector.fromArray(S, tbl, t + TABLE);
                ShortVector t2 = ShortVector.fromArray(S, tbl, t + 2 * TABLE);
                long at = tile + (long) LINE * g;
                ShortVector c0 = ShortVector.fromMemorySegment(S, codes, at, LE), c1 = ShortVector.fromMemorySegment(S, codes, at + 64, LE);
                a0 = a0.add(c0.selectFrom(t0)).add(c0.lanewise(VectorOperators.LSHR, 5).selectFrom(t1));
                b0 = b0.add(c0.lanewise(VectorOperators.LSHR, 10).selectFrom(t2));
                a1 = a1.add(c1.selectFrom(t0)).add(c1.lanewise(VectorOperators.LSHR, 5).selectFrom(t1));
                b1 = b1.add(c1.lanewise(VectorOperators.LSHR, 10).selectFrom(t2));
            }
            a0 = a0.add(b0);
            a1 = a1.add(b1);
            i0 = i0.add(a0.convertShape(VectorOperators.S2I, I, 0));
            i1 = i1.add(a0.convertShape(VectorOperators.S2I, I, 1));
            i2 = i2.add(a1.convertShape(VectorOperators.S2I, I, 0));
            i3 = i3.add(a1.convertShape(VectorOperators.S2I, I, 1));
        }
        i0.intoArray(acc, accOff);
        i1.intoArray(acc, accOff + 16);
        i2.intoArray(acc, accOff + 32);
        i3.intoArray(acc, accOff + 48);
    }

    /**
     * Two tiles side by side: per group, three table loads serve four code lines (two per tile). From
     * memory this is what counts: one tile's lookups stall on one stream's misses, two streams keep
     * twice the misses in flight (one core, 16384×16384: ~9 → ~11–16 GB/s in a harness). One sum
     * chain per line; the int32 sums live in acc between the int16 runs.
     */
    @Override
    public void int8TilePair(short[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                             int[] acc, int accA, int accB) {
        for (int start = g0; start < g1; start += INT16_GROUPS) {
            int end = Math.min(g1, start + INT16_GROUPS);
            ShortVector a0 = ShortVector.zero(S), a1 = a0, b0 = a0, b1 = a0;
            for (int g = start; g < end; g++) {
                int t = tOff + GROUP_TABLE * (g - g0);
                ShortVector t0 = ShortVector.fromArray(S, tbl, t), t1 = ShortVector.fromArray(S, tbl, t + TABLE);
                ShortVector t2 = ShortVector.fromArray(S, tbl, t + 2 * TABLE);
                long at = tileA + (long) LINE * g, bt = tileB + (long) LINE * g;
                ShortVector c0 = ShortVector.fromMemorySegment(S, codes, at, LE), c1 = ShortVector.fromMemorySegment(S, codes, at + 64, LE);
                ShortVector d0 = ShortVector.fromMemorySegment(S, codes, bt, LE), d1 = ShortVector.fromMemorySegment(S, codes, bt + 64, LE);
                a0 = a0.add(c0.selectFrom(t0)).add(c0.lanewise(VectorOperators.LSHR, 5).selectFrom(t1)).add(c0.lanewise(VectorOperators.LSHR, 10).selectFrom(t2));
                a1 = a1.add(c1.selectFrom(t0)).add(c1.lanewise(VectorOperators.LSHR, 5).selectFrom(t1)).add(c1.lanewise(VectorOperators.LSHR, 10).selectFrom(t2));
                b0 = b0.add(d0.selectFrom(t0)).add(d0.lanewise(VectorOperators.LSHR, 5).selectFrom(t1)).add(d0.lanewise(VectorOperators.LSHR, 10).selectFrom(t2));
                b1 = b1.add(d1.selectFrom(t0)).add(d1.lanewise(VectorOperators.LSHR, 5).selectFrom(t1)).add(d1.lanewise(VectorOperators.LSHR, 10).selectFrom(t2));
            }
            // Widened in place (no helper: C2 would not inline one it compiled on its own).
            IntVector.fromArray(I, acc, accA).add(a0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accA);
            IntVector.fromArray(I, acc, accA + 16).add(a0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accA + 16);
            IntVector.fromArray(I, acc, accA + 32).add(a1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accA + 32);
            IntVector.fromArray(I, acc, accA + 48).add(a1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accA + 48);
            IntVector.fromArray(I, acc, accB).add(b0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accB);
            IntVector.fromArray(I, acc, accB + 16).add(b0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accB + 16);
            IntVector.fromArray(I, acc, accB + 32).add(b1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accB + 32);
            IntVector.fromArray(I, acc, accB + 48).add(b1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accB + 48);
        }
    }
}

package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static tern.simd.PackedKernels.GROUP_TABLE;
import static tern.simd.PackedKernels.TABLE;

/**
 * The tile kernels of {@link PackedVector} at 256 and 128 bits (L = 8 or 4 int lanes, 2L int16 lanes),
 * where a triple's 32-entry table takes several registers: int16 tables 2 (256) or 4 (128), f32
 * tables 4 or 8. A lookup is a two-table {@code selectFrom} (it wraps the index to 2·lanes entries:
 * {@code vpermi2w}/{@code vpermi2d} with AVX-512VL, a few shuffles and a blend with AVX2 or NEON's
 * {@code tbl}) and, for the wider tables, blends on index bits 3 and 4.
 *
 * <p>A call covers two code streams, each one register of a group line: the two halves of one tile's
 * rows, or the same rows of two tiles (a pair keeps two cache-line streams in flight). Two streams, not
 * more: with 16 table registers at 128 bits the graph of a wider step passes C2's inlining cutoff
 * and the vectors stay boxed (measured: 10× slower). The caller walks the streams over the line, so
 * the tables are re-read from L1 by each pass (16·L rows … a tile), the codes once.
 */
final class PackedTilesNarrow {
    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final VectorSpecies<Short> S = Species.S;
    private static final int L = Species.FLOATS, SL = 2 * L;
    /** Registers per triple table: int16 2 or 4, f32 4 or 8. */
    private static final int SP = TABLE / SL, FP = TABLE / L;
    /** Bytes of one register, and registers per 128-byte group line. */
    private static final int VB = 4 * L, PER_LINE = PackedTernary.LINE / VB;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int INT16_GROUPS = PackedVector.INT16_GROUPS;
    private static final int LINE = PackedTernary.LINE;
    private static final VectorOperators.Comparison NE = VectorOperators.NE;

    private PackedTilesNarrow() {}

    // ---- int8 activations ---------------------------------------------------------------------------

    static void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        // Streams: registers 2p and 2p + 1 of the line (rows 2p·2L and (2p+1)·2L onwards).
        for (int p = 0; p < PER_LINE; p += 2)
            int8Streams(tbl, tOff, codes, tile + (long) VB * p, tile + (long) VB * (p + 1), g0, g1, acc, accOff + SL * p, accOff + SL * (p + 1));
    }

    static void int8TilePair(short[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                             int[] acc, int accA, int accB) {
        for (int p = 0; p < PER_LINE; p++)
            int8Streams(tbl, tOff, codes, tileA + (long) VB * p, tileB + (long) VB * p, g0, g1, acc, accA + SL * p, accB + SL * p);
    }

    /** acc[accX + 0..2L) += the int16 sums of code stream X (bytes at x + LINE·g), for X = A, B. */
    private static void int8Streams(short[] tbl, int tOff, MemorySegment codes, long a, long b, int g0, int g1,
                                    int[] acc, int accA, int accB) {
        for (int start = g0; start < g1; start += INT16_GROUPS) {
            int end = Math.min(g1, start + INT16_GROUPS);
            ShortVector sa = ShortVector.zero(S), sb = sa;
            for (int g = start; g < end; g++) {
                int t = tOff + GROUP_TABLE * (g - g0);
                long at = (long) LINE * g;
                ShortVector ca = ShortVector.fromMemorySegment(S, codes, a + at, LE), cb = ShortVector.fromMemorySegment(S, codes, b + at, LE);
                ShortVector ca5 = ca.lanewise(VectorOperators.LSHR, 5), cb5 = cb.lanewise(VectorOperators.LSHR, 5);
                ShortVector ca10 = ca.lanewise(VectorOperators.LSHR, 10), cb10 = cb.lanewise(VectorOperators.LSHR, 10);
                if (SP == 2) {
                    ShortVector t0 = ShortVector.fromArray(S, tbl, t), t1 = ShortVector.fromArray(S, tbl, t + SL);
                    ShortVector u0 = ShortVector.fromArray(S, tbl, t + TABLE), u1 = ShortVector.fromArray(S, tbl, t + TABLE + SL);
                    ShortVector w0 = ShortVector.fromArray(S, tbl, t + 2 * TABLE), w1 = ShortVector.fromArray(S, tbl, t + 2 * TABLE + SL);
                    sa = sa.add(ca.selectFrom(t0, t1)).add(ca5.selectFrom(u0, u1)).add(ca10.selectFrom(w0, w1));
                    sb = sb.add(cb.selectFrom(t0, t1)).add(cb5.selectFrom(u0, u1)).add(cb10.selectFrom(w0, w1));
                } else {
                    // Four registers: entries 0..15 from (t0, t1), 16..31 from (t2, t3), bit 4 picks.
                    ShortVector t0 = ShortVector.fromArray(S, tbl, t), t1 = ShortVector.fromArray(S, tbl, t + SL);
                    ShortVector t2 = ShortVector.fromArray(S, tbl, t + 2 * SL), t3 = ShortVector.fromArray(S, tbl, t + 3 * SL);
                    sa = sa.add(ca.selectFrom(t0, t1).blend(ca.selectFrom(t2, t3), ca.and((short) 16).compare(NE, 0)));
                    sb = sb.add(cb.selectFrom(t0, t1).blend(cb.selectFrom(t2, t3), cb.and((short) 16).compare(NE, 0)));
                    int u = t + TABLE;
                    t0 = ShortVector.fromArray(S, tbl, u); t1 = ShortVector.fromArray(S, tbl, u + SL);
                    t2 = ShortVector.fromArray(S, tbl, u + 2 * SL); t3 = ShortVector.fromArray(S, tbl, u + 3 * SL);
                    sa = sa.add(ca5.selectFrom(t0, t1).blend(ca5.selectFrom(t2, t3), ca5.and((short) 16).compare(NE, 0)));
                    sb = sb.add(cb5.selectFrom(t0, t1).blend(cb5.selectFrom(t2, t3), cb5.and((short) 16).compare(NE, 0)));
                    int w = t + 2 * TABLE;
                    t0 = ShortVector.fromArray(S, tbl, w); t1 = ShortVector.fromArray(S, tbl, w + SL);
                    t2 = ShortVector.fromArray(S, tbl, w + 2 * SL); t3 = ShortVector.fromArray(S, tbl, w + 3 * SL);
                    sa = sa.add(ca10.selectFrom(t0, t1).blend(ca10.selectFrom(t2, t3), ca10.and((short) 16).compare(NE, 0)));
                    sb = sb.add(cb10.selectFrom(t0, t1).blend(cb10.selectFrom(t2, t3), cb10.and((short) 16).compare(NE, 0)));
                }
            }
            // Widened in place (no helper: C2 would not inline one it compiled on its own).
            IntVector.fromArray(I, acc, accA).add(sa.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accA);
            IntVector.fromArray(I, acc, accA + L).add(sa.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accA + L);
            IntVector.fromArray(I, acc, accB).add(sb.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accB);
            IntVector.fromArray(I, acc, accB + L).add(sb.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accB + L);
        }
    }

    // ---- float activations --------------------------------------------------------------------------

    /** Lane selectors that interleave two vectors (lanes 0..L−1 of the pair, then L..2L−1): a, b → a₀ b₀ a₁ b₁ … */
    private static final IntVector INTERLEAVE_LO = interleave(0), INTERLEAVE_HI = interleave(L / 2);

    private static IntVector interleave(int from) {
        int[] idx = new int[L];
        for (int l = 0; l < L; l++) idx[l] = (l % 2 == 0 ? 0 : L) + from + l / 2;
        return IntVector.fromArray(I, idx, 0);
    }

    static void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        // An int register of a line holds 2L codes (rows 2L·p onwards), even rows low, odd rows high.
        for (int p = 0; p < PER_LINE; p += 2)
            floatStreams(tbl, tOff, codes, tile + (long) VB * p, tile + (long) VB * (p + 1), g0, g1, acc, accOff + 2 * L * p, accOff + 2 * L * (p + 1));
    }

    static void floatTilePair(float[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
                              float[] acc, int accA, int accB) {
        for (int p = 0; p < PER_LINE; p++)
            floatStreams(tbl, tOff, codes, tileA + (long) VB * p, tileB + (long) VB * p, g0, g1, acc, accA + 2 * L * p, accB + 2 * L * p);
    }

    /** acc[accX + 0..2L) += the f32 sums of code stream X (int lanes of two codes at x + LINE·g), X = A, B. */
    private static void floatStreams(float[] tbl, int tOff, MemorySegment codes, long a, long b, int g0, int g1,
                                     float[] acc, int accA, int accB) {
        FloatVector ea = FloatVector.zero(F), oa = ea, eb = ea, ob = ea;
        for (int g = g0; g < g1; g++) {
            int t = tOff + GROUP_TABLE * (g - g0);
            long at = (long) LINE * g;
            IntVector ca = IntVector.fromMemorySegment(I, codes, a + at, LE), cb = IntVector.fromMemorySegment(I, codes, b + at, LE);
            // Triple j's fields: bits 5j (even row) and 16 + 5j (odd row) of each lane. A step adds its
            // three lookups first (q = l0 + l1 + l2), then to the sum: the scalar twin's order.
            FloatVector qea = ea, qoa = ea, qeb = ea, qob = ea;
            for (int j = 0; j < 3; j++) {
                int u = t + TABLE * j;
                IntVector x0 = ca.lanewise(VectorOperators.LSHR, 5 * j), x1 = ca.lanewise(VectorOperators.LSHR, 16 + 5 * j);
                IntVector y0 = cb.lanewise(VectorOperators.LSHR, 5 * j), y1 = cb.lanewise(VectorOperators.LSHR, 16 + 5 * j);
                IntVector t0 = FloatVector.fromArray(F, tbl, u).reinterpretAsInts(), t1 = FloatVector.fromArray(F, tbl, u + 1 * L).reinterpretAsInts(), t2 = FloatVector.fromArray(F, tbl, u + 2 * L).reinterpretAsInts(), t3 = FloatVector.fromArray(F, tbl, u + 3 * L).reinterpretAsInts();
                IntVector rx0, rx1, ry0, ry1;
                if (FP == 4) {
                    rx0 = x0.selectFrom(t0, t1).blend(x0.selectFrom(t2, t3), x0.and(16).compare(NE, 0));
                    rx1 = x1.selectFrom(t0, t1).blend(x1.selectFrom(t2, t3), x1.and(16).compare(NE, 0));
                    ry0 = y0.selectFrom(t0, t1).blend(y0.selectFrom(t2, t3), y0.and(16).compare(NE, 0));
                    ry1 = y1.selectFrom(t0, t1).blend(y1.selectFrom(t2, t3), y1.and(16).compare(NE, 0));
                } else {
                    // Eight registers of 4: entries 8k..8k+7 from (t2k, t2k+1); bit 3, then bit 4 pick.
                    VectorMask<Integer> x0b3 = x0.and(8).compare(NE, 0), x1b3 = x1.and(8).compare(NE, 0);
                    VectorMask<Integer> y0b3 = y0.and(8).compare(NE, 0), y1b3 = y1.and(8).compare(NE, 0);
                    rx0 = x0.selectFrom(t0, t1).blend(x0.selectFrom(t2, t3), x0b3);
                    rx1 = x1.selectFrom(t0, t1).blend(x1.selectFrom(t2, t3), x1b3);
                    ry0 = y0.selectFrom(t0, t1).blend(y0.selectFrom(t2, t3), y0b3);
                    ry1 = y1.selectFrom(t0, t1).blend(y1.selectFrom(t2, t3), y1b3);
                    t0 = FloatVector.fromArray(F, tbl, u + 4 * L).reinterpretAsInts(); t1 = FloatVector.fromArray(F, tbl, u + 5 * L).reinterpretAsInts(); t2 = FloatVector.fromArray(F, tbl, u + 6 * L).reinterpretAsInts(); t3 = FloatVector.fromArray(F, tbl, u + 7 * L).reinterpretAsInts();
                    rx0 = rx0.blend(x0.selectFrom(t0, t1).blend(x0.selectFrom(t2, t3), x0b3), x0.and(16).compare(NE, 0));
                    rx1 = rx1.blend(x1.selectFrom(t0, t1).blend(x1.selectFrom(t2, t3), x1b3), x1.and(16).compare(NE, 0));
                    ry0 = ry0.blend(y0.selectFrom(t0, t1).blend(y0.selectFrom(t2, t3), y0b3), y0.and(16).compare(NE, 0));
                    ry1 = ry1.blend(y1.selectFrom(t0, t1).blend(y1.selectFrom(t2, t3), y1b3), y1.and(16).compare(NE, 0));
                }
                if (j == 0) {
                    qea = rx0.reinterpretAsFloats(); qoa = rx1.reinterpretAsFloats();
                    qeb = ry0.reinterpretAsFloats(); qob = ry1.reinterpretAsFloats();
                } else {
                    qea = qea.add(rx0.reinterpretAsFloats()); qoa = qoa.add(rx1.reinterpretAsFloats());
                    qeb = qeb.add(ry0.reinterpretAsFloats()); qob = qob.add(ry1.reinterpretAsFloats());
                }
            }
            ea = ea.add(qea); oa = oa.add(qoa); eb = eb.add(qeb); ob = ob.add(qob);
        }
        // Written out (no helper): past C2's node cutoff here a helper call would box the sums.
        FloatVector.fromArray(F, acc, accA).add(INTERLEAVE_LO.selectFrom(ea.reinterpretAsInts(), oa.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accA);
        FloatVector.fromArray(F, acc, accA + L).add(INTERLEAVE_HI.selectFrom(ea.reinterpretAsInts(), oa.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accA + L);
        FloatVector.fromArray(F, acc, accB).add(INTERLEAVE_LO.selectFrom(eb.reinterpretAsInts(), ob.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accB);
        FloatVector.fromArray(F, acc, accB + L).add(INTERLEAVE_HI.selectFrom(eb.reinterpretAsInts(), ob.reinterpretAsInts()).reinterpretAsFloats()).intoArray(acc, accB + L);
    }
}

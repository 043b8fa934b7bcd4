package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static tern.simd.PackedKernels.GROUP_TABLE;
import static tern.simd.PackedKernels.TABLE;

/**
 * The tile kernels of {@link PackedVector} at 512 bits, where a triple's table is one register of 32
 * int16 sums (one {@code vpermw} over 32 rows per lookup) or two of 16 f32 (one {@code vpermi2d} over
 * 16 rows). A group line of a tile (64 codes, 128 bytes) is two registers, so one tile is 4 sum chains
 * and a pair of tiles 8, with every table register loaded once per group for all of them. Each kernel is
 * written out in one method with no vector helper: C2 stops inlining once a method's graph is large
 * (NodeCountInliningCutoff) and will not inline a helper it has compiled on its own, and either leaves
 * the vectors boxed.
 */
final class PackedTiles512 {
    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final VectorSpecies<Short> S = Species.S;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int INT16_GROUPS = PackedVector.INT16_GROUPS;
    private static final int LINE = PackedTernary.LINE;

    private PackedTiles512() {}

    /** Lane selectors that interleave two vectors (lanes 0..15 of the pair, then 16..31): a, b → a₀ b₀ a₁ b₁ … */
    private static final IntVector INTERLEAVE_LO = interleave(0), INTERLEAVE_HI = interleave(8);

    private static IntVector interleave(int from) {
        int[] idx = new int[16];
        for (int l = 0; l < 16; l++) idx[l] = (l % 2 == 0 ? 0 : 16) + from + l / 2;
        return IntVector.fromArray(I, idx, 0);
    }

    static void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
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

    /** {@link #floatTile} of two tiles, the table registers shared (see {@link PackedVector#int8TilePair} for why). */
    static void floatTilePair(float[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
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

    static void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
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
    static void int8TilePair(short[] tbl, int tOff, MemorySegment codes, long tileA, long tileB, int g0, int g1,
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

package tern.simd;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static tern.simd.PackedKernels.GROUP_TABLE;
import static tern.simd.PackedKernels.TABLE;

/**
 * The multi-row int8 tile kernel of {@link PackedMatmul} at 512 bits: one tile's codes applied to four
 * activation rows at once. Per group the two code lines are loaded and split into their three 5-bit
 * fields once (two shifts per line, and the index wrap {@code selectFrom} defines, which C2 emits once
 * per index vector), and then each row costs only its three table loads, six {@code vpermw} and six adds.
 * The one-row kernel ({@link PackedTiles512#int8Tile}) redoes the loads, shifts and wraps for every row,
 * about 40 % of its vector work, so four rows here cost about 2.3 rows there; more importantly the codes
 * are read once per four rows, from L1.
 *
 * <p>One int16 run: the caller passes at most {@link PackedVector#INT16_GROUPS} groups (exact, see
 * {@link PackedVector}), and the sums are widened into the int32 accumulators at the end. Eight int16
 * accumulators, six index vectors and three table registers: 17 of the 32 registers. Written out in one
 * method for C2 (see {@link PackedTiles512}).
 */
final class PackedMatmulRows512 {
    private static final VectorSpecies<Short> S = Species.S;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final int LINE = PackedTernary.LINE;

    /** True when this kernel runs: 512-bit vectors (32 int16 lanes, one register per table). */
    static final boolean ACTIVE = Species.S.length() == TABLE;

    private PackedMatmulRows512() {}

    /**
     * acc[accR + i] += Σ over groups g in [g0, g1), triples j of tbl_R[tOff + 96(g − g0) + 32j + field j of code(i, g)]
     * for the 64 rows i of one tile and the four activation rows R = a, b, c, d; g1 − g0 ≤ INT16_GROUPS.
     */
    static void int8Tile4(short[] ta, short[] tb, short[] tc, short[] td, int tOff, MemorySegment codes, long tile, int g0, int g1,
                          int[] acc, int accA, int accB, int accC, int accD) {
        ShortVector a0 = ShortVector.zero(S), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        for (int g = g0; g < g1; g++) {
            int t = tOff + GROUP_TABLE * (g - g0);
            long at = tile + (long) LINE * g;
            ShortVector x0 = ShortVector.fromMemorySegment(S, codes, at, LE), x1 = ShortVector.fromMemorySegment(S, codes, at + 64, LE);
            ShortVector x05 = x0.lanewise(VectorOperators.LSHR, 5), x010 = x0.lanewise(VectorOperators.LSHR, 10);
            ShortVector x15 = x1.lanewise(VectorOperators.LSHR, 5), x110 = x1.lanewise(VectorOperators.LSHR, 10);
            ShortVector p = ShortVector.fromArray(S, ta, t), q = ShortVector.fromArray(S, ta, t + TABLE), r = ShortVector.fromArray(S, ta, t + 2 * TABLE);
            a0 = a0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            a1 = a1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, tb, t);
            q = ShortVector.fromArray(S, tb, t + TABLE);
            r = ShortVector.fromArray(S, tb, t + 2 * TABLE);
            b0 = b0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            b1 = b1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, tc, t);
            q = ShortVector.fromArray(S, tc, t + TABLE);
            r = ShortVector.fromArray(S, tc, t + 2 * TABLE);
            c0 = c0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            c1 = c1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, td, t);
            q = ShortVector.fromArray(S, td, t + TABLE);
            r = ShortVector.fromArray(S, td, t + 2 * TABLE);
            d0 = d0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            d1 = d1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
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
        IntVector.fromArray(I, acc, accC).add(c0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accC);
        IntVector.fromArray(I, acc, accC + 16).add(c0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accC + 16);
        IntVector.fromArray(I, acc, accC + 32).add(c1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accC + 32);
        IntVector.fromArray(I, acc, accC + 48).add(c1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accC + 48);
        IntVector.fromArray(I, acc, accD).add(d0.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accD);
        IntVector.fromArray(I, acc, accD + 16).add(d0.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accD + 16);
        IntVector.fromArray(I, acc, accD + 32).add(d1.convertShape(VectorOperators.S2I, I, 0)).intoArray(acc, accD + 32);
        IntVector.fromArray(I, acc, accD + 48).add(d1.convertShape(VectorOperators.S2I, I, 1)).intoArray(acc, accD + 48);
    }
}

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

    /**
     * {@link #int8Tile4} for eight activation rows: acc[accOff + j·stride + i] += Σ over groups g in [g0, g1),
     * triples k of t[j][tOff + 96(g − g0) + 32k + field k of code(i, g)] for the 64 rows i of one tile and
     * j &lt; 8; g1 − g0 ≤ INT16_GROUPS; sums is scratch of 512 entries.
     *
     * <p>Register blocking (32 zmm): the sixteen int16 sums (row j's two 32-output lines, s0[j] and s1[j])
     * stay in registers across the group loop, with the six index vectors of a group (two code lines and
     * each shifted by 5 and 10), 22 registers; each row's three table vectors are loaded in turn, once per
     * group (they could be {@code vpermw}'s memory operand), so at most 3 more are live and C2 has ~7 left
     * for its temporaries. Against two passes of the four-row kernel this saves per group a second load of
     * the two code lines, their four shifts and the six index wraps (12 of 144 vector operations), and
     * reads each tile's codes from L1 once per eight rows instead of twice.
     */
    static void int8Tile8(short[][] t, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff, int stride,
                          short[] sums) {
        short[] ta = t[0], tb = t[1], tc = t[2], td = t[3], te = t[4], tf = t[5], tg = t[6], th = t[7];
        ShortVector a0 = ShortVector.zero(S), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
        ShortVector e0 = a0, e1 = a0, f0 = a0, f1 = a0, h0 = a0, h1 = a0, k0 = a0, k1 = a0;
        for (int g = g0; g < g1; g++) {
            int u = tOff + GROUP_TABLE * (g - g0);
            long at = tile + (long) LINE * g;
            ShortVector x0 = ShortVector.fromMemorySegment(S, codes, at, LE), x1 = ShortVector.fromMemorySegment(S, codes, at + 64, LE);
            ShortVector x05 = x0.lanewise(VectorOperators.LSHR, 5), x010 = x0.lanewise(VectorOperators.LSHR, 10);
            ShortVector x15 = x1.lanewise(VectorOperators.LSHR, 5), x110 = x1.lanewise(VectorOperators.LSHR, 10);
            ShortVector p = ShortVector.fromArray(S, ta, u), q = ShortVector.fromArray(S, ta, u + TABLE), r = ShortVector.fromArray(S, ta, u + 2 * TABLE);
            a0 = a0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            a1 = a1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, tb, u);
            q = ShortVector.fromArray(S, tb, u + TABLE);
            r = ShortVector.fromArray(S, tb, u + 2 * TABLE);
            b0 = b0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            b1 = b1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, tc, u);
            q = ShortVector.fromArray(S, tc, u + TABLE);
            r = ShortVector.fromArray(S, tc, u + 2 * TABLE);
            c0 = c0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            c1 = c1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, td, u);
            q = ShortVector.fromArray(S, td, u + TABLE);
            r = ShortVector.fromArray(S, td, u + 2 * TABLE);
            d0 = d0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            d1 = d1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, te, u);
            q = ShortVector.fromArray(S, te, u + TABLE);
            r = ShortVector.fromArray(S, te, u + 2 * TABLE);
            e0 = e0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            e1 = e1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, tf, u);
            q = ShortVector.fromArray(S, tf, u + TABLE);
            r = ShortVector.fromArray(S, tf, u + 2 * TABLE);
            f0 = f0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            f1 = f1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, tg, u);
            q = ShortVector.fromArray(S, tg, u + TABLE);
            r = ShortVector.fromArray(S, tg, u + 2 * TABLE);
            h0 = h0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            h1 = h1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
            p = ShortVector.fromArray(S, th, u);
            q = ShortVector.fromArray(S, th, u + TABLE);
            r = ShortVector.fromArray(S, th, u + 2 * TABLE);
            k0 = k0.add(x0.selectFrom(p)).add(x05.selectFrom(q)).add(x010.selectFrom(r));
            k1 = k1.add(x1.selectFrom(p)).add(x15.selectFrom(q)).add(x110.selectFrom(r));
        }
        // Stored as int16 and widened by plain Java: the same 64 widening vector operations written here made
        // the method too large for C1 ("out of virtual registers in linear scan"), and without its profile C2
        // never compiled it: the kernel ran boxed, 100× slower.
        a0.intoArray(sums, 0);
        a1.intoArray(sums, 32);
        b0.intoArray(sums, 64);
        b1.intoArray(sums, 96);
        c0.intoArray(sums, 128);
        c1.intoArray(sums, 160);
        d0.intoArray(sums, 192);
        d1.intoArray(sums, 224);
        e0.intoArray(sums, 256);
        e1.intoArray(sums, 288);
        f0.intoArray(sums, 320);
        f1.intoArray(sums, 352);
        h0.intoArray(sums, 384);
        h1.intoArray(sums, 416);
        k0.intoArray(sums, 448);
        k1.intoArray(sums, 480);
        widen(sums, acc, accOff, stride);
    }

    /** acc[accOff + j·stride + i] += sums[64j + i] for the eight rows j and 64 outputs i of a tile. */
    private static void widen(short[] sums, int[] acc, int accOff, int stride) {
        for (int j = 0; j < 8; j++)
            for (int i = 0; i < 64; i++) acc[accOff + j * stride + i] += sums[64 * j + i];
    }
}

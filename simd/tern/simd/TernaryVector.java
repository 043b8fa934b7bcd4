package tern.simd;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API kernels of {@link TernaryMatmul}: table lookups with lane permutes, at the width
 * {@link Vectorization} chose. One group's table is 16 subset sums of 4 activations; the code bytes of a
 * block (one per output row) widened to int lanes are the permute indices, low nibble for the plus
 * sum, high nibble (after one shift) for the minus sum. How a lookup of the 16-entry table is done
 * depends on the width (L float lanes per register):
 * <ul>
 * <li>512 bits, L = 16: the table is one register; {@code selectFrom} wraps each index to 4 bits
 *     (one {@code vpermd}). Per group and block: 1 code load, 1 shift, 2 permutes, 2 adds for 64 weights.</li>
 * <li>256 bits, L = 8: the table is two registers; the two-table {@code selectFrom} wraps to 4 bits
 *     (one {@code vpermi2d} with AVX-512VL; with AVX2 C2 composes it of two {@code vpermps} and a blend).</li>
 * <li>128 bits, L = 4 (NEON's width): four registers; two two-table lookups and a blend on bit 3.</li>
 * </ul>
 * The 16 rows of a block are 16/L registers of outputs; a pass over the groups handles four streams of
 * L rows (four blocks at 512 and 256 bits; two blocks × two row quarters at 128 bits, where one
 * 8-byte code load, the narrowest byte vector, serves two streams), so 8 accumulators + 4 code
 * vectors + the table parts stay in registers at every width. No multiplication anywhere, and every
 * output adds the same table entries in the same order as {@link TernaryScalar}: identical bits.
 */
final class TernaryVector implements TernaryKernels {
    static final TernaryVector INSTANCE = new TernaryVector();

    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final int L = Species.FLOATS;
    /** Registers per 16-entry table, and L-row streams per 16-row block: 1, 2 or 4. */
    private static final int PARTS = 16 / L;
    /** Code bytes one load widens: L bytes, at least the 64 bits of the narrowest byte vector. */
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(Math.max(64, 8 * L)));
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** Lane l of MASKS[v][t] is set when bit t of e = vL + l is: the patterns that include column t of a group. */
    private static final VectorMask<Float>[][] MASKS = masks();

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[][] masks() {
        VectorMask<Float>[][] m = new VectorMask[PARTS][4];
        for (int v = 0; v < PARTS; v++)
            for (int t = 0; t < 4; t++) {
                boolean[] bits = new boolean[L];
                for (int l = 0; l < L; l++) bits[l] = ((v * L + l) >>> t & 1) != 0;
                m[v][t] = VectorMask.fromArray(F, bits, 0);
            }
        return m;
    }

    private TernaryVector() {}

    /** How the tables sit in registers at this width, for reports. */
    static String layout() { return "16-entry tables in " + PARTS + " register" + (PARTS > 1 ? "s" : ""); }

    @Override
    public void tables(float[] x, int xOff, int groups, float[] tbl, int tOff) {
        FloatVector zero = FloatVector.zero(F);
        for (int g = 0; g < groups; g++) {
            int at = xOff + 4 * g;
            FloatVector x0 = FloatVector.broadcast(F, x[at]), x1 = FloatVector.broadcast(F, x[at + 1]);
            FloatVector x2 = FloatVector.broadcast(F, x[at + 2]), x3 = FloatVector.broadcast(F, x[at + 3]);
            // Same additions as the scalar twin: 0 + x0 + x1 + x2 + x3, each only in the lanes that use it.
            for (int v = 0; v < PARTS; v++)
                zero.add(x0, MASKS[v][0]).add(x1, MASKS[v][1]).add(x2, MASKS[v][2]).add(x3, MASKS[v][3])
                    .intoArray(tbl, tOff + 16 * g + L * v);
        }
    }

    @Override
    public void sums(float[] tbl, int tOff, int tStride, int xr, MemorySegment codes, long blockBytes, long panelOffset,
                     int b0, int g0, int g1, float[] out, int outOff, int ldOut) {
        long base = panelOffset + b0 * blockBytes;
        // Row by row, each with the one-row kernel: a 4-row × 2-block tile (16 accumulators, codes widened
        // once for 4 rows) measured 6× slower on Zen 4 / JDK 25 (7.5 vs 47 GMAC/s per core, tables in L1):
        // C2 spills it. Per row the 4 blocks' codes (16 KiB for 1024 inputs) are re-read from L1.
        for (int r = 0; r < xr; r++)
            for (int pass = 0; pass < PARTS; pass++)
                pass(tbl, tOff + r * tStride, codes, base, blockBytes, pass, g0, g1, out, outOff + r * ldOut);
    }

    private static IntVector widen(MemorySegment codes, long at, int part) {
        return (IntVector) ByteVector.fromMemorySegment(B, codes, at, ORDER).convertShape(VectorOperators.B2I, I, part);
    }

    // Lookups of the 16-entry table, one tiny method per width (≤ 35 bytecodes, so C2 always inlines
    // them; a method branching on the width measured past that limit, was called, and boxed every vector).

    private static FloatVector lookup(IntVector index, IntVector t0) {
        return index.selectFrom(t0).reinterpretAsFloats();
    }

    private static FloatVector lookup(IntVector index, IntVector t0, IntVector t1) {
        return index.selectFrom(t0, t1).reinterpretAsFloats();
    }

    /** Bit 3 of the index picks (t2, t3) over (t0, t1). */
    private static FloatVector lookup(IntVector index, IntVector t0, IntVector t1, IntVector t2, IntVector t3, VectorMask<Integer> high) {
        return index.selectFrom(t0, t1).blend(index.selectFrom(t2, t3), high).reinterpretAsFloats();
    }

    /**
     * One activation row: the four streams of L output rows that pass {@code pass} covers (see the class
     * comment), over groups [g0, g1). 8 accumulators (plus and minus per stream) are independent chains,
     * so the add latency hides behind the 4 streams of code loads.
     */
    private static void pass(float[] tbl, int tOff, MemorySegment codes, long base, long blockBytes, int pass,
                             int g0, int g1, float[] out, int outOff) {
        // Stream s reads code bytes at a_s + 16g and writes outputs o_s .. o_s + L of the 4 blocks' 64.
        long a0, a1, a2, a3;
        int o0, o1, o2, o3;
        if (L == 4) {
            int pair = pass >> 1, half = 8 * (pass & 1);
            a0 = base + 2 * pair * blockBytes + half; a1 = a0; a2 = a0 + blockBytes; a3 = a2;
            o0 = 32 * pair + half; o1 = o0 + 4; o2 = o0 + 16; o3 = o2 + 4;
        } else {
            int row = pass * L;
            a0 = base + row; a1 = a0 + blockBytes; a2 = a1 + blockBytes; a3 = a2 + blockBytes;
            o0 = row; o1 = row + 16; o2 = row + 32; o3 = row + 48;
        }
        FloatVector p0 = FloatVector.zero(F), p1 = p0, p2 = p0, p3 = p0, m0 = p0, m1 = p0, m2 = p0, m3 = p0;
        for (int g = g0; g < g1; g++) {
            int t = tOff + 16 * g;
            IntVector t0 = FloatVector.fromArray(F, tbl, t).reinterpretAsInts();
            IntVector t1 = PARTS > 1 ? FloatVector.fromArray(F, tbl, t + L).reinterpretAsInts() : t0;
            IntVector t2 = PARTS > 2 ? FloatVector.fromArray(F, tbl, t + 2 * L).reinterpretAsInts() : t0;
            IntVector t3 = PARTS > 2 ? FloatVector.fromArray(F, tbl, t + 3 * L).reinterpretAsInts() : t0;
            long at = 16L * g;
            IntVector c0, c1, c2, c3;
            if (L == 4) {
                c0 = widen(codes, a0 + at, 0); c1 = widen(codes, a1 + at, 1);
                c2 = widen(codes, a2 + at, 0); c3 = widen(codes, a3 + at, 1);
            } else {
                c0 = widen(codes, a0 + at, 0); c1 = widen(codes, a1 + at, 0);
                c2 = widen(codes, a2 + at, 0); c3 = widen(codes, a3 + at, 0);
            }
            IntVector n0 = c0.lanewise(VectorOperators.LSHR, 4), n1 = c1.lanewise(VectorOperators.LSHR, 4);
            IntVector n2 = c2.lanewise(VectorOperators.LSHR, 4), n3 = c3.lanewise(VectorOperators.LSHR, 4);
            if (PARTS == 1) {
                p0 = p0.add(lookup(c0, t0)); m0 = m0.add(lookup(n0, t0));
                p1 = p1.add(lookup(c1, t0)); m1 = m1.add(lookup(n1, t0));
                p2 = p2.add(lookup(c2, t0)); m2 = m2.add(lookup(n2, t0));
                p3 = p3.add(lookup(c3, t0)); m3 = m3.add(lookup(n3, t0));
            } else if (PARTS == 2) {
                p0 = p0.add(lookup(c0, t0, t1)); m0 = m0.add(lookup(n0, t0, t1));
                p1 = p1.add(lookup(c1, t0, t1)); m1 = m1.add(lookup(n1, t0, t1));
                p2 = p2.add(lookup(c2, t0, t1)); m2 = m2.add(lookup(n2, t0, t1));
                p3 = p3.add(lookup(c3, t0, t1)); m3 = m3.add(lookup(n3, t0, t1));
            } else {
                p0 = p0.add(lookup(c0, t0, t1, t2, t3, c0.and(8).compare(VectorOperators.NE, 0)));
                m0 = m0.add(lookup(n0, t0, t1, t2, t3, n0.and(8).compare(VectorOperators.NE, 0)));
                p1 = p1.add(lookup(c1, t0, t1, t2, t3, c1.and(8).compare(VectorOperators.NE, 0)));
                m1 = m1.add(lookup(n1, t0, t1, t2, t3, n1.and(8).compare(VectorOperators.NE, 0)));
                p2 = p2.add(lookup(c2, t0, t1, t2, t3, c2.and(8).compare(VectorOperators.NE, 0)));
                m2 = m2.add(lookup(n2, t0, t1, t2, t3, n2.and(8).compare(VectorOperators.NE, 0)));
                p3 = p3.add(lookup(c3, t0, t1, t2, t3, c3.and(8).compare(VectorOperators.NE, 0)));
                m3 = m3.add(lookup(n3, t0, t1, t2, t3, n3.and(8).compare(VectorOperators.NE, 0)));
            }
        }
        p0.sub(m0).intoArray(out, outOff + o0);
        p1.sub(m1).intoArray(out, outOff + o1);
        p2.sub(m2).intoArray(out, outOff + o2);
        p3.sub(m3).intoArray(out, outOff + o3);
    }
}

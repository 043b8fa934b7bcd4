package tern.simd;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API kernels of {@link TernaryMatmul}: table lookups with a 16-lane permute. One group's table
 * (16 subset sums of 4 activations) fills one 512-bit register; the 16 code bytes of a block (one per
 * output row) widened to 16 int lanes are the permute indices. {@code idx.selectFrom(table)} wraps each
 * index to its low 4 bits (one {@code vpermd}), so the low nibble (plus) is used as is and the high
 * nibble (minus) after one shift. Per group and block: 1 code load, 1 shift, 2 permutes, 2 adds for
 * 64 weights, and no multiplication.
 *
 * <p>Needs 16 float lanes: {@link #SUPPORTED} is false on machines whose preferred vectors are shorter,
 * and {@link TernaryKernels#preferred()} then takes the scalar kernels.
 */
final class TernaryVector implements TernaryKernels {
    static final TernaryVector INSTANCE = new TernaryVector();

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** True when 512-bit vectors are the preferred (fast) shape here. */
    static final boolean SUPPORTED = FloatVector.SPECIES_PREFERRED.length() >= 16;

    /** Lane e of MASKS[t] is set when bit t of e is: the patterns that include column t of a group. */
    private static final VectorMask<Float>[] MASKS = masks();

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[] masks() {
        VectorMask<Float>[] m = new VectorMask[4];
        for (int t = 0; t < 4; t++) {
            boolean[] bits = new boolean[16];
            for (int e = 0; e < 16; e++) bits[e] = (e >>> t & 1) != 0;
            m[t] = VectorMask.fromArray(F, bits, 0);
        }
        return m;
    }

    private TernaryVector() {}

    @Override
    public void tables(float[] x, int xOff, int groups, float[] tbl, int tOff) {
        VectorMask<Float> m0 = MASKS[0], m1 = MASKS[1], m2 = MASKS[2], m3 = MASKS[3];
        FloatVector zero = FloatVector.zero(F);
        for (int g = 0; g < groups; g++) {
            int at = xOff + 4 * g;
            // Same additions as the scalar twin: 0 + x0 + x1 + x2 + x3, each only in the lanes that use it.
            zero.add(FloatVector.broadcast(F, x[at]), m0)
                .add(FloatVector.broadcast(F, x[at + 1]), m1)
                .add(FloatVector.broadcast(F, x[at + 2]), m2)
                .add(FloatVector.broadcast(F, x[at + 3]), m3)
                .intoArray(tbl, tOff + 16 * g);
        }
    }

    @Override
    public void sums(float[] tbl, int tOff, int tStride, int xr, MemorySegment codes, long blockBytes, long panelOffset,
                     int b0, int g0, int g1, float[] out, int outOff, int ldOut) {
        long base = panelOffset + b0 * blockBytes;
        if (xr == 1) {
            oneRow(tbl, tOff, codes, base, blockBytes, g0, g1, out, outOff);
        } else {
            fourRows(tbl, tOff, tStride, xr, codes, base, blockBytes, g0, g1, out, outOff, ldOut);
            fourRows(tbl, tOff, tStride, xr, codes, base + 2 * blockBytes, blockBytes, g0, g1, out, outOff + 32, ldOut);
        }
    }

    private static IntVector codes(MemorySegment codes, long at) {
        return (IntVector) ByteVector.fromMemorySegment(B, codes, at, ORDER).convertShape(VectorOperators.B2I, I, 0);
    }

    private static FloatVector lookup(IntVector index, IntVector table) {
        return index.selectFrom(table).reinterpretAsFloats();
    }

    /**
     * The decode shape: one activation row, 4 blocks (64 outputs). 8 accumulators (plus and minus per
     * block) are independent chains, so the add latency hides behind the 4 streams of code loads.
     */
    private static void oneRow(float[] tbl, int tOff, MemorySegment codes, long base, long blockBytes,
                               int g0, int g1, float[] out, int outOff) {
        FloatVector p0 = FloatVector.zero(F), p1 = p0, p2 = p0, p3 = p0, m0 = p0, m1 = p0, m2 = p0, m3 = p0;
        long b1 = base + blockBytes, b2 = b1 + blockBytes, b3 = b2 + blockBytes;
        for (int g = g0; g < g1; g++) {
            IntVector t = FloatVector.fromArray(F, tbl, tOff + 16 * g).reinterpretAsInts();
            long at = 16L * g;
            IntVector c0 = codes(codes, base + at), c1 = codes(codes, b1 + at);
            IntVector c2 = codes(codes, b2 + at), c3 = codes(codes, b3 + at);
            p0 = p0.add(lookup(c0, t)); m0 = m0.add(lookup(c0.lanewise(VectorOperators.LSHR, 4), t));
            p1 = p1.add(lookup(c1, t)); m1 = m1.add(lookup(c1.lanewise(VectorOperators.LSHR, 4), t));
            p2 = p2.add(lookup(c2, t)); m2 = m2.add(lookup(c2.lanewise(VectorOperators.LSHR, 4), t));
            p3 = p3.add(lookup(c3, t)); m3 = m3.add(lookup(c3.lanewise(VectorOperators.LSHR, 4), t));
        }
        p0.sub(m0).intoArray(out, outOff);
        p1.sub(m1).intoArray(out, outOff + 16);
        p2.sub(m2).intoArray(out, outOff + 32);
        p3.sub(m3).intoArray(out, outOff + 48);
    }

    /**
     * The training shape: up to 4 activation rows × 2 blocks (32 outputs), 16 accumulators. The codes of
     * a group are loaded and widened once for all 4 rows; each row's table once for both blocks. Rows past
     * xr reuse the last row's tables and are not stored.
     */
    private static void fourRows(float[] tbl, int tOff, int tStride, int xr, MemorySegment codes, long base,
                                 long blockBytes, int g0, int g1, float[] out, int outOff, int ldOut) {
        int r1 = tOff + Math.min(1, xr - 1) * tStride, r2 = tOff + Math.min(2, xr - 1) * tStride;
        int r3 = tOff + Math.min(3, xr - 1) * tStride;
        FloatVector p00 = FloatVector.zero(F), p01 = p00, p10 = p00, p11 = p00, p20 = p00, p21 = p00, p30 = p00, p31 = p00;
        FloatVector m00 = p00, m01 = p00, m10 = p00, m11 = p00, m20 = p00, m21 = p00, m30 = p00, m31 = p00;
        long b1 = base + blockBytes;
        for (int g = g0; g < g1; g++) {
            long at = 16L * g;
            IntVector c0 = codes(codes, base + at), c1 = codes(codes, b1 + at);
            IntVector n0 = c0.lanewise(VectorOperators.LSHR, 4), n1 = c1.lanewise(VectorOperators.LSHR, 4);
            int e = 16 * g;
            IntVector t = FloatVector.fromArray(F, tbl, tOff + e).reinterpretAsInts();
            p00 = p00.add(lookup(c0, t)); m00 = m00.add(lookup(n0, t));
            p01 = p01.add(lookup(c1, t)); m01 = m01.add(lookup(n1, t));
            t = FloatVector.fromArray(F, tbl, r1 + e).reinterpretAsInts();
            p10 = p10.add(lookup(c0, t)); m10 = m10.add(lookup(n0, t));
            p11 = p11.add(lookup(c1, t)); m11 = m11.add(lookup(n1, t));
            t = FloatVector.fromArray(F, tbl, r2 + e).reinterpretAsInts();
            p20 = p20.add(lookup(c0, t)); m20 = m20.add(lookup(n0, t));
            p21 = p21.add(lookup(c1, t)); m21 = m21.add(lookup(n1, t));
            t = FloatVector.fromArray(F, tbl, r3 + e).reinterpretAsInts();
            p30 = p30.add(lookup(c0, t)); m30 = m30.add(lookup(n0, t));
            p31 = p31.add(lookup(c1, t)); m31 = m31.add(lookup(n1, t));
        }
        p00.sub(m00).intoArray(out, outOff);
        p01.sub(m01).intoArray(out, outOff + 16);
        if (xr > 1) { p10.sub(m10).intoArray(out, outOff + ldOut); p11.sub(m11).intoArray(out, outOff + ldOut + 16); }
        if (xr > 2) { p20.sub(m20).intoArray(out, outOff + 2 * ldOut); p21.sub(m21).intoArray(out, outOff + 2 * ldOut + 16); }
        if (xr > 3) { p30.sub(m30).intoArray(out, outOff + 3 * ldOut); p31.sub(m31).intoArray(out, outOff + 3 * ldOut + 16); }
    }
}

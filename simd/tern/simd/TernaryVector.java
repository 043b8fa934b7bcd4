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
        // Row by row, each with the one-row kernel: a 4-row × 2-block tile (16 accumulators, codes widened
        // once for 4 rows) measured 6× slower on Zen 4 / JDK 25 (7.5 vs 47 GMAC/s per core, tables in L1):
        // C2 spills it. Per row the 4 blocks' codes (16 KiB for 1024 inputs) are re-read from L1.
        for (int r = 0; r < xr; r++) oneRow(tbl, tOff + r * tStride, codes, base, blockBytes, g0, g1, out, outOff + r * ldOut);
    }

    private static IntVector codes(MemorySegment codes, long at) {
        return (IntVector) ByteVector.fromMemorySegment(B, codes, at, ORDER).convertShape(VectorOperators.B2I, I, 0);
    }

    private static FloatVector lookup(IntVector index, IntVector table) {
        return index.selectFrom(table).reinterpretAsFloats();
    }

    /**
     * One activation row × 4 blocks (64 outputs): the decode shape, and the training shape row by row.
     * 8 accumulators (plus and minus per block) are independent chains, so the add latency hides behind
     * the 4 streams of code loads; 8 accumulators + 4 code vectors + their 4 shifts + 1 table stay in
     * registers.
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
}

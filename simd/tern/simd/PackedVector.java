package tern.simd;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API kernels of {@link PackedMatmul}. A tile's 64 codes of one group are one cache line.
 *
 * <p>Float activations: the line is loaded as four 16-byte quarters widened to 16 int lanes; each is the
 * permute index into the group's table of 16 float subset sums ({@code vpermd} wraps an index to its
 * low 4 bits, so the plus nibble needs no mask and the minus nibble one shift). Per 64 weights: one load
 * and widen, one shift, two permutes, two adds.
 *
 * <p>Int8 activations: the table is 16 int16 sums written twice (32 lanes), the line is loaded as two
 * 32-byte halves widened to 32 short lanes, and {@code vpermw} (which wraps indices to 5 bits; the
 * doubled table makes that the same as 4 bits, and the sign-extended high bits of a code fall away)
 * selects plus and minus sums for 32 rows at once: per 64 weights half the work of the float path.
 * int16 lanes are exact for 64 groups (|P − M| ≤ 4·127 per group, 64·508 &lt; 2¹⁵); every 64 groups the
 * partial sums are widened into int32 accumulators.
 */
final class PackedVector implements PackedKernels {
    static final PackedVector INSTANCE = new PackedVector();

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_512;
    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Byte> B256 = ByteVector.SPECIES_256;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** Groups an int16 accumulator can take without overflow (see the class comment). */
    private static final int INT16_GROUPS = 64;

    /** True when 512-bit vectors are the preferred (fast) shape here. */
    static final boolean SUPPORTED = FloatVector.SPECIES_PREFERRED.length() >= 16;

    /** Lane e of FMASK[j] (and of SMASK[j], for e mod 16) is set when pattern e includes column j. */
    private static final VectorMask<Float>[] FMASK = floatMasks();
    private static final VectorMask<Short>[] SMASK = shortMasks();

    @SuppressWarnings("unchecked")
    private static VectorMask<Float>[] floatMasks() {
        VectorMask<Float>[] m = new VectorMask[4];
        for (int j = 0; j < 4; j++) {
            boolean[] bits = new boolean[16];
            for (int e = 0; e < 16; e++) bits[e] = (e >>> j & 1) != 0;
            m[j] = VectorMask.fromArray(F, bits, 0);
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    private static VectorMask<Short>[] shortMasks() {
        VectorMask<Short>[] m = new VectorMask[4];
        for (int j = 0; j < 4; j++) {
            boolean[] bits = new boolean[32];
            for (int e = 0; e < 32; e++) bits[e] = (e >>> j & 1) != 0;
            m[j] = VectorMask.fromArray(S, bits, 0);
        }
        return m;
    }

    private PackedVector() {}

    @Override
    public void floatTables(float[] x, int xOff, int c0, int c1, float[] tbl) {
        FloatVector zero = FloatVector.zero(F);
        for (int g = 0, c = c0; c < c1; g++, c += 4) {
            float a = x[xOff + c], b = c + 1 < c1 ? x[xOff + c + 1] : 0f;
            float d = c + 2 < c1 ? x[xOff + c + 2] : 0f, e = c + 3 < c1 ? x[xOff + c + 3] : 0f;
            // The scalar twin's additions in its order (0 + a + b + d + e, each where the pattern has it).
            zero.add(FloatVector.broadcast(F, a), FMASK[0]).add(FloatVector.broadcast(F, b), FMASK[1])
                .add(FloatVector.broadcast(F, d), FMASK[2]).add(FloatVector.broadcast(F, e), FMASK[3])
                .intoArray(tbl, 16 * g);
        }
    }

    @Override
    public void int8Tables(byte[] q, int qOff, int c0, int c1, short[] tbl) {
        ShortVector zero = ShortVector.zero(S);
        for (int g = 0, c = c0; c < c1; g++, c += 4) {
            short a = q[qOff + c], b = c + 1 < c1 ? q[qOff + c + 1] : 0;
            short d = c + 2 < c1 ? q[qOff + c + 2] : 0, e = c + 3 < c1 ? q[qOff + c + 3] : 0;
            zero.add(ShortVector.broadcast(S, a), SMASK[0]).add(ShortVector.broadcast(S, b), SMASK[1])
                .add(ShortVector.broadcast(S, d), SMASK[2]).add(ShortVector.broadcast(S, e), SMASK[3])
                .intoArray(tbl, 32 * g);
        }
    }

    private static IntVector quarter(MemorySegment codes, long at) {
        return (IntVector) ByteVector.fromMemorySegment(B128, codes, at, ORDER).convertShape(VectorOperators.B2I, I, 0);
    }

    private static FloatVector lookup(IntVector index, IntVector table) {
        return index.selectFrom(table).reinterpretAsFloats();
    }

    @Override
    public void floatTile(float[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, float[] acc, int accOff) {
        // Plus and minus sums of 4 row blocks: 8 independent add chains hide the add latency.
        FloatVector p0 = FloatVector.zero(F), p1 = p0, p2 = p0, p3 = p0, m0 = p0, m1 = p0, m2 = p0, m3 = p0;
        for (int g = g0; g < g1; g++) {
            IntVector t = FloatVector.fromArray(F, tbl, tOff + 16 * (g - g0)).reinterpretAsInts();
            long at = tile + 64L * g;
            IntVector c0 = quarter(codes, at), c1 = quarter(codes, at + 16);
            IntVector c2 = quarter(codes, at + 32), c3 = quarter(codes, at + 48);
            p0 = p0.add(lookup(c0, t)); m0 = m0.add(lookup(c0.lanewise(VectorOperators.LSHR, 4), t));
            p1 = p1.add(lookup(c1, t)); m1 = m1.add(lookup(c1.lanewise(VectorOperators.LSHR, 4), t));
            p2 = p2.add(lookup(c2, t)); m2 = m2.add(lookup(c2.lanewise(VectorOperators.LSHR, 4), t));
            p3 = p3.add(lookup(c3, t)); m3 = m3.add(lookup(c3.lanewise(VectorOperators.LSHR, 4), t));
        }
        FloatVector.fromArray(F, acc, accOff).add(p0.sub(m0)).intoArray(acc, accOff);
        FloatVector.fromArray(F, acc, accOff + 16).add(p1.sub(m1)).intoArray(acc, accOff + 16);
        FloatVector.fromArray(F, acc, accOff + 32).add(p2.sub(m2)).intoArray(acc, accOff + 32);
        FloatVector.fromArray(F, acc, accOff + 48).add(p3.sub(m3)).intoArray(acc, accOff + 48);
    }

    @Override
    public void int8Tile(short[] tbl, int tOff, MemorySegment codes, long tile, int g0, int g1, int[] acc, int accOff) {
        IntVector i0 = IntVector.fromArray(I, acc, accOff), i1 = IntVector.fromArray(I, acc, accOff + 16);
        IntVector i2 = IntVector.fromArray(I, acc, accOff + 32), i3 = IntVector.fromArray(I, acc, accOff + 48);
        for (int start = g0; start < g1; start += INT16_GROUPS) {
            int end = Math.min(g1, start + INT16_GROUPS);
            ShortVector a0 = ShortVector.zero(S), a1 = a0;
            for (int g = start; g < end; g++) {
                ShortVector t = ShortVector.fromArray(S, tbl, tOff + 32 * (g - g0));
                long at = tile + 64L * g;
                ShortVector c0 = (ShortVector) ByteVector.fromMemorySegment(B256, codes, at, ORDER).convertShape(VectorOperators.B2S, S, 0);
                ShortVector c1 = (ShortVector) ByteVector.fromMemorySegment(B256, codes, at + 32, ORDER).convertShape(VectorOperators.B2S, S, 0);
                a0 = a0.add(c0.selectFrom(t)).sub(c0.lanewise(VectorOperators.LSHR, 4).selectFrom(t));
                a1 = a1.add(c1.selectFrom(t)).sub(c1.lanewise(VectorOperators.LSHR, 4).selectFrom(t));
            }
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
}

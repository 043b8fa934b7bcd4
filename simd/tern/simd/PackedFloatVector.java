package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API rows of {@link PackedFloatMatvec}. f16 is widened without a conversion instruction the
 * Vector API lacks: the 15 magnitude bits shifted into an f32's exponent and mantissa and multiplied by
 * 2¹¹² rebias the exponent (15 → 127) and turn f16 subnormals into the right f32 values in one multiply;
 * the sign bit is put back with an OR. (Infinities and NaNs, which the writer refuses, would not survive.)
 */
final class PackedFloatVector {
    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final VectorSpecies<Short> H = VectorSpecies.of(short.class, jdk.incubator.vector.VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final float REBIAS = Float.intBitsToFloat(0x77800000);   // 2^112
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PackedFloatVector() {}

    static void rows(MemorySegment w, boolean f16, int cols, float[] x, float[] y, int r0, int r1) {
        if (f16) { halfRows(w, cols, x, y, r0, r1); return; }
        int n = F.length(), bulk = cols - cols % (4 * n);
        for (int r = r0; r < r1; r++) {
            long base = (long) r * cols;
            // 4 independent FMA chains hide the FMA latency behind the loads.
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            int c = 0;
            for (; c < bulk; c += 4 * n) {
                a0 = load(w, false, base + c, F).fma(FloatVector.fromArray(F, x, c), a0);
                a1 = load(w, false, base + c + n, F).fma(FloatVector.fromArray(F, x, c + n), a1);
                a2 = load(w, false, base + c + 2 * n, F).fma(FloatVector.fromArray(F, x, c + 2 * n), a2);
                a3 = load(w, false, base + c + 3 * n, F).fma(FloatVector.fromArray(F, x, c + 3 * n), a3);
            }
            float s = VectorSums.sum(a0.add(a1).add(a2.add(a3)));
            for (; c < cols; c++) s += PackedFloatMatvec.element(w, PackedFloatMatvec.Format.F32, base + c) * x[c];
            y[r] = s;
        }
    }

    /**
     * f16 rows read as int lanes of two halves each (no short-to-int lane conversion, which compiles
     * poorly): the low halves are the even columns, the high halves the odd ones, so x is split into its
     * even and odd columns once per call and each half-vector multiplies its own. The widening is written
     * out in the loop: as a helper method C2 compiled it on its own and called it (boxing every vector),
     * which made the LM head of a decode step several times slower than this loop.
     */
    private static void halfRows(MemorySegment w, int cols, float[] x, float[] y, int r0, int r1) {
        int n = I.length(), step = 2 * n, bulk = cols - cols % (2 * step);
        float[] even = new float[bulk / 2], odd = new float[bulk / 2];
        for (int i = 0; i < bulk / 2; i++) { even[i] = x[2 * i]; odd[i] = x[2 * i + 1]; }
        for (int r = r0; r < r1; r++) {
            long base = (long) r * cols;
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            int c = 0;
            for (; c < bulk; c += 2 * step) {
                IntVector v0 = IntVector.fromMemorySegment(I, w, 2 * (base + c), LE);
                IntVector v1 = IntVector.fromMemorySegment(I, w, 2 * (base + c + step), LE);
                int h = c / 2;
                // Low half: magnitude bits to f32 position, rebias by the multiply, sign from bit 15.
                // High half: the same fields 16 bits up (magnitude shifted right by 3, sign already in place).
                FloatVector w0 = v0.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v0.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
                FloatVector w1 = v0.and(0x7FFF0000).lanewise(VectorOperators.LSHR, 3).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v0.and(0x80000000)).reinterpretAsFloats();
                FloatVector w2 = v1.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v1.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
                FloatVector w3 = v1.and(0x7FFF0000).lanewise(VectorOperators.LSHR, 3).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v1.and(0x80000000)).reinterpretAsFloats();
                a0 = w0.fma(FloatVector.fromArray(F, even, h), a0);
                a1 = w1.fma(FloatVector.fromArray(F, odd, h), a1);
                a2 = w2.fma(FloatVector.fromArray(F, even, h + n), a2);
                a3 = w3.fma(FloatVector.fromArray(F, odd, h + n), a3);
            }
            float s = VectorSums.sum(a0.add(a1).add(a2.add(a3)));
            for (; c < cols; c++) s += PackedFloatMatvec.element(w, PackedFloatMatvec.Format.F16, base + c) * x[c];
            y[r] = s;
        }
    }

    private static FloatVector load(MemorySegment w, boolean f16, long i, VectorSpecies<Float> f) {
        if (!f16) return FloatVector.fromMemorySegment(f, w, 4 * i, LE);
        IntVector h = (IntVector) ShortVector.fromMemorySegment(H, w, 2 * i, LE).convertShape(VectorOperators.S2I, I, 0);
        FloatVector mag = h.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(REBIAS);
        return mag.reinterpretAsInts().or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16)).reinterpretAsFloats();
    }
}

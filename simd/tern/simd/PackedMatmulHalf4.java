package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * An f16 matrix (the LM head of a packed file) against four activation rows at once, for batched decode:
 * each f16 vector is widened once (the widening is most of {@link PackedFloatVector}'s one-row loop: about
 * ten integer and float operations per sixteen weights against one FMA) and multiplied into all four rows.
 * Per activation row the arithmetic is exactly the one-row kernel's (the same four FMA chains, the same
 * reduction order, the same scalar tail), so a row's logits do not depend on what else is in the batch.
 */
final class PackedMatmulHalf4 {
    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Integer> I = Species.I;
    private static final float REBIAS = Float.intBitsToFloat(0x77800000);   // 2^112, as PackedFloatVector
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private PackedMatmulHalf4() {}

    /** y[(m0 + i)·rows + r] ← Σ_c W[r][c]·x[(m0 + i)·cols + c] for i &lt; 4 and r in [r0, r1). */
    static void rows(MemorySegment w, int cols, float[] x, int m0, float[] y, int rows, int r0, int r1) {
        int n = I.length(), step = 2 * n, bulk = cols - cols % (2 * step), half = bulk / 2;
        float[] ev = new float[4 * half], od = new float[4 * half];
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < half; k++) {
                ev[i * half + k] = x[(m0 + i) * cols + 2 * k];
                od[i * half + k] = x[(m0 + i) * cols + 2 * k + 1];
            }
        int e1 = half, e2 = 2 * half, e3 = 3 * half;
        for (int r = r0; r < r1; r++) {
            long base = (long) r * cols;
            FloatVector z = FloatVector.zero(F);
            FloatVector a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
            FloatVector c0 = z, c1 = z, c2 = z, c3 = z, d0 = z, d1 = z, d2 = z, d3 = z;
            for (int c = 0; c < bulk; c += 2 * step) {
                IntVector v0 = IntVector.fromMemorySegment(I, w, 2 * (base + c), LE);
                IntVector v1 = IntVector.fromMemorySegment(I, w, 2 * (base + c + step), LE);
                int h = c / 2;
                FloatVector w0 = v0.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v0.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
                FloatVector w1 = v0.and(0x7FFF0000).lanewise(VectorOperators.LSHR, 3).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v0.and(0x80000000)).reinterpretAsFloats();
                FloatVector w2 = v1.and(0x7FFF).lanewise(VectorOperators.LSHL, 13).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v1.lanewise(VectorOperators.LSHL, 16).and(0x80000000)).reinterpretAsFloats();
                FloatVector w3 = v1.and(0x7FFF0000).lanewise(VectorOperators.LSHR, 3).reinterpretAsFloats().mul(REBIAS).reinterpretAsInts()
                        .or(v1.and(0x80000000)).reinterpretAsFloats();
                a0 = w0.fma(FloatVector.fromArray(F, ev, h), a0);
                a1 = w1.fma(FloatVector.fromArray(F, od, h), a1);
                a2 = w2.fma(FloatVector.fromArray(F, ev, h + n), a2);
                a3 = w3.fma(FloatVector.fromArray(F, od, h + n), a3);
                b0 = w0.fma(FloatVector.fromArray(F, ev, e1 + h), b0);
                b1 = w1.fma(FloatVector.fromArray(F, od, e1 + h), b1);
                b2 = w2.fma(FloatVector.fromArray(F, ev, e1 + h + n), b2);
                b3 = w3.fma(FloatVector.fromArray(F, od, e1 + h + n), b3);
                c0 = w0.fma(FloatVector.fromArray(F, ev, e2 + h), c0);
                c1 = w1.fma(FloatVector.fromArray(F, od, e2 + h), c1);
                c2 = w2.fma(FloatVector.fromArray(F, ev, e2 + h + n), c2);
                c3 = w3.fma(FloatVector.fromArray(F, od, e2 + h + n), c3);
                d0 = w0.fma(FloatVector.fromArray(F, ev, e3 + h), d0);
                d1 = w1.fma(FloatVector.fromArray(F, od, e3 + h), d1);
                d2 = w2.fma(FloatVector.fromArray(F, ev, e3 + h + n), d2);
                d3 = w3.fma(FloatVector.fromArray(F, od, e3 + h + n), d3);
            }
            float sa = VectorSums.sum(a0.add(a1).add(a2.add(a3)));
            float sb = VectorSums.sum(b0.add(b1).add(b2.add(b3)));
            float sc = VectorSums.sum(c0.add(c1).add(c2.add(c3)));
            float sd = VectorSums.sum(d0.add(d1).add(d2.add(d3)));
            for (int c = bulk; c < cols; c++) {
                float e = PackedFloatMatvec.element(w, PackedFloatMatvec.Format.F16, base + c);
                sa += e * x[m0 * cols + c];
                sb += e * x[(m0 + 1) * cols + c];
                sc += e * x[(m0 + 2) * cols + c];
                sd += e * x[(m0 + 3) * cols + c];
            }
            y[m0 * rows + r] = sa;
            y[(m0 + 1) * rows + r] = sb;
            y[(m0 + 2) * rows + r] = sc;
            y[(m0 + 3) * rows + r] = sd;
        }
    }
}

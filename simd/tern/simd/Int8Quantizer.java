package tern.simd;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API twin of {@link PackedMatmul#quantizeInt8} (absmax per row, q = clamp(rint(x/s), ±127)),
 * bit for bit: the max is order-free, x/s is the same IEEE division, and rint is (v + 1.5·2²³) − 1.5·2²³,
 * exact round-half-even for |v| &lt; 2²² (here |v| ≤ 127). It was 4.2 of the ~20 µs of a 1024×1024
 * one-thread int8 product at 512 bits (C2 does not vectorize the scalar loop's double rint), more than
 * building the tables. At 128 bits there is no byte species of one float register's 4 lanes (32 bits), so
 * two float registers are converted into the two halves of one 64-bit byte register
 * ({@link ByteVector#SPECIES_64}: part 0 and part −1 of the contraction, OR-ed) and stored as 8 bytes.
 * Loaded only when {@link Vectorization#ENABLED}.
 */
final class Int8Quantizer {
    private static final VectorSpecies<Float> F = Species.F;
    private static final int L = Species.FLOATS;
    /** Bytes of one float register's lanes (L bytes), or null at 128 bits (no 32-bit byte species). */
    private static final VectorSpecies<Byte> B = L >= 8 ? ByteVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(8 * L)) : null;
    /** At 128 bits: the bytes of two float registers (8 lanes, 64 bits). */
    private static final VectorSpecies<Byte> B2 = ByteVector.SPECIES_64;
    private static final float MAGIC = 12582912f;

    private Int8Quantizer() {}

    static float quantize(float[] x, int off, int n, byte[] q) {
        int up = F.loopBound(n), i = 0;
        FloatVector mx = FloatVector.zero(F);
        for (; i < up; i += L) mx = mx.max(FloatVector.fromArray(F, x, off + i).abs());
        float max = mx.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, Math.abs(x[off + i]));
        float s = max > 0f ? max / 127f : 1f;
        i = 0;
        if (B != null)
            for (; i < up; i += L)
                FloatVector.fromArray(F, x, off + i).div(s).add(MAGIC).sub(MAGIC).max(-127f).min(127f)
                        .convertShape(VectorOperators.F2B, B, 0).reinterpretAsBytes().intoArray(q, i);
        else
            for (int up2 = n - n % (2 * L); i < up2; i += 2 * L) {
                ByteVector lo = (ByteVector) FloatVector.fromArray(F, x, off + i).div(s).add(MAGIC).sub(MAGIC).max(-127f).min(127f)
                        .convertShape(VectorOperators.F2B, B2, 0);
                ByteVector hi = (ByteVector) FloatVector.fromArray(F, x, off + i + L).div(s).add(MAGIC).sub(MAGIC).max(-127f).min(127f)
                        .convertShape(VectorOperators.F2B, B2, -1);
                lo.or(hi).intoArray(q, i);
            }
        for (; i < n; i++) q[i] = (byte) Math.max(-127, Math.min(127, (int) Math.rint(x[off + i] / s)));
        return s;
    }
}

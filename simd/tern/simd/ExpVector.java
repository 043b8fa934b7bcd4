package tern.simd;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static tern.simd.Exp.*;

/** {@link Exp#exp} lane by lane with the same operations in the same order, so both give identical bits. */
final class ExpVector {
    private ExpVector() {}

    static FloatVector exp(FloatVector x) {
        var species = x.species();
        FloatVector rounder = FloatVector.broadcast(species, ROUNDER);
        VectorMask<Float> over = x.compare(VectorOperators.GT, MAX_ARG);
        VectorMask<Float> under = x.compare(VectorOperators.LT, MIN_ARG);
        // rint by the 1.5·2²³ trick (exact round-half-even for |v| < 2²²; here |v| ≤ 129), as Exp.exp does.
        FloatVector n = x.mul(LOG2E).add(rounder).sub(rounder);
        FloatVector r = n.fma(FloatVector.broadcast(species, -C1), x);
        r = n.fma(FloatVector.broadcast(species, -C2), r);
        FloatVector p = FloatVector.broadcast(species, P0);
        p = p.fma(r, FloatVector.broadcast(species, P1));
        p = p.fma(r, FloatVector.broadcast(species, P2));
        p = p.fma(r, FloatVector.broadcast(species, P3));
        p = p.fma(r, FloatVector.broadcast(species, P4));
        p = p.fma(r, FloatVector.broadcast(species, P5));
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        IntVector k = (IntVector) n.convert(VectorOperators.F2I, 0);
        IntVector k1 = k.lanewise(VectorOperators.ASHR, 1), k2 = k.sub(k1);
        FloatVector s1 = k1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = k2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector result = y.mul(s1).mul(s2);
        // NaN lanes: every step above propagated the NaN through y, so they already hold NaN.
        return result.blend(0f, under).blend(Float.POSITIVE_INFINITY, over);
    }
}

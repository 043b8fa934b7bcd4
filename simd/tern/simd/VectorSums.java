package tern.simd;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Horizontal sums in one fixed order: a butterfly that adds lane i to lane i ^ d for d = n/2, …, 1.
 * {@code reduceLanes(ADD)} leaves the order to the implementation, and it differs between the
 * interpreter's fallback and C2's intrinsic, so a sum changes its last bits once the JIT compiles the
 * caller — enough to break bit-exact resumption of training. Lane-wise adds and shuffles are exact in
 * both, so this gives the same bits before and after compilation.
 */
final class VectorSums {
    private static final VectorSpecies<Float> F = Species.F;
    private static final VectorSpecies<Double> D = Species.D;
    private static final VectorShuffle<Float>[] F_STEPS = butterfly(F);
    private static final VectorShuffle<Double>[] D_STEPS = butterfly(D);

    private VectorSums() {}

    /** Σ lanes of a float vector of the kernels' width, in butterfly order. */
    static float sum(FloatVector v) {
        for (VectorShuffle<Float> s : F_STEPS) v = v.add(v.rearrange(s));
        return v.lane(0);
    }

    /** Σ lanes of a double vector of the kernels' width, in butterfly order. */
    static double sum(DoubleVector v) {
        for (VectorShuffle<Double> s : D_STEPS) v = v.add(v.rearrange(s));
        return v.lane(0);
    }

    @SuppressWarnings("unchecked")
    private static <E> VectorShuffle<E>[] butterfly(VectorSpecies<E> species) {
        int n = species.length();
        int steps = Integer.numberOfTrailingZeros(n);
        VectorShuffle<E>[] out = new VectorShuffle[steps];
        for (int k = 0, d = n / 2; d >= 1; k++, d /= 2) {
            int[] idx = new int[n];
            for (int i = 0; i < n; i++) idx[i] = i ^ d;
            out[k] = VectorShuffle.fromArray(species, idx, 0);
        }
        return out;
    }
}

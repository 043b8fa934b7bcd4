package tern.simd;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The species of every vector kernel, all of the one width {@link Vectorization#BITS} chose. Kernels copy
 * them into their own {@code static final} fields: C2 folds a static final species to a constant, which
 * is what lets it compile vector operations to single instructions (a species it cannot see as a
 * constant leaves every operation in the API's Java fallback). Loaded only when {@link Vectorization#ENABLED}.
 */
final class Species {
    private Species() {}

    static final VectorShape SHAPE = VectorShape.forBitSize(Vectorization.BITS);
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.withShape(SHAPE);
    static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED.withShape(SHAPE);
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED.withShape(SHAPE);
    static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED.withShape(SHAPE);
    static final VectorSpecies<Byte> B = ByteVector.SPECIES_PREFERRED.withShape(SHAPE);
    /** Float lanes of one register: 4, 8 or 16. */
    static final int FLOATS = F.length();
}

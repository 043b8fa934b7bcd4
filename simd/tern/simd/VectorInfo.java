package tern.simd;

import jdk.incubator.vector.FloatVector;

/** Facts about the preferred vector species; only loaded when {@link Vectorization#ENABLED}. */
final class VectorInfo {
    private VectorInfo() {}

    static String describe() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize() + "-bit, " + FloatVector.SPECIES_PREFERRED.length() + " floats";
    }
}

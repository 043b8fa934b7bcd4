package tern.simd;

import jdk.incubator.vector.FloatVector;

/** The machine's preferred vector size; only loaded when the Vector API module is present. */
final class VectorInfo {
    private VectorInfo() {}

    /** Bits of the preferred species: what C2 compiles to native registers (it honours -XX:MaxVectorSize). */
    static int preferredBits() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize();
    }
}

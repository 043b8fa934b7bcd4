package tern.simd;

/**
 * The one place that picks every kernel family for a run, as Lucene's vectorization provider does: at
 * start-up {@link Vectorization} decides the path and the register width once, and {@link #preferred()}
 * hands out the Vector API twin of each family at that width (elementwise and reductions, float matmul,
 * ternary training products, packed inference products); {@link #scalar()} hands out the plain-Java
 * twin of every family. The vector classes are named only in the vector branch, so the scalar path never
 * loads {@code jdk.incubator.vector}.
 */
public final class KernelProvider {
    private static final KernelProvider SCALAR = new KernelProvider(ScalarFloatKernels.INSTANCE, FloatMatmulScalar.INSTANCE,
            TernaryScalar.INSTANCE, PackedScalar.INSTANCE);
    private static final KernelProvider PREFERRED = Vectorization.ENABLED
            ? new KernelProvider(FloatKernels.preferred(), FloatMatmulKernels.preferred(), TernaryKernels.preferred(), PackedKernels.preferred())
            : SCALAR;

    private final FloatKernels floats;
    private final FloatMatmulKernels matmul;
    private final TernaryKernels ternary;
    private final PackedKernels packed;

    private KernelProvider(FloatKernels floats, FloatMatmulKernels matmul, TernaryKernels ternary, PackedKernels packed) {
        this.floats = floats;
        this.matmul = matmul;
        this.ternary = ternary;
        this.packed = packed;
    }

    /** Every family at the width {@link Vectorization} chose (the scalar set when vectors are off). */
    public static KernelProvider preferred() { return PREFERRED; }

    /** Every family's plain-Java twin, whatever {@link Vectorization} says. */
    public static KernelProvider scalar() { return SCALAR; }

    /** True when this set runs on the Vector API. */
    public boolean vector() { return this != SCALAR; }

    /** Elementwise ops and reductions. */
    public FloatKernels floats() { return floats; }

    FloatMatmulKernels matmul() { return matmul; }

    TernaryKernels ternary() { return ternary; }

    PackedKernels packed() { return packed; }

    /** The width and the kernel of each family, for {@code tern info} and the benchmarks' reports. */
    public String describe() {
        String width = vector() ? Vectorization.BITS + "-bit" : "scalar";
        return width + ": elementwise " + floats.getClass().getSimpleName()
                + ", float matmul " + matmul.getClass().getSimpleName() + " (" + matmul.mr() + "×" + matmul.nr() + " register tile)"
                + ", ternary " + ternary.getClass().getSimpleName() + (ternary instanceof TernaryVector ? " (" + TernaryVector.layout() + ")" : "")
                + ", packed " + packed.getClass().getSimpleName() + (packed instanceof PackedVector ? " (" + PackedVector.layout() + ")"
                        : packed instanceof PackedDigits ? " (" + PackedDigits.layout() + ")"
                        : packed instanceof PackedTwoBit ? " (int8 " + PackedTwoBit.layout() + "; float " + PackedDigits.layout() + ")" : "")
                + ", packed float " + (vector() && PackedFloatMatvec.VECTOR ? "PackedFloatVector" : "scalar rows");
    }
}

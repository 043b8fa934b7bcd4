package tern.simd;

/**
 * Decides once, at start-up, whether kernels use the Vector API. Classes that touch
 * {@code jdk.incubator.vector} are only loaded when this says yes, so the jar runs without
 * {@code --add-modules jdk.incubator.vector} on the scalar path. {@code -Dtern.simd=scalar} forces the
 * scalar path (tests run every property on both paths).
 */
public final class Vectorization {
    /** True when the Vector API module is present and not switched off. */
    public static final boolean ENABLED = detect();

    private Vectorization() {}

    private static boolean detect() {
        if ("scalar".equalsIgnoreCase(System.getProperty("tern.simd", ""))) return false;
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /** One line for logs: which path kernels take and why. */
    public static String describe() {
        if (ENABLED) return "Vector API (" + VectorInfo.describe() + ")";
        if ("scalar".equalsIgnoreCase(System.getProperty("tern.simd", ""))) return "scalar (forced by -Dtern.simd=scalar)";
        return "scalar (jdk.incubator.vector not present: run with --add-modules jdk.incubator.vector)";
    }
}

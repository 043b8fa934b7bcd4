package tern.simd;

/**
 * Decides once, at start-up, whether kernels use the Vector API and at which register width, for every
 * kernel family alike (as Lucene's vectorization provider does). Classes that touch
 * {@code jdk.incubator.vector} are only loaded when this says yes, so the jar runs without
 * {@code --add-modules jdk.incubator.vector} on the scalar path.
 *
 * <p>The width is the machine's preferred vector size (what the JIT compiles natively: 512 bits with
 * AVX-512, 256 with AVX2 or {@code -XX:MaxVectorSize=32}, 128 with NEON or {@code -XX:MaxVectorSize=16}).
 * Test switches: {@code -Dtern.simd.bits=128|256|512} forces a narrower width (a width above the
 * preferred one is clamped to it: wider species would run in the API's slow Java fallback), and
 * {@code -Dtern.simd.bits=0} or {@code -Dtern.simd=scalar} forces the scalar path.
 */
public final class Vectorization {
    /** The switch that forces a width (or 0: scalar). */
    public static final String BITS_PROPERTY = "tern.simd.bits";

    private static final String REQUEST = System.getProperty(BITS_PROPERTY, "").strip();
    private static final boolean MODULE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    private static final boolean FORCED_SCALAR = "scalar".equalsIgnoreCase(System.getProperty("tern.simd", "")) || REQUEST.equals("0");
    /** The machine's preferred width in bits (0 without the module). */
    private static final int PREFERRED = MODULE ? VectorInfo.preferredBits() : 0;

    /** Register width of every vector kernel, in bits: 128, 256 or 512; 0 on the scalar path. */
    public static final int BITS = choose();

    /** True when the Vector API module is present and not switched off. */
    public static final boolean ENABLED = BITS > 0;

    /**
     * True when the CPU looks up a 32-entry int16 table in one instruction at every width the kernels
     * use: x86 with AVX-512 ({@code vpermw}, {@code vpermi2w}; HotSpot's {@code UseAVX} is 3). With
     * AVX2 ({@code UseAVX} 2) the Vector API's two-register lookups are emulated by byte shuffles,
     * and on other ISAs it is not measured; there the packed kernels decode instead ({@link PackedDigits}).
     */
    public static final boolean NATIVE_PERMUTES = useAvx() >= 3;

    private Vectorization() {}

    /** HotSpot's UseAVX level, or 0 where the flag does not exist (not x86) or cannot be read. */
    private static int useAvx() {
        try {
            var bean = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return Integer.parseInt(bean.getVMOption("UseAVX").getValue());
        } catch (RuntimeException | LinkageError e) {
            return 0;
        }
    }

    private static int choose() {
        if (!REQUEST.isEmpty() && !REQUEST.matches("0|128|256|512"))
            throw new IllegalArgumentException("-D" + BITS_PROPERTY + "=" + REQUEST + ": expected 128, 256, 512 or 0 (scalar)");
        if (!MODULE || FORCED_SCALAR || PREFERRED < 128) return 0;
        return REQUEST.isEmpty() ? PREFERRED : Math.min(PREFERRED, Integer.parseInt(REQUEST));
    }

    /** One line for logs: which path kernels take, at which width, and why. */
    public static String describe() {
        if (ENABLED) {
            String why = REQUEST.isEmpty() ? "the CPU's preferred width"
                    : "forced by -D" + BITS_PROPERTY + "=" + REQUEST + (Integer.parseInt(REQUEST) > BITS ? ", clamped to" : ";")
                      + " the CPU's preferred width is " + PREFERRED;
            return "Vector API " + BITS + "-bit (" + BITS / 32 + " floats; " + why + ")";
        }
        if (FORCED_SCALAR) return "scalar (forced by " + (REQUEST.equals("0") ? "-D" + BITS_PROPERTY + "=0" : "-Dtern.simd=scalar") + ")";
        if (MODULE) return "scalar (the CPU's vectors are " + PREFERRED + "-bit, narrower than the 128 bits the kernels need)";
        return "scalar (jdk.incubator.vector not present: run with --add-modules jdk.incubator.vector)";
    }
}

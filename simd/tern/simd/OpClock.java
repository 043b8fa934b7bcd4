package tern.simd;

/**
 * Where a decode step's time goes, by kind of op: with {@code -Dtern.profile=true} the CPU backend adds the wall time
 * of each op's kernel call (validation excluded) to its kind's total, as the calling thread sees it (the op's
 * parallel pieces included: the caller waits for them). Off by default, and then {@link #ON} is a constant false
 * that C2 folds away, so the kernels pay nothing. Totals are plain fields: one thread (the generator's) is meant to
 * call the backend while profiling, as {@code tern generate} does. Read by tools/bench/DecodeProfile.java.
 */
public final class OpClock {
    public static final boolean ON = Boolean.getBoolean("tern.profile");

    /** The kinds a decode step is split into. */
    public enum Kind {
        /** products on packed ternary weights (q/k/v, o, gate/up, down) */
        PACKED,
        /** float or f16 matrix products (a packed file's LM head) */
        MATMUL,
        /** attention over the KV cache */
        ATTENTION,
        /** RMSNorm */
        NORM,
        /** everything else the backend does: RoPE, SwiGLU, residual adds, cache copies, the embedding */
        OTHER,
        /** part of PACKED, not added again: the one-row int8 product's serial set-up on the caller (quantize, lay out, telescope) */
        PACKED_SETUP,
        /** part of the kinds above, not added again: the caller of a Parallel.shared call waiting for pieces its helpers took */
        SHARED_WAIT;

        /** Whether this kind's time lies inside another kind's (a breakdown, not a share of the step). */
        public boolean nested() { return this == PACKED_SETUP || this == SHARED_WAIT; }
    }

    private static final long[] NANOS = new long[Kind.values().length];
    private static final long[] CALLS = new long[Kind.values().length];

    private OpClock() {}

    static long start() { return ON ? System.nanoTime() : 0; }

    static void stop(Kind kind, long t0) {
        if (!ON) return;
        NANOS[kind.ordinal()] += System.nanoTime() - t0;
        CALLS[kind.ordinal()]++;
    }

    public static long nanos(Kind kind) { return NANOS[kind.ordinal()]; }

    public static long calls(Kind kind) { return CALLS[kind.ordinal()]; }

    public static void reset() {
        java.util.Arrays.fill(NANOS, 0);
        java.util.Arrays.fill(CALLS, 0);
    }
}

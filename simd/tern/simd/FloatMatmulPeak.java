package tern.simd;

/**
 * The machine's measured f32 FMA rate: every core runs register-only chains of fused multiply-adds
 * (no memory traffic) on the kernels' own path, so the figure is what this JVM reaches at the clock the
 * cores run at now, the honest denominator for a matmul's efficiency.
 */
public final class FloatMatmulPeak {
    private FloatMatmulPeak() {}

    /** GFLOP/s of all {@link Parallel#THREADS} threads together, best of {@code rounds} bursts. */
    public static double gflops(long stepsPerThread, int rounds) {
        FloatMatmulKernels k = FloatMatmulKernels.preferred();
        double best = 0;
        double[] sink = new double[Parallel.THREADS];
        for (int round = 0; round < rounds; round++) {
            double[] flops = new double[Parallel.THREADS];
            long t0 = System.nanoTime();
            Parallel.range(Parallel.THREADS, 1, (c0, c1) -> {
                for (int c = c0; c < c1; c++) {
                    double[] r = k.fmaBurst(stepsPerThread);
                    flops[c] = r[0];
                    sink[c] += r[1];
                }
            });
            long t1 = System.nanoTime();
            double total = 0;
            for (double f : flops) total += f;
            best = Math.max(best, total / (t1 - t0));
        }
        if (Double.isNaN(sink[0])) throw new AssertionError("unreachable: keeps the bursts alive");
        return best;
    }
}

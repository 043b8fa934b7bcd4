package tern.model;

/**
 * A small reproducible generator: splitmix64 for uniform bits, Box–Muller for normals. The same seed gives
 * the same numbers on every JVM and platform (integer arithmetic and {@code StrictMath} only), and the
 * definition is short enough to re-implement elsewhere (a Python script reproducing an initialization).
 */
public final class SeededRandom {
    private long state;
    private double spareNormal = Double.NaN;

    public SeededRandom(long seed) { this.state = seed; }

    /** A generator for sub-stream {@code index} of {@code seed} (one per parameter, independent of order). */
    public static SeededRandom derive(long seed, long index) {
        return new SeededRandom(mix(seed ^ mix(index + 0x632BE59BD9B4E019L)));
    }

    public long nextLong() {
        state += 0x9E3779B97F4A7C15L;
        return mix(state);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, 1) with 53 random bits. */
    public double nextDouble() { return (nextLong() >>> 11) * 0x1.0p-53; }

    /** Uniform in [0, bound). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
        return (int) ((nextLong() >>> 33) * bound >>> 31);
    }

    /** Standard normal by Box–Muller; the second value of each pair is kept for the next call. */
    public double nextGaussian() {
        if (!Double.isNaN(spareNormal)) {
            double s = spareNormal;
            spareNormal = Double.NaN;
            return s;
        }
        double u1 = 1.0 - nextDouble();          // (0, 1]: log stays finite
        double u2 = nextDouble();
        double r = StrictMath.sqrt(-2.0 * StrictMath.log(u1));
        spareNormal = r * StrictMath.sin(2 * Math.PI * u2);
        return r * StrictMath.cos(2 * Math.PI * u2);
    }
}

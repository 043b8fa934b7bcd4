package tern.train;

/**
 * Steele, Lea and Flood's SplitMix64: a 64-bit counter stepped by the golden-ratio gamma and mixed by
 * a fixed finalizer. Ours, not {@code java.util.Random}'s, so that a seed gives the same stream on
 * every JVM, and its whole state is one long that a checkpoint can store.
 */
final class SplitMix64 {
    private static final long GAMMA = 0x9E3779B97F4A7C15L;

    private long state;

    SplitMix64(long seed) { this.state = seed; }

    long state() { return state; }

    void setState(long state) { this.state = state; }

    long nextLong() {
        long z = (state += GAMMA);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, bound), without modulo bias: draws that fall in the ragged top range are redrawn. */
    long nextLong(long bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
        long limit = Long.MAX_VALUE - (Long.MAX_VALUE % bound);
        while (true) {
            long r = nextLong() >>> 1;
            if (r < limit) return r % bound;
        }
    }

    int nextInt(int bound) { return (int) nextLong(bound); }

    /** Uniform in [0, 1) with 53 random bits. */
    double nextDouble() { return (nextLong() >>> 11) * 0x1.0p-53; }
}

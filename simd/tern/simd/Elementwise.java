package tern.simd;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;

/** Whole-tensor elementwise ops and reductions, split into {@link Blocks} over the pool. */
final class Elementwise {
    /** Below this many elements per thread a fork costs more than the loop (a few microseconds). */
    private static final int MIN_PARALLEL = 1 << 16;

    private final FloatKernels k;

    Elementwise(FloatKernels kernels) { this.k = kernels; }

    void add(MemorySegment a, MemorySegment b, MemorySegment out, long size) {
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> k.add(a, from, b, from, out, from, n));
    }

    void axpy(float alpha, MemorySegment x, MemorySegment y, long size) {
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> k.axpy(alpha, x, from, y, from, n));
    }

    void scale(MemorySegment x, float alpha, long size) {
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> k.scale(alpha, x, from, x, from, n));
    }

    void fill(MemorySegment x, float value, long size) {
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> k.fill(value, x, from, n));
    }

    /** Per-block partial sums added in block order, so the result does not depend on the thread count. */
    double sumOfSquares(MemorySegment x, long size) {
        double[] partial = new double[Blocks.count(size)];
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> partial[(int) (from / Blocks.BLOCK)] = k.sumOfSquares(x, from, n));
        double sum = 0;
        for (double p : partial) sum += p;
        return sum;
    }

    boolean allFinite(MemorySegment x, long size) {
        AtomicBoolean finite = new AtomicBoolean(true);
        Blocks.forEach(size, MIN_PARALLEL, (from, n) -> {
            if (finite.get() && !k.allFinite(x, from, n)) finite.set(false);
        });
        return finite.get();
    }
}

package tern.bench;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import tern.runtime.DType;
import tern.runtime.Tensor;
import tern.simd.Parallel;

/**
 * The two shapes the matmul benchmarks measure, the same as {@code tern bench kernels}: a training
 * step (512 tokens through a 1024 → 4096 linear) and a decode step (one token through a 16384 × 16384
 * matrix, larger than the L3 in f32 and in packed ternary).
 */
final class MatmulShapes {
    private MatmulShapes() {}

    /** rows of x, inner dimension, outputs. */
    static int[] of(String shape) {
        return switch (shape) {
            case "train" -> new int[] {512, 1024, 4096};
            case "decode" -> new int[] {1, 16384, 16384};
            default -> throw new IllegalArgumentException("unknown shape " + shape + " (train or decode)");
        };
    }

    /** Uniform values in [−1, 1) from a fixed seed, filled in parallel. */
    static Tensor random(long seed, int rows, int cols) {
        Tensor t = Tensor.zeros(DType.F32, rows, cols);
        MemorySegment s = t.segment();
        Parallel.range(rows, 1, (r0, r1) -> {
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + r0);
            for (long i = (long) r0 * cols; i < (long) r1 * cols; i++)
                s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble() * 2 - 1));
        });
        return t;
    }
}

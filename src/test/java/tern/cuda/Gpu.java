package tern.cuda;

import java.util.Random;

import org.junit.jupiter.api.Assumptions;

import tern.runtime.Tensor;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * What the GPU tests share: one backend per JVM (creating one compiles or loads every kernel), with a
 * synchronize after each launch so a failing kernel is named; random data; and the comparison with a
 * double-precision reference by relative error ‖out − ref‖ / ‖ref‖ (METHOD.md), NaN never passing.
 */
final class Gpu {
    /** f32 kernels: rounding of sums of a few hundred terms stays far below this. */
    static final double F32 = 1e-5;
    /** bf16 tensor-core inputs (8 significant bits) with f32 accumulation. */
    static final double BF16 = 1e-2;

    private static CudaBackend backend;

    private Gpu() {}

    /** Skips the calling test class where there is no usable CUDA device. */
    static CudaBackend backend() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        synchronized (Gpu.class) {
            // f32 attention whatever -Dtern.cuda.attention says: the tests of the f32 path hold it to 1e-5.
            if (backend == null) backend = new CudaBackend(0, null, CudaBackend.AttentionPath.F32, true);
            return backend;
        }
    }

    /** A token shard of {@code tokens} uniform random ids below {@code vocab} (the trainer tests' data). */
    static java.nio.file.Path randomShard(java.nio.file.Path dir, int vocab, int tokens, long seed) throws java.io.IOException {
        java.nio.file.Path shard = dir.resolve("train-00000.tok");
        Random rnd = new Random(seed);
        try (tern.train.TokenShardWriter w = new tern.train.TokenShardWriter(shard, vocab)) {
            for (int i = 0; i < tokens; i++) w.accept(rnd.nextInt(vocab));
        }
        return shard;
    }

    static float[] random(Random rnd, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (rnd.nextFloat() * 2 - 1) * scale;
        return a;
    }

    static float[] random(Random rnd, int n) { return random(rnd, n, 1f); }

    /** A device tensor poisoned with NaN, so an element a kernel fails to write cannot pass. */
    static Tensor poisoned(CudaBackend cuda, int... shape) {
        Tensor t = cuda.zeros(tern.runtime.DType.F32, shape);
        cuda.fill(t, Float.NaN);
        return t;
    }

    static double relativeError(float[] out, double[] ref) {
        if (out.length != ref.length) fail("length " + out.length + " vs reference " + ref.length);
        double diff = 0, norm = 0;
        for (int i = 0; i < out.length; i++) {
            if (!Double.isFinite(out[i])) return Double.POSITIVE_INFINITY;
            double d = out[i] - ref[i];
            diff += d * d;
            norm += ref[i] * ref[i];
        }
        return norm == 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
    }

    static void assertClose(float[] out, double[] ref, double tolerance, String what) {
        double err = relativeError(out, ref);
        assertTrue(err <= tolerance, what + ": relative error " + err + " > " + tolerance);
    }

    static double[] toDouble(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }
}

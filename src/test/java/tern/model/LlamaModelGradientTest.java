package tern.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import tern.runtime.Backend;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Parameter;
import tern.runtime.Tensor;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tern.model.ModelTestSupport.*;

/**
 * The whole model's backward pass against central finite differences of its loss. The loss is an f32
 * computation, so each difference is taken at two step sizes (h and h/2): both must agree with the analytic
 * gradient within {@code |g − fd| ≤ 2e-2·|g| + 3e-4} (the absolute term covers f32 noise in the loss,
 * ~1e-6 relative, divided by 2h), which a wrong backward (a missing term, a transposed product) misses by far.
 */
class LlamaModelGradientTest {
    static final int BATCH = 2, SEQ = 5;
    static final float H = 1e-2f;

    @Test
    void floatModelGradientMatchesFiniteDifferences() {
        checkAgainstFiniteDifferences(micro(), 11);
    }

    @Test
    void ternaryModelAtPhaseInZeroIsTheFloatModelAndItsGradient() {
        checkAgainstFiniteDifferences(micro().withPrecision(Precision.of(new LinearPolicy.Ternary(1)).withPhaseIn(0f)), 12);
    }

    /**
     * A quantized model's gradient is the straight-through one: the gradient of the float model whose block
     * weights are W_used = W + λ·(Q(W) − W), with Q computed here independently of {@link Linear}. Tolerance
     * 1e-4 of the tensor's largest gradient: the ternary kernel sums in another order than the float matmul.
     */
    @ParameterizedTest
    @MethodSource("quantizedPrecisions")
    void quantizedGradientIsTheFloatGradientAtTheUsedWeights(Precision precision) {
        LlamaConfig config = micro().withPrecision(precision);
        int[] in = tokens(BATCH * SEQ, config.vocabSize(), 5);
        int[] tg = tokens(BATCH * SEQ, config.vocabSize(), 6);
        try (LlamaModel quantized = model(config, 21, 15f); LlamaModel reference = model(micro(), 0, 1f)) {
            copyWeights(quantized, reference);
            for (Parameter p : reference.parameters())
                if (isBlockLinear(p.name)) usedWeight(BACKEND, p, precision);
            float lq = lossAndGradients(quantized, in, tg, BATCH, SEQ);
            float lr = lossAndGradients(reference, in, tg, BATCH, SEQ);
            assertEquals(lr, lq, 1e-5 * Math.abs(lr), "loss of " + precision);
            for (Parameter p : quantized.parameters()) {
                float[] a = p.grad.toFloatArray(), b = reference.parameter(p.name).grad.toFloatArray();
                double max = 0;
                for (float v : b) max = Math.max(max, Math.abs(v));
                for (int i = 0; i < a.length; i++)
                    assertEquals(b[i], a[i], 1e-4 * max + 1e-9, p.name + "[" + i + "] under " + precision);
            }
        }
    }

    static List<Precision> quantizedPrecisions() {
        return List.of(Precision.of(new LinearPolicy.Ternary(1)),
                Precision.of(new LinearPolicy.Ternary(2)),
                Precision.of(new LinearPolicy.Ternary(1)).withPhaseIn(0.3f),
                Precision.of(new LinearPolicy.Binary(Granularity.TENSOR)),
                Precision.of(new LinearPolicy.Binary(Granularity.ROW)).withPhaseIn(0.7f),
                Precision.of(new LinearPolicy.Int(4, Granularity.ROW)),
                Precision.of(new LinearPolicy.Int(3, Granularity.TENSOR)).withPhaseIn(0.5f));
    }

    static boolean isBlockLinear(String name) {
        return name.startsWith("model.layers.") && name.endsWith("_proj.weight");
    }

    /** Spectra/Megatron sharding: o and down are row-parallel (cut along their inputs), the others column-parallel. */
    static ShardAxis axisOf(String name) {
        return name.contains("o_proj") || name.contains("down_proj") ? ShardAxis.COLS : ShardAxis.ROWS;
    }

    /** p.value ← W + λ·(Q(W) − W), mixed in double. */
    static void usedWeight(Backend backend, Parameter p, Precision precision) {
        Tensor w = p.value;
        try (Tensor q = Tensor.zeros(w.dtype(), w.shape())) {
            switch (precision.weights()) {
                case LinearPolicy.Ternary(int shards) -> backend.quantizeTernary(w, shards, axisOf(p.name), Linear.TERNARY_EPS, q);
                case LinearPolicy.Binary(Granularity g) -> backend.quantizeBinary(w, g, q);
                case LinearPolicy.Int(int bits, Granularity g) -> backend.quantizeSymmetric(w, bits, g, q);
                case LinearPolicy.Float f -> backend.copy(w, q);
            }
            double lambda = precision.phaseIn();
            for (long i = 0; i < w.size(); i++)
                w.set(i, (float) (w.get(i) + lambda * ((double) q.get(i) - w.get(i))));
        }
    }

    private void checkAgainstFiniteDifferences(LlamaConfig config, long seed) {
        int[] in = tokens(BATCH * SEQ, config.vocabSize(), seed);
        int[] tg = tokens(BATCH * SEQ, config.vocabSize(), seed + 100);
        tg[3] = -1;                                                // an ignored position takes part too
        try (LlamaModel m = model(config, seed, 15f)) {
            randomizeNorms(m, seed);
            lossAndGradients(m, in, tg, BATCH, SEQ);
            SeededRandom pick = new SeededRandom(seed * 31);
            List<String> failures = new ArrayList<>();
            int checked = 0;
            for (Parameter p : m.parameters()) {
                for (int e = 0; e < 2; e++) {
                    long i = pick.nextInt((int) p.size());
                    double g = p.grad.get(i);
                    double fd1 = centralDifference(m, p.value, i, H, in, tg);
                    double fd2 = centralDifference(m, p.value, i, H / 2, in, tg);
                    for (double fd : new double[]{fd1, fd2})
                        if (Math.abs(g - fd) > 2e-2 * Math.abs(g) + 3e-4)
                            failures.add(String.format("%s[%d]: analytic %.6g, finite difference %.6g (h=%.0e: %.6g, h/2: %.6g)",
                                    p.name, i, g, fd, H, fd1, fd2));
                    checked++;
                }
            }
            assertTrue(failures.isEmpty(), checked + " entries checked, mismatches:\n" + String.join("\n", failures));
        }
    }

    /** Norm gains away from 1 so their gradients and the scaling they apply are exercised. */
    private static void randomizeNorms(LlamaModel m, long seed) {
        SeededRandom r = new SeededRandom(seed);
        for (Parameter p : m.parameters())
            if (p.value.rank() == 1)
                for (long i = 0; i < p.size(); i++) p.value.set(i, (float) (1 + 0.3 * r.nextGaussian()));
    }

    private static double centralDifference(LlamaModel m, Tensor w, long i, float h, int[] in, int[] tg) {
        float original = w.get(i);
        w.set(i, original + h);
        double plus = loss(m, in, tg, BATCH, SEQ);
        w.set(i, original - h);
        double minus = loss(m, in, tg, BATCH, SEQ);
        w.set(i, original);
        // The actual perturbation in f32, not the nominal h.
        double step = (double) (original + h) - (double) (original - h);
        return (plus - minus) / step;
    }
}

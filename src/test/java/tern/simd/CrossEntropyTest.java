package tern.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.pathOf;
import static tern.simd.OpsTestSupport.uniform;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.Tensor;

class CrossEntropyTest {

    @Property(tries = 50)
    void lossAndGradientMatchTheReference(@ForAll @IntRange(min = 1, max = 200) int rows,
                                          @ForAll @IntRange(min = 1, max = 300) int vocab,
                                          @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] logits = uniform(rnd, rows * vocab, 8);
        int[] targets = new int[rows];
        for (int r = 0; r < rows; r++) targets[r] = rnd.nextInt(5) == 0 ? -1 : rnd.nextInt(vocab);   // ~20% ignored
        float lossScale = rnd.nextBoolean() ? 1f : 1024f;
        int counted = 0;
        for (int t : targets) if (t >= 0) counted++;
        int count = Math.max(1, counted);
        Reference.CrossEntropyOut ref = Reference.crossEntropy(Reference.toDouble(logits), rows, vocab, targets, lossScale);
        for (CpuBackend be : backends())
            try (Tensor tl = Tensor.of(logits, rows, vocab); Tensor dl = Tensor.zeros(DType.F32, rows, vocab)) {
                String p = pathOf(be);
                be.fill(dl, 5f);   // ignored rows must be written with zeros
                float loss = be.crossEntropy(tl, targets, dl, lossScale);
                // Per row: a double sum of f32 exponentials (≤1 ulp each) and a log: 1e-6 relative.
                assertClose(p + " loss", loss, ref.loss(), 1e-6);
                // dlogit = s·(p − [target])/count: at the target p − 1 cancels, so its error follows the size of
                // the terms, s·(p + 1)/count, not of the (possibly tiny) result.
                float[] d = dl.toFloatArray();
                for (int i = 0; i < d.length; i++) {
                    int r = i / vocab;
                    double terms = Math.abs(ref.dlogits()[i]) + (targets[r] == i % vocab ? 2.0 * lossScale / count : 0);
                    assertEquals(ref.dlogits()[i], d[i], 1e-5 * terms + 1e-12 * lossScale, p + " dlogits: element " + i);
                }
                assertEquals(loss, be.crossEntropy(tl, targets, null, lossScale), p + " loss without gradient");
            }
    }

    @Test
    void handWorkedTwoClassLoss() {
        // logits (0, ln 3): softmax = (1/4, 3/4); target 1 → loss −ln(3/4); row 2 ignored.
        float[] logits = {0f, (float) Math.log(3), 100f, -100f};
        for (CpuBackend be : backends())
            try (Tensor tl = Tensor.of(logits, 2, 2); Tensor dl = Tensor.zeros(DType.F32, 2, 2)) {
                float loss = be.crossEntropy(tl, new int[] {1, -1}, dl, 2f);
                assertEquals(-Math.log(0.75), loss, 1e-6);
                float[] g = dl.toFloatArray();
                assertEquals(2 * 0.25, g[0], 1e-6);
                assertEquals(2 * (0.75 - 1), g[1], 1e-6);
                assertEquals(0f, g[2]);
                assertEquals(0f, g[3]);
                assertEquals(0f, be.crossEntropy(tl, new int[] {-1, -1}, dl, 1f), "no counted row: loss 0");
            }
    }

    @Test
    void targetsOutOfRangeAreAClearError() {
        CpuBackend be = CpuBackend.scalar();
        try (Tensor tl = Tensor.zeros(DType.F32, 2, 5)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.crossEntropy(tl, new int[] {0, 5}, null, 1f));
            assertTrue(e.getMessage().contains("target 5") && e.getMessage().contains("size 5"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.crossEntropy(tl, new int[] {-2, 1}, null, 1f));
            assertTrue(e.getMessage().contains("-2"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> be.crossEntropy(tl, new int[] {0}, null, 1f));
        }
    }
}

package tern.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.pathOf;
import static tern.simd.OpsTestSupport.uniform;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.runtime.AdamWParams;
import tern.runtime.DType;
import tern.runtime.Tensor;

class AdamWTest {

    /**
     * Three steps on one element, worked by hand with dyadic β's so that m and v are exact in f32
     * (lr 0.1, β1 0.5, β2 0.75, eps 1e-8, wd 0.01, gradScale 0.5, raw gradients 2, −4, 0):
     * <pre>
     * step 1: g = 1;  p = 1·(1 − 0.1·0.01) = 0.999;  m = 0.5;  v = 0.25;  m̂ = 0.5/0.5 = 1;  v̂ = 0.25/0.25 = 1
     *         p = 0.999 − 0.1·1/(1 + 1e-8)
     * step 2: g = −2;  p ·= 0.999;  m = 0.25 − 1 = −0.75;  v = 0.1875 + 1 = 1.1875
     *         m̂ = −0.75/0.75 = −1;  v̂ = 1.1875/(1 − 0.5625);  p = p + 0.1·1/(sqrt(v̂) + 1e-8)
     * step 3: g = 0;  p ·= 0.999;  m = −0.375;  v = 0.890625
     *         m̂ = −0.375/(1 − 0.125);  v̂ = 0.890625/(1 − 0.421875);  p = p − 0.1·m̂/(sqrt(v̂) + 1e-8)
     * </pre>
     */
    @Test
    void threeStepsWorkedByHand() {
        double lr = 0.1;
        double step1 = 0.999 - lr * 1 / (1 + 1e-8);
        double step2 = step1 * 0.999 + lr * 1 / (Math.sqrt(1.1875 / 0.4375) + 1e-8);
        double step3 = step2 * 0.999 + lr * (0.375 / 0.875) / (Math.sqrt(0.890625 / 0.578125) + 1e-8);
        double[] expected = {step1, step2, step3};
        double[] expectedM = {0.5, -0.75, -0.375}, expectedV = {0.25, 1.1875, 0.890625};
        float[] grads = {2f, -4f, 0f};
        for (CpuBackend be : backends())
            try (Tensor param = Tensor.of(new float[] {1f}, 1); Tensor m = Tensor.zeros(DType.F32, 1);
                 Tensor v = Tensor.zeros(DType.F32, 1); Tensor g = Tensor.zeros(DType.F32, 1)) {
                for (int t = 1; t <= 3; t++) {
                    g.set(0, grads[t - 1]);
                    be.adamw(param, g, m, v, new AdamWParams(0.1f, 0.5f, 0.75f, 1e-8f, 0.01f, t, 0.5f));
                    // Moments are dyadic: exact. The parameter carries f32 roundings of lr, the decay and
                    // the update through three steps: 1e-6 relative.
                    assertEquals(expectedM[t - 1], m.get(0), 0.0, pathOf(be) + " m at step " + t);
                    assertEquals(expectedV[t - 1], v.get(0), 0.0, pathOf(be) + " v at step " + t);
                    assertEquals(expected[t - 1], param.get(0), 1e-6 * Math.abs(expected[t - 1]), pathOf(be) + " p at step " + t);
                }
            }
    }

    @Property(tries = 40)
    void stepsMatchTheReference(@ForAll @IntRange(min = 1, max = 5000) int n, @ForAll @IntRange(min = 1, max = 3000) int step,
                                @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] p0 = uniform(rnd, n, 1), g = uniform(rnd, n, 1), m0 = uniform(rnd, n, 0.1), v0 = uniform(rnd, n, 0.01);
        for (int i = 0; i < n; i++) v0[i] = Math.abs(v0[i]);
        AdamWParams hp = new AdamWParams(3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, step, 0.7f);
        Reference.AdamWState ref = Reference.adamw(Reference.toDouble(p0), Reference.toDouble(g), Reference.toDouble(m0),
                Reference.toDouble(v0), hp);
        for (CpuBackend be : backends())
            try (Tensor tp = Tensor.of(p0, n); Tensor tg = Tensor.of(g, n); Tensor tm = Tensor.of(m0, n); Tensor tv = Tensor.of(v0, n)) {
                be.adamw(tp, tg, tm, tv, hp);
                // A handful of f32 operations per element: 1e-6 relative, plus lr·1e-6 for the update term.
                // m = β1·m + (1−β1)·g can cancel: its rounding error follows the size of the two terms, not of m.
                double[] mTerms = new double[n];
                for (int i = 0; i < n; i++)
                    mTerms[i] = Math.abs(hp.beta1() * m0[i]) + Math.abs((1 - hp.beta1()) * g[i] * hp.gradScale());
                float[] mActual = tm.toFloatArray();
                for (int i = 0; i < n; i++)
                    assertEquals(ref.m()[i], mActual[i], 1e-6 * mTerms[i] + 1e-12, pathOf(be) + " m: element " + i);
                assertClose(pathOf(be) + " v", tv.toFloatArray(), ref.v(), 1e-6, 1e-7);
                assertClose(pathOf(be) + " param", tp.toFloatArray(), ref.param(), 1e-6, 1e-6);
            }
    }
}

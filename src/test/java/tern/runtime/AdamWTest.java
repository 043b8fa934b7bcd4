package tern.runtime;

import org.junit.jupiter.api.Test;
import tern.simd.CpuBackend;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The optimizer object: groups, clipping, reset, hand-computed steps. */
class AdamWTest {
    private final Backend cpu = new CpuBackend();

    @Test
    void threeStepsByHandWithAndWithoutDecay() {
        Parameter w = new Parameter("w", Tensor.of(new float[]{0.5f, -1f}, 2), Tensor.zeros(DType.F32, 2), true);
        Parameter n = new Parameter("n", Tensor.of(new float[]{1f}, 1), Tensor.zeros(DType.F32, 1), false);
        double lr = 0.1, wd = 0.5, b1 = 0.9, b2 = 0.95, eps = 1e-8;
        double[] p = {0.5, -1, 1}, m = new double[3], v = new double[3];
        double[][] grads = {{0.2, -0.4, 1.0}, {-0.1, 0.3, 0.5}, {0.05, 0.05, -2.0}};
        try (AdamW opt = new AdamW(cpu, List.of(w, n), (float) b1, (float) b2, (float) eps)) {
            for (int t = 1; t <= 3; t++) {
                double[] g = grads[t - 1];
                w.grad.set(0, (float) g[0]);
                w.grad.set(1, (float) g[1]);
                n.grad.set(0, (float) g[2]);
                opt.update((float) lr, (float) wd, 1f);
                for (int i = 0; i < 3; i++) {
                    double decay = i < 2 ? wd : 0;                 // the norm is in the no-decay group
                    p[i] *= 1 - lr * decay;
                    m[i] = b1 * m[i] + (1 - b1) * g[i];
                    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                    double mh = m[i] / (1 - Math.pow(b1, t)), vh = v[i] / (1 - Math.pow(b2, t));
                    p[i] -= lr * mh / (Math.sqrt(vh) + eps);
                }
                assertEquals(p[0], w.value.get(0), 1e-6, "w[0] after step " + t);
                assertEquals(p[1], w.value.get(1), 1e-6, "w[1] after step " + t);
                assertEquals(p[2], n.value.get(0), 1e-6, "norm after step " + t);
            }
            assertEquals(3, opt.step());
            opt.reset();
            assertEquals(0, opt.step());
            assertEquals(0f, opt.firstMoment(w).get(0));
            assertEquals(0f, opt.secondMoment(n).get(0));
        }
    }

    @Test
    void gradNormAndClipping() {
        Parameter a = new Parameter("a", Tensor.zeros(DType.F32, 2), Tensor.of(new float[]{3, 0}, 2), true);
        Parameter b = new Parameter("b", Tensor.zeros(DType.F32, 1), Tensor.of(new float[]{4}, 1), false);
        try (AdamW opt = new AdamW(cpu, List.of(a, b), 0.9f, 0.95f, 1e-8f)) {
            assertEquals(5.0, opt.gradNorm(), 1e-12);
            assertEquals(1.0 / (5 + 1e-6), AdamW.clipScale(5.0, 1.0), 1e-7);   // returned as a float
            assertEquals(1.0f, AdamW.clipScale(0.5, 1.0));
            assertEquals(1.0f, AdamW.clipScale(5.0, 0));      // disabled
            opt.zeroGrad();
            assertEquals(0.0, opt.gradNorm());
        }
    }
}

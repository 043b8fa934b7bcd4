package tern.simd;

import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.assertWithin;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.pathOf;
import static tern.simd.OpsTestSupport.uniform;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.DType;
import tern.runtime.Tensor;

class RmsNormTest {

    @Property(tries = 50)
    void forwardAndBackwardMatchTheReference(@ForAll @IntRange(min = 1, max = 200) int rows,
                                             @ForAll @IntRange(min = 1, max = 300) int cols, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] x = uniform(rnd, rows * cols, 3), w = uniform(rnd, cols, 2), dout = uniform(rnd, rows * cols, 1);
        float[] dw0 = uniform(rnd, cols, 1);
        float eps = 1e-5f;
        Reference.RmsNormOut ref = Reference.rmsnorm(Reference.toDouble(x), rows, cols, Reference.toDouble(w), eps);
        Reference.RmsNormGrads grads = Reference.rmsnormBackward(Reference.toDouble(dout), Reference.toDouble(x), rows,
                cols, Reference.toDouble(w), eps);
        double[] expectedDw = Reference.add(Reference.toDouble(dw0), grads.dweight());
        for (CpuBackend be : backends())
            try (Tensor tx = Tensor.of(x, rows, cols); Tensor tw = Tensor.of(w, cols);
                 Tensor out = Tensor.zeros(DType.F32, rows, cols); Tensor rstd = Tensor.zeros(DType.F32, rows);
                 Tensor tg = Tensor.of(dout, rows, cols); Tensor dx = Tensor.zeros(DType.F32, rows, cols);
                 Tensor dw = Tensor.of(dw0, cols)) {
                String p = pathOf(be);
                be.rmsnorm(tx, tw, eps, out, rstd);
                // rstd from a double sum; out = x·rstd·w: three f32 roundings → 1e-6 relative.
                assertClose(p + " rstd", rstd.toFloatArray(), ref.rstd(), 1e-6, 0);
                assertClose(p + " rmsnorm", out.toFloatArray(), ref.out(), 1e-6, 1e-7);
                be.rmsnormBackward(tg, tx, tw, rstd, dx, dw);
                // dx = r·w·g − (r³/n)·(Σ g·w·x)·x is a difference of two terms that can cancel completely
                // (one column: dx ≈ r·w·g·eps/(x²+eps)); the error is relative to the terms, not to dx:
                // 1e-5 of the largest first term r·|w·g|.
                assertWithin(p + " dx", dx.toFloatArray(), grads.dx(), 1e-5, 1e-5 * firstTermScale(dout, w, ref.rstd(), cols));
                // dweight: an f32 sum over the rows added to the old value; its terms can cancel, so the bound is
                // the sum's worst-case rounding, (rows + 4)·2⁻²⁴ of the terms' absolute sum (per column), not a
                // fraction of the result.
                assertWithinEach(p + " dweight", dw.toFloatArray(), expectedDw, dweightBound(dout, x, dw0, ref.rstd(), rows, cols));
            }
    }

    /** A sample CI drew: one column, 15 rows whose dweight terms cancel to 1e-3 of their sizes. */
    @net.jqwik.api.Example
    void cancellingDweightSumsAreJudgedByTheirRounding() {
        forwardAndBackwardMatchTheReference(15, 1, -700L);
    }

    private static double[] dweightBound(float[] dout, float[] x, float[] dw0, double[] rstd, int rows, int cols) {
        double[] bound = new double[cols];
        for (int j = 0; j < cols; j++) {
            double abs = Math.abs(dw0[j]);
            for (int r = 0; r < rows; r++) abs += Math.abs(dout[r * cols + j] * x[r * cols + j]) * rstd[r];
            bound[j] = (rows + 4) * 0x1p-24 * abs;
        }
        return bound;
    }

    private static void assertWithinEach(String what, float[] actual, double[] expected, double[] bound) {
        for (int i = 0; i < actual.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= bound[i]))
                org.junit.jupiter.api.Assertions.fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i]
                        + " (error " + err + ", allowed " + bound[i] + ")");
        }
    }

    private static double firstTermScale(float[] dout, float[] w, double[] rstd, int cols) {
        double m = 0;
        for (int i = 0; i < dout.length; i++) m = Math.max(m, Math.abs(dout[i] * w[i % cols] * rstd[i / cols]));
        return m;
    }
}

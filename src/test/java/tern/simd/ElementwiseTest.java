package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

/** add, axpy, scale, fill, copy, sumOfSquares and allFinite against the reference, on both kernel paths. */
class ElementwiseTest {

    // One f32 rounding of the exact result: relative error ≤ 2^-24 ≈ 6e-8; 1e-6 leaves room, nothing more.
    private static final double ONE_ROUNDING = 1e-6;

    @Property(tries = 60)
    void addAxpyScaleMatchTheReference(@ForAll @IntRange(min = 1, max = 3000) int n, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] a = uniform(rnd, n, 10), b = uniform(rnd, n, 10);
        float alpha = (float) (rnd.nextDouble() * 4 - 2);
        for (CpuBackend be : backends()) {
            String path = pathOf(be);
            try (Tensor ta = Tensor.of(a, n); Tensor tb = Tensor.of(b, n); Tensor out = Tensor.zeros(DType.F32, n)) {
                be.add(ta, tb, out);
                assertClose(path + " add", out.toFloatArray(), Reference.add(Reference.toDouble(a), Reference.toDouble(b)), ONE_ROUNDING, 0);
                be.add(ta, tb, ta);   // out may alias a
                assertArrayEquals(out.toFloatArray(), ta.toFloatArray(), path + " add into a");
            }
            try (Tensor x = Tensor.of(a, n); Tensor y = Tensor.of(b, n)) {
                be.axpy(alpha, x, y);
                // y + αx can cancel: allow one rounding of the larger term too.
                assertClose(path + " axpy", y.toFloatArray(), Reference.axpy(alpha, Reference.toDouble(a), Reference.toDouble(b)), ONE_ROUNDING, ONE_ROUNDING);
                be.scale(x, alpha);
                assertClose(path + " scale", x.toFloatArray(), Reference.scale(Reference.toDouble(a), alpha), ONE_ROUNDING, 0);
                be.fill(x, 3.5f);
                for (float v : x.toFloatArray()) assertEquals(3.5f, v);
                be.copy(y, x);
                assertArrayEquals(y.toFloatArray(), x.toFloatArray(), path + " copy");
            }
        }
    }

    @Property(tries = 60)
    void sumOfSquaresAccumulatesInDouble(@ForAll @IntRange(min = 0, max = 5000) int n, @ForAll long seed) {
        float[] x = uniform(new Random(seed), n, 100);
        double expected = Reference.sumOfSquares(Reference.toDouble(x));
        for (CpuBackend be : backends())
            try (Tensor t = Tensor.of(x, n)) {
                // Squares of floats are exact in double; only the summation order differs, and a sum of n
                // positive doubles is within n·2^-53 relative of the exact sum whatever the order.
                assertClose(pathOf(be) + " sumOfSquares", be.sumOfSquares(t), expected, doubleSumBound(n));
            }
    }

    @Property(tries = 60)
    void allFiniteFindsAnyNanOrInfinity(@ForAll @IntRange(min = 1, max = 3000) int n, @ForAll long seed,
                                        @ForAll @IntRange(min = 0, max = 2) int kind) {
        Random rnd = new Random(seed);
        float[] x = uniform(rnd, n, 1e30);
        for (CpuBackend be : backends()) {
            try (Tensor t = Tensor.of(x, n)) { assertTrue(be.allFinite(t), pathOf(be)); }
            float[] bad = x.clone();
            bad[rnd.nextInt(n)] = kind == 0 ? Float.NaN : kind == 1 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
            try (Tensor t = Tensor.of(bad, n)) { assertFalse(be.allFinite(t), pathOf(be) + " missed a non-finite value"); }
        }
    }

    /** Past one block (65536 elements) the loops run on the pool; the results must not change. */
    @Test
    void largeTensorsSplitAcrossThreadsGiveTheSameResults() {
        int n = 300_001;
        Random rnd = new Random(7);
        float[] a = uniform(rnd, n, 3), b = uniform(rnd, n, 3);
        for (CpuBackend be : backends())
            try (Tensor ta = Tensor.of(a, n); Tensor tb = Tensor.of(b, n); Tensor out = Tensor.zeros(DType.F32, n)) {
                be.add(ta, tb, out);
                assertClose(pathOf(be) + " add", out.toFloatArray(), Reference.add(Reference.toDouble(a), Reference.toDouble(b)), ONE_ROUNDING, 0);
                assertClose(pathOf(be) + " sumOfSquares", be.sumOfSquares(ta), Reference.sumOfSquares(Reference.toDouble(a)), doubleSumBound(n));
                ta.set(n - 1, Float.NaN);
                assertFalse(be.allFinite(ta));
            }
    }

    private static double doubleSumBound(int n) {
        return Math.max(1, n) * 0x1p-52;   // both sides may err by n·2^-53
    }
}

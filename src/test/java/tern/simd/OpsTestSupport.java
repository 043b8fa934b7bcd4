package tern.simd;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.Random;
import tern.runtime.Tensor;

/** Shared by the CPU op tests: both kernel paths, random data, and tolerance checks that explain a failure. */
final class OpsTestSupport {
    private OpsTestSupport() {}

    /** The backend on the scalar kernels and on the Vector API kernels, constructed directly. */
    static List<CpuBackend> backends() {
        return List.of(CpuBackend.scalar(), new CpuBackend(VectorFloatKernels.INSTANCE));
    }

    static String pathOf(CpuBackend b) {
        return b.kernels() instanceof ScalarFloatKernels ? "scalar" : "vector";
    }

    /** n values uniform in [−range, range). */
    static float[] uniform(Random rnd, int n, double range) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) ((rnd.nextDouble() * 2 - 1) * range);
        return x;
    }

    static float[] gaussian(Random rnd, int n, double sigma) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rnd.nextGaussian() * sigma);
        return x;
    }

    static Tensor tensor(float[] values, int... shape) {
        return Tensor.of(values, shape);
    }

    static double maxAbs(double[] x) {
        double m = 0;
        for (double v : x) m = Math.max(m, Math.abs(v));
        return m;
    }

    /**
     * Every |actual − expected| ≤ rtol·|expected| + atol·max|expected|: relative where values are large,
     * and relative to the tensor's scale where a value is a small difference of larger terms.
     */
    static void assertClose(String what, float[] actual, double[] expected, double rtol, double atol) {
        if (actual.length != expected.length) fail(what + ": length " + actual.length + " vs " + expected.length);
        double floor = atol * maxAbs(expected);
        for (int i = 0; i < actual.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= rtol * Math.abs(expected[i]) + floor))
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + " (error " + err
                        + ", allowed " + (rtol * Math.abs(expected[i]) + floor) + ")");
        }
    }

    /** Every |actual − expected| ≤ rtol·|expected| + floor, floor an absolute error the caller derives. */
    static void assertWithin(String what, float[] actual, double[] expected, double rtol, double floor) {
        for (int i = 0; i < actual.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            if (!(err <= rtol * Math.abs(expected[i]) + floor))
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected[i] + " (error " + err
                        + ", allowed " + (rtol * Math.abs(expected[i]) + floor) + ")");
        }
    }

    static void assertClose(String what, double actual, double expected, double rtol) {
        if (!(Math.abs(actual - expected) <= rtol * Math.abs(expected) + 1e-30))
            fail(what + ": " + actual + ", expected " + expected + " (relative error "
                    + Math.abs(actual - expected) / Math.abs(expected) + " > " + rtol + ")");
    }

    static void assertClose(String what, float[] actual, float[] expected, double rtol, double atol) {
        assertClose(what, actual, Reference.toDouble(expected), rtol, atol);
    }
}

package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * FloatMatmul against a double-accumulation reference, on both kernel paths, all four transpose
 * combinations, with and without accumulation. Tolerance: |c − exact| ≤ 1e-5·Σ|a_ip·b_pj| per element
 * (f32 rounding of a sum grows like √k·2⁻²⁴·Σ|terms| for random data; 1e-5 leaves a wide margin up to
 * k = 4096 and still fails on any wrong term).
 */
class FloatMatmulTest {
    private static final double RTOL = 1e-5;

    private static final FloatMatmulKernels[] PATHS = Vectorization.ENABLED
            ? new FloatMatmulKernels[] {FloatMatmulScalar.INSTANCE, FloatMatmulVector.INSTANCE}
            : new FloatMatmulKernels[] {FloatMatmulScalar.INSTANCE};

    // 60 tries: each runs a reference of up to 300³ double multiply-adds on two paths; the suite must stay
    // within seconds on a shared 2-core machine.
    @Property(tries = 60)
    void matchesTheDoubleReference(@ForAll @IntRange(min = 1, max = 300) int m, @ForAll @IntRange(min = 1, max = 300) int k,
                                   @ForAll @IntRange(min = 1, max = 300) int n, @ForAll boolean transA,
                                   @ForAll boolean transB, @ForAll boolean accumulate, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] a = MatmulReference.gaussian(rnd, m * k), b = MatmulReference.gaussian(rnd, k * n);
        float[] c0 = MatmulReference.gaussian(rnd, m * n);
        MatmulReference.Product expected = MatmulReference.matmul(a, transA, b, transB, accumulate ? c0 : null, m, k, n);
        float[] first = null;
        for (FloatMatmulKernels path : PATHS) {
            float[] c = run(path, a, transA, b, transB, c0, accumulate, m, k, n);
            MatmulReference.assertClose(path.getClass().getSimpleName() + " " + shape(m, k, n, transA, transB, accumulate),
                    c, expected, RTOL);
            // Tiles run the same fused multiply-adds in the same order on both paths: identical bits.
            if (first != null && m > 1) assertArrayEquals(first, c, "scalar and vector tiles differ");
            first = c;
        }
    }

    /**
     * Inner and column dimensions past one cache block (KC is 256 or 512, NC 512): ragged last K blocks added
     * into c, several column blocks per thread, every transpose case, with and without accumulation. Rows
     * stay few (the row blocks are covered above) so that the double reference stays cheap.
     */
    @Property(tries = 30)
    void matchesTheDoubleReferenceAcrossCacheBlocks(@ForAll @IntRange(min = 2, max = 13) int m,
                                                    @ForAll @IntRange(min = 257, max = 1300) int k,
                                                    @ForAll @IntRange(min = 1, max = 1100) int n, @ForAll boolean transA,
                                                    @ForAll boolean transB, @ForAll boolean accumulate, @ForAll long seed) {
        matchesTheDoubleReference(m, k, n, transA, transB, accumulate, seed);
    }

    @Test
    void longSumsOf4096TermsStayWithinTolerance() {
        Random rnd = new Random(7);
        int m = 5, k = 4096, n = 70;
        float[] a = MatmulReference.gaussian(rnd, m * k), b = MatmulReference.gaussian(rnd, k * n);
        MatmulReference.Product expected = MatmulReference.matmul(a, false, b, true, null, m, k, n);
        for (FloatMatmulKernels path : PATHS)
            MatmulReference.assertClose(path.getClass().getSimpleName(), run(path, a, false, b, true, new float[m * n], false, m, k, n),
                    expected, RTOL);
    }

    @Test
    void mismatchedShapesNameEveryShape() {
        try (Tensor a = Tensor.zeros(DType.F32, 3, 4); Tensor b = Tensor.zeros(DType.F32, 5, 6);
             Tensor c = Tensor.zeros(DType.F32, 3, 6)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> FloatMatmul.matmul(a, false, b, false, c, false));
            assertTrue(e.getMessage().contains("[3, 4]") && e.getMessage().contains("[5, 6]") && e.getMessage().contains("[3, 6]"),
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> FloatMatmul.matmul(a, false, a, true, c, false));
        }
    }

    private static float[] run(FloatMatmulKernels path, float[] a, boolean transA, float[] b, boolean transB, float[] c0,
                               boolean accumulate, int m, int k, int n) {
        try (Tensor ta = transA ? Tensor.of(a, k, m) : Tensor.of(a, m, k); Tensor tb = transB ? Tensor.of(b, n, k) : Tensor.of(b, k, n);
             Tensor tc = Tensor.of(c0, m, n)) {
            FloatMatmul.matmul(path, ta, transA, tb, transB, tc, accumulate);
            return tc.toFloatArray();
        }
    }

    private static String shape(int m, int k, int n, boolean ta, boolean tb, boolean acc) {
        return "m=" + m + " k=" + k + " n=" + n + (ta ? " aᵀ" : "") + (tb ? " bᵀ" : "") + (acc ? " +c" : "");
    }
}

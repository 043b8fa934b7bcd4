package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
     * Packing four rows of op(a) into a panel is a copy: the Vector API's in-register transpose gives the plain
     * loop's array exactly, at every kc (whole blocks of 8 steps and the ragged rest), row stride and offset,
     * and writes nothing outside the panel.
     */
    @Property(tries = 100)
    void packedRowsEqualThePlainLoop(@ForAll @IntRange(min = 0, max = 70) int kc, @ForAll @IntRange(min = 0, max = 9) int pad,
                                     @ForAll @IntRange(min = 0, max = 5) int at, @ForAll long seed) {
        Random rnd = new Random(seed);
        int lda = kc + pad;
        float[] a = MatmulReference.gaussian(rnd, pad + 4 * lda);
        java.lang.foreign.MemorySegment seg = Scratch.floats(a.length);
        java.lang.foreign.MemorySegment.copy(a, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, a.length);
        float[] expected = new float[at + 4 * kc + 3], actual = new float[at + 4 * kc + 3];
        java.util.Arrays.fill(expected, -7f);
        java.util.Arrays.fill(actual, -7f);
        FloatMatmulScalar.INSTANCE.packRows4(seg, pad, lda, kc, expected, at);
        for (FloatMatmulKernels path : PATHS) {
            float[] got = actual.clone();
            path.packRows4(seg, pad, lda, kc, got, at);
            assertArrayEquals(expected, got, path.getClass().getSimpleName() + " kc " + kc);
        }
        for (int r = 0; r < 4; r++)
            for (int p = 0; p < kc; p++) assertEquals(a[pad + r * lda + p], expected[at + 4 * p + r]);
    }

    /**
     * Packing mr whole rows of op(a) into one panel is a copy: the 12-row scatter of the Vector API (whole vectors of
     * steps and the ragged rest) and every other height give the plain loop's array, and write nothing outside it.
     */
    @Property(tries = 100)
    void packedRowPanelsEqualThePlainLoop(@ForAll @IntRange(min = 0, max = 70) int kc, @ForAll @IntRange(min = 1, max = 13) int mr,
                                          @ForAll @IntRange(min = 0, max = 9) int pad, @ForAll @IntRange(min = 0, max = 5) int at,
                                          @ForAll long seed) {
        Random rnd = new Random(seed);
        int lda = kc + pad;
        float[] a = MatmulReference.gaussian(rnd, pad + mr * lda);
        java.lang.foreign.MemorySegment seg = Scratch.floats(a.length);
        java.lang.foreign.MemorySegment.copy(a, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, a.length);
        float[] expected = new float[at + mr * kc + 3];
        java.util.Arrays.fill(expected, -7f);
        for (int r = 0; r < mr; r++)
            for (int p = 0; p < kc; p++) expected[at + mr * p + r] = a[pad + r * lda + p];
        for (FloatMatmulKernels path : PATHS) {
            float[] got = new float[expected.length];
            java.util.Arrays.fill(got, -7f);
            path.packRows(seg, pad, lda, mr, kc, got, at, new float[Math.max(1, kc)]);
            assertArrayEquals(expected, got, path.getClass().getSimpleName() + " kc " + kc + " mr " + mr);
        }
    }

    /**
     * Packing one panel w wide (the 12-row panels of aᵀ at 512 bits take the masked vector path) is a copy: every
     * path gives the plain copy's array, for any width, stride and offset, and writes nothing outside the panel.
     */
    @Property(tries = 100)
    void packedPanelsEqualThePlainCopy(@ForAll @IntRange(min = 0, max = 40) int kc, @ForAll @IntRange(min = 1, max = 40) int w,
                                       @ForAll @IntRange(min = 0, max = 9) int pad, @ForAll @IntRange(min = 0, max = 5) int at,
                                       @ForAll long seed) {
        Random rnd = new Random(seed);
        int stride = w + pad;
        float[] src = MatmulReference.gaussian(rnd, pad + kc * stride);
        java.lang.foreign.MemorySegment seg = Scratch.floats(Math.max(1, src.length));
        java.lang.foreign.MemorySegment.copy(src, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, src.length);
        float[] expected = new float[at + kc * w + 3];
        java.util.Arrays.fill(expected, -7f);
        for (int p = 0; p < kc; p++)
            for (int j = 0; j < w; j++) expected[at + p * w + j] = src[pad + p * stride + j];
        for (FloatMatmulKernels path : PATHS) {
            float[] got = new float[expected.length];
            java.util.Arrays.fill(got, -7f);
            path.packPanel(seg, pad, stride, kc, w, got, at);
            assertArrayEquals(expected, got, path.getClass().getSimpleName() + " kc " + kc + " w " + w);
        }
    }

    /**
     * Inner and column dimensions past one cache block (KC is 512, NC 512): ragged last K blocks added
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

    /**
     * The product is cut into pieces that threads claim as they come (how many depends on the thread
     * count, which one runs where on timing), so every element must come out the same whatever piece
     * it fell in: each column slice (and, when the rows are split, each row slice) computed as a product
     * of its own, alone in its call, gives the same bits as the whole product. That is what makes the
     * result independent of the number of threads.
     */
    @Test
    void piecesOfTheSplitDoNotChangeBits() {
        Random rnd = new Random(11);
        for (FloatMatmulKernels path : PATHS) {
            // Columns split (n has more tiles): 2 K slabs, several pieces and NC blocks.
            int m = 37, k = 700, n = 1500, w = 48;
            float[] a = MatmulReference.gaussian(rnd, m * k), b = MatmulReference.gaussian(rnd, k * n);
            float[] c0 = MatmulReference.gaussian(rnd, m * n);
            float[] whole = run(path, a, false, b, false, c0, true, m, k, n);
            for (int j0 = 0; j0 < n; j0 += w) {
                int nw = Math.min(w, n - j0);
                float[] bs = new float[k * nw], cs = new float[m * nw];
                for (int p = 0; p < k; p++) System.arraycopy(b, p * n + j0, bs, p * nw, nw);
                for (int i = 0; i < m; i++) System.arraycopy(c0, i * n + j0, cs, i * nw, nw);
                float[] slice = run(path, a, false, bs, false, cs, true, m, k, nw);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < nw; j++)
                        assertEquals(whole[i * n + j0 + j], slice[i * nw + j], path + " column slice at " + j0 + ": element " + i + "," + j);
            }
            // Rows split (m has more tiles), op(a) = aᵀ: each row slice of c from its own columns of a.
            m = 900; k = 600; n = 10;
            float[] at = MatmulReference.gaussian(rnd, k * m), b2 = MatmulReference.gaussian(rnd, k * n);
            float[] whole2 = run(path, at, true, b2, false, new float[m * n], false, m, k, n);
            for (int i0 = 0; i0 < m; i0 += 100) {
                float[] as = new float[k * 100];
                for (int p = 0; p < k; p++) System.arraycopy(at, p * m + i0, as, p * 100, 100);
                float[] slice = run(path, as, true, b2, false, new float[100 * n], false, 100, k, n);
                for (int i = 0; i < 100 * n; i++)
                    assertEquals(whole2[i0 * n + i], slice[i], path + " row slice at " + i0 + ": element " + i);
            }
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

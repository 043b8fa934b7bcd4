package tern.simd;

import static org.junit.jupiter.api.Assertions.fail;
import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.gaussian;
import static tern.simd.OpsTestSupport.pathOf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * The blocked attention forward (prefill): its two tile kernels, {@link FloatKernels#scoreBlock} and
 * {@link FloatKernels#weightBlock}, against double sums on both kernel paths (at whatever width
 * -Dtern.simd.bits forces), over ragged rows, depths, lengths and strides; and the whole forward on rows
 * longer than {@link AttentionTest} reaches, so the tiles' two-vector main loops run at every width.
 */
class AttentionBlocksTest {
    private static final FloatKernels[] PATHS = {ScalarFloatKernels.INSTANCE, VectorFloatKernels.INSTANCE};
    /** Cells the kernels must not write hold this. */
    private static final float UNTOUCHED = 1234.5f;
    /** The unit roundoff of float. */
    private static final double U = Math.ulp(1f) / 2;

    private static MemorySegment segment(float[] values) {
        MemorySegment s = Scratch.floats(values.length);
        MemorySegment.copy(values, 0, s, ValueLayout.JAVA_FLOAT, 0, values.length);
        return s;
    }

    private static float[] sentinels(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, UNTOUCHED);
        return a;
    }

    /**
     * Checks out[oi + r·oStride + c] against Σ_t a(r, t)·b(t, c) in double, within the bound of float
     * summation in sequence, (terms + 1)·u·Σ|a·b|, and that every other cell still holds the sentinel.
     */
    private static void check(String what, float[] out, long oi, long oStride, int rows, int cols, int terms,
                              java.util.function.IntBinaryOperator aAt, float[] a,
                              java.util.function.IntBinaryOperator bAt, float[] b) {
        boolean[] written = new boolean[out.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                double sum = 0, abs = 0;
                for (int t = 0; t < terms; t++) {
                    double x = (double) a[aAt.applyAsInt(r, t)] * b[bAt.applyAsInt(t, c)];
                    sum += x;
                    abs += Math.abs(x);
                }
                int at = (int) (oi + r * oStride + c);
                written[at] = true;
                double err = Math.abs(out[at] - sum), allowed = (terms + 1) * U * abs;
                if (!(err <= allowed))
                    fail(what + ": row " + r + " col " + c + " is " + out[at] + ", expected " + sum + " (error " + err
                            + " > " + allowed + ")");
            }
        for (int i = 0; i < out.length; i++)
            if (!written[i] && out[i] != UNTOUCHED) fail(what + ": cell " + i + " outside the tile was written");
    }

    @Property(tries = 60)
    void scoreBlockMatchesDoubleSums(@ForAll @IntRange(min = 1, max = 4) int rows,
                                     @ForAll @IntRange(min = 0, max = 140) int depth,
                                     @ForAll @IntRange(min = 0, max = 200) int n,
                                     @ForAll @IntRange(min = 0, max = 9) int pad, @ForAll long seed) {
        Random rnd = new Random(seed);
        int qi = pad, qStride = depth + pad, ki = pad / 2, kStride = n + pad, si = pad + 1, sStride = n + pad;
        float[] q = gaussian(rnd, qi + rows * qStride + 1, 1), kT = gaussian(rnd, ki + depth * kStride + 1, 1);
        for (FloatKernels k : PATHS) {
            MemorySegment s = segment(sentinels(si + 4 * sStride + 1));
            k.scoreBlock(segment(q), qi, qStride, rows, depth, segment(kT), ki, kStride, n, s, si, sStride);
            check(k.getClass().getSimpleName() + " scoreBlock", s.toArray(ValueLayout.JAVA_FLOAT), si, sStride,
                    rows, n, depth, (r, d) -> qi + r * qStride + d, q, (d, j) -> ki + d * kStride + j, kT);
        }
    }

    @Property(tries = 60)
    void weightBlockMatchesDoubleSums(@ForAll @IntRange(min = 1, max = 4) int rows,
                                      @ForAll @IntRange(min = 0, max = 200) int n,
                                      @ForAll @IntRange(min = 0, max = 140) int width,
                                      @ForAll @IntRange(min = 0, max = 9) int pad, @ForAll long seed) {
        Random rnd = new Random(seed);
        int pi = pad, pStride = n + pad, vi = pad / 2, vStride = width + pad, oi = pad + 1, oStride = width + pad;
        float[] p = gaussian(rnd, pi + rows * pStride + 1, 1), v = gaussian(rnd, vi + n * vStride + 1, 1);
        for (FloatKernels k : PATHS) {
            MemorySegment out = segment(sentinels(oi + 4 * oStride + 1));
            k.weightBlock(segment(p), pi, pStride, rows, n, segment(v), vi, vStride, width, out, oi, oStride);
            check(k.getClass().getSimpleName() + " weightBlock", out.toArray(ValueLayout.JAVA_FLOAT), oi, oStride,
                    rows, width, n, (r, j) -> pi + r * pStride + j, p, (j, d) -> vi + j * vStride + d, v);
        }
    }

    /** Prefill-length rows (to 200 queries, some with cached keys before them) against the double reference. */
    @Property(tries = 12)
    void longRowsMatchTheReference(@ForAll @IntRange(min = 8, max = 200) int qLen,
                                   @ForAll @IntRange(min = 0, max = 40) int extraKv,
                                   @ForAll @IntRange(min = 1, max = 3) int heads,
                                   @ForAll @IntRange(min = 1, max = 64) int halfDim, @ForAll long seed) {
        int headDim = 2 * halfDim, kvLen = qLen + extraKv, width = heads * headDim;
        Random rnd = new Random(seed);
        float[] q = gaussian(rnd, qLen * width, 1), k = gaussian(rnd, kvLen * width, 1), v = gaussian(rnd, kvLen * width, 1);
        Reference.AttentionOut ref = Reference.attention(Reference.toDouble(q), Reference.toDouble(k),
                Reference.toDouble(v), 1, qLen, kvLen, heads, headDim);
        for (CpuBackend be : backends())
            try (Tensor tq = Tensor.of(q, qLen, width); Tensor tk = Tensor.of(k, kvLen, width);
                 Tensor tv = Tensor.of(v, kvLen, width); Tensor out = Tensor.zeros(DType.F32, qLen, width);
                 Tensor lse = Tensor.zeros(DType.F32, heads, qLen)) {
                be.attention(tq, tk, tv, 1, qLen, kvLen, heads, headDim, out, lse);
                // Scores: ≤128-term float sums (~1e-6 relative); outputs: ≤240-term sums of p·v with Σp = 1.
                assertClose(pathOf(be) + " lse", lse.toFloatArray(), ref.lse(), 1e-6, 1e-6);
                assertClose(pathOf(be) + " out", out.toFloatArray(), ref.out(), 1e-5, 1e-5);
            }
    }
}

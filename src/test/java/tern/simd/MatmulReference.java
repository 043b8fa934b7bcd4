package tern.simd;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Random;
import tern.runtime.ShardAxis;

/**
 * Plain-Java references for the matmul kernels: products accumulated in double, each element with the
 * bound Σ|terms| that scales its rounding error, and the absmean ternary quantizer written from its
 * definition (γ_s = ε + mean|w| over the shard, T = clamp(rint(w/γ), −1, 1)).
 */
final class MatmulReference {
    private MatmulReference() {}

    /** An exact-in-double product with each element's Σ|terms| (the scale of an f32 sum's rounding). */
    record Product(double[] value, double[] magnitude) {}

    /** op(a)·op(b) (+ c0 when c0 is not null), a and b row-major as given, in double. */
    static Product matmul(float[] a, boolean transA, float[] b, boolean transB, float[] c0, int m, int k, int n) {
        double[] v = new double[m * n], mag = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = c0 == null ? 0 : c0[i * n + j], abs = Math.abs(s);
                for (int p = 0; p < k; p++) {
                    double t = (double) (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
                    s += t;
                    abs += Math.abs(t);
                }
                v[i * n + j] = s;
                mag[i * n + j] = abs;
            }
        return new Product(v, mag);
    }

    /** Per-shard γ = ε + mean|w|, summed in double element by element in row-major order. */
    static float[] scales(float[] w, int rows, int cols, int shards, ShardAxis axis, float eps) {
        double[] sum = new double[shards];
        long[] count = new long[shards];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int s = shard(axis == ShardAxis.ROWS ? r : c, axis == ShardAxis.ROWS ? rows : cols, shards);
                sum[s] += Math.abs(w[r * cols + c]);
                count[s]++;
            }
        float[] g = new float[shards];
        for (int s = 0; s < shards; s++) g[s] = eps + (float) (sum[s] / count[s]);
        return g;
    }

    /** Shard of index i among `shards` equal cuts of `extent` (TernaryWeights.shardOf). */
    static int shard(int i, int extent, int shards) {
        return (int) ((long) i * shards / extent);
    }

    /** T ∈ {−1, 0, 1} per element. */
    static float[] ternary(float[] w, int rows, int cols, float[] gamma, ShardAxis axis) {
        float[] t = new float[w.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float g = gamma[shard(axis == ShardAxis.ROWS ? r : c, axis == ShardAxis.ROWS ? rows : cols, gamma.length)];
                float q = Math.max(-1f, Math.min(1f, (float) Math.rint(w[r * cols + c] / g)));
                t[r * cols + c] = q == 0 ? 0f : q;   // T is an integer: rint(−0.3) = −0.0 counts as 0
            }
        return t;
    }

    /** γ·T, the dequantized matrix. */
    static float[] dequantized(float[] w, int rows, int cols, int shards, ShardAxis axis, float eps) {
        float[] g = scales(w, rows, cols, shards, axis, eps), t = ternary(w, rows, cols, g, axis);
        float[] out = new float[w.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                out[r * cols + c] = t[r * cols + c] * g[shard(axis == ShardAxis.ROWS ? r : c, axis == ShardAxis.ROWS ? rows : cols, shards)];
        return out;
    }

    static float[] gaussian(Random rnd, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) rnd.nextGaussian();
        return x;
    }

    /** Every |actual − expected| ≤ rtol·Σ|terms| (+ a tiny floor for all-zero sums). */
    static void assertClose(String what, float[] actual, Product expected, double rtol) {
        for (int i = 0; i < actual.length; i++) {
            double err = Math.abs(actual[i] - expected.value()[i]), allowed = rtol * expected.magnitude()[i] + 1e-30;
            if (!(err <= allowed))
                fail(what + ": element " + i + " is " + actual[i] + ", expected " + expected.value()[i]
                        + " (error " + err + ", allowed " + allowed + ")");
        }
    }
}

package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tern.cuda.Gpu.assertClose;

import java.util.Random;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import jcuda.Pointer;

import tern.runtime.DType;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * Ternary packing and products, and the three fake quantizers, against plain-Java references. The
 * quantized values are compared exactly: γ (or s) and every rounding step use the same f32 formula on
 * both sides, so the GPU must reproduce them bit for bit; products of γT with activations to 1e-5.
 */
class TernaryTest {
    private static CudaBackend cuda;

    /** Per test, so each is reported skipped (not silently absent) where there is no GPU. */
    @BeforeEach
    void device() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        cuda = Gpu.backend();
    }

    private static int shardOf(int index, int shards, int extent) {
        return (int) ((long) index * shards / extent);
    }

    /** γ per shard: eps + (float) mean|w| with the sum in double (the CPU backend's formula). */
    static float[] gammas(float[] w, int rows, int cols, int shards, ShardAxis axis, float eps) {
        double[] sum = new double[shards];
        long[] count = new long[shards];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int s = axis == ShardAxis.ROWS ? shardOf(r, shards, rows) : shardOf(c, shards, cols);
                sum[s] += Math.abs(w[r * cols + c]);
                count[s]++;
            }
        float[] g = new float[shards];
        for (int s = 0; s < shards; s++) g[s] = eps + (float) (count[s] == 0 ? 0 : sum[s] / count[s]);
        return g;
    }

    /** T = clamp(rint(w/γ), −1, 1). */
    static int[] ternary(float[] w, int rows, int cols, float[] g, ShardAxis axis) {
        int[] t = new int[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float gamma = g[axis == ShardAxis.ROWS ? shardOf(r, g.length, rows) : shardOf(c, g.length, cols)];
                float q = (float) Math.rint(w[r * cols + c] / gamma);
                t[r * cols + c] = q > 0 ? 1 : q < 0 ? -1 : 0;
            }
        return t;
    }

    static float[] dequantized(int[] t, int rows, int cols, float[] g, ShardAxis axis) {
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                float gamma = g[axis == ShardAxis.ROWS ? shardOf(r, g.length, rows) : shardOf(c, g.length, cols)];
                out[r * cols + c] = gamma * t[r * cols + c];
            }
        return out;
    }

    private record Case(int rows, int cols, int shards, ShardAxis axis, float[] w, String name) {}

    private static Case randomCase(Random rnd, int i) {
        int rows = 1 + rnd.nextInt(i < 3 ? 4 : 300), cols = 1 + rnd.nextInt(i % 4 == 3 ? 1100 : 300);
        ShardAxis axis = rnd.nextBoolean() ? ShardAxis.ROWS : ShardAxis.COLS;
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        int shards = 1 + rnd.nextInt(Math.min(3, extent));
        float[] w = Gpu.random(rnd, rows * cols, 0.05f + rnd.nextFloat());
        return new Case(rows, cols, shards, axis, w, "W[" + rows + ", " + cols + "] " + shards + " shards along " + axis);
    }

    @Test
    void packingMatchesTheReferenceBitForBit() {
        Random rnd = new Random(21);
        for (int i = 0; i < 16; i++) {
            Case k = randomCase(rnd, i);
            float[] g = gammas(k.w, k.rows, k.cols, k.shards, k.axis, 1e-5f);
            int[] t = ternary(k.w, k.rows, k.cols, g, k.axis);
            try (Tensor w = cuda.upload(k.w, k.rows, k.cols); TernaryWeights p = cuda.packTernary(w, k.shards, k.axis, 1e-5f);
                 Tensor out = Gpu.poisoned(cuda, k.rows, k.cols)) {
                assertArrayEquals(g, p.scales(), k.name + ": scales");
                int[] words = new int[(int) (TernaryLayout.packedBytes(k.rows, k.cols) / 4)];
                cudaDownload(p.packed(), words);
                for (int r = 0; r < k.rows; r++)
                    for (int c = 0; c < k.cols; c++)
                        assertEquals(t[r * k.cols + c], TernaryLayout.decode(words, k.cols, r, c), k.name + ": T[" + r + ", " + c + "]");
                // Padding (rows to 16, columns to 32) decodes to 0, so kernels may read it freely.
                for (int r = 0; r < TernaryLayout.paddedRows(k.rows); r++)
                    for (int c = 0; c < TernaryLayout.kcCount(k.cols) * 32; c++)
                        if (r >= k.rows || c >= k.cols)
                            assertEquals(0, TernaryLayout.decode(words, k.cols, r, c), k.name + ": padding (" + r + ", " + c + ")");
                cuda.unpackTernary(p, out);
                assertArrayEquals(dequantized(t, k.rows, k.cols, g, k.axis), cuda.download(out), k.name + ": unpacked γT");
            }
        }
    }

    /** Back to the accumulate start values, or poisoned. */
    private static void reset(Tensor t, float[] start) {
        if (start == null) cuda.fill(t, Float.NaN);
        else try (Tensor s = cuda.upload(start, t.shape())) { cuda.copy(s, t); }
    }

    private static void cudaDownload(Tensor packed, int[] words) {
        DeviceStorage s = (DeviceStorage) packed.storage();
        cuda.synchronize();                                   // makes the context current on this thread
        jcuda.driver.JCudaDriver.cuMemcpyDtoH(Pointer.to(words), s.pointer(), 4L * words.length);
    }

    private static double[] product(float[] x, float[] wq, int m, int rows, int cols, float[] y0) {
        double[] y = new double[m * rows];
        for (int i = 0; i < m; i++)
            for (int r = 0; r < rows; r++) {
                double s = y0 == null ? 0 : y0[i * rows + r];
                for (int c = 0; c < cols; c++) s += (double) x[i * cols + c] * wq[r * cols + c];
                y[i * rows + r] = s;
            }
        return y;
    }

    private static double[] productT(float[] dy, float[] wq, int m, int rows, int cols, float[] dx0) {
        double[] dx = new double[m * cols];
        for (int i = 0; i < m; i++)
            for (int c = 0; c < cols; c++) {
                double s = dx0 == null ? 0 : dx0[i * cols + c];
                for (int r = 0; r < rows; r++) s += (double) dy[i * rows + r] * wq[r * cols + c];
                dx[i * cols + c] = s;
            }
        return dx;
    }

    @Test
    void ternaryProductsMatchTheDequantizedReference() {
        Random rnd = new Random(22);
        for (int i = 0; i < 20; i++) {
            Case k = randomCase(rnd, i);
            // m = 1..4 takes a tensor-core matrix-vector kernel (sm_80+; 1..2 the integer one, 3..4 the f16 one),
            // larger m cuBLAS on the unpacked γT;
            // the tiled kernel on the packed weights is checked on every shape too.
            int m = i % 3 == 0 ? 1 : i % 3 == 1 ? 2 + rnd.nextInt(3) : 5 + rnd.nextInt(150);
            boolean acc = rnd.nextBoolean();
            float[] g = gammas(k.w, k.rows, k.cols, k.shards, k.axis, 1e-5f);
            float[] wq = dequantized(ternary(k.w, k.rows, k.cols, g, k.axis), k.rows, k.cols, g, k.axis);
            float[] x = Gpu.random(rnd, m * k.cols), dy = Gpu.random(rnd, m * k.rows);
            float[] y0 = Gpu.random(rnd, m * k.rows), dx0 = Gpu.random(rnd, m * k.cols);
            String what = k.name + " m=" + m + " accumulate=" + acc;
            try (Tensor w = cuda.upload(k.w, k.rows, k.cols); TernaryWeights p = cuda.packTernary(w, k.shards, k.axis, 1e-5f);
                 Tensor tx = cuda.upload(x, m, k.cols); Tensor tdy = cuda.upload(dy, m, k.rows);
                 Tensor y = acc ? cuda.upload(y0, m, k.rows) : Gpu.poisoned(cuda, m, k.rows);
                 Tensor dx = acc ? cuda.upload(dx0, m, k.cols) : Gpu.poisoned(cuda, m, k.cols)) {
                double[] yRef = product(x, wq, m, k.rows, k.cols, acc ? y0 : null);
                double[] dxRef = productT(dy, wq, m, k.rows, k.cols, acc ? dx0 : null);
                cuda.ternaryMatmul(tx, p, y, acc);
                assertClose(cuda.download(y), yRef, Gpu.F32, "y = x·(γT)ᵀ " + what);
                cuda.ternaryMatmulT(tdy, p, dx, acc);
                assertClose(cuda.download(dx), dxRef, Gpu.F32, "dx = dy·γT " + what);
                reset(y, acc ? y0 : null);
                cuda.ternaryGemmKernel(tx, p, y, acc);
                assertClose(cuda.download(y), yRef, Gpu.F32, "tiled y = x·(γT)ᵀ " + what);
                reset(dx, acc ? dx0 : null);
                cuda.ternaryGemmTKernel(tdy, p, dx, acc);
                assertClose(cuda.download(dx), dxRef, Gpu.F32, "tiled dx = dy·γT " + what);
            }
        }
    }

    @Test
    void gemvOnAWideMatrixNeedingLargeSharedMemory() {
        // 16384 columns: x staged as four 8-bit digits in 64 KiB of shared memory (above the 48 KiB default);
        // activations spanning 12 orders of magnitude exercise the per-row power-of-two scale.
        Random rnd = new Random(23);
        int rows = 70, cols = 16384;
        float[] wv = Gpu.random(rnd, rows * cols), x = Gpu.random(rnd, cols);
        for (int c = 0; c < cols; c++) x[c] *= (float) Math.pow(10, rnd.nextInt(12) - 8);
        float[] g = gammas(wv, rows, cols, 1, ShardAxis.ROWS, 1e-5f);
        float[] wq = dequantized(ternary(wv, rows, cols, g, ShardAxis.ROWS), rows, cols, g, ShardAxis.ROWS);
        try (Tensor w = cuda.upload(wv, rows, cols); TernaryWeights p = cuda.packTernary(w, 1, ShardAxis.ROWS, 1e-5f);
             Tensor tx = cuda.upload(x, 1, cols); Tensor y = Gpu.poisoned(cuda, 1, rows)) {
            cuda.ternaryMatmul(tx, p, y, false);
            assertClose(cuda.download(y), product(x, wq, 1, rows, cols, null), Gpu.F32, "gemv 70×16384");
        }
    }

    /**
     * One or two activation rows take the integer kernel on sm_80+ (tern_gemv_imma, ternary_mma.cu): each
     * row x' (x·γ_c folded in f32 for COLS shards) is scaled by s = 2^clamp(29 − e, −126, 127), e the
     * exponent of max|x'|, rounded to integers X, and X·T is summed exactly in int32; the result is
     * X·T/s (·γ_r for ROWS shards) in double, rounded once to f32, then added to y. So, element by element,
     * |out − ref| ≤ Σ_c |wq_rc|·½/s (COLS: Σ_c |T_rc|·½/s) [rounding of X]
     *             + Σ_c 2⁻²⁴·|x_c·wq_rc| (COLS only) [the f32 product x·γ_c]
     *             + 2⁻²²·(|y0_r| + Σ_c |x_c·wq_rc|) [the f32 roundings of the result and of the add, 2⁻²⁴
     *               of values at most (1 + 2⁻²⁰) times that sum, with room for the double steps].
     * Activations spanning 14 orders of magnitude make the rounding of X the dominant term for small ones;
     * a non-finite activation makes the exact product NaN, and the whole output row must be NaN.
     */
    @Test
    void gemvOfOneOrTwoRowsIsWithinTheFixedPointBound() {
        // Below sm_80 these rows go to cuBLAS or the tiled kernel, whose f32 sums this bound does not cover.
        Assumptions.assumeTrue(cuda.arch() >= 80, "the integer GEMV kernel needs sm_80");
        Random rnd = new Random(27);
        for (int i = 0; i < 24; i++) {
            Case k = randomCase(rnd, i);
            int rows = k.rows, cols = i % 6 == 5 ? 16384 + rnd.nextInt(100) : k.cols, m = 1 + i % 2;
            float[] wv = cols == k.cols ? k.w : Gpu.random(rnd, rows * cols, 0.05f + rnd.nextFloat());
            ShardAxis axis = k.axis;
            int shards = Math.min(k.shards, axis == ShardAxis.ROWS ? rows : cols);
            boolean acc = rnd.nextBoolean();
            float[] g = gammas(wv, rows, cols, shards, axis, 1e-5f);
            int[] t = ternary(wv, rows, cols, g, axis);
            float[] wq = dequantized(t, rows, cols, g, axis);
            float[] x = Gpu.random(rnd, m * cols), y0 = Gpu.random(rnd, m * rows);
            for (int j = 0; j < x.length; j++) x[j] *= (float) Math.pow(10, rnd.nextInt(14) - 10);
            if (i % 5 == 4) java.util.Arrays.fill(x, 0, cols, 0f);                       // an all-zero row: s = 1
            int nanRow = i % 7 == 6 ? m - 1 : -1;
            if (nanRow >= 0) x[nanRow * cols + rnd.nextInt(cols)] = i % 2 == 0 ? Float.NaN : Float.POSITIVE_INFINITY;
            String what = "W[" + rows + ", " + cols + "] " + shards + " shards along " + axis + " m=" + m + " accumulate=" + acc;
            try (Tensor w = cuda.upload(wv, rows, cols); TernaryWeights p = cuda.packTernary(w, shards, axis, 1e-5f);
                 Tensor tx = cuda.upload(x, m, cols);
                 Tensor y = acc ? cuda.upload(y0, m, rows) : Gpu.poisoned(cuda, m, rows)) {
                cuda.ternaryMatmul(tx, p, y, acc);
                float[] out = cuda.download(y);
                for (int a = 0; a < m; a++) {
                    float[] xf = new float[cols];                       // x' as the kernel forms it
                    float max = 0f;
                    for (int c = 0; c < cols; c++) {
                        xf[c] = axis == ShardAxis.COLS ? x[a * cols + c] * g[shardOf(c, shards, cols)] : x[a * cols + c];
                        max = Math.max(max, Math.abs(xf[c]));
                    }
                    double halfStep = max == 0f ? 0.5 : 0.5 * Math.scalb(1.0, -Math.max(-126, Math.min(127, 29 - Math.getExponent(max))));
                    for (int r = 0; r < rows; r++) {
                        float o = out[a * rows + r];
                        if (a == nanRow) {
                            assertTrue(Float.isNaN(o), what + ": row " + a + " has a non-finite activation, y[" + r + "] = " + o);
                            continue;
                        }
                        double ref = acc ? y0[a * rows + r] : 0, mag = acc ? Math.abs(y0[a * rows + r]) : 0, bound = 0;
                        for (int c = 0; c < cols; c++) {
                            double prod = (double) x[a * cols + c] * wq[r * cols + c];
                            ref += prod;
                            mag += Math.abs(prod);
                            if (axis == ShardAxis.COLS) bound += Math.abs(t[r * cols + c]) * halfStep + 0x1p-24 * Math.abs(prod);
                            else bound += Math.abs(wq[r * cols + c]) * halfStep;
                        }
                        bound += 0x1p-22 * mag;
                        assertTrue(Math.abs(o - ref) <= bound, what + ": y[" + a + ", " + r + "] = " + o + ", reference " + ref
                                + ", bound " + bound);
                    }
                }
            }
        }
    }

    @Test
    void fakeTernaryEqualsPackThenUnpackAndMayAlias() {
        Random rnd = new Random(24);
        for (int i = 0; i < 10; i++) {
            Case k = randomCase(rnd, i);
            float[] g = gammas(k.w, k.rows, k.cols, k.shards, k.axis, 1e-5f);
            float[] ref = dequantized(ternary(k.w, k.rows, k.cols, g, k.axis), k.rows, k.cols, g, k.axis);
            try (Tensor w = cuda.upload(k.w, k.rows, k.cols); Tensor out = Gpu.poisoned(cuda, k.rows, k.cols)) {
                assertArrayEquals(g, cuda.quantizeTernary(w, k.shards, k.axis, 1e-5f, out), k.name + ": γ");
                assertArrayEquals(ref, cuda.download(out), k.name + ": γT");
                cuda.quantizeTernary(w, k.shards, k.axis, 1e-5f, w);
                assertArrayEquals(ref, cuda.download(w), k.name + ": in place");
            }
        }
    }

    @Test
    void binaryQuantizerMatchesTheReference() {
        Random rnd = new Random(25);
        for (int i = 0; i < 10; i++) {
            int rows = 1 + rnd.nextInt(200), cols = 1 + rnd.nextInt(700);
            float[] w = Gpu.random(rnd, rows * cols);
            w[rnd.nextInt(w.length)] = 0f;                     // sign(0) = +1
            w[rnd.nextInt(w.length)] = -0f;
            Granularity gran = i % 2 == 0 ? Granularity.ROW : Granularity.TENSOR;
            int units = gran == Granularity.ROW ? rows : 1;
            double[] sums = new double[units];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) sums[gran == Granularity.ROW ? r : 0] += Math.abs(w[r * cols + c]);
            double[] ref = new double[w.length];
            float[] alphaRef = new float[units];
            for (int u = 0; u < units; u++) alphaRef[u] = (float) (sums[u] / (gran == Granularity.ROW ? cols : (long) rows * cols));
            for (int j = 0; j < w.length; j++) {
                float a = alphaRef[gran == Granularity.ROW ? j / cols : 0];
                ref[j] = w[j] >= 0 ? a : -a;
            }
            try (Tensor tw = cuda.upload(w, rows, cols); Tensor out = Gpu.poisoned(cuda, rows, cols)) {
                float[] alpha = cuda.quantizeBinary(tw, gran, out);
                assertClose(alpha, Gpu.toDouble(alphaRef), 1e-6, "α " + gran + " [" + rows + ", " + cols + "]");
                assertClose(cuda.download(out), ref, 1e-6, "α·sign(w) " + gran + " [" + rows + ", " + cols + "]");
            }
        }
    }

    @Test
    void symmetricQuantizerMatchesTheReferenceBitForBit() {
        Random rnd = new Random(26);
        for (int i = 0; i < 16; i++) {
            int rows = 1 + rnd.nextInt(150), cols = 1 + rnd.nextInt(600);
            int bits = 2 + rnd.nextInt(15);
            Granularity gran = i % 2 == 0 ? Granularity.ROW : Granularity.TENSOR;
            float[] x = Gpu.random(rnd, rows * cols, 3f);
            if (gran == Granularity.ROW) java.util.Arrays.fill(x, 0, cols, 0f);   // an all-zero row: s = 1
            float q = (1 << (bits - 1)) - 1;
            int units = gran == Granularity.ROW ? rows : 1;
            float[] max = new float[units];
            for (int j = 0; j < x.length; j++) {
                int u = gran == Granularity.ROW ? j / cols : 0;
                max[u] = Math.max(max[u], Math.abs(x[j]));
            }
            float[] ref = new float[x.length];
            for (int j = 0; j < x.length; j++) {
                int u = gran == Granularity.ROW ? j / cols : 0;
                float s = max[u] == 0 ? 1f : max[u] / q;
                ref[j] = s * Math.max(-q, Math.min(q, (float) Math.rint(x[j] / s)));
            }
            try (Tensor tx = cuda.upload(x, rows, cols); Tensor out = Gpu.poisoned(cuda, rows, cols)) {
                cuda.quantizeSymmetric(tx, bits, gran, out);
                assertArrayEquals(ref, cuda.download(out), bits + "-bit " + gran + " [" + rows + ", " + cols + "]");
            }
        }
    }

    @Test
    void badArgumentsAreRejected() {
        try (Tensor w = cuda.upload(new float[12], 3, 4)) {
            assertThrows(IllegalArgumentException.class, () -> cuda.packTernary(w, 4, ShardAxis.ROWS, 1e-5f));
            assertThrows(IllegalArgumentException.class, () -> cuda.quantizeSymmetric(w, 1, Granularity.ROW, w));
            try (Tensor host = Tensor.zeros(DType.F32, 3, 4)) {
                assertThrows(IllegalArgumentException.class, () -> cuda.quantizeTernary(host, 1, ShardAxis.ROWS, 1e-5f, host));
            }
        }
    }
}

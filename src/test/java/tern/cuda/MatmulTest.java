package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static tern.cuda.Gpu.assertClose;

import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import tern.runtime.Tensor;

/**
 * The float matmul on every path (cuBLAS FP32, cuBLAS with bf16 tensor-core inputs, our tiled kernel), all
 * four transpose combinations, with and without accumulation, on random shapes 1..300 per dimension
 * (ragged against the 64-wide tiles), against a double-precision reference.
 */
class MatmulTest {
    private static CudaBackend cuda;
    private static CudaBackend bf16;     // null where cuBLAS is missing

    /** Per test, so each is reported skipped (not silently absent) where there is no GPU. */
    @BeforeEach
    void device() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        cuda = Gpu.backend();
        if (bf16 == null && cuda.matmulPath() == CudaBackend.MatmulPath.CUBLAS)
            bf16 = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS_BF16, true);
    }

    @AfterAll
    static void release() {
        if (bf16 != null) bf16.close();
    }

    /** c = op(a)·op(b) (+ c0) in double; a, b, c row-major as stored. */
    static double[] reference(float[] a, boolean ta, float[] b, boolean tb, float[] c0, int m, int n, int k) {
        double[] c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = c0 == null ? 0 : c0[i * n + j];
                for (int p = 0; p < k; p++) {
                    double x = ta ? a[p * m + i] : a[i * k + p];
                    double y = tb ? b[j * k + p] : b[p * n + j];
                    s += x * y;
                }
                c[i * n + j] = s;
            }
        return c;
    }

    private interface Product {
        void run(Tensor a, boolean ta, Tensor b, boolean tb, Tensor c, boolean acc);
    }

    private static void check(Product product, double tolerance, String path, long seed, int cases) {
        Random rnd = new Random(seed);
        for (int t = 0; t < cases; t++) {
            int m = 1 + rnd.nextInt(t < 2 ? 3 : 300), n = 1 + rnd.nextInt(300), k = 1 + rnd.nextInt(300);
            boolean ta = rnd.nextBoolean(), tb = rnd.nextBoolean(), acc = rnd.nextBoolean();
            float[] a = Gpu.random(rnd, m * k), b = Gpu.random(rnd, k * n), c0 = Gpu.random(rnd, m * n);
            String what = path + " m=" + m + " n=" + n + " k=" + k + " transA=" + ta + " transB=" + tb + " accumulate=" + acc;
            try (Tensor da = ta ? cuda.upload(a, k, m) : cuda.upload(a, m, k);
                 Tensor db = tb ? cuda.upload(b, n, k) : cuda.upload(b, k, n);
                 Tensor dc = acc ? cuda.upload(c0, m, n) : Gpu.poisoned(cuda, m, n)) {
                product.run(da, ta, db, tb, dc, acc);
                assertClose(cuda.download(dc), reference(a, ta, b, tb, acc ? c0 : null, m, n, k), tolerance, what);
            }
        }
    }

    @Test
    void defaultPathMatchesTheReference() {
        check(cuda::matmul, Gpu.F32, cuda.matmulPath().toString(), 11, 24);
    }

    @Test
    void tiledKernelMatchesTheReference() {
        check(cuda::matmulKernel, Gpu.F32, "kernel", 12, 24);
    }

    @Test
    void bf16TensorCorePathIsWithinBf16Tolerance() {
        Assumptions.assumeTrue(bf16 != null, "cuBLAS not loaded: no bf16 path");
        check(bf16::matmul, Gpu.BF16, "cublas-bf16", 13, 12);
    }

    @Test
    void largeLinearLayerShapes() {
        // y = x·Wᵀ, dx = dy·W, dW += dyᵀ·x at one Spectra-99M MLP shape, on the configured path.
        Random rnd = new Random(14);
        int tokens = 256, in = 512, out = 1280;
        float[] x = Gpu.random(rnd, tokens * in), w = Gpu.random(rnd, out * in), dy = Gpu.random(rnd, tokens * out);
        try (Tensor tx = cuda.upload(x, tokens, in); Tensor tw = cuda.upload(w, out, in); Tensor tdy = cuda.upload(dy, tokens, out);
             Tensor y = Gpu.poisoned(cuda, tokens, out); Tensor dx = Gpu.poisoned(cuda, tokens, in);
             Tensor dw = cuda.zeros(tern.runtime.DType.F32, out, in)) {
            cuda.matmul(tx, false, tw, true, y, false);
            assertClose(cuda.download(y), reference(x, false, w, true, null, tokens, out, in), Gpu.F32, "y = x·Wᵀ");
            cuda.matmul(tdy, false, tw, false, dx, false);
            assertClose(cuda.download(dx), reference(dy, false, w, false, null, tokens, in, out), Gpu.F32, "dx = dy·W");
            cuda.matmul(tdy, true, tx, false, dw, true);
            assertClose(cuda.download(dw), reference(dy, true, x, false, null, out, in, tokens), Gpu.F32, "dW += dyᵀ·x");
        }
    }

    @Test
    void mismatchedShapesAreRejected() {
        try (Tensor a = cuda.upload(new float[6], 2, 3); Tensor b = cuda.upload(new float[8], 4, 2); Tensor c = cuda.zeros(tern.runtime.DType.F32, 2, 2)) {
            assertThrows(IllegalArgumentException.class, () -> cuda.matmul(a, false, b, false, c, false));
        }
    }
}

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

import tern.runtime.DType;
import tern.runtime.Tensor;

/** Embedding, RMSNorm, RoPE and cross-entropy, forward and backward, against double-precision references. */
class LayersTest {
    private static CudaBackend cuda;

    /** Per test, so each is reported skipped (not silently absent) where there is no GPU. */
    @BeforeEach
    void device() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        cuda = Gpu.backend();
    }

    @Test
    void embeddingGathersRowsAndScattersGradientsOfRepeatedIds() {
        Random rnd = new Random(31);
        for (int t = 0; t < 8; t++) {
            int vocab = 1 + rnd.nextInt(300), dim = 1 + rnd.nextInt(700), n = 1 + rnd.nextInt(200);
            float[] table = Gpu.random(rnd, vocab * dim), dout = Gpu.random(rnd, n * dim), d0 = Gpu.random(rnd, vocab * dim);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(Math.min(vocab, 1 + rnd.nextInt(8)));   // many repeats
            double[] out = new double[n * dim], dtable = Gpu.toDouble(d0);
            for (int i = 0; i < n; i++)
                for (int d = 0; d < dim; d++) {
                    out[i * dim + d] = table[ids[i] * dim + d];
                    dtable[ids[i] * dim + d] += dout[i * dim + d];
                }
            String what = "vocab " + vocab + " dim " + dim + " n " + n;
            try (Tensor tt = cuda.upload(table, vocab, dim); Tensor to = Gpu.poisoned(cuda, n, dim);
                 Tensor td = cuda.upload(dout, n, dim); Tensor tdt = cuda.upload(d0, vocab, dim)) {
                cuda.embedding(tt, ids, to);
                assertClose(cuda.download(to), out, 0, "embedding " + what);
                cuda.embeddingBackward(td, ids, tdt);
                assertClose(cuda.download(tdt), dtable, Gpu.F32, "embedding backward " + what);
            }
        }
        try (Tensor tt = cuda.zeros(DType.F32, 5, 3); Tensor to = cuda.zeros(DType.F32, 1, 3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cuda.embedding(tt, new int[] {5}, to));
            assertTrue(e.getMessage().contains("id 5"), e.getMessage());
        }
    }

    @Test
    void rmsnormForwardAndBackward() {
        Random rnd = new Random(32);
        for (int t = 0; t < 10; t++) {
            int rows = 1 + rnd.nextInt(300), dim = 1 + rnd.nextInt(t % 3 == 0 ? 3000 : 600);
            float eps = 1e-5f;
            float[] x = Gpu.random(rnd, rows * dim, 2f), w = Gpu.random(rnd, dim), g = Gpu.random(rnd, rows * dim);
            float[] dw0 = Gpu.random(rnd, dim);
            double[] out = new double[rows * dim], rstd = new double[rows], dx = new double[rows * dim], dw = Gpu.toDouble(dw0);
            for (int r = 0; r < rows; r++) {
                double ss = 0, dot = 0;
                for (int d = 0; d < dim; d++) ss += (double) x[r * dim + d] * x[r * dim + d];
                double rs = 1 / Math.sqrt(ss / dim + eps);
                rstd[r] = rs;
                for (int d = 0; d < dim; d++) {
                    out[r * dim + d] = x[r * dim + d] * rs * w[d];
                    dot += (double) g[r * dim + d] * w[d] * x[r * dim + d];
                    dw[d] += (double) g[r * dim + d] * x[r * dim + d] * rs;
                }
                for (int d = 0; d < dim; d++)
                    dx[r * dim + d] = rs * w[d] * g[r * dim + d] - x[r * dim + d] * rs * rs * rs * dot / dim;
            }
            String what = "[" + rows + ", " + dim + "]";
            try (Tensor tx = cuda.upload(x, rows, dim); Tensor tw = cuda.upload(w, dim); Tensor tg = cuda.upload(g, rows, dim);
                 Tensor to = Gpu.poisoned(cuda, rows, dim); Tensor tr = Gpu.poisoned(cuda, rows);
                 Tensor tdx = Gpu.poisoned(cuda, rows, dim); Tensor tdw = cuda.upload(dw0, dim)) {
                cuda.rmsnorm(tx, tw, eps, to, tr);
                assertClose(cuda.download(to), out, Gpu.F32, "rmsnorm " + what);
                assertClose(cuda.download(tr), rstd, Gpu.F32, "rmsnorm rstd " + what);
                cuda.rmsnormBackward(tg, tx, tw, tr, tdx, tdw);
                assertClose(cuda.download(tdx), dx, Gpu.F32, "rmsnorm dx " + what);
                assertClose(cuda.download(tdw), dw, Gpu.F32, "rmsnorm dweight " + what);
            }
        }
    }

    @Test
    void ropeMatchesRotateHalfAndItsInverseUndoesIt() {
        Random rnd = new Random(33);
        for (int t = 0; t < 8; t++) {
            int heads = 1 + rnd.nextInt(4), headDim = 2 * (1 + rnd.nextInt(64)), seq = 1 + rnd.nextInt(100);
            int batch = 1 + rnd.nextInt(3), rows = batch * seq, pos0 = t % 2 == 0 ? 0 : rnd.nextInt(3000);
            float theta = t % 3 == 0 ? 500000f : 10000f;
            float[] x = Gpu.random(rnd, rows * heads * headDim);
            double[] fwd = new double[x.length], inv = new double[x.length];
            int half = headDim / 2;
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < heads; h++)
                    for (int i = 0; i < half; i++) {
                        double angle = (pos0 + r % seq) * Math.pow(theta, -2.0 * i / headDim);
                        double c = Math.cos(angle), s = Math.sin(angle);
                        int base = r * heads * headDim + h * headDim;
                        double a = x[base + i], b = x[base + i + half];
                        fwd[base + i] = a * c - b * s;
                        fwd[base + i + half] = b * c + a * s;
                        inv[base + i] = a * c + b * s;
                        inv[base + i + half] = b * c - a * s;
                    }
            String what = "heads " + heads + " headDim " + headDim + " seq " + seq + " batch " + batch + " pos0 " + pos0;
            try (Tensor tx = cuda.upload(x, rows, heads * headDim); Tensor to = Gpu.poisoned(cuda, rows, heads * headDim)) {
                cuda.rope(tx, seq, heads, headDim, theta, pos0, false, to);
                assertClose(cuda.download(to), fwd, Gpu.F32, "rope " + what);
                cuda.rope(tx, seq, heads, headDim, theta, pos0, true, to);
                assertClose(cuda.download(to), inv, Gpu.F32, "rope inverse " + what);
                cuda.rope(tx, seq, heads, headDim, theta, pos0, false, tx);           // in place, then back
                cuda.rope(tx, seq, heads, headDim, theta, pos0, true, tx);
                assertClose(cuda.download(tx), Gpu.toDouble(x), Gpu.F32, "rope round trip " + what);
            }
        }
    }

    @Test
    void crossEntropyLossAndGradient() {
        Random rnd = new Random(34);
        for (int t = 0; t < 8; t++) {
            int n = 1 + rnd.nextInt(100), vocab = 2 + rnd.nextInt(t % 4 == 0 ? 50304 : 700);
            float lossScale = t % 2 == 0 ? 1f : 1024f;
            float[] z = Gpu.random(rnd, n * vocab, 8f);
            int[] targets = new int[n];
            int count = 0;
            for (int i = 0; i < n; i++) {
                targets[i] = rnd.nextInt(5) == 0 ? -1 : rnd.nextInt(vocab);
                if (targets[i] >= 0) count++;
            }
            double loss = 0;
            double[] grad = new double[n * vocab];
            for (int i = 0; i < n; i++) {
                if (targets[i] < 0) continue;
                double mx = Double.NEGATIVE_INFINITY, sum = 0;
                for (int c = 0; c < vocab; c++) mx = Math.max(mx, z[i * vocab + c]);
                for (int c = 0; c < vocab; c++) sum += Math.exp(z[i * vocab + c] - mx);
                loss += Math.log(sum) + mx - z[i * vocab + targets[i]];
                for (int c = 0; c < vocab; c++)
                    grad[i * vocab + c] = lossScale * (Math.exp(z[i * vocab + c] - mx) / sum - (c == targets[i] ? 1 : 0)) / count;
            }
            double mean = count == 0 ? 0 : loss / count;
            String what = "n " + n + " vocab " + vocab;
            try (Tensor tz = cuda.upload(z, n, vocab); Tensor tg = Gpu.poisoned(cuda, n, vocab)) {
                float got = cuda.crossEntropy(tz, targets, tg, lossScale);
                assertEquals(mean, got, 1e-5 * Math.max(1, Math.abs(mean)), "loss " + what);
                assertClose(cuda.download(tg), grad, Gpu.F32, "dlogits " + what);
                assertEquals(got, cuda.crossEntropy(tz, targets, null, lossScale), "loss without gradient " + what);
            }
        }
        try (Tensor tz = cuda.zeros(DType.F32, 2, 3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cuda.crossEntropy(tz, new int[] {0, 3}, null, 1f));
            assertTrue(e.getMessage().contains("target 3"), e.getMessage());
            float[] ignoredOnly = {Float.NaN};
            Tensor tg = Gpu.poisoned(cuda, 2, 3);
            ignoredOnly[0] = cuda.crossEntropy(tz, new int[] {-1, -1}, tg, 1f);
            assertEquals(0f, ignoredOnly[0], "no counted row: loss 0");
            assertArrayEquals(new float[6], cuda.download(tg), "no counted row: gradient 0");
            tg.close();
        }
    }
}

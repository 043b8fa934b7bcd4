package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static tern.cuda.Gpu.assertClose;

import java.util.Random;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import tern.runtime.Tensor;

/**
 * The fused causal attention, forward (out and lse) and backward (dq, dk, dv), against the textbook
 * computation in double with the full score matrix: random batch, heads, head dimensions up to 128 (not
 * only multiples of 32), query lengths shorter than the key length (a KV cache) and longer than one tile.
 */
class AttentionTest {
    private static CudaBackend cuda;

    /** Per test, so each is reported skipped (not silently absent) where there is no GPU. */
    @BeforeEach
    void device() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        cuda = Gpu.backend();
    }

    /** Forward and backward in double: {out, lse, dq, dk, dv}. */
    static double[][] reference(float[] q, float[] k, float[] v, float[] dout, int batch, int qLen, int kvLen, int heads, int d) {
        int width = heads * d, offset = kvLen - qLen;
        double scale = 1 / Math.sqrt(d);
        double[] out = new double[q.length], lse = new double[batch * heads * qLen];
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < qLen; i++) {
                    int qa = (b * qLen + i) * width + h * d, last = i + offset;
                    double[] s = new double[last + 1];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= last; j++) {
                        int ka = (b * kvLen + j) * width + h * d;
                        double dot = 0;
                        for (int x = 0; x < d; x++) dot += (double) q[qa + x] * k[ka + x];
                        s[j] = dot * scale;
                        mx = Math.max(mx, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= last; j++) sum += Math.exp(s[j] - mx);
                    double l = mx + Math.log(sum);
                    lse[(b * heads + h) * qLen + i] = l;
                    double[] p = new double[last + 1];
                    for (int j = 0; j <= last; j++) {
                        p[j] = Math.exp(s[j] - l);
                        int va = (b * kvLen + j) * width + h * d;
                        for (int x = 0; x < d; x++) out[qa + x] += p[j] * v[va + x];
                    }
                    double delta = 0;
                    for (int x = 0; x < d; x++) delta += dout[qa + x] * out[qa + x];
                    for (int j = 0; j <= last; j++) {
                        int ka = (b * kvLen + j) * width + h * d;
                        double dp = 0;
                        for (int x = 0; x < d; x++) dp += (double) dout[qa + x] * v[ka + x];
                        double ds = p[j] * (dp - delta);
                        for (int x = 0; x < d; x++) {
                            dv[ka + x] += p[j] * dout[qa + x];
                            dq[qa + x] += ds * scale * k[ka + x];
                            dk[ka + x] += ds * scale * q[qa + x];
                        }
                    }
                }
        return new double[][] {out, lse, dq, dk, dv};
    }

    @Test
    void forwardAndBackwardMatchTheReference() {
        Random rnd = new Random(41);
        int[] dims = {1, 8, 16, 40, 64, 96, 128};
        for (int t = 0; t < 14; t++) {
            int batch = 1 + rnd.nextInt(2), heads = 1 + rnd.nextInt(3), d = dims[t % dims.length];
            int kvLen = 1 + rnd.nextInt(t < 7 ? 40 : 130);
            int qLen = t % 3 == 2 ? 1 + rnd.nextInt(kvLen) : kvLen;          // every third: a KV-cache shape
            int width = heads * d;
            float[] q = Gpu.random(rnd, batch * qLen * width, 2f), k = Gpu.random(rnd, batch * kvLen * width, 2f);
            float[] v = Gpu.random(rnd, batch * kvLen * width), dout = Gpu.random(rnd, batch * qLen * width);
            double[][] ref = reference(q, k, v, dout, batch, qLen, kvLen, heads, d);
            String what = "batch " + batch + " heads " + heads + " headDim " + d + " qLen " + qLen + " kvLen " + kvLen;
            try (Tensor tq = cuda.upload(q, batch * qLen, width); Tensor tk = cuda.upload(k, batch * kvLen, width);
                 Tensor tv = cuda.upload(v, batch * kvLen, width); Tensor tg = cuda.upload(dout, batch * qLen, width);
                 Tensor out = Gpu.poisoned(cuda, batch * qLen, width); Tensor lse = Gpu.poisoned(cuda, batch, heads, qLen);
                 Tensor dq = Gpu.poisoned(cuda, batch * qLen, width); Tensor dk = Gpu.poisoned(cuda, batch * kvLen, width);
                 Tensor dv = Gpu.poisoned(cuda, batch * kvLen, width)) {
                cuda.attention(tq, tk, tv, batch, qLen, kvLen, heads, d, out, lse);
                assertClose(cuda.download(out), ref[0], Gpu.F32, "out " + what);
                assertClose(cuda.download(lse), ref[1], Gpu.F32, "lse " + what);
                cuda.attentionBackward(tg, tq, tk, tv, out, lse, batch, qLen, kvLen, heads, d, dq, dk, dv);
                assertClose(cuda.download(dq), ref[2], Gpu.F32, "dq " + what);
                assertClose(cuda.download(dk), ref[3], Gpu.F32, "dk " + what);
                assertClose(cuda.download(dv), ref[4], Gpu.F32, "dv " + what);
            }
        }
    }

    @Test
    void headDimensionsBeyondTheKernelLimitAreRefusedClearly() {
        try (Tensor q = cuda.zeros(tern.runtime.DType.F32, 2, 256); Tensor lse = cuda.zeros(tern.runtime.DType.F32, 2)) {
            assertThrows(UnsupportedOperationException.class, () -> cuda.attention(q, q, q, 1, 2, 2, 1, 256, q, lse));
        }
    }
}

package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tern.cuda.Gpu.assertClose;

import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import tern.runtime.AdamWParams;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * Memory, elementwise ops, reductions, SwiGLU and AdamW on the GPU against double-precision references.
 * Plain JUnit loops over seeded random sizes rather than jqwik properties: the whole class must be skipped
 * by one assumption where there is no GPU, and each case is a device round trip.
 */
class ElementwiseTest {
    private static CudaBackend cuda;

    /** Per test, so each is reported skipped (not silently absent) where there is no GPU. */
    @BeforeEach
    void device() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        cuda = Gpu.backend();
    }

    /** Sizes from 1 to beyond one block, and ragged. */
    private static int[] sizes(Random rnd) {
        return new int[] {1, 7, 255, 256, 257, 1 + rnd.nextInt(5000), 100_003};
    }

    @Test
    void uploadDownloadCopyAndFillRoundTrip() {
        Random rnd = new Random(1);
        for (int n : sizes(rnd)) {
            float[] a = Gpu.random(rnd, n);
            try (Tensor t = cuda.upload(a, n); Tensor u = cuda.zeros(DType.F32, n); Tensor host = Tensor.zeros(DType.F32, n)) {
                assertArrayEquals(a, cuda.download(t), "upload/download n=" + n);
                assertArrayEquals(new float[n], cuda.download(u), "zeros n=" + n);
                cuda.copy(t, u);
                assertArrayEquals(a, cuda.download(u), "device copy n=" + n);
                cuda.copy(u, host);
                assertArrayEquals(a, host.toFloatArray(), "device → host copy n=" + n);
                cuda.fill(u, 3.5f);
                cuda.copy(host, u);
                assertArrayEquals(a, cuda.download(u), "host → device copy n=" + n);
                cuda.fill(u, -2.25f);
                float[] filled = new float[n];
                java.util.Arrays.fill(filled, -2.25f);
                assertArrayEquals(filled, cuda.download(u), "fill n=" + n);
            }
        }
    }

    @Test
    void viewsAddressTheirOwnRows() {
        float[] a = Gpu.random(new Random(2), 12 * 5);
        try (Tensor t = cuda.upload(a, 12, 5)) {
            Tensor rows = t.slice(3, 7);
            float[] got = cuda.download(rows);
            for (int i = 0; i < got.length; i++) assertEquals(a[15 + i], got[i], "slice element " + i);
            cuda.fill(rows, 0f);
            float[] after = cuda.download(t);
            for (int i = 0; i < a.length; i++) assertEquals(i >= 15 && i < 35 ? 0f : a[i], after[i], "element " + i);
        }
    }

    @Test
    void addAxpyScaleMatchTheReference() {
        Random rnd = new Random(3);
        for (int n : sizes(rnd)) {
            float[] a = Gpu.random(rnd, n), b = Gpu.random(rnd, n);
            float alpha = rnd.nextFloat() * 4 - 2;
            try (Tensor ta = cuda.upload(a, n); Tensor tb = cuda.upload(b, n); Tensor out = Gpu.poisoned(cuda, n)) {
                cuda.add(ta, tb, out);
                double[] sum = new double[n], axpy = new double[n], scaled = new double[n];
                for (int i = 0; i < n; i++) {
                    sum[i] = (double) a[i] + b[i];
                    axpy[i] = (double) alpha * a[i] + b[i];
                    scaled[i] = (double) alpha * a[i];
                }
                assertClose(cuda.download(out), sum, Gpu.F32, "add n=" + n);
                cuda.add(ta, tb, ta);                               // out may alias a
                assertClose(cuda.download(ta), sum, Gpu.F32, "add aliased n=" + n);
                cuda.copy(cuda.upload(a, n), ta);
                cuda.axpy(alpha, ta, tb);
                assertClose(cuda.download(tb), axpy, Gpu.F32, "axpy n=" + n);
                cuda.scale(ta, alpha);
                assertClose(cuda.download(ta), scaled, Gpu.F32, "scale n=" + n);
            }
        }
    }

    @Test
    void sumOfSquaresAndAllFinite() {
        Random rnd = new Random(4);
        for (int n : sizes(rnd)) {
            float[] a = Gpu.random(rnd, n, 10f);
            double ref = 0;
            for (float v : a) ref += (double) v * v;
            try (Tensor t = cuda.upload(a, n)) {
                double got = cuda.sumOfSquares(t);
                assertEquals(ref, got, 1e-12 * ref, "sumOfSquares n=" + n);
                assertTrue(cuda.allFinite(t), "finite n=" + n);
                for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                    float[] b = a.clone();
                    b[rnd.nextInt(n)] = bad;
                    try (Tensor u = cuda.upload(b, n)) {
                        assertFalse(cuda.allFinite(u), bad + " at a random index, n=" + n);
                    }
                }
            }
        }
    }

    /** One launch over many tensors (empty ones and ones of several 4096-element blocks among them). */
    @Test
    void sumOfSquaresOfManyTensorsAtOnce() {
        Random rnd = new Random(5);
        int[] ns = {7, 0, 4096, 4097, 1 + rnd.nextInt(20000), 0, 100_003, 1};
        List<Tensor> ts = new java.util.ArrayList<>();
        double ref = 0;
        for (int n : ns) {
            float[] a = Gpu.random(rnd, n, 10f);
            for (float v : a) ref += (double) v * v;
            ts.add(cuda.upload(a, n));
        }
        try {
            assertEquals(ref, cuda.sumOfSquaresAll(ts), 1e-12 * ref, "sumOfSquaresAll");
            assertEquals(0.0, cuda.sumOfSquaresAll(List.of()), "no tensors");
            assertEquals(0.0, cuda.sumOfSquaresAll(List.of(ts.get(1))), "one empty tensor");
        } finally {
            ts.forEach(Tensor::close);
        }
    }

    @Test
    void swigluForwardAndBackward() {
        Random rnd = new Random(5);
        for (int n : sizes(rnd)) {
            float[] g = Gpu.random(rnd, n, 6f), u = Gpu.random(rnd, n, 3f), d = Gpu.random(rnd, n);
            double[] out = new double[n], dg = new double[n], du = new double[n];
            for (int i = 0; i < n; i++) {
                double s = 1 / (1 + Math.exp(-g[i]));
                out[i] = g[i] * s * u[i];
                dg[i] = d[i] * u[i] * s * (1 + g[i] * (1 - s));
                du[i] = d[i] * g[i] * s;
            }
            try (Tensor tg = cuda.upload(g, n); Tensor tu = cuda.upload(u, n); Tensor td = cuda.upload(d, n);
                 Tensor to = Gpu.poisoned(cuda, n); Tensor tdg = Gpu.poisoned(cuda, n); Tensor tdu = Gpu.poisoned(cuda, n)) {
                cuda.swiglu(tg, tu, to);
                assertClose(cuda.download(to), out, Gpu.F32, "swiglu n=" + n);
                cuda.swigluBackward(td, tg, tu, tdg, tdu);
                assertClose(cuda.download(tdg), dg, Gpu.F32, "swiglu dgate n=" + n);
                assertClose(cuda.download(tdu), du, Gpu.F32, "swiglu dup n=" + n);
            }
        }
    }

    /** torch.optim.AdamW's update in double. */
    private static void adamReference(double[] p, float[] g, double[] m, double[] v, AdamWParams h) {
        double bc1 = 1 - Math.pow(h.beta1(), h.step()), bc2 = 1 - Math.pow(h.beta2(), h.step());
        for (int i = 0; i < p.length; i++) {
            double gi = (double) g[i] * h.gradScale();
            p[i] *= 1 - (double) h.lr() * h.weightDecay();
            m[i] = h.beta1() * m[i] + (1 - (double) h.beta1()) * gi;
            v[i] = h.beta2() * v[i] + (1 - (double) h.beta2()) * gi * gi;
            p[i] -= h.lr() / bc1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps());
        }
    }

    @Test
    void adamwSingleAndMultiTensorMatchTorchSemantics() {
        Random rnd = new Random(6);
        AdamWParams h1 = new AdamWParams(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, 0.5f);
        AdamWParams h2 = new AdamWParams(3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 7, 1f);
        int[] ns = {1, 300, 0, 4097, 9000};           // across the multi-tensor kernel's 4096-element blocks, one empty
        List<Tensor> ps = new java.util.ArrayList<>(), gs = new java.util.ArrayList<>(), ms = new java.util.ArrayList<>(), vs = new java.util.ArrayList<>();
        double[][] rp = new double[ns.length][], rm = new double[ns.length][], rv = new double[ns.length][];
        float[][] grads = new float[ns.length][];
        for (int t = 0; t < ns.length; t++) {
            int n = ns[t];
            float[] p = Gpu.random(rnd, n);
            grads[t] = Gpu.random(rnd, n, 0.1f);
            ps.add(cuda.upload(p, n));
            gs.add(cuda.upload(grads[t], n));
            ms.add(cuda.zeros(DType.F32, n));
            vs.add(cuda.zeros(DType.F32, n));
            rp[t] = Gpu.toDouble(p);
            rm[t] = new double[n];
            rv[t] = new double[n];
        }
        for (int t = 0; t < ns.length; t++) {           // step 1 one tensor at a time
            cuda.adamw(ps.get(t), gs.get(t), ms.get(t), vs.get(t), h1);
            adamReference(rp[t], grads[t], rm[t], rv[t], h1);
        }
        cuda.adamwAll(ps, gs, ms, vs, h2);               // step 7 all at once
        for (int t = 0; t < ns.length; t++) {
            adamReference(rp[t], grads[t], rm[t], rv[t], h2);
            assertClose(cuda.download(ps.get(t)), rp[t], Gpu.F32, "adamw param, n=" + ns[t]);
            assertClose(cuda.download(ms.get(t)), rm[t], Gpu.F32, "adamw m, n=" + ns[t]);
            assertClose(cuda.download(vs.get(t)), rv[t], Gpu.F32, "adamw v, n=" + ns[t]);
        }
        for (List<Tensor> l : List.of(ps, gs, ms, vs)) l.forEach(Tensor::close);
    }

    @Test
    void badInputIsRejectedWithTheTensorNamed() {
        try (Tensor a = cuda.upload(new float[3], 3); Tensor b = cuda.upload(new float[4], 4); Tensor host = Tensor.zeros(DType.F32, 3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> cuda.add(a, b, a));
            assertTrue(e.getMessage().contains("[4]"), e.getMessage());
            IllegalArgumentException h = assertThrows(IllegalArgumentException.class, () -> cuda.scale(host, 2f));
            assertTrue(h.getMessage().contains("not on the CUDA device"), h.getMessage());
        }
    }
}

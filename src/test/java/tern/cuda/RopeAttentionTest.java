package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.runtime.Bf16;
import tern.runtime.DType;
import tern.runtime.Parameter;
import tern.runtime.Tape;
import tern.runtime.Tensor;

/**
 * RoPE inside the tensor-core attention ({@link CudaBackend#ropeAttention}, head dimensions 64 and 128),
 * forward and backward, against rope then attention in double, and against the separate kernels.
 *
 * <p>What the kernels compute is modelled as in {@link TensorCoreAttentionTest}: q and k are rotated in f32
 * exactly as rope.cu rotates them (the device's (cos, sin) table, held here to the double angles within
 * 2^-24, one fused multiply-add and one product a value: reproduced bit for bit below) and rounded to bf16
 * once, so the reference takes the attention in double on those inputs, with the bounds derived there for
 * out, lse, dv and the gradients g of the rotated q and k. The kernels then rotate g back in f32: dq_d =
 * c g_d + s g_{d+h} (d < h = D/2) and dq_{d+h} = c g_{d+h} − s g_d, which the reference takes in double with
 * the exact cos and sin. The kernel's value is off by the rotated error of g, |c| B_d + |s| B_{d+h}, plus the
 * f32 table (2^-24 each of c and s) and three roundings (the scaling, the product and the fused
 * multiply-add, 2^-24 relative each) of terms at most |g_d| + |g_{d+h}| (+ their bounds):
 * 2^-22 (|g_d| + |g_{d+h}| + B_d + B_{d+h}) covers them with room. Cases draw batch, heads, the head
 * dimension (64, 128) and the length (1 past three 64-wide tiles, ragged) from a fresh seed, printed with
 * any failure.
 *
 * <p>Equalities, bit for bit: the forward (out, lse) and dv equal rope.cu followed by attention (the same
 * rounded tiles enter the same products); with bf16 activations (q, k read in place and rotated in shared
 * memory, or by one prologue launch: both {@link TensorCoreAttention.RopeVariant}s, alternating over the
 * cases) every output is the f32-activation path's (rotated in the staging copy) rounded to bf16, on
 * bf16-valued inputs and the same bf16-valued saved output. Head dimensions the kernels cannot fuse take the
 * default (rope, attention), equal to it bit for bit. Skips without an sm_80+ device.
 *
 * <p>A whole model (head dimension 64) takes the fused op: its loss equals that of the separate kernels bit for
 * bit, and its gradients differ only by the roundings of dq and dk that the fused path leaves out (before the
 * inverse rotation: an f32 one with f32 activations, a bf16 one with bf16 activations). With f32 activations
 * each parameter's gradient moves by at most 1e-4 of its norm (f32 roundings, 2^-24, summed over ~10^2
 * tokens); with bf16 activations by no more than bf16 storage itself moves it (the distance between the
 * separate kernels' bf16 and f32 gradients), which is the step's existing error.
 */
class RopeAttentionTest {
    private static final float THETA = 10000f;
    private static CudaBackend f32;          // f32 activations: q, k rotated in the staging copy
    private static CudaBackend bf16;         // bf16 activations: q, k read in place, rotated per tile

    @BeforeEach
    void device() {
        Assumptions.assumeTrue(CudaBackend.isAvailable(), "no CUDA device: GPU tests skipped");
        Assumptions.assumeTrue(CudaContext.archOf(0) >= 80, "tensor-core attention needs sm_80+");
        synchronized (RopeAttentionTest.class) {
            if (f32 == null) f32 = new CudaBackend(0, null, CudaBackend.AttentionPath.BF16, true);
            if (bf16 == null) bf16 = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS_BF16, CudaBackend.AttentionPath.BF16, true);
        }
        assertEquals(DType.F32, f32.activationType());
        assertEquals(DType.BF16, bf16.activationType());
    }

    @AfterAll
    static void close() {
        if (f32 != null) f32.close();
        if (bf16 != null) bf16.close();
        f32 = bf16 = null;
    }

    /** One drawn shape. */
    record Shape(int batch, int heads, int d, int seq) {
        int rows() { return batch * seq; }
        int width() { return heads * d; }
        @Override public String toString() { return "batch " + batch + " heads " + heads + " headDim " + d + " seq " + seq; }
    }

    static Shape draw(Random rnd, int t) {
        int seq = t == 0 ? 1 : t == 1 ? 64 : 1 + rnd.nextInt(t < 6 ? 70 : 210);
        return new Shape(1 + rnd.nextInt(2), 1 + rnd.nextInt(3), t % 2 == 0 ? 64 : 128, seq);
    }

    /** The device's (cos, sin) table [pos][i] of (d, THETA), checked against the double angles within 2^-24. */
    static float[] table(Shape s) {
        float[] t = f32.download(f32.ropeTable(s.d, THETA, s.seq));
        int half = s.d / 2;
        for (int pos = 0; pos < s.seq; pos++)
            for (int i = 0; i < half; i++) {
                double angle = pos * Math.pow(THETA, -2.0 * i / s.d);
                int at = 2 * (pos * half + i);
                assertTrue(Math.abs(t[at] - Math.cos(angle)) <= 0x1p-24 && Math.abs(t[at + 1] - Math.sin(angle)) <= 0x1p-24,
                        "rope table at position " + pos + ", pair " + i);
            }
        return t;
    }

    /** x [rows, heads·d] rotated as rope.cu does in f32 (rope.h: one product, one fused multiply-add), then rounded to bf16. */
    static float[] rotatedBf16(float[] x, float[] table, Shape s) {
        float[] r = new float[x.length];
        int half = s.d / 2;
        for (int row = 0; row < s.rows(); row++) {
            int pos = row % s.seq;
            for (int h = 0; h < s.heads; h++)
                for (int i = 0; i < half; i++) {
                    int at = row * s.width() + h * s.d + i;
                    float a = x[at], b = x[at + half], c = table[2 * (pos * half + i)], sn = table[2 * (pos * half + i) + 1];
                    r[at] = TensorCoreAttentionTest.bf16(Math.fma(a, c, -b * sn));
                    r[at + half] = TensorCoreAttentionTest.bf16(Math.fma(b, c, a * sn));
                }
        }
        return r;
    }

    /** The gradient g of rotated inputs, and its bound, taken back to the unrotated ones in double (class comment). */
    static double[][] unrotated(double[] g, double[] bound, Shape s) {
        double[] v = new double[g.length], b = new double[g.length];
        int half = s.d / 2;
        for (int row = 0; row < s.rows(); row++) {
            int pos = row % s.seq;
            for (int h = 0; h < s.heads; h++)
                for (int i = 0; i < half; i++) {
                    int lo = row * s.width() + h * s.d + i, hi = lo + half;
                    double angle = pos * Math.pow(THETA, -2.0 * i / s.d), c = Math.cos(angle), sn = Math.sin(angle);
                    v[lo] = c * g[lo] + sn * g[hi];
                    v[hi] = c * g[hi] - sn * g[lo];
                    double f32 = 0x1p-22 * (Math.abs(g[lo]) + Math.abs(g[hi]) + bound[lo] + bound[hi]);
                    b[lo] = Math.abs(c) * bound[lo] + Math.abs(sn) * bound[hi] + f32;
                    b[hi] = Math.abs(c) * bound[hi] + Math.abs(sn) * bound[lo] + f32;
                }
        }
        return new double[][] {v, b};
    }

    /** out, lse, dq, dk, dv of the fused path on backend c; the backward from the given saved out and lse. */
    static float[][] fused(CudaBackend c, float[] q, float[] k, float[] v, float[] dout, float[] savedOut, float[] savedLse, Shape s) {
        DType type = c.activationType();
        try (Tensor tq = on(c, q, type, s); Tensor tk = on(c, k, type, s); Tensor tv = on(c, v, type, s); Tensor tg = on(c, dout, type, s);
             Tensor so = on(c, savedOut, type, s); Tensor sl = c.upload(savedLse, s.batch, s.heads, s.seq);
             Tensor out = poisoned(c, type, s); Tensor lse = Gpu.poisoned(c, s.batch, s.heads, s.seq);
             Tensor dq = poisoned(c, type, s); Tensor dk = poisoned(c, type, s); Tensor dv = poisoned(c, type, s)) {
            c.ropeAttention(tq, tk, tv, s.batch, s.seq, s.heads, s.d, THETA, out, lse);
            c.ropeAttentionBackward(tg, tq, tk, tv, so, sl, s.batch, s.seq, s.heads, s.d, THETA, dq, dk, dv);
            float[][] got = {c.download(out), c.download(lse), c.download(dq), c.download(dk), c.download(dv)};
            assertArrayEqualsBits(q, c.download(tq), "q is left unrotated");
            return got;
        }
    }

    /** out, lse and dv of rope.cu then the attention's forward and backward (the backward from the given out and lse). */
    static float[][] separate(CudaBackend c, float[] q, float[] k, float[] v, float[] dout, float[] savedOut, float[] savedLse, Shape s) {
        DType type = c.activationType();
        try (Tensor tq = on(c, q, type, s); Tensor tk = on(c, k, type, s); Tensor tv = on(c, v, type, s); Tensor tg = on(c, dout, type, s);
             Tensor so = on(c, savedOut, type, s); Tensor sl = c.upload(savedLse, s.batch, s.heads, s.seq);
             Tensor qr = poisoned(c, type, s); Tensor kr = poisoned(c, type, s);
             Tensor out = poisoned(c, type, s); Tensor lse = Gpu.poisoned(c, s.batch, s.heads, s.seq);
             Tensor dq = poisoned(c, type, s); Tensor dk = poisoned(c, type, s); Tensor dv = poisoned(c, type, s)) {
            c.rope(tq, s.seq, s.heads, s.d, THETA, 0, false, qr);
            c.rope(tk, s.seq, s.heads, s.d, THETA, 0, false, kr);
            c.attention(qr, kr, tv, s.batch, s.seq, s.seq, s.heads, s.d, out, lse);
            c.attentionBackward(tg, qr, kr, tv, so, sl, s.batch, s.seq, s.seq, s.heads, s.d, dq, dk, dv);
            return new float[][] {c.download(out), c.download(lse), c.download(dv)};
        }
    }

    static Tensor on(CudaBackend c, float[] x, DType type, Shape s) {
        Tensor f = c.upload(x, x.length / s.width(), s.width());
        if (type == DType.F32) return f;
        Tensor h = c.zeros(type, f.shape());
        c.convert(f, h);
        f.close();
        return h;
    }

    static Tensor poisoned(CudaBackend c, DType type, Shape s) {
        Tensor t = c.zeros(type, s.rows(), s.width());
        c.fill(t, Float.NaN);
        return t;
    }

    static void assertArrayEqualsBits(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++)
            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i]))
                throw new AssertionError(what + ": element " + i + " is " + got[i] + ", expected " + want[i]);
    }

    static String firstDifference(float[] want, float[] got) {
        for (int i = 0; i < want.length; i++)
            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i]))
                return String.format(Locale.ROOT, "element %d: %.8g, expected %.8g", i, got[i], want[i]);
        return null;
    }

    static float[] bf16Values(float[] x) {
        float[] r = new float[x.length];
        for (int i = 0; i < r.length; i++) r[i] = Bf16.round(x[i]);
        return r;
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }

    private static final String[] NAMES = {"out", "lse", "dq", "dk", "dv"};

    @Test
    void withinTheDerivedBoundsOfRopeThenAttentionInDouble() {
        assertTrue(f32.fusesRopeAttention(64) && f32.fusesRopeAttention(128) && bf16.fusesRopeAttention(64));
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        List<String> failures = new ArrayList<>();
        for (int t = 0; t < 12; t++) {
            Shape s = draw(rnd, t);
            String what = "seed " + seed + " case " + t + ": " + s;
            int n = s.rows() * s.width();
            float[] q = Gpu.random(rnd, n, 2f), k = Gpu.random(rnd, n, 2f), v = Gpu.random(rnd, n), dout = Gpu.random(rnd, n);
            float[] table = table(s);
            TensorCoreAttentionTest.Bounded ref = TensorCoreAttentionTest.reference(rotatedBf16(q, table, s), rotatedBf16(k, table, s),
                    TensorCoreAttentionTest.bf16(v), TensorCoreAttentionTest.bf16(dout), s.batch, s.seq, s.seq, s.heads, s.d);
            double[][] dq = unrotated(ref.value()[2], ref.bound()[2], s), dk = unrotated(ref.value()[3], ref.bound()[3], s);
            double[][] value = {ref.value()[0], ref.value()[1], dq[0], dk[0], ref.value()[4]};
            double[][] bound = {ref.bound()[0], ref.bound()[1], dq[1], dk[1], ref.bound()[4]};
            float[] savedOut = toFloat(ref.value()[0]), savedLse = toFloat(ref.value()[1]);
            float[][] got = fused(f32, q, k, v, dout, savedOut, savedLse, s);
            for (int o = 0; o < 5; o++) {
                String bad = TensorCoreAttentionTest.violation(got[o], value[o], bound[o]);
                if (bad != null) failures.add(NAMES[o] + " " + what + ": " + bad);
            }
            float[][] sep = separate(f32, q, k, v, dout, savedOut, savedLse, s);
            int[] same = {0, 1, 4};
            for (int j = 0; j < 3; j++) {
                String diff = firstDifference(sep[j], got[same[j]]);
                if (diff != null) failures.add(NAMES[same[j]] + " " + what + " differs from rope then attention: " + diff);
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " failures:\n" + String.join("\n", failures));
    }

    @Test
    void bf16ActivationsReadInPlaceMatchTheStagedPathRounded() {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        List<String> failures = new ArrayList<>();
        for (int t = 0; t < 12; t++) {
            Shape s = draw(rnd, t);
            TensorCoreAttention.RopeVariant variant = TensorCoreAttention.RopeVariant.values()[t % 2 == 0 ? t / 2 % 2 : (t / 2 + 1) % 2];
            bf16.setRopeVariant(variant);
            String what = "seed " + seed + " case " + t + " (" + variant + "): " + s;
            int n = s.rows() * s.width();
            float[] q = bf16Values(Gpu.random(rnd, n, 2f)), k = bf16Values(Gpu.random(rnd, n, 2f));
            float[] v = bf16Values(Gpu.random(rnd, n)), dout = bf16Values(Gpu.random(rnd, n));
            // A saved output and lse as the forward would leave them (the backward must see bf16 values on both paths).
            float[][] first = fused(f32, q, k, v, dout, new float[n], new float[s.batch * s.heads * s.seq], s);
            float[] savedOut = bf16Values(first[0]), savedLse = first[1];
            float[][] want = fused(f32, q, k, v, dout, savedOut, savedLse, s);
            float[][] got = fused(bf16, q, k, v, dout, savedOut, savedLse, s);
            for (int o = 0; o < 5; o++) {
                float[] rounded = o == 1 ? want[o] : bf16Values(want[o]);
                String diff = firstDifference(rounded, got[o]);
                if (diff != null) failures.add(NAMES[o] + " " + what + " is not the f32 path rounded: " + diff);
            }
            float[][] sep = separate(bf16, q, k, v, dout, savedOut, savedLse, s);
            int[] same = {0, 1, 4};
            for (int j = 0; j < 3; j++) {
                String diff = firstDifference(sep[j], got[same[j]]);
                if (diff != null) failures.add(NAMES[same[j]] + " " + what + " differs from rope_bf16 then attention: " + diff);
            }
        }
        bf16.setRopeVariant(TensorCoreAttention.RopeVariant.DEFAULT);
        assertTrue(failures.isEmpty(), failures.size() + " failures:\n" + String.join("\n", failures));
    }

    @Test
    void headDimensionsTheKernelsCannotFuseTakeTheDefault() {
        assertFalse(f32.fusesRopeAttention(32) || f32.fusesRopeAttention(96) || bf16.fusesRopeAttention(80));
        Random rnd = new Random(7);
        for (int d : new int[] {32, 96}) {
            Shape s = new Shape(2, 2, d, 70);
            int n = s.rows() * s.width();
            float[] q = Gpu.random(rnd, n, 2f), k = Gpu.random(rnd, n, 2f), v = Gpu.random(rnd, n), dout = Gpu.random(rnd, n);
            float[][] got = fused(f32, q, k, v, dout, new float[n], new float[s.batch * s.heads * s.seq], s);
            float[][] first = separate(f32, q, k, v, dout, new float[n], new float[s.batch * s.heads * s.seq], s);
            float[][] sep = separate(f32, q, k, v, dout, first[0], first[1], s);
            float[][] again = fused(f32, q, k, v, dout, first[0], first[1], s);
            assertArrayEqualsBits(first[0], got[0], "out, head dimension " + d);
            assertArrayEqualsBits(first[1], got[1], "lse, head dimension " + d);
            assertArrayEqualsBits(sep[2], again[4], "dv, head dimension " + d);
        }
    }

    @Test
    void aModelStepEqualsTheSeparateKernels() {
        LlamaConfig config = new LlamaConfig(1000, 128, 352, 2, 2, 128, 1e-5f, 10000f, 1, Precision.FLOAT);   // head dimension 64
        int batch = 2, seq = 100;
        Random rnd = new Random(11);
        int[] in = new int[batch * seq], tg = new int[batch * seq];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(config.vocabSize());
            tg[i] = rnd.nextInt(config.vocabSize());
        }
        List<float[]> f32Separate = null;
        TensorCoreAttention.RopeVariant[] variants = {TensorCoreAttention.RopeVariant.TILES, TensorCoreAttention.RopeVariant.TILES,
                TensorCoreAttention.RopeVariant.PROLOGUE};
        for (int r = 0; r < variants.length; r++) {
            CudaBackend c = r == 0 ? f32 : bf16;
            c.setRopeVariant(variants[r]);
            try (LlamaModel m = new LlamaModel(c, config)) {
                m.initialize(3);
                float[] losses = new float[2];
                List<List<float[]>> grads = new ArrayList<>();
                for (int run = 0; run < 2; run++) {
                    c.setRopeInAttention(run == 0);
                    for (Parameter p : m.parameters()) p.zeroGrad(c);
                    try (Tape tape = new Tape(c)) {
                        losses[run] = m.loss(tape, in, tg, batch, seq, 1f);
                        tape.backward();
                    }
                    List<float[]> g = new ArrayList<>();
                    for (Parameter p : m.parameters()) g.add(c.download(p.grad));
                    grads.add(g);
                }
                c.setRopeInAttention(true);
                c.setRopeVariant(TensorCoreAttention.RopeVariant.DEFAULT);
                assertEquals(Float.floatToIntBits(losses[1]), Float.floatToIntBits(losses[0]),
                        c.activationType() + " " + variants[r] + " loss: fused " + losses[0] + ", separate " + losses[1]);
                for (int i = 0; i < m.parameters().size(); i++) {
                    String name = c.activationType() + " " + variants[r] + " " + m.parameters().get(i).name;
                    float[] fused = grads.get(0).get(i), separate = grads.get(1).get(i);
                    double norm = distance(separate, new float[separate.length]), moved = distance(fused, separate);
                    assertTrue(norm > 0, name + " got no gradient");
                    if (c == f32) {
                        assertTrue(moved <= 1e-4 * norm, name + ": fused vs separate gradients differ by " + moved / norm + " relative");
                    } else {
                        double bf16Noise = distance(separate, f32Separate.get(i));
                        assertTrue(moved <= bf16Noise, String.format(Locale.ROOT,
                                "%s: fused vs separate differ by %.3g, more than bf16 storage moves the gradient (%.3g, of %.3g)",
                                name, moved, bf16Noise, norm));
                    }
                }
                if (c == f32) f32Separate = grads.get(1);
            }
        }
    }

    private static double distance(float[] a, float[] b) {
        double s = 0;
        for (int j = 0; j < a.length; j++) s += (a[j] - (double) b[j]) * (a[j] - (double) b[j]);
        return Math.sqrt(s);
    }
}

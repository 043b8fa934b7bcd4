package tern.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import tern.runtime.Tensor;

/**
 * The bf16 tensor-core causal attention ({@link CudaBackend.AttentionPath#BF16}, sm_80+), forward and
 * backward, against a double-precision computation element by element, each element within a bound derived
 * from what the kernels round.
 *
 * <p>The kernels round q, k, v and dout to bf16 (round to nearest even, as {@link #bf16} here), so the
 * reference is taken on those rounded inputs: that part of the error is modelled exactly, not bounded.
 * What remains: (1) the probabilities P and the score gradients dS are rounded to bf16 before they enter a
 * product, each a relative error of at most u = 2^-8; (2) f32 arithmetic everywhere else. For (2), with σ_i
 * the largest score magnitude scale·Σ_d |q_id k_jd| of query i and N = kvLen: the tensor cores accumulate
 * a D-term dot product in D/16 steps of exact products, each step off by at most ~2 f32 ulps of the running
 * magnitude, so a score is within 2^-21·(D/16 + 1)·σ_i; P = exp(s − lse) then moves by twice that, plus
 * exp2/log2 ulps and the f32 sums over at most N terms, 2^-21·(N + 16) (16 ulps for the handful of single
 * roundings). So each P is within relative ε_i = 2^-19·(D/16 + 1)·σ_i + 2^-21·(N + 16) (a factor 2 spare in
 * each term), and
 * <ul>
 *   <li>out_i: |Δ| ≤ (u + ε_i) Σ_j P_ij |v_j| (each term's P rounded once; the f32 normaliser is in ε_i);
 *   <li>lse_i: |Δ| ≤ ε_i (1 + |lse_i|);
 *   <li>dv_j: |Δ| ≤ Σ_i (u + ε_i) P_ij |dout_i|;
 *   <li>dS_ij = P_ij (dP_ij − δ_i), with dP_ij = dout_i·v_j and δ_i = dout_i·out_i in f32: off by
 *       ε_i |dS_ij| + P_ij·2^-20·(D/16 + 2)·(Σ_d |dout_id v_jd| + Σ_d |dout_id out_id|) =: E_ij before its
 *       bf16 rounding, so each term of dq_i = scale Σ_j dS_ij k_j and dk_j = scale Σ_i dS_ij q_i is within
 *       scale·(u |dS_ij| + 1.01 E_ij)·|k_j| (resp. |q_i|) (1.01 for the product u·E).
 * </ul>
 * The backward is checked from the reference's out and lse (rounded to f32), so its bound does not carry
 * the forward's error. Inputs are random on fresh seeds (printed with any failure); every case runs and
 * all failures are reported together. Shapes cover head dimensions below, at and between 64 and 128,
 * lengths from 1 past three 64-wide tiles, ragged, and query lengths shorter than the key length (a KV cache).
 */
class TensorCoreAttentionTest {
    private static final double U = 0x1p-8;
    private static CudaBackend cuda;

    @BeforeEach
    void device() {
        CudaBackend any = Gpu.backend();
        Assumptions.assumeTrue(any.hasTensorCoreAttention(), "tensor-core attention needs sm_80+: test skipped on sm_" + any.arch());
        synchronized (TensorCoreAttentionTest.class) {
            if (cuda == null) cuda = new CudaBackend(0, null, CudaBackend.AttentionPath.BF16, true);
        }
    }

    @AfterAll
    static void close() {
        if (cuda != null) cuda.close();
        cuda = null;
    }

    /** Round to nearest even bf16 (finite inputs), as cvt.rn.bf16x2.f32. */
    static float bf16(float x) {
        int b = Float.floatToRawIntBits(x);
        return Float.intBitsToFloat((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000);
    }

    static float[] bf16(float[] a) {
        float[] r = new float[a.length];
        for (int i = 0; i < a.length; i++) r[i] = bf16(a[i]);
        return r;
    }

    /** Values and per-element bounds of out, lse, dq, dk, dv (in that order) on already rounded inputs. */
    record Bounded(double[][] value, double[][] bound) {}

    static Bounded reference(float[] q, float[] k, float[] v, float[] dout, int batch, int qLen, int kvLen, int heads, int d) {
        int width = heads * d, offset = kvLen - qLen;
        double scale = 1 / Math.sqrt(d);
        double[] out = new double[q.length], lse = new double[batch * heads * qLen];
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        double[] outB = new double[q.length], lseB = new double[lse.length];
        double[] dqB = new double[q.length], dkB = new double[k.length], dvB = new double[v.length];
        double steps = d / 16.0;
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < qLen; i++) {
                    int qa = (b * qLen + i) * width + h * d, n = i + offset + 1;
                    double[] s = new double[n];
                    double mx = Double.NEGATIVE_INFINITY, sigma = 0;
                    for (int j = 0; j < n; j++) {
                        int ka = (b * kvLen + j) * width + h * d;
                        double dot = 0, abs = 0;
                        for (int x = 0; x < d; x++) {
                            double p = (double) q[qa + x] * k[ka + x];
                            dot += p;
                            abs += Math.abs(p);
                        }
                        s[j] = dot * scale;
                        sigma = Math.max(sigma, abs * scale);
                        mx = Math.max(mx, s[j]);
                    }
                    double eps = 0x1p-19 * (steps + 1) * sigma + 0x1p-21 * (kvLen + 16);
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += Math.exp(s[j] - mx);
                    double l = mx + Math.log(sum);
                    int li = (b * heads + h) * qLen + i;
                    lse[li] = l;
                    lseB[li] = eps * (1 + Math.abs(l));
                    double[] p = new double[n];
                    for (int j = 0; j < n; j++) {
                        p[j] = Math.exp(s[j] - l);
                        int va = (b * kvLen + j) * width + h * d;
                        for (int x = 0; x < d; x++) {
                            out[qa + x] += p[j] * v[va + x];
                            outB[qa + x] += (U + eps) * p[j] * Math.abs(v[va + x]);
                        }
                    }
                    double delta = 0, deltaAbs = 0;
                    for (int x = 0; x < d; x++) {
                        delta += dout[qa + x] * out[qa + x];
                        deltaAbs += Math.abs(dout[qa + x] * out[qa + x]);
                    }
                    for (int j = 0; j < n; j++) {
                        int ka = (b * kvLen + j) * width + h * d;
                        double dp = 0, dpAbs = 0;
                        for (int x = 0; x < d; x++) {
                            double t = (double) dout[qa + x] * v[ka + x];
                            dp += t;
                            dpAbs += Math.abs(t);
                        }
                        double ds = p[j] * (dp - delta);
                        double e = eps * Math.abs(ds) + p[j] * 0x1p-20 * (steps + 2) * (dpAbs + deltaAbs);
                        double term = U * Math.abs(ds) + 1.01 * e;
                        for (int x = 0; x < d; x++) {
                            dv[ka + x] += p[j] * dout[qa + x];
                            dvB[ka + x] += (U + eps) * p[j] * Math.abs(dout[qa + x]);
                            dq[qa + x] += ds * scale * k[ka + x];
                            dqB[qa + x] += term * scale * Math.abs(k[ka + x]);
                            dk[ka + x] += ds * scale * q[qa + x];
                            dkB[ka + x] += term * scale * Math.abs(q[qa + x]);
                        }
                    }
                }
        return new Bounded(new double[][] {out, lse, dq, dk, dv}, new double[][] {outB, lseB, dqB, dkB, dvB});
    }

    private static final String[] NAMES = {"out", "lse", "dq", "dk", "dv"};

    /** The first element outside its bound, or null; NaN never passes. */
    static String violation(float[] got, double[] ref, double[] bound) {
        for (int i = 0; i < got.length; i++) {
            double err = Math.abs(got[i] - ref[i]);
            if (!(err <= bound[i]))
                return String.format(Locale.ROOT, "element %d: got %.8g, reference %.8g, |error| %.3g > bound %.3g", i, got[i], ref[i], err, bound[i]);
        }
        return null;
    }

    @Test
    void forwardAndBackwardStayWithinTheDerivedBounds() {
        long seed = System.nanoTime();
        Random rnd = new Random(seed);
        int[] dims = {1, 8, 16, 40, 64, 96, 128};
        List<String> failures = new ArrayList<>();
        double[] worstRelative = new double[5];
        for (int t = 0; t < 16; t++) {
            int batch = 1 + rnd.nextInt(2), heads = 1 + rnd.nextInt(3), d = dims[t % dims.length];
            int kvLen = t == 0 ? 1 : 1 + rnd.nextInt(t < 8 ? 70 : 210);
            int qLen = t == 15 ? 1 : t % 3 == 2 ? 1 + rnd.nextInt(kvLen) : kvLen;   // KV-cache shapes, one decode step
            int width = heads * d;
            float[] q = Gpu.random(rnd, batch * qLen * width, 2f), k = Gpu.random(rnd, batch * kvLen * width, 2f);
            float[] v = Gpu.random(rnd, batch * kvLen * width), dout = Gpu.random(rnd, batch * qLen * width);
            Bounded ref = reference(bf16(q), bf16(k), bf16(v), bf16(dout), batch, qLen, kvLen, heads, d);
            double[][] exact = AttentionTest.reference(q, k, v, dout, batch, qLen, kvLen, heads, d);
            String what = "seed " + seed + " case " + t + ": batch " + batch + " heads " + heads + " headDim " + d
                    + " qLen " + qLen + " kvLen " + kvLen;
            float[][] got = new float[5][];
            try (Tensor tq = cuda.upload(q, batch * qLen, width); Tensor tk = cuda.upload(k, batch * kvLen, width);
                 Tensor tv = cuda.upload(v, batch * kvLen, width); Tensor tg = cuda.upload(dout, batch * qLen, width);
                 Tensor out = Gpu.poisoned(cuda, batch * qLen, width); Tensor lse = Gpu.poisoned(cuda, batch, heads, qLen);
                 Tensor refOut = cuda.upload(toFloat(ref.value()[0]), batch * qLen, width);
                 Tensor refLse = cuda.upload(toFloat(ref.value()[1]), batch, heads, qLen);
                 Tensor dq = Gpu.poisoned(cuda, batch * qLen, width); Tensor dk = Gpu.poisoned(cuda, batch * kvLen, width);
                 Tensor dv = Gpu.poisoned(cuda, batch * kvLen, width)) {
                cuda.attention(tq, tk, tv, batch, qLen, kvLen, heads, d, out, lse);
                cuda.attentionBackward(tg, tq, tk, tv, refOut, refLse, batch, qLen, kvLen, heads, d, dq, dk, dv);
                got[0] = cuda.download(out);
                got[1] = cuda.download(lse);
                got[2] = cuda.download(dq);
                got[3] = cuda.download(dk);
                got[4] = cuda.download(dv);
            }
            for (int o = 0; o < 5; o++) {
                String bad = violation(got[o], ref.value()[o], ref.bound()[o]);
                if (bad != null) failures.add(NAMES[o] + " " + what + ": " + bad);
                worstRelative[o] = Math.max(worstRelative[o], Gpu.relativeError(got[o], exact[o]));
            }
        }
        // Against the exact function of the unrounded f32 inputs, for the record (not a bound).
        System.out.printf(Locale.ROOT, "bf16 attention, largest relative error vs the f32-input reference: out %.2e lse %.2e dq %.2e dk %.2e dv %.2e%n",
                worstRelative[0], worstRelative[1], worstRelative[2], worstRelative[3], worstRelative[4]);
        assertTrue(failures.isEmpty(), failures.size() + " outputs outside their bounds:\n" + String.join("\n", failures));
    }

    private static float[] toFloat(double[] a) {
        float[] f = new float[a.length];
        for (int i = 0; i < a.length; i++) f[i] = (float) a[i];
        return f;
    }
}

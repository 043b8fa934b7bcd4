package tern.simd;

import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.assertWithin;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.gaussian;
import static tern.simd.OpsTestSupport.pathOf;

import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * Causal attention forward and backward against the reference (full score matrices in double), including
 * KV-cache shapes with kvLen > qLen. Lengths stay ≤ 48 and tries at 30: the reference is O(T²·d) per head
 * in plain loops and the whole suite must stay within its time budget on 2 cores.
 */
class AttentionTest {

    @Property(tries = 30)
    void forwardAndBackwardMatchTheReference(@ForAll @IntRange(min = 1, max = 3) int batch,
                                             @ForAll @IntRange(min = 1, max = 48) int qLen,
                                             @ForAll @IntRange(min = 0, max = 16) int extraKv,
                                             @ForAll @IntRange(min = 1, max = 8) int heads,
                                             @ForAll @IntRange(min = 1, max = 64) int halfDim,
                                             @ForAll long seed) {
        int headDim = 2 * halfDim, kvLen = qLen + extraKv, width = heads * headDim;
        Random rnd = new Random(seed);
        float[] q = gaussian(rnd, batch * qLen * width, 1), k = gaussian(rnd, batch * kvLen * width, 1);
        float[] v = gaussian(rnd, batch * kvLen * width, 1), dout = gaussian(rnd, batch * qLen * width, 1);
        Reference.AttentionOut ref = Reference.attention(Reference.toDouble(q), Reference.toDouble(k),
                Reference.toDouble(v), batch, qLen, kvLen, heads, headDim);
        Reference.AttentionGrads grads = Reference.attentionBackward(Reference.toDouble(dout), Reference.toDouble(q),
                Reference.toDouble(k), Reference.toDouble(v), batch, qLen, kvLen, heads, headDim);
        for (CpuBackend be : backends())
            try (Tensor tq = Tensor.of(q, batch * qLen, width); Tensor tk = Tensor.of(k, batch * kvLen, width);
                 Tensor tv = Tensor.of(v, batch * kvLen, width); Tensor out = Tensor.zeros(DType.F32, batch * qLen, width);
                 Tensor lse = Tensor.zeros(DType.F32, batch, heads, qLen); Tensor tg = Tensor.of(dout, batch * qLen, width);
                 Tensor dq = Tensor.zeros(DType.F32, batch * qLen, width);
                 Tensor dk = Tensor.zeros(DType.F32, batch * kvLen, width);
                 Tensor dv = Tensor.zeros(DType.F32, batch * kvLen, width)) {
                String p = pathOf(be);
                be.fill(dq, 7f);   // written, not accumulated: stale values must disappear
                be.fill(dk, 7f);
                be.attention(tq, tk, tv, batch, qLen, kvLen, heads, headDim, out, lse);
                // Scores are ≤128-term f32 dots (~1e-6 relative), probabilities f32, ≤64-term weighted sums.
                assertClose(p + " lse", lse.toFloatArray(), ref.lse(), 1e-6, 1e-6);
                assertClose(p + " out", out.toFloatArray(), ref.out(), 1e-5, 1e-5);
                be.attentionBackward(tg, tq, tk, tv, out, lse, batch, qLen, kvLen, heads, headDim, dq, dk, dv);
                // Gradients sum up to 64 products of such values; D_i = dout·out adds one more dot: 2e-5.
                // dS = p·(dP − D) cancels exactly where a query sees one key (dq = dk = 0 in exact math, a
                // rounding residue here), so the floor is 2e-5 of the gradients' common scale, max|dv|.
                double floor = 2e-5 * Math.max(OpsTestSupport.maxAbs(grads.dv()), OpsTestSupport.maxAbs(grads.dq()));
                assertWithin(p + " dq", dq.toFloatArray(), grads.dq(), 2e-5, floor);
                assertWithin(p + " dk", dk.toFloatArray(), grads.dk(), 2e-5, floor);
                assertClose(p + " dv", dv.toFloatArray(), grads.dv(), 2e-5, 2e-5);
            }
    }

    /**
     * A batched decode step, each row over its own cache of its own length: every row matches the reference
     * (the last query of full attention over its cache) and equals, bit for bit, {@code attention} of that row
     * alone (qLen 1), which is what makes a batched step's tokens those of one request at a time.
     */
    @Property(tries = 30)
    void decodeRowsOverTheirOwnCachesEqualEachRowAlone(@ForAll @IntRange(min = 1, max = 6) int batch,
                                                      @ForAll @IntRange(min = 1, max = 4) int heads,
                                                      @ForAll @IntRange(min = 1, max = 40) int halfDim,
                                                      @ForAll long seed) {
        int headDim = 2 * halfDim, width = heads * headDim;
        Random rnd = new Random(seed);
        int[] len = new int[batch];
        float[][] ks = new float[batch][], vs = new float[batch][];
        for (int b = 0; b < batch; b++) {
            len[b] = 1 + rnd.nextInt(40);
            ks[b] = gaussian(rnd, len[b] * width, 1);
            vs[b] = gaussian(rnd, len[b] * width, 1);
        }
        float[] q = gaussian(rnd, batch * width, 1);
        for (CpuBackend be : backends()) {
            String p = pathOf(be);
            Tensor[] tk = new Tensor[batch], tv = new Tensor[batch];
            for (int b = 0; b < batch; b++) {
                tk[b] = Tensor.of(ks[b], len[b], width);
                tv[b] = Tensor.of(vs[b], len[b], width);
            }
            try (Tensor tq = Tensor.of(q, batch, width); Tensor out = Tensor.zeros(DType.F32, batch, width);
                 Tensor lse = Tensor.zeros(DType.F32, batch, heads); Tensor one = Tensor.zeros(DType.F32, 1, width);
                 Tensor oneLse = Tensor.zeros(DType.F32, 1, heads)) {
                be.attentionDecode(tq, tk, tv, heads, headDim, out, lse);
                float[] o = out.toFloatArray(), l = lse.toFloatArray();
                for (int b = 0; b < batch; b++) {
                    float[] qb = Arrays.copyOfRange(q, b * width, (b + 1) * width);
                    try (Tensor tqb = Tensor.of(qb, 1, width)) {
                        be.attention(tqb, tk[b], tv[b], 1, 1, len[b], heads, headDim, one, oneLse);
                    }
                    float[] alone = one.toFloatArray(), aloneLse = oneLse.toFloatArray();
                    for (int i = 0; i < width; i++)
                        if (Float.floatToRawIntBits(o[b * width + i]) != Float.floatToRawIntBits(alone[i]))
                            throw new AssertionError(p + " row " + b + " (" + len[b] + " keys) out[" + i + "] " + o[b * width + i]
                                    + " vs alone " + alone[i]);
                    for (int h = 0; h < heads; h++)
                        if (Float.floatToRawIntBits(l[b * heads + h]) != Float.floatToRawIntBits(aloneLse[h]))
                            throw new AssertionError(p + " row " + b + " lse[" + h + "] " + l[b * heads + h] + " vs alone " + aloneLse[h]);
                    // Full attention's last query over this cache is the row's exact value.
                    double[] qFull = new double[len[b] * width];
                    for (int i = 0; i < width; i++) qFull[(len[b] - 1) * width + i] = qb[i];
                    Reference.AttentionOut ref = Reference.attention(qFull, Reference.toDouble(ks[b]), Reference.toDouble(vs[b]),
                            1, len[b], len[b], heads, headDim);
                    assertClose(p + " row " + b + " out", alone, Arrays.copyOfRange(ref.out(), (len[b] - 1) * width, len[b] * width), 1e-5, 1e-5);
                }
            } finally {
                for (int b = 0; b < batch; b++) {
                    tk[b].close();
                    tv[b].close();
                }
            }
        }
    }

    /** Decoding with a KV cache: the last qLen queries over kvLen keys equal the last rows of full attention. */
    @Property(tries = 30)
    void cachedQueriesEqualTheLastRowsOfFullAttention(@ForAll @IntRange(min = 1, max = 2) int batch,
                                                      @ForAll @IntRange(min = 1, max = 40) int kvLen,
                                                      @ForAll @IntRange(min = 1, max = 40) int qWanted,
                                                      @ForAll @IntRange(min = 1, max = 4) int heads,
                                                      @ForAll @IntRange(min = 1, max = 32) int halfDim,
                                                      @ForAll long seed) {
        int qLen = Math.min(qWanted, kvLen), headDim = 2 * halfDim, width = heads * headDim;
        Random rnd = new Random(seed);
        float[] qFull = gaussian(rnd, batch * kvLen * width, 1), k = gaussian(rnd, batch * kvLen * width, 1);
        float[] v = gaussian(rnd, batch * kvLen * width, 1);
        float[] qTail = new float[batch * qLen * width];
        for (int b = 0; b < batch; b++)
            System.arraycopy(qFull, (b * kvLen + kvLen - qLen) * width, qTail, b * qLen * width, qLen * width);
        for (CpuBackend be : backends())
            try (Tensor tqf = Tensor.of(qFull, batch * kvLen, width); Tensor tqt = Tensor.of(qTail, batch * qLen, width);
                 Tensor tk = Tensor.of(k, batch * kvLen, width); Tensor tv = Tensor.of(v, batch * kvLen, width);
                 Tensor full = Tensor.zeros(DType.F32, batch * kvLen, width); Tensor part = Tensor.zeros(DType.F32, batch * qLen, width);
                 Tensor lseFull = Tensor.zeros(DType.F32, batch * heads * kvLen);
                 Tensor lsePart = Tensor.zeros(DType.F32, batch * heads * qLen)) {
                be.attention(tqf, tk, tv, batch, kvLen, kvLen, heads, headDim, full, lseFull);
                be.attention(tqt, tk, tv, batch, qLen, kvLen, heads, headDim, part, lsePart);
                float[] f = full.toFloatArray(), pt = part.toFloatArray(), lf = lseFull.toFloatArray(), lp = lsePart.toFloatArray();
                for (int b = 0; b < batch; b++) {
                    // Same math; a few queries take the dot-per-key path and many the transposed one, so the
                    // summation order may differ: 1e-6 of the values' scale.
                    float[] expectedRows = Arrays.copyOfRange(f, (b * kvLen + kvLen - qLen) * width, (b + 1) * kvLen * width);
                    float[] actualRows = Arrays.copyOfRange(pt, b * qLen * width, (b + 1) * qLen * width);
                    assertClose(pathOf(be) + " batch " + b, actualRows, expectedRows, 1e-6, 1e-6);
                    for (int h = 0; h < heads; h++)
                        for (int i = 0; i < qLen; i++) {
                            float expected = lf[(b * heads + h) * kvLen + kvLen - qLen + i];
                            org.junit.jupiter.api.Assertions.assertEquals(expected, lp[(b * heads + h) * qLen + i],
                                    1e-6 * Math.max(1, Math.abs(expected)), pathOf(be) + " lse");
                        }
                }
            }
    }
}

package tern.simd;

import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.assertWithin;
import static tern.simd.OpsTestSupport.gaussian;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * The tiled attention backward ({@link AttentionBackward}) on rows longer than {@link AttentionTest} reaches
 * (to 160 queries, cached keys before them), with chunks of keys from one tile to all keys, on both kernel
 * paths, against the double reference; and the same call twice gives the same bits.
 */
class AttentionBackwardTest {

    private static float[] read(MemorySegment s) {
        return s.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Property(tries = 15)
    void longRowsInChunksMatchTheReference(@ForAll @IntRange(min = 1, max = 2) int batch,
                                           @ForAll @IntRange(min = 1, max = 160) int qLen,
                                           @ForAll @IntRange(min = 0, max = 40) int extraKv,
                                           @ForAll @IntRange(min = 1, max = 3) int heads,
                                           @ForAll @IntRange(min = 1, max = 40) int halfDim,
                                           @ForAll @IntRange(min = 0, max = 2) int chunking, @ForAll long seed) {
        int headDim = 2 * halfDim, kvLen = qLen + extraKv, width = heads * headDim;
        // one tile of keys per chunk, a few tiles, or the default (usually all keys at these lengths)
        int chunkFloats = switch (chunking) {
            case 0 -> 1;
            case 1 -> 12 * qLen;
            default -> AttentionBackward.CHUNK_FLOATS;
        };
        Random rnd = new Random(seed);
        float[] q = gaussian(rnd, batch * qLen * width, 1), k = gaussian(rnd, batch * kvLen * width, 1);
        float[] v = gaussian(rnd, batch * kvLen * width, 1), dout = gaussian(rnd, batch * qLen * width, 1);
        Reference.AttentionGrads grads = Reference.attentionBackward(Reference.toDouble(dout), Reference.toDouble(q),
                Reference.toDouble(k), Reference.toDouble(v), batch, qLen, kvLen, heads, headDim);
        for (CpuBackend be : OpsTestSupport.backends())
            try (Tensor tq = Tensor.of(q, batch * qLen, width); Tensor tk = Tensor.of(k, batch * kvLen, width);
                 Tensor tv = Tensor.of(v, batch * kvLen, width); Tensor out = Tensor.zeros(DType.F32, batch * qLen, width);
                 Tensor lse = Tensor.zeros(DType.F32, batch, heads, qLen); Tensor tg = Tensor.of(dout, batch * qLen, width)) {
                be.attention(tq, tk, tv, batch, qLen, kvLen, heads, headDim, out, lse);
                AttentionBackward backward = new AttentionBackward(be.kernels());
                float[][] first = null;
                for (int run = 0; run < 2; run++) {
                    MemorySegment dq = Scratch.floats((long) batch * qLen * width), dk = Scratch.floats((long) batch * kvLen * width);
                    MemorySegment dv = Scratch.floats((long) batch * kvLen * width);
                    dq.fill((byte) 0x7f);   // written, not accumulated: stale values must disappear
                    dk.fill((byte) 0x7f);
                    dv.fill((byte) 0x7f);
                    backward.backward(tg.segment(), tq.segment(), tk.segment(), tv.segment(), out.segment(), lse.segment(),
                            batch, qLen, kvLen, heads, headDim, dq, dk, dv, chunkFloats);
                    float[][] now = {read(dq), read(dk), read(dv)};
                    if (first == null) first = now;
                    else for (int t = 0; t < 3; t++)
                        org.junit.jupiter.api.Assertions.assertArrayEquals(first[t], now[t], "run to run, tensor " + t);
                }
                String p = OpsTestSupport.pathOf(be) + " qLen " + qLen + " kvLen " + kvLen + " chunking " + chunking;
                // dv and dk are sums over ≤ 200 queries, dq over ≤ 200 keys, of terms ≤ the gradients' scale, each
                // term from ≤ 80-term scores: float summation in sequence, ~200·2^-24 ≈ 1.2e-5 worst case, 2e-5
                // relative. Where a query sees one key, dS = p·(dP − D) cancels to a rounding residue (exact:
                // 0): the floor is 2e-5 of the gradients' common scale, as in AttentionTest.
                double floor = 2e-5 * Math.max(OpsTestSupport.maxAbs(grads.dv()), OpsTestSupport.maxAbs(grads.dq()));
                assertWithin(p + " dq", first[0], grads.dq(), 2e-5, floor);
                assertWithin(p + " dk", first[1], grads.dk(), 2e-5, floor);
                assertClose(p + " dv", first[2], grads.dv(), 2e-5, 2e-5);
            }
    }
}

package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.pathOf;
import static tern.simd.OpsTestSupport.uniform;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.DType;
import tern.runtime.Tensor;

/**
 * Backend.ropeAttention's default (what the CPU runs) is rope, rope and attention, and its backward the
 * attention's backward with dq and dk rotated back: equal to those calls made one by one, bit for bit, with q
 * and k left as they were. The CPU does not fuse, so the tape keeps recording the three ops there.
 */
class RopeAttentionDefaultTest {

    @Property(tries = 20)
    void theDefaultIsRopeThenAttention(@ForAll @IntRange(min = 1, max = 2) int batch, @ForAll @IntRange(min = 1, max = 40) int seq,
                                       @ForAll @IntRange(min = 1, max = 3) int heads, @ForAll @IntRange(min = 1, max = 16) int halfDim,
                                       @ForAll long seed) {
        int d = 2 * halfDim, rows = batch * seq, width = heads * d;
        float theta = 10000f;
        Random rnd = new Random(seed);
        float[] q = uniform(rnd, rows * width, 2), k = uniform(rnd, rows * width, 2), v = uniform(rnd, rows * width, 1);
        float[] dout = uniform(rnd, rows * width, 1);
        for (CpuBackend be : backends()) {
            String p = pathOf(be);
            assertFalse(be.fusesRopeAttention(d), p);
            try (Tensor tq = Tensor.of(q, rows, width); Tensor tk = Tensor.of(k, rows, width); Tensor tv = Tensor.of(v, rows, width);
                 Tensor tg = Tensor.of(dout, rows, width);
                 Tensor out = Tensor.zeros(DType.F32, rows, width); Tensor lse = Tensor.zeros(DType.F32, batch, heads, seq);
                 Tensor dq = Tensor.zeros(DType.F32, rows, width); Tensor dk = Tensor.zeros(DType.F32, rows, width);
                 Tensor dv = Tensor.zeros(DType.F32, rows, width);
                 Tensor qr = Tensor.zeros(DType.F32, rows, width); Tensor kr = Tensor.zeros(DType.F32, rows, width);
                 Tensor out2 = Tensor.zeros(DType.F32, rows, width); Tensor lse2 = Tensor.zeros(DType.F32, batch, heads, seq);
                 Tensor dq2 = Tensor.zeros(DType.F32, rows, width); Tensor dk2 = Tensor.zeros(DType.F32, rows, width);
                 Tensor dv2 = Tensor.zeros(DType.F32, rows, width)) {
                be.ropeAttention(tq, tk, tv, batch, seq, heads, d, theta, out, lse);
                be.ropeAttentionBackward(tg, tq, tk, tv, out, lse, batch, seq, heads, d, theta, dq, dk, dv);
                be.rope(tq, seq, heads, d, theta, 0, false, qr);
                be.rope(tk, seq, heads, d, theta, 0, false, kr);
                be.attention(qr, kr, tv, batch, seq, seq, heads, d, out2, lse2);
                be.attentionBackward(tg, qr, kr, tv, out2, lse2, batch, seq, seq, heads, d, dq2, dk2, dv2);
                be.rope(dq2, seq, heads, d, theta, 0, true, dq2);
                be.rope(dk2, seq, heads, d, theta, 0, true, dk2);
                assertArrayEquals(q, tq.toFloatArray(), p + " q unchanged");
                assertArrayEquals(k, tk.toFloatArray(), p + " k unchanged");
                assertArrayEquals(out2.toFloatArray(), out.toFloatArray(), p + " out");
                assertArrayEquals(lse2.toFloatArray(), lse.toFloatArray(), p + " lse");
                assertArrayEquals(dq2.toFloatArray(), dq.toFloatArray(), p + " dq");
                assertArrayEquals(dk2.toFloatArray(), dk.toFloatArray(), p + " dk");
                assertArrayEquals(dv2.toFloatArray(), dv.toFloatArray(), p + " dv");
            }
        }
    }
}

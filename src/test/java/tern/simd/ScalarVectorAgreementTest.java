package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.gaussian;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import tern.runtime.AdamWParams;
import tern.runtime.DType;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;

/**
 * The whole backend on the scalar kernels (what -Dtern.simd=scalar selects) and on the Vector API kernels
 * gives the same results: one attention-and-MLP block, forward, loss and backward, and an AdamW step, run
 * through both and compared op by op to 1e-5: reductions differ only in summation order and exponentials by
 * ≤ 1 ulp, and every later op inherits those differences. (Kernel by kernel, the elementwise ones agree bit
 * for bit: {@link FloatKernelsTest}.)
 */
class ScalarVectorAgreementTest {

    /** Runs the same op sequence on one backend and records every output. */
    private static List<float[]> block(CpuBackend be, int batch, int seq, int heads, int headDim, int vocab, long seed) {
        Random rnd = new Random(seed);
        int rows = batch * seq, width = heads * headDim;
        List<float[]> outputs = new ArrayList<>();
        int[] ids = new int[rows], targets = new int[rows];
        for (int i = 0; i < rows; i++) {
            ids[i] = rnd.nextInt(vocab);
            targets[i] = i % 5 == 4 ? -1 : rnd.nextInt(vocab);
        }
        try (Tensor table = Tensor.of(gaussian(rnd, vocab * width, 1), vocab, width);
             Tensor normW = Tensor.of(gaussian(rnd, width, 1), width);
             Tensor x = Tensor.zeros(DType.F32, rows, width); Tensor h = Tensor.zeros(DType.F32, rows, width);
             Tensor rstd = Tensor.zeros(DType.F32, rows); Tensor q = Tensor.zeros(DType.F32, rows, width);
             Tensor att = Tensor.zeros(DType.F32, rows, width); Tensor lse = Tensor.zeros(DType.F32, batch * heads * seq);
             Tensor up = Tensor.of(gaussian(rnd, rows * width, 1), rows, width);
             Tensor mlp = Tensor.zeros(DType.F32, rows, width); Tensor logits = Tensor.zeros(DType.F32, rows, vocab);
             Tensor head = Tensor.of(gaussian(rnd, vocab * width, 0.3), vocab, width);
             Tensor dlogits = Tensor.zeros(DType.F32, rows, vocab);
             Tensor dmlp = Tensor.zeros(DType.F32, rows, width); Tensor dgate = Tensor.zeros(DType.F32, rows, width);
             Tensor dup = Tensor.zeros(DType.F32, rows, width); Tensor dq = Tensor.zeros(DType.F32, rows, width);
             Tensor dk = Tensor.zeros(DType.F32, rows, width); Tensor dv = Tensor.zeros(DType.F32, rows, width);
             Tensor dh = Tensor.zeros(DType.F32, rows, width); Tensor dx = Tensor.zeros(DType.F32, rows, width);
             Tensor dnormW = Tensor.zeros(DType.F32, width); Tensor dtable = Tensor.zeros(DType.F32, vocab, width);
             Tensor m = Tensor.zeros(DType.F32, vocab, width); Tensor v = Tensor.zeros(DType.F32, vocab, width);
             Tensor quant = Tensor.zeros(DType.F32, vocab, width)) {
            be.embedding(table, ids, x);
            be.rmsnorm(x, normW, 1e-5f, h, rstd);
            be.rope(h, seq, heads, headDim, 10000f, 0, false, q);
            be.attention(q, q, h, batch, seq, seq, heads, headDim, att, lse);
            be.add(att, x, att);
            be.swiglu(att, up, mlp);
            be.matmul(mlp, false, head, true, logits, false);
            float loss = be.crossEntropy(logits, targets, dlogits, 1f);
            outputs.add(new float[] {loss});
            be.matmul(dlogits, false, head, false, dmlp, false);
            be.swigluBackward(dmlp, att, up, dgate, dup);
            be.attentionBackward(dgate, q, q, h, att, lse, batch, seq, seq, heads, headDim, dq, dk, dv);
            be.rope(dq, seq, heads, headDim, 10000f, 0, true, dq);
            be.rmsnormBackward(dq, x, normW, rstd, dh, dnormW);
            be.add(dh, dgate, dx);
            be.embeddingBackward(dx, ids, dtable);
            be.adamw(table, dtable, m, v, new AdamWParams(1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1, 1f));
            for (Tensor t : new Tensor[] {x, h, rstd, q, att, lse, mlp, logits, dlogits, dmlp, dgate, dup, dq, dk, dv,
                    dh, dnormW, dtable, table, m, v})
                outputs.add(t.toFloatArray());
            float[] scales = be.quantizeTernary(table, 2, ShardAxis.COLS, 1e-5f, quant);
            outputs.add(scales);
            outputs.add(quant.toFloatArray());
            outputs.add(be.quantizeBinary(table, Granularity.ROW, quant));
            outputs.add(quant.toFloatArray());
            be.quantizeSymmetric(table, 4, Granularity.ROW, quant);
            outputs.add(quant.toFloatArray());
            outputs.add(new float[] {(float) be.sumOfSquares(dtable), be.allFinite(dtable) ? 1 : 0});
        }
        return outputs;
    }

    @Property(tries = 10)
    void scalarAndVectorPathsAgree(@ForAll @IntRange(min = 1, max = 3) int batch, @ForAll @IntRange(min = 1, max = 40) int seq,
                                   @ForAll @IntRange(min = 1, max = 4) int heads, @ForAll @IntRange(min = 1, max = 24) int halfDim,
                                   @ForAll @IntRange(min = 2, max = 300) int vocab, @ForAll long seed) {
        List<float[]> scalar = block(CpuBackend.scalar(), batch, seq, heads, 2 * halfDim, vocab, seed);
        List<float[]> vector = block(new CpuBackend(VectorFloatKernels.INSTANCE), batch, seq, heads, 2 * halfDim, vocab, seed);
        assertEquals(scalar.size(), vector.size());
        // The embedding lookup (index 1) only copies rows: identical.
        assertArrayEquals(scalar.get(1), vector.get(1), "embedding");
        for (int i = 0; i < scalar.size(); i++)
            // Quantized outputs could differ by a level only where a quotient lies within an ulp of a rounding
            // boundary while the two scales differ in their last bit: about 1e-7 per element.
            assertClose("output " + i, vector.get(i), scalar.get(i), 1e-5, 1e-5);
    }
}

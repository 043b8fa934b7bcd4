package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static tern.simd.OpsTestSupport.assertClose;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.pathOf;
import static tern.simd.OpsTestSupport.uniform;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.Tensor;

class EmbeddingTest {

    @Property(tries = 50)
    void lookupAndScatterAddMatchTheReference(@ForAll @IntRange(min = 1, max = 60) int vocab,
                                              @ForAll @IntRange(min = 1, max = 300) int dim,
                                              @ForAll @IntRange(min = 1, max = 200) int n, @ForAll long seed) {
        Random rnd = new Random(seed);
        float[] table = uniform(rnd, vocab * dim, 1), dout = uniform(rnd, n * dim, 1), dtable0 = uniform(rnd, vocab * dim, 1);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = rnd.nextInt(vocab);   // small vocabularies repeat ids: the sums are tested
        double[] expectedOut = Reference.embedding(Reference.toDouble(table), dim, ids);
        double[] expectedGrad = Reference.add(Reference.toDouble(dtable0),
                Reference.embeddingBackward(Reference.toDouble(dout), dim, ids, vocab));
        for (CpuBackend be : backends())
            try (Tensor tt = Tensor.of(table, vocab, dim); Tensor out = Tensor.zeros(DType.F32, n, dim);
                 Tensor tg = Tensor.of(dout, n, dim); Tensor dt = Tensor.of(dtable0, vocab, dim)) {
                be.embedding(tt, ids, out);
                assertArrayEquals(Reference.toFloat(expectedOut), out.toFloatArray(), pathOf(be) + " lookup copies rows");
                be.embeddingBackward(tg, ids, dt);
                // dtable accumulates: each element is a sum of ≤ n f32 terms, 1e-6 of the largest term per add.
                assertClose(pathOf(be) + " embeddingBackward", dt.toFloatArray(), expectedGrad, 1e-6, 1e-6 * n);
            }
    }

    @Test
    void idsOutsideTheVocabularyNameTheIdAndTheSize() {
        CpuBackend be = CpuBackend.scalar();
        try (Tensor table = Tensor.zeros(DType.F32, 10, 4); Tensor out = Tensor.zeros(DType.F32, 3, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.embedding(table, new int[] {1, 10, 2}, out));
            assertTrue(e.getMessage().contains("10") && e.getMessage().contains("size 10"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.embedding(table, new int[] {-3, 0, 2}, out));
            assertTrue(e.getMessage().contains("-3"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.embeddingBackward(out, new int[] {0, 11, 2}, table));
            assertTrue(e.getMessage().contains("11") && e.getMessage().contains("size 10"), e.getMessage());
        }
    }
}

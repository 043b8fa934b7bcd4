package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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

class RopeTest {

    @Property(tries = 50)
    void rotationMatchesTheReferenceAndInverseUndoesIt(@ForAll @IntRange(min = 1, max = 3) int batch,
                                                       @ForAll @IntRange(min = 1, max = 64) int seq,
                                                       @ForAll @IntRange(min = 1, max = 8) int heads,
                                                       @ForAll @IntRange(min = 1, max = 64) int halfDim,
                                                       @ForAll @IntRange(min = 0, max = 2000) int posOffset,
                                                       @ForAll long seed) {
        int headDim = 2 * halfDim, rows = batch * seq, width = heads * headDim;
        float theta = 10000f;
        float[] x = uniform(new Random(seed), rows * width, 2);
        double[] expected = Reference.rope(Reference.toDouble(x), rows, seq, heads, headDim, theta, posOffset, false);
        for (CpuBackend be : backends())
            try (Tensor tx = Tensor.of(x, rows, width); Tensor out = Tensor.zeros(DType.F32, rows, width)) {
                String p = pathOf(be);
                be.rope(tx, seq, heads, headDim, theta, posOffset, false, out);
                // cos/sin rounded to f32 (angles up to ~2000 rad computed in double), two products and a sum:
                // 1e-6 of the values' scale.
                assertClose(p + " rope", out.toFloatArray(), expected, 1e-6, 1e-6);
                be.rope(out, seq, heads, headDim, theta, posOffset, true, out);   // in place, inverse
                assertClose(p + " inverse∘rope", out.toFloatArray(), x, 1e-6, 2e-6);
            }
    }

    @Test
    void positionZeroIsTheIdentityAndPairsAreHalfApart() {
        // headDim 4: dimension 0 pairs with 2, 1 with 3. At pos 1, frequency i has angle theta^(−2i/4).
        float[] x = {1, 0, 0, 0, /* row 1 */ 1, 0, 0, 0};
        for (CpuBackend be : backends())
            try (Tensor tx = Tensor.of(x, 2, 4); Tensor out = Tensor.zeros(DType.F32, 2, 4)) {
                be.rope(tx, 2, 1, 4, 10000f, 0, false, out);
                float[] o = out.toFloatArray();
                assertArrayEquals(new float[] {1, 0, 0, 0}, java.util.Arrays.copyOf(o, 4), "pos 0 does not rotate");
                // pos 1, i = 0: angle 1 → (cos 1, ·, sin 1, ·)
                assertArrayEquals(new float[] {(float) Math.cos(1), 0, (float) Math.sin(1), 0},
                        java.util.Arrays.copyOfRange(o, 4, 8), 1e-7f);
            }
    }

    /** Decoding one position at a time (seq 1, growing posOffset) rotates exactly like the whole sequence. */
    @Test
    void oneTokenAtATimeEqualsTheWholeSequence() {
        int seq = 70, heads = 3, headDim = 10, width = heads * headDim;
        float[] x = uniform(new Random(3), seq * width, 1);
        for (CpuBackend be : backends())
            try (Tensor whole = Tensor.of(x, seq, width); Tensor all = Tensor.zeros(DType.F32, seq, width)) {
                be.rope(whole, seq, heads, headDim, 500000f, 0, false, all);
                float[] expected = all.toFloatArray();
                for (int pos = 0; pos < seq; pos++)
                    try (Tensor one = Tensor.of(java.util.Arrays.copyOfRange(x, pos * width, (pos + 1) * width), 1, width)) {
                        be.rope(one, 1, heads, headDim, 500000f, pos, false, one);
                        assertArrayEquals(java.util.Arrays.copyOfRange(expected, pos * width, (pos + 1) * width),
                                one.toFloatArray(), pathOf(be) + " position " + pos);
                    }
            }
    }
}

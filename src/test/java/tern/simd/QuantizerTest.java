package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;
import static tern.simd.OpsTestSupport.backends;
import static tern.simd.OpsTestSupport.pathOf;
import static tern.simd.OpsTestSupport.uniform;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/** The fake quantizers against the reference and against hand-worked examples. */
class QuantizerTest {

    @Property(tries = 40)
    void ternaryMatchesTheReferenceAndThePackedMatrix(@ForAll @IntRange(min = 1, max = 200) int rows,
                                                      @ForAll @IntRange(min = 1, max = 300) int cols,
                                                      @ForAll @IntRange(min = 1, max = 4) int shards,
                                                      @ForAll boolean alongRows, @ForAll long seed) {
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? rows : cols);
        float[] w = uniform(new Random(seed), rows * cols, 0.1);
        float eps = 1e-5f;
        Reference.Quantized ref = Reference.ternary(w, rows, cols, shards, axis, eps);
        for (CpuBackend be : backends())
            try (Tensor tw = Tensor.of(w, rows, cols); Tensor out = Tensor.zeros(DType.F32, rows, cols)) {
                float[] gamma = be.quantizeTernary(tw, shards, axis, eps, out);
                float[] q = out.toFloatArray();
                // γ: a mean accumulated in double on both sides, then rounded to f32 (the kernel adds ε in f32).
                for (int s = 0; s < shards; s++)
                    assertEquals(ref.scales()[s], gamma[s], 2e-7 * ref.scales()[s], pathOf(be) + " γ of shard " + s);
                for (int i = 0; i < q.length; i++) {
                    float g = gamma[(int) ((long) (alongRows ? i / cols : i % cols) * shards / (alongRows ? rows : cols))];
                    // A different last bit of γ may flip rint only where |w/γ| sits at 0.5 within 1e-5.
                    boolean atBoundary = Math.abs(Math.abs(w[i] / g) - 0.5) < 1e-5;
                    if (!atBoundary && Math.abs(q[i] - ref.values()[i]) > 1e-6 * g)
                        fail(pathOf(be) + " element " + i + ": " + q[i] + " vs reference " + ref.values()[i]);
                    float t = q[i] / g;
                    if (t != -1f && t != 0f && t != 1f) fail("element " + i + " is not γ·{−1,0,1}: " + q[i]);
                }
                // The fake-quantized matrix is exactly what packing then unpacking gives.
                try (TernaryWeights packed = be.packTernary(tw, shards, axis, eps);
                     Tensor unpacked = Tensor.zeros(DType.F32, rows, cols)) {
                    be.unpackTernary(packed, unpacked);
                    assertArrayEquals(unpacked.toFloatArray(), q, pathOf(be) + " quantizeTernary vs pack/unpack");
                }
                be.quantizeTernary(tw, shards, axis, eps, tw);   // out may alias w
                assertArrayEquals(q, tw.toFloatArray(), "in place");
            }
    }

    @Property(tries = 40)
    void binaryMatchesTheReference(@ForAll @IntRange(min = 1, max = 200) int rows,
                                   @ForAll @IntRange(min = 1, max = 300) int cols,
                                   @ForAll boolean perRow, @ForAll long seed) {
        Granularity gr = perRow ? Granularity.ROW : Granularity.TENSOR;
        float[] w = uniform(new Random(seed), rows * cols, 1);
        Reference.Quantized ref = Reference.binary(w, rows, cols, gr);
        for (CpuBackend be : backends())
            try (Tensor tw = Tensor.of(w, rows, cols); Tensor out = Tensor.zeros(DType.F32, rows, cols)) {
                float[] alpha = be.quantizeBinary(tw, gr, out);
                // α is a double-accumulated mean rounded once to f32: equal up to the summation order (1 ulp).
                for (int u = 0; u < alpha.length; u++)
                    assertEquals(ref.scales()[u], alpha[u], Math.ulp(ref.scales()[u]), pathOf(be) + " α " + u);
                float[] q = out.toFloatArray();
                for (int i = 0; i < q.length; i++)
                    assertEquals(ref.values()[i], q[i], Math.ulp(ref.values()[i]), pathOf(be) + " element " + i);
            }
    }

    @Property(tries = 60)
    void symmetricMatchesTheReference(@ForAll @IntRange(min = 1, max = 200) int rows,
                                      @ForAll @IntRange(min = 1, max = 300) int cols,
                                      @ForAll @IntRange(min = 2, max = 16) int bits,
                                      @ForAll boolean perRow, @ForAll long seed) {
        Granularity gr = perRow ? Granularity.ROW : Granularity.TENSOR;
        float[] x = uniform(new Random(seed), rows * cols, 5);
        Reference.Quantized ref = Reference.symmetric(x, rows, cols, bits, gr);
        for (CpuBackend be : backends())
            try (Tensor tx = Tensor.of(x, rows, cols); Tensor out = Tensor.zeros(DType.F32, rows, cols)) {
                be.quantizeSymmetric(tx, bits, gr, out);
                // The same f32 scale and f32 quotient on both sides: bit-identical.
                assertArrayEquals(ref.values(), out.toFloatArray(), pathOf(be) + " " + bits + " bits");
            }
    }

    // ---- hand-worked examples ------------------------------------------------------------------------

    @Test
    void ternaryHandWorked() {
        // mean|w| = (0.3 + 0.1 + 0.0 + 0.6 + 0.2 + 0.3)/6 = 0.25 = γ (ε = 0): w/γ = 1.2, −0.4, 0, −2.4, 0.8, 1.2
        // → T = 1, 0, 0, −1, 1, 1
        float[] w = {0.3f, -0.1f, 0f, -0.6f, 0.2f, 0.3f};
        for (CpuBackend be : backends())
            try (Tensor tw = Tensor.of(w, 2, 3); Tensor out = Tensor.zeros(DType.F32, 2, 3)) {
                float[] g = be.quantizeTernary(tw, 1, ShardAxis.ROWS, 0f, out);
                assertEquals(0.25f, g[0], 1e-7f);
                assertArrayEquals(new float[] {g[0], 0, 0, -g[0], g[0], g[0]}, out.toFloatArray());
            }
    }

    @Test
    void ternaryTiesRoundHalfToEven() {
        // mean|w| = (0.5 + 1.5 + 2 + 0)/4 = 1 = γ: w/γ = 0.5 → 0 (even), −0.5 → −0 , 1.5 → 2 → clamp 1.
        float[] w = {0.5f, -1.5f, 2f, 0f};
        for (CpuBackend be : backends())
            try (Tensor tw = Tensor.of(w, 1, 4); Tensor out = Tensor.zeros(DType.F32, 1, 4)) {
                be.quantizeTernary(tw, 1, ShardAxis.ROWS, 0f, out);
                float[] q = out.toFloatArray();
                assertEquals(0f, q[0], 0f);
                assertEquals(-1f, q[1]);
                assertEquals(1f, q[2]);
                assertEquals(0f, q[3], 0f);
            }
        // Symmetric 2-bit (q = 1): max = 2 → s = 2; x/s = 0.5 → 0, 1.5/2 = 0.75 → 1, −1/2 = −0.5 → −0.
        float[] x = {1f, 1.5f, -1f, 2f};
        for (CpuBackend be : backends())
            try (Tensor tx = Tensor.of(x, 1, 4); Tensor out = Tensor.zeros(DType.F32, 1, 4)) {
                be.quantizeSymmetric(tx, 2, Granularity.TENSOR, out);
                assertArrayEquals(new float[] {0f, 2f, -0f, 2f}, out.toFloatArray(), pathOf(be));
            }
    }

    @Test
    void allZeroInputsStayZero() {
        float[] zeros = new float[12];
        for (CpuBackend be : backends())
            try (Tensor t = Tensor.of(zeros, 3, 4); Tensor out = Tensor.zeros(DType.F32, 3, 4)) {
                be.fill(out, 9f);
                be.quantizeSymmetric(t, 8, Granularity.ROW, out);   // s = 1 where max|x| = 0
                assertArrayEquals(zeros, out.toFloatArray());
                be.fill(out, 9f);
                float[] g = be.quantizeTernary(t, 1, ShardAxis.ROWS, 0f, out);   // γ = 0 with ε = 0: T = 0
                assertEquals(0f, g[0]);
                assertArrayEquals(zeros, out.toFloatArray());
                float[] gEps = be.quantizeTernary(t, 1, ShardAxis.ROWS, 1e-5f, out);
                assertEquals(1e-5f, gEps[0]);
                assertArrayEquals(zeros, out.toFloatArray());
                float[] a = be.quantizeBinary(t, Granularity.TENSOR, out);    // α = 0, sign(0) = +1: +0
                assertEquals(0f, a[0]);
                assertArrayEquals(zeros, out.toFloatArray());
            }
    }

    @Test
    void singleNonzeroElement() {
        float[] x = new float[8];
        x[5] = -3f;
        for (CpuBackend be : backends())
            try (Tensor t = Tensor.of(x, 2, 4); Tensor out = Tensor.zeros(DType.F32, 2, 4)) {
                // Symmetric: s = 3/q, x/s = −q exactly, every other element 0.
                be.quantizeSymmetric(t, 8, Granularity.TENSOR, out);
                float[] expected = new float[8];
                expected[5] = (3f / 127f) * -127f;
                assertArrayEquals(expected, out.toFloatArray());
                // Ternary: γ = 3/8, w/γ = −8 → −1; the zeros stay 0.
                float[] g = be.quantizeTernary(t, 1, ShardAxis.ROWS, 0f, out);
                assertEquals(0.375f, g[0]);
                expected[5] = -0.375f;
                assertArrayEquals(expected, out.toFloatArray());
                // Binary per row: row 0 is all zero (α = 0 → +0), row 1 has α = 3/4 and sign(0) = +1.
                float[] a = be.quantizeBinary(t, Granularity.ROW, out);
                assertArrayEquals(new float[] {0f, 0.75f}, a);
                assertArrayEquals(new float[] {0, 0, 0, 0, 0.75f, -0.75f, 0.75f, 0.75f}, out.toFloatArray());
            }
    }

    @Test
    void sixteenBitAndTwoBitLevels() {
        // 16 bits: q = 32767, s = 1/32767: x = 0.5 → 16383.5 → half to even 16384 → 16384/32767.
        float[] x = {1f, 0.5f, -0.25f, 0f};
        for (CpuBackend be : backends())
            try (Tensor t = Tensor.of(x, 1, 4); Tensor out = Tensor.zeros(DType.F32, 1, 4)) {
                be.quantizeSymmetric(t, 16, Granularity.ROW, out);
                float s = 1f / 32767f;
                float[] q = out.toFloatArray();
                assertEquals(s * 32767f, q[0]);
                assertEquals(s * (float) Math.rint(0.5f / s), q[1]);
                assertEquals(Math.rint(0.5f / s), 16384.0);
                assertEquals(s * (float) Math.rint(-0.25f / s), q[2]);
                assertEquals(0f, q[3]);
                // 2 bits: q = 1, s = 1: levels −1, 0, 1 only: 0.5 → 0 (even), −0.25 → −0.
                be.quantizeSymmetric(t, 2, Granularity.ROW, out);
                assertArrayEquals(new float[] {1f, 0f, -0f, 0f}, out.toFloatArray());
            }
    }

    @Test
    void binarySignOfZeroIsPlusOne() {
        float[] w = {0f, -0f, 2f, -2f};
        for (CpuBackend be : backends())
            try (Tensor t = Tensor.of(w, 1, 4); Tensor out = Tensor.zeros(DType.F32, 1, 4)) {
                float[] a = be.quantizeBinary(t, Granularity.TENSOR, out);
                assertEquals(1f, a[0]);
                assertArrayEquals(new float[] {1f, 1f, 1f, -1f}, out.toFloatArray());
            }
    }

    @Test
    void badBitsAndShardsAreRejected() {
        CpuBackend be = CpuBackend.scalar();
        try (Tensor t = Tensor.zeros(DType.F32, 2, 4); Tensor out = Tensor.zeros(DType.F32, 2, 4)) {
            assertThrows(IllegalArgumentException.class, () -> be.quantizeSymmetric(t, 1, Granularity.ROW, out));
            assertThrows(IllegalArgumentException.class, () -> be.quantizeSymmetric(t, 17, Granularity.ROW, out));
            assertThrows(IllegalArgumentException.class, () -> be.quantizeTernary(t, 3, ShardAxis.ROWS, 0f, out));
        }
    }
}

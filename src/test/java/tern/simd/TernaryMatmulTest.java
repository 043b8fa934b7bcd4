package tern.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * TernaryMatmul: the quantizer against its definition (hand-worked cases and random matrices), and both
 * products against the float product with the dequantized matrix γ·T in double, on both kernel paths.
 * Tolerance of the products: 1e-5·Σ|x·γT| per element, as for the float matmul.
 */
class TernaryMatmulTest {
    private static final double RTOL = 1e-5;
    private static final float EPS = 1e-5f;

    private static final TernaryKernels[] PATHS = Vectorization.ENABLED
            ? new TernaryKernels[] {TernaryScalar.INSTANCE, TernaryVector.INSTANCE}
            : new TernaryKernels[] {TernaryScalar.INSTANCE};

    // 80 tries: each packs a matrix and runs two references of up to 40·300·300 terms on two paths.
    @Property(tries = 80)
    void productsMatchTheDequantizedFloatProduct(@ForAll @IntRange(min = 1, max = 40) int m,
                                                  @ForAll @IntRange(min = 1, max = 300) int in,
                                                  @ForAll @IntRange(min = 1, max = 300) int out,
                                                  @ForAll @IntRange(min = 1, max = 4) int shards, @ForAll boolean alongRows,
                                                  @ForAll boolean accumulate, @ForAll long seed) {
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? out : in);
        Random rnd = new Random(seed);
        float[] w = MatmulReference.gaussian(rnd, out * in), x = MatmulReference.gaussian(rnd, m * in);
        float[] dy = MatmulReference.gaussian(rnd, m * out);
        float[] y0 = MatmulReference.gaussian(rnd, m * out), dx0 = MatmulReference.gaussian(rnd, m * in);
        float[] wq = MatmulReference.dequantized(w, out, in, shards, axis, EPS);
        MatmulReference.Product y = MatmulReference.matmul(x, false, wq, true, accumulate ? y0 : null, m, in, out);
        MatmulReference.Product dx = MatmulReference.matmul(dy, false, wq, false, accumulate ? dx0 : null, m, out, in);
        String what = "m=" + m + " in=" + in + " out=" + out + " " + shards + " shards along " + axis + (accumulate ? " +acc" : "");
        try (Tensor tw = Tensor.of(w, out, in); TernaryWeights packed = TernaryMatmul.pack(tw, shards, axis, EPS)) {
            float[] firstY = null, firstDx = null;
            for (TernaryKernels path : PATHS) {
                float[] gotY, gotDx;
                try (Tensor tx = Tensor.of(x, m, in); Tensor ty = Tensor.of(y0, m, out)) {
                    TernaryMatmul.forward(path, tx, packed, ty, accumulate);
                    gotY = ty.toFloatArray();
                }
                try (Tensor tdy = Tensor.of(dy, m, out); Tensor tdx = Tensor.of(dx0, m, in)) {
                    TernaryMatmul.backward(path, tdy, packed, tdx, accumulate);
                    gotDx = tdx.toFloatArray();
                }
                String p = path.getClass().getSimpleName() + " " + what;
                MatmulReference.assertClose(p + " forward", gotY, y, RTOL);
                MatmulReference.assertClose(p + " backward", gotDx, dx, RTOL);
                // Same tables and the same order of additions on both paths: identical bits.
                if (firstY != null) {
                    assertArrayEquals(firstY, gotY, "scalar and vector forward differ: " + what);
                    assertArrayEquals(firstDx, gotDx, "scalar and vector backward differ: " + what);
                }
                firstY = gotY;
                firstDx = gotDx;
            }
        }
    }

    @Property(tries = 100)
    void packThenUnpackIsTheReferenceQuantizer(@ForAll @IntRange(min = 1, max = 200) int rows,
                                                @ForAll @IntRange(min = 1, max = 200) int cols,
                                                @ForAll @IntRange(min = 1, max = 6) int shards, @ForAll boolean alongRows,
                                                @ForAll long seed) {
        ShardAxis axis = alongRows ? ShardAxis.ROWS : ShardAxis.COLS;
        shards = Math.min(shards, alongRows ? rows : cols);
        float[] w = MatmulReference.gaussian(new Random(seed), rows * cols);
        try (Tensor tw = Tensor.of(w, rows, cols); TernaryWeights packed = TernaryMatmul.pack(tw, shards, axis, EPS);
             Tensor back = Tensor.zeros(DType.F32, rows, cols)) {
            assertArrayEquals(MatmulReference.scales(w, rows, cols, shards, axis, EPS), packed.scales());
            assertArrayEquals(MatmulReference.scales(w, rows, cols, shards, axis, EPS), TernaryMatmul.scales(tw, shards, axis, EPS));
            TernaryMatmul.unpack(packed, back);
            float[] dequantized = MatmulReference.dequantized(w, rows, cols, shards, axis, EPS);
            assertArrayEquals(dequantized, back.toFloatArray());
            // The trits an inference file stores: γ·T is the reference's dequantized weight, element by element.
            byte[] t = TernaryMatmul.trits(tw, packed.scales(), axis);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) {
                    float g = packed.scales()[TernaryMatmul.shardOf(alongRows ? r : c, alongRows ? rows : cols, shards)];
                    assertEquals(dequantized[r * cols + c], g * t[r * cols + c], "trit (" + r + ", " + c + ")");
                }
        }
    }

    @Test
    void tiesAtHalfGammaRoundToEven() {
        // mean|w| = 12/8 = 1.5 and ε = 0, so γ = 1.5: w/γ = 1, −1, 0.5, −0.5, 1.5, −1.5, 2, 0.
        float[] w = {1.5f, -1.5f, 0.75f, -0.75f, 2.25f, -2.25f, 3f, 0f};
        assertEquals(1.5f, unpacked(w, 1, 8, 1, ShardAxis.ROWS, 0f)[0]);
        // half to even: ±0.5 → 0, ±1.5 → ±2 → clamped to ±1, 2 → clamped 1
        float g = 1.5f;
        assertArrayEquals(new float[] {g, -g, 0, 0, g, -g, g, 0}, unpacked(w, 1, 8, 1, ShardAxis.ROWS, 0f));
    }

    @Test
    void allZeroMatrixHasScaleEpsilonAndNoNaN() {
        float[] w = new float[6 * 70];
        try (Tensor tw = Tensor.of(w, 6, 70); TernaryWeights packed = TernaryMatmul.pack(tw, 2, ShardAxis.ROWS, EPS);
             Tensor x = Tensor.of(MatmulReference.gaussian(new Random(1), 3 * 70), 3, 70); Tensor y = Tensor.zeros(DType.F32, 3, 6)) {
            assertArrayEquals(new float[] {EPS, EPS}, packed.scales());
            assertArrayEquals(new float[w.length], unpacked(w, 6, 70, 2, ShardAxis.ROWS, EPS));
            TernaryMatmul.forward(x, packed, y, false);
            assertArrayEquals(new float[3 * 6], y.toFloatArray());
        }
    }

    @Test
    void aSingleNonzeroBecomesPlusOrMinusGamma() {
        float[] w = new float[5 * 9];
        w[2 * 9 + 7] = -3f;
        float gamma = EPS + (float) (3.0 / 45);
        float[] expected = new float[w.length];
        expected[2 * 9 + 7] = -gamma;
        assertArrayEquals(expected, unpacked(w, 5, 9, 1, ShardAxis.ROWS, EPS));
    }

    @Test
    void shardsAlongRowsAndColumnsHaveTheirOwnScales() {
        float[] w = {1f, 2f, 3f, 4f,
                     0.25f, -0.25f, 0.5f, 0f};
        // Rows: γ0 = mean(1,2,3,4) = 2.5 → T = 0, 1, 1, 1; γ1 = mean(.25,.25,.5,0) = 0.25 → T = 1, −1, 1, 0.
        assertArrayEquals(new float[] {0, 2.5f, 2.5f, 2.5f, 0.25f, -0.25f, 0.25f, 0},
                unpacked(w, 2, 4, 2, ShardAxis.ROWS, 0f));
        // Columns: γ0 = mean(1,2,.25,.25) = 0.875 → T(·,0..1) = 1, 1 / 0, 0;
        //          γ1 = mean(3,4,.5,0) = 1.875 → T(·,2..3) = 1, 1 / 0, 0.
        assertArrayEquals(new float[] {0.875f, 0.875f, 1.875f, 1.875f, 0, 0, 0, 0},
                unpacked(w, 2, 4, 2, ShardAxis.COLS, 0f));
    }

    @Test
    void mismatchedShapesNameEveryShape() {
        try (Tensor w = Tensor.of(new float[12], 3, 4); TernaryWeights packed = TernaryMatmul.pack(w, 1, ShardAxis.ROWS, EPS);
             Tensor x = Tensor.zeros(DType.F32, 2, 5); Tensor y = Tensor.zeros(DType.F32, 2, 3)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TernaryMatmul.forward(x, packed, y, false));
            assertTrue(e.getMessage().contains("[2, 5]") && e.getMessage().contains("[3, 4]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> TernaryMatmul.backward(x, packed, y, false));
            assertThrows(IllegalArgumentException.class, () -> TernaryMatmul.pack(w, 4, ShardAxis.ROWS, EPS));
        }
    }

    private static float[] unpacked(float[] w, int rows, int cols, int shards, ShardAxis axis, float eps) {
        try (Tensor tw = Tensor.of(w, rows, cols); TernaryWeights packed = TernaryMatmul.pack(tw, shards, axis, eps);
             Tensor out = Tensor.zeros(DType.F32, rows, cols)) {
            TernaryMatmul.unpack(packed, out);
            return out.toFloatArray();
        }
    }
}

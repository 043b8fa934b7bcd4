package tern.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.Tape;
import tern.simd.CpuBackend;

/**
 * GPTQ against round-to-nearest on the same layer and calibration data: with correlated inputs the
 * error feedback must lower ‖XWᵀ − XŴᵀ‖². Also its linear algebra, and the calibration forward.
 */
class GptqTest {
    /** X [n, cols] with strongly correlated columns: Z·M for Gaussian Z and a random mixing M with a few large directions. */
    static double[][] correlatedInputs(Random rnd, int n, int cols) {
        int k = Math.max(2, cols / 4);
        double[][] m = new double[k][cols];
        for (int a = 0; a < k; a++)
            for (int c = 0; c < cols; c++) m[a][c] = rnd.nextGaussian() * (a < 2 ? 3 : 1);
        double[][] x = new double[n][cols];
        for (int i = 0; i < n; i++) {
            double[] z = new double[k];
            for (int a = 0; a < k; a++) z[a] = rnd.nextGaussian();
            for (int c = 0; c < cols; c++) {
                double s = 0.1 * rnd.nextGaussian();
                for (int a = 0; a < k; a++) s += z[a] * m[a][c];
                x[i][c] = s;
            }
        }
        return x;
    }

    static double[] hessian(double[][] x) {
        int n = x.length, d = x[0].length;
        double[] h = new double[d * d];
        for (double[] row : x)
            for (int i = 0; i < d; i++)
                for (int j = 0; j < d; j++) h[i * d + j] += 2.0 * row[i] * row[j] / n;
        return h;
    }

    /** ‖X Wᵀ − X Ŵᵀ‖² computed directly, in double. */
    static double outputError(double[][] x, float[] w, float[] wq, int rows, int cols) {
        double s = 0;
        for (double[] row : x)
            for (int r = 0; r < rows; r++) {
                double d = 0;
                for (int c = 0; c < cols; c++) d += row[c] * ((double) w[r * cols + c] - wq[r * cols + c]);
                s += d * d;
            }
        return s;
    }

    /**
     * Random layer shapes (up to 200 columns, so the lazy block update past column 128 runs), 3 and 4 bits,
     * with and without groups: GPTQ's output error is below RTN's. At least 4 rows of 32 columns: on a
     * row of 8 weights the feedback may move no weight across a rounding boundary, and GPTQ then ties
     * RTN exactly (it is greedy, with no guarantee on such tiny cases). 20 tries: each builds a 200×200
     * Hessian and its Cholesky factors in plain Java.
     */
    @Property(tries = 20)
    void lowerOutputErrorThanRtn(@ForAll @IntRange(min = 4, max = 40) int rows, @ForAll @IntRange(min = 32, max = 200) int cols,
                                 @ForAll @IntRange(min = 3, max = 4) int bits, @ForAll boolean grouped, @ForAll long seed) {
        Random rnd = new Random(seed);
        double[][] x = correlatedInputs(rnd, 2 * cols + 16, cols);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextGaussian();
        int group = grouped ? 16 : 0;
        double[] h = hessian(x);
        float[] rtn = Rtn.quantize(w, rows, cols, bits, group, false).dequantized();
        float[] gptq = Gptq.quantize(w, rows, cols, h, bits, group, false).dequantized();
        double eRtn = outputError(x, w, rtn, rows, cols), eGptq = outputError(x, w, gptq, rows, cols);
        assertTrue(eGptq < eRtn, "GPTQ " + eGptq + " should beat RTN " + eRtn);
        double[] hCopy = hessian(x);
        assertArrayEquals(hCopy, h, 0, "the Hessian must not be modified");
    }

    @Test
    void gptqRoughlyHalvesTheErrorOnATypicalLayer() {
        Random rnd = new Random(7);
        int rows = 64, cols = 160;
        double[][] x = correlatedInputs(rnd, 512, cols);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) (0.02 * rnd.nextGaussian());
        double[] h = hessian(x);
        double eRtn = outputError(x, w, Rtn.quantize(w, rows, cols, 3, 32, false).dequantized(), rows, cols);
        double eGptq = outputError(x, w, Gptq.quantize(w, rows, cols, h, 3, 32, false).dequantized(), rows, cols);
        assertTrue(eGptq < 0.7 * eRtn, "GPTQ " + eGptq + " vs RTN " + eRtn);
        // the codes live on the grid: dequantized = scale·(code − zero) of their group
        QuantizeResult q = Gptq.quantize(w, rows, cols, h, 3, 32, false);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                int g = r * q.groups() + c / 32;
                assertTrue(q.codes()[r * cols + c] >= 0 && q.codes()[r * cols + c] <= 7);
                double v = (double) q.scales()[g] * (q.codes()[r * cols + c] - q.zeros()[g]);
                assertTrue(Math.abs(v - q.dequantized()[r * cols + c]) <= 1e-6 * Math.abs(q.scales()[g]) * 8);
            }
    }

    /** UᵀU = H⁻¹: (UᵀU)·H = I within 1e-9 for a well-conditioned H. */
    @Test
    void upperCholeskyOfTheInverse() {
        Random rnd = new Random(3);
        int n = 30;
        double[][] x = correlatedInputs(rnd, 200, n);
        double[] flat = hessian(x);
        double[][] h = new double[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) h[i][j] = flat[i * n + j] + (i == j ? 0.1 : 0);
        double[][] u = Gptq.upperCholeskyOfInverse(h);
        for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) assertTrue(u[i][j] == 0, "U must be upper triangular");
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < n; k++) {
                    double inv = 0;
                    for (int m = 0; m < n; m++) inv += u[m][i] * u[m][k];
                    s += inv * h[k][j];
                }
                assertTrue(Math.abs(s - (i == j ? 1 : 0)) < 1e-9, "(UᵀU·H)[" + i + "][" + j + "] = " + s);
            }
    }

    @Test
    void deadInputsAndBadShapes() {
        // column 1 never sees input: H has a zero row/column; GPTQ zeroes that weight and still quantizes the rest
        double[] h = {2, 0, 0, 0};
        QuantizeResult q = Gptq.quantize(new float[]{0.5f, 0.7f}, 1, 2, h, 4, 0, false);
        assertTrue(q.dequantized()[1] == 0f);
        assertTrue(Math.abs(q.dequantized()[0] - 0.5f) < 0.5f / 15);
        assertThrows(IllegalArgumentException.class, () -> Gptq.quantize(new float[4], 2, 2, new double[3], 4, 0, false));
    }

    /** The calibration pass's own forward is LlamaModel's float forward: identical logits. */
    @Test
    void calibrationForwardMatchesTheModel() {
        CpuBackend b = new CpuBackend();
        LlamaConfig shape = LlamaConfig.preset("tiny");
        try (LlamaModel m = new LlamaModel(b, shape)) {
            m.initialize(5);
            int[] ids = new int[2 * 24];
            Random rnd = new Random(1);
            for (int i = 0; i < ids.length; i++) ids[i] = rnd.nextInt(shape.vocabSize());
            float[] expected;
            try (Tape t = new Tape(b, false)) {
                expected = m.logits(t, ids, 2, 24).value.toFloatArray();
            }
            assertArrayEquals(expected, new GptqCalibration(m).logits(ids, 2, 24), 0f);
            // and the Hessians it collects are symmetric with a positive diagonal
            List<int[]> rows = new ArrayList<>();
            rows.add(java.util.Arrays.copyOf(ids, 24));
            GptqCalibration.BlockHessians hs = new GptqCalibration(m).hessians(new GptqCalibration.Sequences(rows, 24), 1);
            int d = shape.hidden();
            for (int i = 0; i < d; i++) {
                assertTrue(hs.attention()[i * d + i] > 0);
                for (int j = 0; j < d; j++) assertTrue(hs.mlp()[i * d + j] == hs.mlp()[j * d + i]);
            }
        }
    }

    /**
     * GPTQ's layer-by-layer order: block l's Hessians from the kept residual stream (block l−1 run once, as
     * quantized after its own Hessians were taken) equal those of a fresh pass through blocks 0 … l, bit for
     * bit, with several chunks of sequences per call.
     */
    @Test
    void keptStreamEqualsAFreshPassInGptqOrder() {
        CpuBackend b = new CpuBackend();
        LlamaConfig shape = LlamaConfig.preset("tiny");
        try (LlamaModel m = new LlamaModel(b, shape); GptqCalibration kept = new GptqCalibration(m)) {
            m.initialize(7);
            Random rnd = new Random(3);
            int seq = 16;
            List<int[]> rows = new ArrayList<>();
            for (int r = 0; r < 2 * GptqCalibration.TOKENS_PER_FORWARD / seq + 3; r++) {    // three chunks, the last short
                int[] row = new int[seq];
                for (int i = 0; i < seq; i++) row[i] = rnd.nextInt(shape.vocabSize());
                rows.add(row);
            }
            GptqCalibration.Sequences calib = new GptqCalibration.Sequences(rows, seq);
            for (int l = 0; l < shape.layers(); l++) {
                GptqCalibration.BlockHessians a = kept.hessians(calib, l);
                GptqCalibration.BlockHessians f;
                try (GptqCalibration fresh = new GptqCalibration(m)) {
                    f = fresh.hessians(calib, l);
                }
                assertArrayEquals(f.attention(), a.attention(), 0.0, "block " + l + " attention input");
                assertArrayEquals(f.attentionOut(), a.attentionOut(), 0.0, "block " + l + " attention output");
                assertArrayEquals(f.mlp(), a.mlp(), 0.0, "block " + l + " MLP input");
                assertArrayEquals(f.mlpDown(), a.mlpDown(), 0.0, "block " + l + " down input");
                // stand-in for quantizing block l: its weights change before block l+1 is asked for
                for (tern.model.Linear lin : m.blockLinears().subList(l * 7, l * 7 + 7)) b.scale(lin.weight().value, 0.9f);
            }
        }
    }
}

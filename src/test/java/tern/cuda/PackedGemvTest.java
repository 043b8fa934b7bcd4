package tern.cuda;

import java.util.Random;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;

import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The split-K packed GEMV (packed_gemv.cu) against a double-accumulation reference over random shapes
 * with ragged tails (rows not a multiple of 16, columns not of 32, several K slices), 1..4 activation
 * rows, 1..3 matrices per launch, x staged as it is, through RMSNorm or through SwiGLU, shards along either
 * axis and accumulation into y. The reference forms the staged activation x' in double. Bound per
 * element: x' in f32 is within a few ulps of the double x' (RMSNorm's f32 sum of squares and rsqrt,
 * SwiGLU's expf), the hi/lo split carries it to 2⁻²² of the largest |x'γ| of its row (the split scales
 * the row's largest value to [2¹⁴, 2¹⁵), so an element far below it keeps only the split's absolute
 * precision, 2⁻⁸ after scaling), and the tensor cores' f32 accumulation (about 2⁻²³
 * per step, K/16 steps per slice, at most 5000 columns here) plus the f32 adds of the slices stay below
 * 2⁻¹⁴ of Σ|terms|; so |y − ref| ≤ 2⁻¹⁴·(|y0| + Σ_c |x'_c·γT_rc|) + 2⁻²²·max_c|x'_c|·max|γ|·#{c: T_rc ≠ 0}.
 * A wrong index, lost slice, stale ticket
 * or mixed-up matrix is off by the order of Σ|terms| itself. The K slice width is the launcher's rule or
 * forced to 8, 16, 32 or 64 blocks.
 */
@AddLifecycleHook(SkipWithoutAmpereCuda.class)
class PackedGemvTest {

    @Property(tries = 60)
    void matchesTheDoubleReference(@ForAll @IntRange(min = 1, max = 300) int rows, @ForAll @IntRange(min = 1, max = 5000) int cols,
                                   @ForAll @IntRange(min = 1, max = 4) int m, @ForAll @IntRange(min = 1, max = 3) int matrices,
                                   @ForAll @IntRange(min = 0, max = 2) int mode, @ForAll @IntRange(min = 1, max = 4) int shards,
                                   @ForAll boolean alongCols, @ForAll boolean accumulate,
                                   @ForAll @IntRange(min = 0, max = 4) int kbChoice, @ForAll long seed) {
        CudaBackend cuda = Gpu.backend();
        Random rnd = new Random(seed);
        ShardAxis axis = alongCols ? ShardAxis.COLS : ShardAxis.ROWS;
        int s = Math.min(shards, alongCols ? cols : rows);
        float eps = 1e-5f;
        float[] x = Gpu.random(rnd, m * cols), second = Gpu.random(rnd, m * cols), gains = Gpu.random(rnd, cols);
        for (int j = 0; j < x.length; j++) x[j] *= (float) Math.pow(10, rnd.nextInt(6) - 3);
        double[] staged = staged(x, second, gains, eps, m, cols, mode);
        TernaryWeights[] ws = new TernaryWeights[matrices];
        Tensor[] ys = new Tensor[matrices];
        float[][] wq = new float[matrices][], y0 = new float[matrices][];
        try (Tensor tx = cuda.upload(x, m, cols); Tensor tsecond = cuda.upload(second, m, cols); Tensor tgains = cuda.upload(gains, cols);
             Tensor dense = cuda.zeros(DType.F32, rows, cols); PackedGemv gemv = new PackedGemv(cuda)) {
            gemv.forceBlocksPerSlice(kbChoice == 0 ? 0 : 4 << kbChoice);      // the heuristic, or 8, 16, 32, 64 blocks per K slice
            try {
                for (int i = 0; i < matrices; i++) {
                    try (Tensor w = cuda.upload(Gpu.random(rnd, rows * cols), rows, cols)) {
                        ws[i] = cuda.packTernary(w, s, axis, 1e-5f);
                    }
                    cuda.unpackTernary(ws[i], dense);
                    wq[i] = cuda.download(dense);                 // γT exactly as packed
                    y0[i] = Gpu.random(rnd, m * rows);
                    ys[i] = accumulate ? cuda.upload(y0[i], m, rows) : Gpu.poisoned(cuda, m, rows);
                }
                PackedGemv.Input input = switch (mode) {
                    case 1 -> PackedGemv.Input.rmsnorm(tgains, eps);
                    case 2 -> PackedGemv.Input.swiglu(tsecond);
                    default -> PackedGemv.Input.PLAIN;
                };
                gemv.multiply(tx, ws, ys, accumulate, input);
                String what = "W[" + rows + ", " + cols + "] ×" + matrices + " " + s + " shards along " + axis + " m=" + m + " mode=" + mode
                        + " accumulate=" + accumulate + " (" + gemv.blocksPerSlice(rows, cols) + " blocks per K slice)";
                for (int i = 0; i < matrices; i++) {
                    float[] out = cuda.download(ys[i]);
                    for (int a = 0; a < m; a++)
                        for (int r = 0; r < rows; r++) {
                            double ref = accumulate ? y0[i][a * rows + r] : 0, mag = Math.abs(ref);
                            int nonzero = 0;
                            for (int c = 0; c < cols; c++) {
                                double prod = staged[a * cols + c] * wq[i][r * cols + c];
                                ref += prod;
                                mag += Math.abs(prod);
                                if (wq[i][r * cols + c] != 0) nonzero++;
                            }
                            double split = 0x1p-22 * largest(staged, a * cols, cols) * largest(wq[i], 0, wq[i].length) * nonzero;
                            float o = out[a * rows + r];
                            assertTrue(Math.abs(o - ref) <= 0x1p-14 * mag + split + 1e-30, what + ": matrix " + i + " y[" + a + ", " + r + "] = " + o
                                    + ", reference " + ref + ", Σ|terms| " + mag + ", split bound " + split);
                        }
                }
            } finally {
                for (int i = 0; i < matrices; i++) {
                    if (ws[i] != null) ws[i].close();
                    if (ys[i] != null) ys[i].close();
                }
            }
        }
    }

    private static double largest(double[] a, int from, int n) {
        double m = 0;
        for (int i = from; i < from + n; i++) m = Math.max(m, Math.abs(a[i]));
        return m;
    }

    private static double largest(float[] a, int from, int n) {
        double m = 0;
        for (int i = from; i < from + n; i++) m = Math.max(m, Math.abs(a[i]));
        return m;
    }

    /** x', the activation the kernel multiplies, in double: x, RMSNorm(x)·gains, or silu(x)·second. */
    private static double[] staged(float[] x, float[] second, float[] gains, float eps, int m, int cols, int mode) {
        double[] out = new double[x.length];
        for (int a = 0; a < m; a++) {
            double ss = 0;
            for (int c = 0; c < cols; c++) ss += (double) x[a * cols + c] * x[a * cols + c];
            double r = 1 / Math.sqrt(ss / cols + eps);
            for (int c = 0; c < cols; c++) {
                double v = x[a * cols + c];
                out[a * cols + c] = switch (mode) {
                    case 1 -> v * r * gains[c];
                    case 2 -> v / (1 + Math.exp(-v)) * second[a * cols + c];
                    default -> v;
                };
            }
        }
        return out;
    }
}

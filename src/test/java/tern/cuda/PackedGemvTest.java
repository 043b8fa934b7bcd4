package tern.cuda;

import java.util.Random;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;

import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The split-K packed GEMV (packed_gemv.cu) against a double-accumulation reference over random shapes
 * with ragged tails (rows not a multiple of 16, columns not of 32, several K slices), 1..4 activation
 * rows, shards along either axis and accumulation into y. Bound per element: the hi/lo split carries each
 * activation to 2⁻²² of itself, and the tensor cores' f32 accumulation (about 2⁻²³ per step, K/16 steps
 * per slice, at most 5000 columns here) plus the f32 adds of the slices stay below 2⁻¹⁴ of Σ|terms|; so
 * |y − ref| ≤ 2⁻¹⁴·(|y0| + Σ_c |x_c·γT_rc|). A wrong index, lost slice or stale ticket is off by the order
 * of Σ|terms| itself.
 */
@AddLifecycleHook(SkipWithoutAmpereCuda.class)
class PackedGemvTest {

    @Property(tries = 60)
    void matchesTheDoubleReference(@ForAll @IntRange(min = 1, max = 300) int rows, @ForAll @IntRange(min = 1, max = 5000) int cols,
                                   @ForAll @IntRange(min = 1, max = 4) int m, @ForAll @IntRange(min = 1, max = 4) int shards,
                                   @ForAll boolean alongCols, @ForAll boolean accumulate, @ForAll long seed) {
        CudaBackend cuda = Gpu.backend();
        Random rnd = new Random(seed);
        ShardAxis axis = alongCols ? ShardAxis.COLS : ShardAxis.ROWS;
        int s = Math.min(shards, alongCols ? cols : rows);
        float[] wv = Gpu.random(rnd, rows * cols), x = Gpu.random(rnd, m * cols), y0 = Gpu.random(rnd, m * rows);
        for (int j = 0; j < x.length; j++) x[j] *= (float) Math.pow(10, rnd.nextInt(6) - 3);
        try (Tensor w = cuda.upload(wv, rows, cols); TernaryWeights p = cuda.packTernary(w, s, axis, 1e-5f);
             Tensor dense = cuda.zeros(tern.runtime.DType.F32, rows, cols);
             Tensor tx = cuda.upload(x, m, cols); Tensor y = accumulate ? cuda.upload(y0, m, rows) : Gpu.poisoned(cuda, m, rows);
             PackedGemv gemv = new PackedGemv(cuda)) {
            cuda.unpackTernary(p, dense);
            float[] wq = cuda.download(dense);                 // γT exactly as packed
            gemv.multiply(tx, p, y, accumulate);
            float[] out = cuda.download(y);
            String what = "W[" + rows + ", " + cols + "] " + s + " shards along " + axis + " m=" + m + " accumulate=" + accumulate
                    + " (" + gemv.blocksPerSlice(rows, cols) + " blocks per K slice)";
            for (int a = 0; a < m; a++)
                for (int r = 0; r < rows; r++) {
                    double ref = accumulate ? y0[a * rows + r] : 0, mag = Math.abs(ref);
                    for (int c = 0; c < cols; c++) {
                        double prod = (double) x[a * cols + c] * wq[r * cols + c];
                        ref += prod;
                        mag += Math.abs(prod);
                    }
                    float o = out[a * rows + r];
                    assertTrue(Math.abs(o - ref) <= 0x1p-14 * mag + 1e-30, what + ": y[" + a + ", " + r + "] = " + o + ", reference " + ref + ", Σ|terms| " + mag);
                }
        }
    }
}

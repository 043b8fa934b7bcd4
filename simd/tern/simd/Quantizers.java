package tern.simd;

import java.lang.foreign.MemorySegment;
import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;

/**
 * The fake quantizers of the precision policies: the forward value a quantized weight (or activation)
 * takes; their backward is the straight-through identity, so there is none here. Scales are reductions
 * through the kernels; the per-element rounding is one formula shared by both kernel paths.
 */
final class Quantizers {
    /** Rows per parallel chunk is chosen so a chunk holds at least this many elements. */
    private static final int MIN_CHUNK_ELEMENTS = 1 << 15;

    private final FloatKernels k;

    Quantizers(FloatKernels kernels) { this.k = kernels; }

    /**
     * out ← γ·clamp(rint(w/γ), −1, 1) with γ from {@link TernaryMatmul#scales}, the very formula
     * {@link TernaryMatmul#pack} packs, so fake-quant training and packed inference see the same matrix.
     */
    float[] ternary(Tensor w, int shards, ShardAxis axis, float eps, Tensor out) {
        float[] gamma = TernaryMatmul.scales(w, shards, axis, eps);
        int rows = w.rows(), cols = w.cols();
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        MemorySegment src = w.segment(), dst = out.segment();
        Parallel.range(rows, minRows(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++)
                for (int c = 0; c < cols; c++) {
                    long i = (long) r * cols + c;
                    float g = gamma[(int) ((long) (axis == ShardAxis.ROWS ? r : c) * shards / extent)];
                    // γ = 0 only for an all-zero shard with ε = 0: T = 0 there (0/0 would be NaN).
                    float t = g == 0f ? 0f : Math.max(-1f, Math.min(1f, (float) Math.rint(ScalarFloatKernels.get(src, i) / g)));
                    // + 0f turns rint's −0 into +0, so the result equals the unpacked packed matrix bit for bit.
                    ScalarFloatKernels.set(dst, i, g * t + 0f);
                }
        });
        return gamma;
    }

    /*
     * BiLM (Spectra, arXiv 2407.12327, Table 1): SPEC.md marks the exact binary scale CHECK. Our searches of
     * the stored copies of the paper (arXiv abstract page, Hugging Face paper page, review sites) and of the
     * NolanoOrg/SpectraSuite README reached abstracts and summaries but not Table 1's text, so the formula
     * below is NOT confirmed against the paper: it is the Backend contract's choice, α = mean|W| per unit
     * with sign(0) = +1 — the XNOR-Net scale, which minimises ‖W − α·sign(W)‖² for a fixed sign pattern.
     */
    /** out ← α·sign(w), α = mean|w| per unit (accumulated in double), sign(0) = +1. Returns the α's. */
    float[] binary(Tensor w, Granularity granularity, Tensor out) {
        int rows = w.rows(), cols = w.cols();
        MemorySegment src = w.segment(), dst = out.segment();
        float[] alpha;
        if (granularity == Granularity.TENSOR) {
            double sum = 0;
            for (int r = 0; r < rows; r++) sum += k.sumOfAbs(src, (long) r * cols, cols);
            long n = (long) rows * cols;
            alpha = new float[] {n == 0 ? 0f : (float) (sum / n)};
        } else {
            alpha = new float[rows];
            Parallel.range(rows, minRows(cols), (r0, r1) -> {
                for (int r = r0; r < r1; r++)
                    alpha[r] = cols == 0 ? 0f : (float) (k.sumOfAbs(src, (long) r * cols, cols) / cols);
            });
        }
        Parallel.range(rows, minRows(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                float a = alpha[granularity == Granularity.TENSOR ? 0 : r];
                for (int c = 0; c < cols; c++) {
                    long i = (long) r * cols + c;
                    // w >= 0 holds for +0 and −0: sign(0) = +1 as the contract says.
                    ScalarFloatKernels.set(dst, i, ScalarFloatKernels.get(src, i) >= 0 ? a : -a);
                }
            }
        });
        return alpha;
    }

    /** out ← s·clamp(rint(x/s), −q, q), q = 2^(bits−1) − 1, s = max|x|/q per unit (1 where max|x| = 0). */
    void symmetric(Tensor x, int bits, Granularity granularity, Tensor out) {
        int rows = x.rows(), cols = x.cols();
        MemorySegment src = x.segment(), dst = out.segment();
        float q = (1 << (bits - 1)) - 1;
        float[] scale = new float[granularity == Granularity.TENSOR ? 1 : rows];
        if (granularity == Granularity.TENSOR) {
            float max = 0;
            for (int r = 0; r < rows; r++) max = Math.max(max, k.maxAbs(src, (long) r * cols, cols));
            scale[0] = max == 0 ? 1f : max / q;
        } else {
            Parallel.range(rows, minRows(cols), (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    float max = k.maxAbs(src, (long) r * cols, cols);
                    scale[r] = max == 0 ? 1f : max / q;
                }
            });
        }
        Parallel.range(rows, minRows(cols), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                float s = scale[granularity == Granularity.TENSOR ? 0 : r];
                for (int c = 0; c < cols; c++) {
                    long i = (long) r * cols + c;
                    float level = Math.max(-q, Math.min(q, (float) Math.rint(ScalarFloatKernels.get(src, i) / s)));
                    ScalarFloatKernels.set(dst, i, s * level);
                }
            }
        });
    }

    private static int minRows(int cols) {
        return Math.max(1, MIN_CHUNK_ELEMENTS / Math.max(1, cols));
    }
}

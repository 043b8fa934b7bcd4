package tern.cuda;

import java.util.List;

import jcuda.Pointer;

import tern.runtime.Granularity;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.axisCode;
import static tern.cuda.CudaBackend.ceilDiv;
import static tern.cuda.CudaBackend.requireActivation;
import static tern.cuda.CudaBackend.requireF32;
import static tern.cuda.CudaBackend.suffix;
import static tern.cuda.MultiTensor.chunkBlocks;
import static tern.cuda.MultiTensor.uploadChunkTable;

/**
 * Launches quantizers.cu: the fake quantizers of quantization-aware training. Ternary weights get their
 * absmean scale per shard (on the host from device sums, or wholly on the device), then γ·T, for one weight or
 * every weight of a step in three launches; the binary and k-bit symmetric quantizers. Tensors were checked
 * by {@link CudaBackend}.
 */
final class Quantizers {
    static final String MODULE = "quantizers";
    static final KernelTable KERNELS = KernelTable.of(MODULE).kernel("tern_abs_sum", "p i i i i p").kernel("tern_gammas", "p i i i i f p")
            .typed("tern_fake_quant", "p i i p i i p").kernel("abs_sum_rows", "p i i p").kernel("binary_apply", "p i i p i p")
            .typed("abs_max_rows", "p i i p").typed("abs_max_all", "p l p").typed("symq_apply", "p i i p i f p")
            .kernel("tern_abs_sum_multi", "p p p p p p p i p").kernel("tern_gammas_multi", "p p p p p p i f p")
            .typed("tern_fake_quant_multi", "p p p p p p p p i p");
    private static final int THREADS = 256;
    /** Most shards per tensor of the multi-tensor ternary kernels (MAX_SHARDS in quantizers.cu). */
    static final int MULTI_MAX_SHARDS = 8;

    private final Kernels kernels;
    private final CudaContext context;
    private final Scratch scratch;

    Quantizers(Kernels kernels, CudaContext context, Scratch scratch) {
        this.kernels = kernels;
        this.context = context;
        this.scratch = scratch;
    }

    /** out ← γ·T with γ computed on the host from device sums; returns γ. */
    float[] ternary(Tensor w, int shards, ShardAxis axis, float eps, Tensor out) {
        float[] gammas = absmeanScales(w, shards, axis, eps);
        long g = scratch.upload(gammas);
        fakeQuantTernary(w, g, shards, axis, out);
        return gammas;
    }

    /** out ← γ·T with γ computed on the device: three launches, no host synchronization (shards checked by the caller). */
    void ternaryInto(Tensor w, int shards, ShardAxis axis, float eps, Tensor out) {
        long sums = scratch.zeroed(8L * shards + 4L * shards), gammas = sums + 8L * shards;
        absSumsOnDevice(w, shards, axis, sums);
        kernels.launch(MODULE, "tern_gammas", ceilDiv(shards, THREADS), THREADS,
                KernelArgs.of().ptr(sums).i32(w.rows()).i32(w.cols()).i32(shards).i32(axisCode(axis)).f32(eps).ptr(gammas));
        fakeQuantTernary(w, gammas, shards, axis, out);
    }

    private void fakeQuantTernary(Tensor w, long gammas, int shards, ShardAxis axis, Tensor out) {
        long n = w.size();
        kernels.launch(MODULE, "tern_fake_quant" + suffix(out), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(w)).i32(w.rows()).i32(w.cols()).ptr(gammas).i32(shards).i32(axisCode(axis))
                        .ptr(addressOf(out)));
    }

    float[] binary(Tensor w, Granularity granularity, Tensor out) {
        int rows = w.rows(), cols = w.cols();
        float[] alpha;
        if (granularity == Granularity.TENSOR) {
            double sum = absSums(w, 1, ShardAxis.ROWS)[0];
            long n = w.size();
            alpha = new float[] {n == 0 ? 0f : (float) (sum / n)};
        } else {
            long sums = scratch.zeroed(8L * rows);
            kernels.launch(MODULE, "abs_sum_rows", Math.min(Math.max(rows, 1), context.multiprocessors * 16), THREADS,
                    KernelArgs.of().ptr(addressOf(w)).i32(rows).i32(cols).ptr(sums));
            double[] s = new double[rows];
            scratch.toHost(Pointer.to(s), 0, 8L * rows);
            alpha = new float[rows];
            for (int r = 0; r < rows; r++) alpha[r] = cols == 0 ? 0f : (float) (s[r] / cols);
        }
        long a = scratch.upload(alpha);
        long n = w.size();
        kernels.launch(MODULE, "binary_apply", kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(w)).i32(rows).i32(cols).ptr(a).i32(granularity == Granularity.ROW).ptr(addressOf(out)));
        return alpha;
    }

    void symmetric(Tensor x, int bits, Granularity granularity, Tensor out) {
        int rows = x.rows(), cols = x.cols();
        float q = (1 << (bits - 1)) - 1;
        long n = x.size();
        long maxes;
        if (granularity == Granularity.TENSOR) {
            maxes = scratch.zeroed(4);
            kernels.launch(MODULE, "abs_max_all" + suffix(x), kernels.gridFor(n, THREADS), THREADS,
                    KernelArgs.of().ptr(addressOf(x)).i64(n).ptr(maxes));
        } else {
            maxes = scratch.zeroed(4L * rows);
            kernels.launch(MODULE, "abs_max_rows" + suffix(x), Math.min(Math.max(rows, 1), context.multiprocessors * 16), THREADS,
                    KernelArgs.of().ptr(addressOf(x)).i32(rows).i32(cols).ptr(maxes));
        }
        // the apply kernel turns the maxes into scales on the device: no read-back, no host synchronization
        kernels.launch(MODULE, "symq_apply" + suffix(x), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(x)).i32(rows).i32(cols).ptr(maxes).i32(granularity == Granularity.ROW).f32(q)
                        .ptr(addressOf(out)));
    }

    /** γ per shard, as the CPU backend computes it: eps + (float) (Σ|w| / count), Σ in double. */
    float[] absmeanScales(Tensor w, int shards, ShardAxis axis, float eps) {
        int rows = w.rows(), cols = w.cols();
        int extent = axis == ShardAxis.ROWS ? rows : cols;
        if (shards < 1 || shards > Math.max(1, extent))
            throw new IllegalArgumentException(shards + " shards along " + axis + " of " + w.describe());
        double[] sums = absSums(w, shards, axis);
        float[] g = new float[shards];
        for (int s = 0; s < shards; s++) {
            long lo = ceilDiv((long) s * extent, shards), hi = ceilDiv((long) (s + 1) * extent, shards);
            long count = (hi - lo) * (axis == ShardAxis.ROWS ? cols : rows);
            g[s] = eps + (float) (count == 0 ? 0 : sums[s] / count);
        }
        return g;
    }

    private double[] absSums(Tensor w, int shards, ShardAxis axis) {
        long sums = scratch.zeroed(8L * shards);
        absSumsOnDevice(w, shards, axis, sums);
        double[] out = new double[shards];
        scratch.toHost(Pointer.to(out), 0, 8L * shards);
        return out;
    }

    /** sums[s] += Σ|w| over shard s, in double, into zeroed device memory. */
    private void absSumsOnDevice(Tensor w, int shards, ShardAxis axis, long sums) {
        long perShard = Math.max(1, w.size() / shards);
        int gridX = (int) Math.max(1, Math.min(ceilDiv(perShard, THREADS), Math.max(1, context.multiprocessors * 8 / shards)));
        kernels.launch(MODULE, "tern_abs_sum", gridX, shards, 1, THREADS, 0,
                KernelArgs.of().ptr(addressOf(w)).i32(w.rows()).i32(w.cols()).i32(shards).i32(axisCode(axis)).ptr(sums));
    }

    /**
     * The fake-quantized operands of t ≥ 1 ternary weights in three launches (absmean sums, scales, γ·T), the
     * scales never leaving the device; shards ≤ {@link #MULTI_MAX_SHARDS} and outputs of one type (the caller's checks).
     */
    void ternaryAll(List<Tensor> ws, int shards, List<ShardAxis> axes, float eps, List<Tensor> outs) {
        int t = ws.size();
        long[] table = new long[7 * t];               // ws | outs | cols | shards | axes | off | sizes (last: uploadChunkTable)
        long totalShards = 0;
        for (int i = 0; i < t; i++) {
            Tensor w = ws.get(i), out = outs.get(i);
            requireF32(w, "quantizeTernaryAllInto");
            requireActivation(out, "quantizeTernaryAllInto");
            if (out.size() != w.size() || w.size() == 0)
                throw new IllegalArgumentException("quantizeTernaryAllInto #" + i + ": " + out.describe() + " is not like " + w.describe());
            int extent = axes.get(i) == ShardAxis.ROWS ? w.rows() : w.cols();
            if (shards < 1 || shards > extent)
                throw new IllegalArgumentException(shards + " shards along " + axes.get(i) + " of " + w.describe());
            table[i] = addressOf(w);
            table[t + i] = addressOf(out);
            table[2 * t + i] = w.cols();
            table[3 * t + i] = shards;
            table[4 * t + i] = axisCode(axes.get(i));
            table[5 * t + i] = totalShards;
            table[6 * t + i] = w.size();
            totalShards += shards;
        }
        long sumsBytes = 8 * totalShards, gammasBytes = (4 * totalShards + 7) / 8 * 8;
        scratch.reserve(sumsBytes + gammasBytes + 8L * (8L * t + 1));   // all at once: growing would drop the zeroed sums
        long sums = scratch.zeroed(sumsBytes), gammas = sums + sumsBytes;
        long base = uploadChunkTable(scratch, table, t, sumsBytes + gammasBytes);
        int blocks = chunkBlocks(table, t);
        kernels.launch(MODULE, "tern_abs_sum_multi", blocks, 1, 1, THREADS, 0,
                KernelArgs.of().ptr(base).ptr(base + 48L * t).ptr(base + 16L * t).ptr(base + 24L * t).ptr(base + 32L * t)
                        .ptr(base + 40L * t).ptr(base + 56L * t).i32(t).ptr(sums));
        kernels.launch(MODULE, "tern_gammas_multi", t, 32,
                KernelArgs.of().ptr(sums).ptr(base + 48L * t).ptr(base + 16L * t).ptr(base + 24L * t).ptr(base + 32L * t)
                        .ptr(base + 40L * t).i32(t).f32(eps).ptr(gammas));
        kernels.launch(MODULE, "tern_fake_quant_multi" + suffix(outs.get(0)), blocks, 1, 1, THREADS, 0,
                KernelArgs.of().ptr(base).ptr(base + 8L * t).ptr(base + 48L * t).ptr(base + 16L * t).ptr(base + 24L * t)
                        .ptr(base + 32L * t).ptr(base + 40L * t).ptr(base + 56L * t).i32(t).ptr(gammas));
    }
}

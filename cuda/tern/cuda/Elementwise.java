package tern.cuda;

import java.util.List;

import jcuda.Pointer;

import tern.runtime.Tensor;

import static tern.cuda.CudaBackend.addressOf;
import static tern.cuda.CudaBackend.requireF32;
import static tern.cuda.CudaBackend.sameSizes;
import static tern.cuda.CudaBackend.suffix;
import static tern.cuda.MultiTensor.chunkBlocks;
import static tern.cuda.MultiTensor.uploadChunkTable;

/**
 * Launches elementwise.cu: fill, add, axpy, scale, type conversion, and the reductions the host reads back
 * (Σ x², all finite), for one tensor or many in one launch. Tensors were checked by {@link CudaBackend}.
 */
final class Elementwise {
    static final String MODULE = "elementwise";
    static final KernelTable KERNELS = KernelTable.of(MODULE).typed("fill", "p f l").typed("add", "p p p l").typed("scale", "p f l")
            .paired("axpy", "f p p l").paired("convert", "p p l").typed("sumsq", "p l p").typed("all_finite", "p l p")
            .kernel("sumsq_multi_f32", "p p p i p").kernel("sum_blocks_f64", "p p i p").kernel("convert_multi_f32_bf16", "p p p p i")
            .kernel("convert_multi_f32_f16", "p p p p i").kernel("zero_multi_f32", "p p p i");
    private static final int THREADS = 256;

    private final Kernels kernels;
    private final Scratch scratch;

    Elementwise(Kernels kernels, Scratch scratch) {
        this.kernels = kernels;
        this.scratch = scratch;
    }

    void convert(Tensor src, Tensor dst) {
        long n = src.size();
        kernels.launch(MODULE, "convert" + suffix(src) + suffix(dst), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(src)).ptr(addressOf(dst)).i64(n));
    }

    /** n elements at device address src, of type suffix {@code from}, converted to {@code to} at dst. */
    void convertRaw(String from, String to, long src, long dst, long n) {
        kernels.launch(MODULE, "convert" + from + to, kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(src).ptr(dst).i64(n));
    }

    void fill(Tensor t, float value) {
        long n = t.size();
        kernels.launch(MODULE, "fill" + suffix(t), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(t)).f32(value).i64(n));
    }

    void add(Tensor a, Tensor b, Tensor out) {
        long n = a.size();
        kernels.launch(MODULE, "add" + suffix(a), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(a)).ptr(addressOf(b)).ptr(addressOf(out)).i64(n));
    }

    void axpy(float alpha, Tensor x, Tensor y) {
        long n = x.size();
        kernels.launch(MODULE, "axpy" + suffix(x) + suffix(y), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().f32(alpha).ptr(addressOf(x)).ptr(addressOf(y)).i64(n));
    }

    void scale(Tensor x, float alpha) {
        long n = x.size();
        kernels.launch(MODULE, "scale" + suffix(x), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(x)).f32(alpha).i64(n));
    }

    double sumOfSquares(Tensor x) {
        long n = x.size();
        long out = scratch.zeroed(8);
        kernels.launch(MODULE, "sumsq" + suffix(x), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(x)).i64(n).ptr(out));
        double[] result = new double[1];
        scratch.toHost(Pointer.to(result), 0, 8);
        return result[0];
    }

    boolean allFinite(Tensor x) {
        long n = x.size();
        long flag = scratch.upload(new int[] {1});
        kernels.launch(MODULE, "all_finite" + suffix(x), kernels.gridFor(n, THREADS), THREADS,
                KernelArgs.of().ptr(addressOf(x)).i64(n).ptr(flag));
        int[] result = new int[1];
        scratch.toHost(Pointer.to(result), 0, 4);
        return result[0] == 1;
    }

    /** dsts[i] ← srcs[i], f32 sources and 16-bit destinations of one type (checked by the caller), in one launch. */
    void convertAll(List<Tensor> srcs, List<Tensor> dsts) {
        int t = srcs.size();
        long[] table = new long[3 * t];
        for (int i = 0; i < t; i++) {
            sameSizes("convertAll #" + i, srcs.get(i), dsts.get(i));
            table[i] = addressOf(srcs.get(i));
            table[t + i] = addressOf(dsts.get(i));
            table[2 * t + i] = srcs.get(i).size();
        }
        long base = uploadChunkTable(scratch, table, t, 0);
        kernels.launch(MODULE, "convert_multi_f32" + suffix(dsts.get(0)), chunkBlocks(table, t), 1, 1, THREADS, 0,
                KernelArgs.of().ptr(base).ptr(base + 8L * t).ptr(base + 16L * t).ptr(base + 24L * t).i32(t));
    }

    /** Every f32 tensor of {@code ts} (at least one) zeroed in one launch. */
    void zeroAll(List<Tensor> ts) {
        int t = ts.size();
        long[] table = new long[2 * t];
        for (int i = 0; i < t; i++) {
            requireF32(ts.get(i), "zeroAll");
            table[i] = addressOf(ts.get(i));
            table[t + i] = ts.get(i).size();
        }
        long base = uploadChunkTable(scratch, table, t, 0);
        kernels.launch(MODULE, "zero_multi_f32", chunkBlocks(table, t), 1, 1, THREADS, 0,
                KernelArgs.of().ptr(base).ptr(base + 8L * t).ptr(base + 16L * t).i32(t));
    }

    /** Σ x² of every tensor of {@code xs} (at least one) in one launch and one read back, added here in list order. */
    java.util.function.DoubleSupplier sumOfSquaresAll(List<Tensor> xs) {
        int t = xs.size();
        long[] table = new long[2 * t];
        for (int i = 0; i < t; i++) {
            requireF32(xs.get(i), "sumOfSquaresAll");
            table[i] = addressOf(xs.get(i));
            table[t + i] = xs.get(i).size();
        }
        int blocks = chunkBlocks(table, t);
        long partialOffset = 8L * t, tableOffset = partialOffset + 8L * blocks;    // sums, block sums, then the table
        long sums = scratch.reserve(tableOffset + 8L * (3L * t + 1));               // all at once: growing moves it
        long base = uploadChunkTable(scratch, table, t, tableOffset);
        long partial = sums + partialOffset, starts = base + 16L * t;
        kernels.launch(MODULE, "sumsq_multi_f32", blocks, 1, 1, THREADS, 0,
                KernelArgs.of().ptr(base).ptr(base + 8L * t).ptr(starts).i32(t).ptr(partial));
        kernels.launch(MODULE, "sum_blocks_f64", t, 1, 1, THREADS, 0, KernelArgs.of().ptr(partial).ptr(starts).i32(t).ptr(sums));
        StepRecorder recorder = kernels.context().recorder();
        if (recorder != null) {                             // a step captured as a CUDA graph: read after its replay
            java.util.function.Supplier<java.lang.foreign.MemorySegment> read = recorder.read(sums, 8L * t);
            return () -> total(StepRecorder.doubles(read.get(), t));
        }
        double[] result = new double[t];
        long t0 = System.nanoTime();
        scratch.toHost(Pointer.to(result), 0, 8L * t);
        kernels.profile.host("grad-norm read (waits)", System.nanoTime() - t0);
        double sum = total(result);
        return () -> sum;
    }

    /** The per-tensor sums added in list order. */
    private static double total(double[] sums) {
        double sum = 0;
        for (double r : sums) sum += r;
        return sum;
    }
}

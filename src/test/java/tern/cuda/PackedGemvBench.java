package tern.cuda;

import java.util.Locale;
import java.util.Random;

import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * The packed GEMV at one activation row: the split-K kernel (PackedGemv) beside the backend's tensor-core
 * GEMV (ternary_mma.cu) and a device-to-device copy of the same bytes (the bandwidth reference), each timed
 * as a CUDA graph of repeated launches (no host launch overhead in the figure), alternating rounds.
 * {@code PackedGemvBench [rows cols]...} (default 16384 16384 and the 3.9B shapes). Prints "name,value" lines.
 */
public final class PackedGemvBench {
    private PackedGemvBench() {}

    public static void main(String[] args) {
        int[][] shapes = args.length >= 2 ? new int[args.length / 2][] : new int[][] {{16384, 16384}, {3072, 3072}, {9216, 3072}, {3072, 9216}};
        for (int i = 0; args.length >= 2 && i < shapes.length; i++) shapes[i] = new int[] {Integer.parseInt(args[2 * i]), Integer.parseInt(args[2 * i + 1])};
        CudaBackend cuda = new CudaBackend();
        Random rnd = new Random(1);
        try (CudaGraphStream stream = new CudaGraphStream(cuda.context(), 64); PackedGemv split = new PackedGemv(cuda)) {
            for (int[] s : shapes) {
                int rows = s[0], cols = s[1];
                float[] x = Gpu.random(rnd, cols);
                Tensor tw = cuda.zeros(tern.runtime.DType.F32, rows, cols);        // uniform trits, made on the device
                cuda.kernels().launch("decode_step", "dec_random_fill", cuda.kernels().gridFor(tw.size(), 256), 1, 1, 256, 0,
                        KernelArgs.of().ptr(CudaBackend.addressOf(tw)).i64(tw.size()).i32(rows ^ cols).i32(1).f32(1f));
                try (TernaryWeights p = cuda.packTernary(tw, 1, ShardAxis.ROWS, 1e-5f)) {
                    tw.close();
                    long bytes = TernaryLayout.packedBytes(rows, cols);
                    try (Tensor tx = cuda.upload(x, 1, cols); Tensor y = cuda.zeros(tern.runtime.DType.F32, 1, rows);
                         Tensor y2 = cuda.zeros(tern.runtime.DType.F32, 1, rows);
                         Tensor a = cuda.zeros(tern.runtime.DType.F32, (int) (bytes / 4)); Tensor b = cuda.zeros(tern.runtime.DType.F32, (int) (bytes / 4))) {
                        split.reserve(rows, cols, 1, 1);
                        double[] best = {Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE};
                        for (int round = 0; round < 5; round++) {
                            best[0] = Math.min(best[0], time(cuda, stream, () -> split.multiply(tx, p, y, false)));
                            best[1] = Math.min(best[1], time(cuda, stream, () -> cuda.ternaryMatmul(tx, p, y2, false)));
                            best[2] = Math.min(best[2], time(cuda, stream, () -> copy(cuda, a, b)));
                        }
                        int chosen = split.blocksPerSlice(rows, cols);
                        for (int kb = 8; kb <= 64; kb *= 2) {
                            split.forceBlocksPerSlice(kb);
                            split.reserve(rows, cols, 1, 1);
                            double t = Double.MAX_VALUE;
                            for (int round = 0; round < 3; round++) t = Math.min(t, time(cuda, stream, () -> split.multiply(tx, p, y, false)));
                            System.out.printf(Locale.ROOT, "gemv_%dx%d_splitK_kb%d_us,%.2f%s%n", rows, cols, kb, t / 1e3, kb == chosen ? ",chosen" : "");
                        }
                        split.forceBlocksPerSlice(0);
                        split.multiply(tx, p, y, false);
                        float[] ys = cuda.download(y), yt = cuda.download(y2);
                        double diff = 0, norm = 0;
                        for (int i = 0; i < rows; i++) { diff += (ys[i] - yt[i]) * (double) (ys[i] - yt[i]); norm += (double) yt[i] * yt[i]; }
                        String n = rows + "x" + cols;
                        double copyGBs = 2.0 * bytes / best[2];                    // read + write: bytes per ns = GB/s
                        System.out.printf(Locale.ROOT, "gemv_%s_splitK_us,%.2f%n", n, best[0] / 1e3);
                        System.out.printf(Locale.ROOT, "gemv_%s_tensorcore_us,%.2f%n", n, best[1] / 1e3);
                        System.out.printf(Locale.ROOT, "gemv_%s_copy_GBps,%.0f%n", n, copyGBs);
                        System.out.printf(Locale.ROOT, "gemv_%s_splitK_of_copy_bandwidth,%.3f%n", n, bytes / best[0] / copyGBs);
                        System.out.printf(Locale.ROOT, "gemv_%s_tensorcore_of_copy_bandwidth,%.3f%n", n, bytes / best[1] / copyGBs);
                        System.out.printf(Locale.ROOT, "gemv_%s_splitK_vs_tensorcore_relative_difference,%.2e%n", n, Math.sqrt(diff / Math.max(norm, 1e-30)));
                    }
                }
            }
        }
    }

    private static void copy(CudaBackend cuda, Tensor src, Tensor dst) {
        long n4 = src.size() / 4;
        cuda.kernels().launch("decode_step", "dec_copy", cuda.multiprocessors() * 8, 1, 1, 256, 0,
                KernelArgs.of().ptr(CudaBackend.addressOf(src)).i64(n4).ptr(CudaBackend.addressOf(dst)));
    }

    /** ns per launch of {@code op}: a graph of 50 launches, replayed 4 times after one warm replay. */
    private static double time(CudaBackend cuda, CudaGraphStream stream, Runnable op) {
        return CudaGraph.nanosPerRun(cuda, stream, 50, 4, op);
    }
}

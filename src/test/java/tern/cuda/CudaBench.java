package tern.cuda;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.IntConsumer;

import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;

/**
 * GPU benchmarks of the CUDA backend, run on the device machine by tools/gpu/bench.sh (a main, not a
 * test: it needs a GPU and minutes). Writes "name,value" lines to the file named by the first argument;
 * tools/gpu/summary.py joins them with PyTorch's numbers from torch_bench.py into the table.
 *
 * <p>Method (METHOD.md): CUDA events around a batch of launches (so host launch gaps are hidden when the
 * GPU is the slower side), warm-up first, median of the samples; weights rotated over copies whose total
 * is several times the L2 cache, so bandwidth numbers are DRAM numbers; random data, never zeros.
 */
public final class CudaBench {
    private final CudaBackend cuda;
    private final PrintWriter out;

    private CudaBench(CudaBackend cuda, PrintWriter out) {
        this.cuda = cuda;
        this.out = out;
    }

    public static void main(String[] args) throws IOException {
        Path file = Path.of(args.length > 0 ? args[0] : "bench-java.csv");
        int tokens = args.length > 1 ? Integer.parseInt(args[1]) : 16384;
        if (args.length > 2 && args[2].equals("gemv")) {           // one shape, few launches: for ncu
            try (CudaBackend cuda = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS, false);
                 PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
                new CudaBench(cuda, w).ternaryGemv(new int[][] {{16384, 16384}}, 3000);
            }
            return;
        }
        boolean attentionOnly = args.length > 2 && args[2].equals("attention");     // the other parts unchanged: skip
        boolean decodeOnly = args.length > 2 && args[2].equals("decode");           // copy bandwidth and the GEMV table only
        try (CudaBackend cuda = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS, CudaBackend.AttentionPath.F32, false);
             PrintWriter w = new PrintWriter(Files.newBufferedWriter(file))) {
            System.out.println("bench on " + cuda.name());
            CudaBench b = new CudaBench(cuda, w);
            b.record("device", 0, cuda.deviceName() + " sm_" + cuda.arch());
            b.launchOverhead();
            if (!attentionOnly) {
                double copy = b.copyBandwidth();
                b.ternaryGemv(new int[][] {{3072, 3072}, {9216, 3072}, {3072, 9216}, {16384, 16384}, {1280, 512}}, copy);
                if (decodeOnly) return;
                b.matmuls(tokens);
            }
            b.attention(cuda, "", 8, 1024, 8, 64);
            if (cuda.hasTensorCoreAttention())
                try (CudaBackend tc = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS, CudaBackend.AttentionPath.BF16, false)) {
                    b.attention(tc, "tc_", 8, 1024, 8, 64);
                    b.attention(tc, "tc_", 4, 2048, 8, 128);
                }
        }
    }

    private void record(String name, double value, String note) {
        String line = name + "," + String.format(Locale.ROOT, "%.6g", value) + (note == null ? "" : "," + note);
        out.println(line);
        out.flush();
        System.out.println(line);
    }

    /** Median milliseconds per op over samples of {@code batch} back-to-back ops, timed by CUDA events. */
    private double medianMs(int samples, int batch, IntConsumer op) {
        for (int i = 0; i < Math.max(3, batch); i++) op.accept(i);
        cuda.synchronize();
        CUevent start = new CUevent(), stop = new CUevent();
        JCudaDriver.cuEventCreate(start, 0);
        JCudaDriver.cuEventCreate(stop, 0);
        double[] t = new double[samples];
        int k = 0;
        for (int s = 0; s < samples; s++) {
            JCudaDriver.cuEventRecord(start, null);
            for (int i = 0; i < batch; i++) op.accept(k++);
            JCudaDriver.cuEventRecord(stop, null);
            JCudaDriver.cuEventSynchronize(stop);
            float[] ms = {0};
            JCudaDriver.cuEventElapsedTime(ms, start, stop);
            t[s] = ms[0] / batch;
        }
        JCudaDriver.cuEventDestroy(start);
        JCudaDriver.cuEventDestroy(stop);
        Arrays.sort(t);
        return t[samples / 2];
    }

    /** Host time per op for a one-element op: the cost of our launch path (JCuda), not of the GPU. */
    private void launchOverhead() {
        try (Tensor t = cuda.zeros(DType.F32, 1)) {
            for (int i = 0; i < 2000; i++) cuda.scale(t, 1f);
            cuda.synchronize();
            int n = 20000;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) cuda.scale(t, 1f);
            cuda.synchronize();
            record("launch_host_us", (System.nanoTime() - t0) / 1e3 / n, "scale() of 1 element, host wall time per op");
        }
    }

    /** Device-to-device copy of 1 GiB, counting bytes read plus written: the DRAM ceiling. */
    private double copyBandwidth() {
        int n = 1 << 28;
        try (Tensor a = cuda.zeros(DType.F32, n); Tensor b = cuda.zeros(DType.F32, n)) {
            cuda.fill(a, 1.5f);
            double ms = medianMs(10, 2, i -> cuda.copy(a, b));
            double gbs = 2.0 * 4 * n / (ms * 1e6);
            record("copy_GBps", gbs, "cuMemcpyDtoD 1 GiB read+write");
            return gbs;
        }
    }

    /** y[1, out] = x[1, in]·(γT)ᵀ on 2-bit packed weights, against the copy bandwidth. */
    private void ternaryGemv(int[][] shapes, double copyGBps) {
        Random rnd = new Random(7);
        for (int[] s : shapes) {
            int rows = s[0], cols = s[1];
            long packed = TernaryLayout.packedBytes(rows, cols);
            int copies = (int) Math.max(2, Math.min(64, (256L << 20) / packed));
            List<TernaryWeights> ws = new ArrayList<>();
            try (Tensor w = cuda.upload(Gpu.random(rnd, rows * cols), rows, cols);
                 Tensor x = cuda.upload(Gpu.random(rnd, cols), 1, cols); Tensor y = cuda.zeros(DType.F32, 1, rows)) {
                for (int c = 0; c < copies; c++) ws.add(cuda.packTernary(w, 1, ShardAxis.ROWS, 1e-5f));
                double ms = medianMs(15, 20, i -> cuda.ternaryMatmul(x, ws.get(i % copies), y, false));
                cuda.synchronize();
                long t0 = System.nanoTime();
                for (int i = 0; i < 200; i++) cuda.ternaryMatmul(x, ws.get(i % copies), y, false);
                cuda.synchronize();
                record("gemv_host_us_" + rows + "x" + cols, (System.nanoTime() - t0) / 1e3 / 200, "wall time per call, back to back");
                long bytes = packed + 4L * cols + 4L * rows + 4;
                double gbs = bytes / (ms * 1e6);
                String shape = rows + "x" + cols;
                record("gemv_us_" + shape, ms * 1e3, copies + " rotated copies");
                record("gemv_GBps_" + shape, gbs, null);
                record("gemv_pct_copy_" + shape, 100 * gbs / copyGBps, null);
            } finally {
                ws.forEach(TernaryWeights::close);
            }
        }
    }

    /**
     * Causal attention forward and backward at one training shape (causal FLOPs: half the square) on the
     * backend's attention path; {@code label} tells the paths apart in the records.
     */
    private void attention(CudaBackend cuda, String label, int batch, int t, int heads, int d) {
        Random rnd = new Random(9);
        int rows = batch * t, width = heads * d;
        try (Tensor q = cuda.upload(Gpu.random(rnd, rows * width), rows, width); Tensor k = cuda.upload(Gpu.random(rnd, rows * width), rows, width);
             Tensor v = cuda.upload(Gpu.random(rnd, rows * width), rows, width); Tensor o = cuda.zeros(DType.F32, rows, width);
             Tensor lse = cuda.zeros(DType.F32, batch, heads, t); Tensor g = cuda.upload(Gpu.random(rnd, rows * width), rows, width);
             Tensor dq = cuda.zeros(DType.F32, rows, width); Tensor dk = cuda.zeros(DType.F32, rows, width);
             Tensor dv = cuda.zeros(DType.F32, rows, width)) {
            double fwdFlops = 4.0 * batch * heads * (double) t * t * d / 2;
            double fwd = medianMs(7, 3, i -> cuda.attention(q, k, v, batch, t, t, heads, d, o, lse));
            double bwd = medianMs(7, 3, i -> cuda.attentionBackward(g, q, k, v, o, lse, batch, t, t, heads, d, dq, dk, dv));
            String shape = batch + "x" + t + "x" + heads + "x" + d;
            record("attn_" + label + "fwd_ms_" + shape, fwd, String.format(Locale.ROOT, "%.1f TFLOP/s", fwdFlops / (fwd * 1e9)));
            record("attn_" + label + "bwd_ms_" + shape, bwd, String.format(Locale.ROOT, "%.1f TFLOP/s", 2.5 * fwdFlops / (bwd * 1e9)));
        }
    }

    /** Float and ternary matmul throughput at the Spectra 99M linear-layer shapes for {@code t} tokens. */
    private void matmuls(int t) {
        // {M, N, K, transA, transB}: y = x·Wᵀ forward, dx = dy·W, dW = dyᵀ·x.
        int[][] shapes = {
                {t, 512, 512, 0, 1}, {t, 1280, 512, 0, 1}, {t, 512, 1280, 0, 1}, {t, 50304, 512, 0, 1},
                {t, 512, 1280, 0, 0}, {512, 512, t, 1, 0}, {1280, 512, t, 1, 0}, {512, 1280, t, 1, 0}, {50304, 512, t, 1, 0}};
        Random rnd = new Random(8);
        try (CudaBackend bf16 = new CudaBackend(0, CudaBackend.MatmulPath.CUBLAS_BF16, false)) {
            for (int[] s : shapes) {
                int m = s[0], n = s[1], k = s[2];
                boolean ta = s[3] == 1, tb = s[4] == 1;
                String name = m + "x" + n + "x" + k + (ta ? "_tA" : "") + (tb ? "_tB" : "");
                double flops = 2.0 * m * n * k;
                try (Tensor a = ta ? cuda.upload(Gpu.random(rnd, m * k), k, m) : cuda.upload(Gpu.random(rnd, m * k), m, k);
                     Tensor b = tb ? cuda.upload(Gpu.random(rnd, k * n), n, k) : cuda.upload(Gpu.random(rnd, k * n), k, n);
                     Tensor c = cuda.zeros(DType.F32, m, n)) {
                    double f32 = medianMs(7, 3, i -> cuda.matmul(a, ta, b, tb, c, false));
                    record("mm_tflops_cublas_f32_" + name, flops / (f32 * 1e9), null);
                    double h = medianMs(7, 3, i -> bf16.matmul(a, ta, b, tb, c, false));
                    record("mm_tflops_cublas_bf16_" + name, flops / (h * 1e9), null);
                    double kern = medianMs(3, 1, i -> cuda.matmulKernel(a, ta, b, tb, c, false));
                    record("mm_tflops_kernel_f32_" + name, flops / (kern * 1e9), null);
                    if (!ta && tb) {            // the forward of a ternary linear at this shape: W is [n, k]
                        try (TernaryWeights w = cuda.packTernary(b, 1, ShardAxis.ROWS, 1e-5f)) {
                            double tern = medianMs(5, 2, i -> cuda.ternaryMatmul(a, w, c, false));
                            record("mm_tflops_ternary_fwd_" + name, flops / (tern * 1e9), "unpack + cuBLAS");
                            double ternKernel = medianMs(3, 1, i -> cuda.ternaryGemmKernel(a, w, c, false));
                            record("mm_tflops_ternary_fwd_kernel_" + name, flops / (ternKernel * 1e9), "tiled, packed");
                        }
                    }
                    if (!ta && !tb) {           // the input gradient of a ternary linear: W is [k, n]
                        try (Tensor wt = cuda.upload(Gpu.random(rnd, k * n), k, n);
                             TernaryWeights w = cuda.packTernary(wt, 1, ShardAxis.ROWS, 1e-5f)) {
                            double tern = medianMs(5, 2, i -> cuda.ternaryMatmulT(a, w, c, false));
                            record("mm_tflops_ternary_dx_" + name, flops / (tern * 1e9), "unpack + cuBLAS");
                            double ternKernel = medianMs(3, 1, i -> cuda.ternaryGemmTKernel(a, w, c, false));
                            record("mm_tflops_ternary_dx_kernel_" + name, flops / (ternKernel * 1e9), "tiled, packed");
                        }
                    }
                }
            }
        }
    }
}

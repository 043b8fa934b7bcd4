import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

import tern.runtime.DType;
import tern.runtime.Tensor;
import tern.simd.FloatMatmul;
import tern.simd.FloatMatmulPeak;
import tern.simd.KernelProvider;
import tern.simd.Parallel;

/**
 * Times the float matmul at the shape and at the 10M preset's training shapes, with the FMA peak
 * measured in the same run, for the tile and blocking choices recorded in BENCHMARKS.md. Each shape is
 * {@code m,k,n[,flags]} with flags from {@code a} (op(a) = aᵀ), {@code b} (op(b) = bᵀ), {@code c}
 * (accumulate); the line per shape gives the median and fastest of {@code reps} calls after a warm-up
 * of about 2 s, as GFLOP/s and as a fraction of the peak.
 * Run: java --add-modules jdk.incubator.vector -cp target/classes:tools/bench FloatMatmulTimer reps shape...
 * (no shapes: the 512,1024,4096 and the 10M training products).
 */
public final class FloatMatmulTimer {
    private static final String[] DEFAULT = {
            "512,1024,4096",          // the target: x [512, 1024] · W [1024, 4096]
            "4096,256,768,b",         // 10M forward, x · Wᵀ (gate and up: 768 outputs)
            "4096,768,256,b",         // 10M forward, down projection
            "4096,256,4096,b",        // 10M LM head forward
            "4096,768,256",           // 10M backward dx = dy · W (gate/up)
            "768,4096,256,ac",        // 10M backward dW += dyᵀ · x (gate/up)
            "256,4096,768,ac",        // 10M backward dW += dyᵀ · x (down)
    };

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        String[] shapes = args.length > 1 ? Arrays.copyOfRange(args, 1, args.length) : DEFAULT;
        System.out.println("kernels: " + KernelProvider.preferred().describe() + "; threads " + Parallel.THREADS);
        double peak = FloatMatmulPeak.gflops(20_000_000L, 5);
        System.out.printf(Locale.ROOT, "FMA peak %.1f GFLOP/s%n", peak);
        for (String shape : shapes) {
            String[] f = shape.split(",");
            int m = Integer.parseInt(f[0]), k = Integer.parseInt(f[1]), n = Integer.parseInt(f[2]);
            String flags = f.length > 3 ? f[3] : "";
            boolean ta = flags.contains("a"), tb = flags.contains("b"), acc = flags.contains("c");
            try (Tensor a = ta ? random(1, k, m) : random(1, m, k); Tensor b = tb ? random(2, n, k) : random(2, k, n);
                 Tensor c = random(3, m, n)) {
                Runnable call = () -> FloatMatmul.matmul(a, ta, b, tb, c, acc);
                for (long stop = System.nanoTime() + 2_000_000_000L; System.nanoTime() < stop; ) call.run();
                double[] t = new double[reps], cpu = new double[reps];
                var bean = java.lang.management.ManagementFactory.getThreadMXBean();
                for (int i = 0; i < reps; i++) {
                    long c0 = bean.getCurrentThreadCpuTime(), t0 = System.nanoTime();
                    call.run();
                    t[i] = (System.nanoTime() - t0) / 1e9;
                    cpu[i] = (bean.getCurrentThreadCpuTime() - c0) / 1e9;
                }
                Arrays.sort(t);
                Arrays.sort(cpu);
                double flops = 2.0 * m * k * n;
                System.out.printf(Locale.ROOT, "%-18s median %7.2f ms %6.1f GFLOP/s (%.2f of peak)  fastest %6.1f GFLOP/s (%.2f)%s%n",
                        shape, t[reps / 2] * 1e3, flops / t[reps / 2] / 1e9, flops / t[reps / 2] / 1e9 / peak,
                        flops / t[0] / 1e9, flops / t[0] / 1e9 / peak,
                        // One thread: its CPU time is the figure to trust on a shared machine (time it was not running is left out).
                        Parallel.THREADS == 1 ? String.format(Locale.ROOT, "  cpu-time median %6.1f GFLOP/s (%.2f)",
                                flops / cpu[reps / 2] / 1e9, flops / cpu[reps / 2] / 1e9 / peak) : "");
            }
        }
    }

    private static Tensor random(long seed, int rows, int cols) {
        Tensor t = Tensor.zeros(DType.F32, rows, cols);
        MemorySegment s = t.segment();
        SplittableRandom rnd = new SplittableRandom(seed);
        for (long i = 0; i < (long) rows * cols; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble() * 2 - 1));
        return t;
    }
}

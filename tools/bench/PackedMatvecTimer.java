import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

import tern.runtime.ShardAxis;
import tern.simd.KernelProvider;
import tern.simd.PackedMatmul;
import tern.simd.PackedTernary;

/**
 * Times one-row packed products (decode matvecs) for tools/bench/kernels-vs-ggml.sh: for each shape
 * out×in and activation type, the median of {@code reps} calls after a warm-up ({@link #warmUp}), one line per
 * measurement: {@code shape activations width µs (min µs, cpu µs)}: median and fastest wall time and the
 * median of this thread's CPU time
 * (the CPU time is the figure to trust on a busy machine, with -Dtern.threads=1). Random ternary weights; the shapes are the issue's.
 * {@code -Dactivations=float|int8|both} (default both) times one activation kind only, which halves a run
 * that needs only one (the 128-bit against 256-bit comparison of issue 19 is about int8).
 * Run: java --add-modules jdk.incubator.vector -cp target/classes:tools/bench PackedMatvecTimer reps shape...
 */
public final class PackedMatvecTimer {
    private static final long WARM_NS = (long) (Double.parseDouble(System.getProperty("warm", "1")) * 1e9);
    /**
     * Calls {@code call} in blocks of {@code -Dwarm} seconds (default 1), at least three, until a block's
     * fastest call is within 5 % of the block before's, at most 60 s: on a busy machine C2 can take many
     * seconds to compile the large kernels, and Vector API code before that runs boxed, 10–100× slower
     * (run with -Xbatch, as kernels-vs-ggml.sh does, so a call waits for its compilation instead).
     */
    static void warmUp(Runnable call) {
        long best = Long.MAX_VALUE;
        int blocks = 0;
        for (long stop = System.nanoTime() + 60_000_000_000L; System.nanoTime() < stop; blocks++) {
            long blockBest = Long.MAX_VALUE;
            for (long end = System.nanoTime() + WARM_NS; System.nanoTime() < end; ) {
                long s = System.nanoTime();
                call.run();
                blockBest = Math.min(blockBest, System.nanoTime() - s);
            }
            if (blocks >= 2 && blockBest > 0.95 * best) return;
            best = Math.min(best, blockBest);
        }
    }

    /** The activation kinds -Dactivations names (float, int8 or both). */
    static PackedMatmul.Activations[] kinds() {
        String a = System.getProperty("activations", "both").strip().toLowerCase();
        return switch (a) {
            case "both" -> PackedMatmul.Activations.values();
            case "float" -> new PackedMatmul.Activations[] {PackedMatmul.Activations.FLOAT};
            case "int8" -> new PackedMatmul.Activations[] {PackedMatmul.Activations.INT8};
            default -> throw new IllegalArgumentException("-Dactivations=" + a + ": expected float, int8 or both");
        };
    }

    public static void main(String[] args) {
        int reps = Integer.parseInt(args[0]);
        PackedMatmul.Activations[] kinds = kinds();
        String width = KernelProvider.preferred().vector() ? tern.simd.Vectorization.BITS + "-bit" : "scalar";
        System.out.println("# kernels: " + PackedMatmul.path());
        for (int a = 1; a < args.length; a++) {
            String[] d = args[a].split("x");
            int out = Integer.parseInt(d[0]), in = Integer.parseInt(d[1]);
            SplittableRandom rnd = new SplittableRandom(7);
            byte[] t = new byte[out * in];
            for (int i = 0; i < t.length; i++) t[i] = (byte) (rnd.nextInt(3) - 1);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment codes = arena.allocate(PackedTernary.bytes(out, in, 1, ShardAxis.ROWS), 64);
                PackedTernary w = PackedTernary.pack(t, out, in, new float[] {0.01f}, ShardAxis.ROWS, codes);
                float[] x = new float[in], y = new float[out];
                for (int i = 0; i < in; i++) x[i] = (float) rnd.nextGaussian();
                for (PackedMatmul.Activations act : kinds) {
                    long[] ns = new long[reps], cpu = new long[reps];
                    var mx = java.lang.management.ManagementFactory.getThreadMXBean();
                    warmUp(() -> PackedMatmul.matmul(w, x, 1, y, act));
                    for (int i = 0; i < reps; i++) {
                        long c = mx.getCurrentThreadCpuTime(), s = System.nanoTime();
                        PackedMatmul.matmul(w, x, 1, y, act);
                        ns[i] = System.nanoTime() - s;
                        cpu[i] = mx.getCurrentThreadCpuTime() - c;
                    }
                    Arrays.sort(ns);
                    Arrays.sort(cpu);
                    System.out.printf("%s %s %s %.1f (min %.1f, cpu %.1f)%n", args[a], act.name().toLowerCase(), width, ns[reps / 2] / 1e3, ns[0] / 1e3, cpu[reps / 2] / 1e3);
                }
            }
        }
    }
}

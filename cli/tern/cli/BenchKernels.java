package tern.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import tern.checkpoint.Json;
import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.runtime.TernaryWeights;
import tern.simd.FloatMatmul;
import tern.simd.FloatMatmulPeak;
import tern.simd.PackedMatmul;
import tern.simd.PackedTernary;
import tern.simd.KernelProvider;
import tern.simd.Parallel;
import tern.simd.TernaryMatmul;
import tern.simd.Vectorization;

/**
 * {@code tern bench kernels [--json]}: float and ternary matmul at a training shape and a decode shape,
 * with the machine's copy bandwidth and FMA peak measured in the same run, so every rate has its
 * ceiling beside it. Each figure is the median of several timed runs after warm-up runs; keys ending in
 * {@code _fastest} give the fastest run too, the least disturbed one when the machine is shared.
 *
 * <p>{@code tern bench} dispatches on its first argument through {@link #SUBCOMMANDS}; other bench
 * subcommands register there.
 */
final class BenchKernels {
    /** {@code tern bench <name> ...}: subcommands of bench, by name. */
    static final Map<String, Main.Runner> SUBCOMMANDS = new LinkedHashMap<>();

    static {
        SUBCOMMANDS.put("kernels", BenchKernels::run);
        SUBCOMMANDS.put("generate", BenchGenerate::run);
        SUBCOMMANDS.put("prefill", BenchPrefill::run);
    }

    // Training shape: a 512-token batch through a 1024 → 4096 linear layer.
    static final int TRAIN_M = 512, TRAIN_K = 1024, TRAIN_N = 4096;
    // Decode shape: one token through a 16384 × 16384 matrix: 1 GiB in f32 and 64 MiB packed ternary,
    // both larger than the 32 MiB L3, so both stream from memory.
    static final int DECODE_OUT = 16384, DECODE_IN = 16384;
    static final long COPY_BYTES = 1L << 30;

    private static double copyFastest;

    private BenchKernels() {}

    static final String USAGE = """
            usage: tern bench kernels [--json]
              float and ternary matmul (training and decode shapes), copy bandwidth and FMA peak, measured in one run;
              medians of timed runs after warm-up, with the fastest run beside them; --json prints JSON only""";

    /** {@code tern bench --help}: every subcommand's usage line. */
    static String benchUsage() {
        return "usage: tern bench {" + String.join("|", SUBCOMMANDS.keySet()) + "} [ARGS]\n"
                + "  tern bench kernels --help\n  tern bench generate --help\n  tern bench prefill --help";
    }

    /** {@code tern bench SUBCOMMAND ...}. */
    static int dispatch(String[] args) throws Exception {
        if (args.length > 0 && (args[0].equals("--help") || args[0].equals("help"))) {
            System.out.println(benchUsage());
            return 0;
        }
        Main.Runner r = args.length == 0 ? null : SUBCOMMANDS.get(args[0]);
        if (r == null)
            throw new UsageException("usage: tern bench {" + String.join("|", SUBCOMMANDS.keySet()) + "} [ARGS]"
                    + (args.length == 0 ? "" : " (unknown: '" + args[0] + "')"));
        return r.run(Arrays.copyOfRange(args, 1, args.length));
    }

    static int run(String[] args) throws Exception {
        if (java.util.List.of(args).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        boolean json = false;
        for (String a : args) {
            if (a.equals("--json")) json = true;
            else throw new UsageException("usage: tern bench kernels [--json] (unknown argument '" + a + "')");
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("threads", Parallel.THREADS);
        out.put("simd", Vectorization.describe());
        out.put("kernels", KernelProvider.preferred().describe());
        out.put("load_average_before", loadAverage());
        Progress log = new Progress(!json);
        if (!json) System.out.println("vectors: " + Vectorization.describe() + "\nkernels: " + KernelProvider.preferred().describe());

        double peak = FloatMatmulPeak.gflops(20_000_000L, 5);
        out.put("fma_peak_gflops", round(peak));
        out.put("fma_peak_method", "measured: register-only FMA chains on every thread (best of 5 bursts)");
        log.line("FMA peak (measured)", "%.1f GFLOP/s", peak);

        double copy = copyBandwidth();
        out.put("copy_bandwidth_gbps", round(copy));
        out.put("copy_bandwidth_gbps_fastest", round(copyFastest));
        out.put("copy_method", "MemorySegment.copy of 1 GiB split over all threads; bytes read + written");
        log.line("copy bandwidth", "%.1f GB/s (read + write)", copy);

        double flops = 2.0 * TRAIN_M * TRAIN_K * TRAIN_N;
        double floatMm, ternMm, ternMmT, pack;
        try (Tensor x = random(1, TRAIN_M, TRAIN_K); Tensor w = random(2, TRAIN_N, TRAIN_K);
             Tensor b = random(3, TRAIN_K, TRAIN_N); Tensor y = Tensor.zeros(DType.F32, TRAIN_M, TRAIN_N);
             Tensor dx = Tensor.zeros(DType.F32, TRAIN_M, TRAIN_K);
             TernaryWeights tw = TernaryMatmul.pack(w, 1, ShardAxis.ROWS, 1e-5f)) {
            // The three products take turns, run after run, so that a change in the machine's load falls on all
            // of them alike; the ratios are medians of the per-turn ratios.
            double[][] t = interleaved(3, 11, () -> FloatMatmul.matmul(x, false, b, false, y, false),
                    () -> TernaryMatmul.forward(x, tw, y, false), () -> TernaryMatmul.backward(y, tw, dx, false));
            floatMm = medianOf(t[0]);
            ternMm = medianOf(t[1]);
            ternMmT = medianOf(t[2]);
            out.put("float_matmul_gflops_fastest", round(flops / Arrays.stream(t[0]).min().orElseThrow() / 1e9));
            out.put("ternary_matmul_gflops_fastest", round(flops / Arrays.stream(t[1]).min().orElseThrow() / 1e9));
            out.put("ternary_vs_float_matmul", round(medianOf(ratios(t[0], t[1]))));
            out.put("ternary_t_vs_float_matmul", round(medianOf(ratios(t[0], t[2]))));
            pack = median(() -> TernaryMatmul.pack(w, 1, ShardAxis.ROWS, 1e-5f).close(), 1, 5);
        }
        out.put("train_m", TRAIN_M);
        out.put("train_k", TRAIN_K);
        out.put("train_n", TRAIN_N);
        out.put("float_matmul_gflops", round(flops / floatMm / 1e9));
        out.put("float_matmul_fraction_of_peak", round(flops / floatMm / 1e9 / peak));
        out.put("ternary_matmul_gflops", round(flops / ternMm / 1e9));
        out.put("ternary_matmul_t_gflops", round(flops / ternMmT / 1e9));
        out.put("ternary_vs_float_matmul_of_medians", round(floatMm / ternMm));
        out.put("ternary_pack_ms", round(pack * 1e3));
        log.line("float matmul " + TRAIN_M + "x" + TRAIN_K + " · " + TRAIN_K + "x" + TRAIN_N, "%.1f GFLOP/s (%.0f%% of peak)",
                flops / floatMm / 1e9, 100 * flops / floatMm / 1e9 / peak);
        log.line("ternary x·Wᵀ, same shape", "%.1f GFLOP/s equivalent (%.2fx float)", flops / ternMm / 1e9, floatMm / ternMm);
        log.line("ternary dy·W, same shape", "%.1f GFLOP/s equivalent (%.2fx float)", flops / ternMmT / 1e9, floatMm / ternMmT);
        log.line("ternary pack of W " + TRAIN_N + "x" + TRAIN_K, "%.1f ms (quantize + both panels)", pack * 1e3);

        // Decode shape: the float32 matvec against both ternary kernels that can take one row: the training
        // layout's (TernaryMatmul, 2-bit codes, float activations) and the packed inference kernel that
        // `tern generate --model` decodes with (PackedMatmul, t9 codes, the faster of float and int8 activations).
        double floatMv, trainMv, packedMv;
        long trainBytes = (long) DECODE_OUT * DECODE_IN / 4;   // the forward panel: 2 bits per weight
        long packedBytes = PackedTernary.bytes(DECODE_OUT, DECODE_IN, 1, ShardAxis.ROWS);
        String packedActivations;
        try (Tensor w = random(4, DECODE_OUT, DECODE_IN); Tensor x = random(5, 1, DECODE_IN);
             Tensor y = Tensor.zeros(DType.F32, 1, DECODE_OUT); Arena arena = Arena.ofShared()) {
            floatMv = median(() -> FloatMatmul.matmul(x, false, w, true, y, false), 3, 9);
            out.put("float_matvec_gbps_fastest", round(4.0 * DECODE_OUT * DECODE_IN / fastest() / 1e9));
            try (TernaryWeights tw = TernaryMatmul.pack(w, 1, ShardAxis.ROWS, 1e-5f)) {
                trainMv = median(() -> TernaryMatmul.forward(x, tw, y, false), 5, 15);
                MemorySegment codes = arena.allocate(packedBytes, 64);
                PackedTernary pw = PackedTernary.pack(TernaryMatmul.trits(w, tw.scales(), ShardAxis.ROWS), DECODE_OUT, DECODE_IN,
                        tw.scales(), ShardAxis.ROWS, codes);
                float[] xs = x.toFloatArray(), ys = new float[DECODE_OUT];
                // Warmed for seconds, as bench generate does: C2 takes a while over the packed kernels.
                double f = BenchGenerate.timed(() -> PackedMatmul.matmul(pw, xs, 1, ys, PackedMatmul.Activations.FLOAT), 15, 10);
                double i8 = BenchGenerate.timed(() -> PackedMatmul.matmul(pw, xs, 1, ys, PackedMatmul.Activations.INT8), 15, 10);
                packedMv = Math.min(f, i8);
                packedActivations = f <= i8 ? "float" : "int8";
            }
        }
        double floatBytes = 4.0 * DECODE_OUT * DECODE_IN;
        out.put("decode_rows", 1);
        out.put("decode_out", DECODE_OUT);
        out.put("decode_in", DECODE_IN);
        out.put("float_matvec_gbps", round(floatBytes / floatMv / 1e9));
        out.put("ternary_matvec_kernel", "packed inference kernel (" + PackedMatmul.path() + ", "
                + packedActivations + " activations), as tern generate --model decodes");
        out.put("ternary_matvec_gbps", round(packedBytes / packedMv / 1e9));
        out.put("ternary_matvec_gweights_per_s", round((double) DECODE_OUT * DECODE_IN / packedMv / 1e9));
        out.put("ternary_vs_float_matvec", round(floatMv / packedMv));
        out.put("ternary_train_layout_matvec_gbps", round(trainBytes / trainMv / 1e9));
        out.put("ternary_train_layout_vs_float_matvec", round(floatMv / trainMv));
        log.line("float matvec 1x" + DECODE_IN + " · (" + DECODE_OUT + "x" + DECODE_IN + ")ᵀ", "%.1f GB/s, %.2f ms", floatBytes / floatMv / 1e9, floatMv * 1e3);
        log.line("ternary matvec, packed (decode) kernel", "%.1f GB/s of codes, %.2f ms (%.1fx float)",
                packedBytes / packedMv / 1e9, packedMv * 1e3, floatMv / packedMv);
        log.line("ternary matvec, training layout", "%.1f GB/s of codes, %.2f ms (%.1fx float)",
                trainBytes / trainMv / 1e9, trainMv * 1e3, floatMv / trainMv);
        out.put("load_average_after", loadAverage());
        if (json) System.out.println(Json.write(out));
        else System.out.println("load average before/after: " + out.get("load_average_before") + " / " + loadAverage());
        return 0;
    }

    /** Fastest run of the last {@link #median} call on this thread: on a shared machine, the least disturbed. */
    private static final ThreadLocal<double[]> FASTEST = ThreadLocal.withInitial(() -> new double[1]);

    /** Median seconds of {@code reps} timed runs after {@code warmup} untimed ones. */
    static double median(Runnable r, int warmup, int reps) {
        for (int i = 0; i < warmup; i++) r.run();
        double[] t = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t0 = System.nanoTime();
            r.run();
            t[i] = (System.nanoTime() - t0) / 1e9;
        }
        Arrays.sort(t);
        FASTEST.get()[0] = t[0];
        return t[reps / 2];
    }

    /**
     * Seconds of each task over {@code reps} turns after {@code warmup} untimed ones; in every turn each task
     * runs once, in order. Returns [task][turn].
     */
    static double[][] interleaved(int warmup, int reps, Runnable... tasks) {
        for (int i = 0; i < warmup; i++) for (Runnable r : tasks) r.run();
        double[][] t = new double[tasks.length][reps];
        for (int i = 0; i < reps; i++)
            for (int k = 0; k < tasks.length; k++) {
                long t0 = System.nanoTime();
                tasks[k].run();
                t[k][i] = (System.nanoTime() - t0) / 1e9;
            }
        return t;
    }

    /** base[i] / other[i] for each turn: the speed of {@code other} relative to {@code base} (> 1: faster). */
    static double[] ratios(double[] base, double[] other) {
        double[] r = new double[base.length];
        for (int i = 0; i < r.length; i++) r[i] = base[i] / other[i];
        return r;
    }

    static double medianOf(double[] xs) {
        return tern.train.TrainStepBench.median(xs);
    }

    private static double fastest() {
        return FASTEST.get()[0];
    }

    /** GB/s of a multithreaded 1 GiB copy, counting the bytes read and the bytes written (STREAM's convention). */
    static double copyBandwidth() {
        try (CopyProbe probe = new CopyProbe()) {
            double s = median(probe::copyOnce, 2, 7);
            copyFastest = 2.0 * COPY_BYTES / fastest() / 1e9;
            return 2.0 * COPY_BYTES / s / 1e9;
        }
    }

    /** Two 1 GiB buffers, touched once, and the multithreaded copy between them that the copy figure times. */
    static final class CopyProbe implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private final MemorySegment src = arena.allocate(COPY_BYTES, 64), dst = arena.allocate(COPY_BYTES, 64);

        CopyProbe() {
            src.fill((byte) 1);
            dst.fill((byte) 0);   // touch every page before timing
        }

        void copyOnce() {
            int pieces = 64;
            long piece = COPY_BYTES / pieces;
            Parallel.range(pieces, 1, (p0, p1) -> MemorySegment.copy(src, p0 * piece, dst, p0 * piece, (p1 - p0) * piece));
        }

        /** GB/s (read + written) of one timed copy. */
        double gbps() {
            long t0 = System.nanoTime();
            copyOnce();
            return 2.0 * COPY_BYTES / ((System.nanoTime() - t0) / 1e9) / 1e9;
        }

        @Override public void close() { arena.close(); }
    }

    /** A tensor of uniform values in [−1, 1), filled in parallel from a fixed seed. */
    static Tensor random(long seed, int rows, int cols) {
        Tensor t = Tensor.zeros(DType.F32, rows, cols);
        MemorySegment s = t.segment();
        Parallel.range(rows, 1, (r0, r1) -> {
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + r0);
            for (long i = (long) r0 * cols; i < (long) r1 * cols; i++)
                s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble() * 2 - 1));
        });
        return t;
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "unknown";
        }
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** Human-readable lines, or nothing in --json mode (stdout then holds only the JSON object). */
    private record Progress(boolean enabled) {
        void line(String what, String format, Object... args) {
            if (enabled) System.out.printf("%-44s %s%n", what, String.format(format, args));
        }
    }
}

package tern.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import tern.checkpoint.Json;
import tern.model.Generator;
import tern.model.InferenceModel;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.PackedModelWriter;
import tern.model.SamplingOptions;
import tern.runtime.DType;
import tern.runtime.ShardAxis;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;
import tern.simd.FloatMatmul;
import tern.simd.PackedFloatMatvec;
import tern.simd.PackedMatmul;
import tern.simd.PackedTernary;
import tern.simd.Parallel;
import tern.simd.Vectorization;

/**
 * {@code tern bench generate [--json] [--size NAME] [--rows R --cols C] [--tokens N]}: what packed ternary
 * inference costs on this machine, each figure beside its ceiling, measured in one run:
 * <ul>
 * <li>the packed matvec (float and int8 activations) on a matrix far larger than the L3, in GB/s of bytes
 *     that must move (packed codes + activations + outputs), against the copy bandwidth measured by
 *     {@code bench kernels}' own routine (and paired, matvec and copy taking turns), against a read-only pass
 *     over 1 GiB, and against an f32 matvec of the same shape;</li>
 * <li>end-to-end decode tokens/s of a random-weight Spectra-shape model: float32 ({@link Generator} on
 *     the CPU backend) and the same model quantized, packed ({@code f16} embedding and head, as
 *     {@code tern pack} writes by default) and served from the packed file.</li>
 * </ul>
 * Each kernel figure is the median of several runs after warm-up. Decode figures are steady-state: each
 * model first generates untimed for at least {@link #DECODE_WARMUP_S} seconds (so the JIT has compiled its
 * kernels: on 2 cores the compiler threads otherwise take the CPU from the first few dozen tokens), then
 * the steps after the first generated token (prefill excluded) are timed, best of {@link #DECODE_RUNS}.
 * Both models get the same warm-up rule and the same timing; the JSON states them.
 */
final class BenchGenerate {
    private BenchGenerate() {}

    static final String USAGE = """
            usage: tern bench generate [--json] [--size NAME] [--rows R --cols C] [--tokens N]
              --size NAME     the Spectra shape of the random-weight decode model                     [390M]
              --rows R        rows of the packed matvec matrix (≥ 64)                                 [16384]
              --cols C        its columns (≥ 64)                                                      [16384]
              --tokens N      tokens generated per timed decode run (≥ 3)                             [24]
              --json          print JSON only
            Packed ternary matvec GB/s against copy and read bandwidth and an f32 matvec, then float32 and
            packed decode tokens/s, all measured in this run.""";

    static int run(String[] argv) throws Exception {
        if (java.util.List.of(argv).contains("--help")) {
            System.out.println(USAGE);
            return 0;
        }
        Args args = Args.parse("bench generate", argv, Set.of("size", "rows", "cols", "tokens"), Set.of("json"));
        boolean json = args.has("json");
        int rows = args.intValue("rows", 16384), cols = args.intValue("cols", 16384), tokens = args.intValue("tokens", 24);
        String size = args.string("size", "390M");
        if (rows < 64 || cols < 64 || tokens < 3) throw new UsageException("--rows/--cols need ≥ 64 and --tokens ≥ 3");
        LlamaConfig shape;
        try {
            shape = LlamaConfig.preset(size).withContextLength(256);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("threads", Parallel.THREADS);
        out.put("simd", Vectorization.describe());
        out.put("packed_kernels", PackedMatmul.path());
        out.put("load_average_before", BenchKernels.loadAverage());
        Log log = new Log(!json);

        double copy = BenchKernels.copyBandwidth();
        out.put("copy_bandwidth_gbps", round(copy));
        out.put("copy_method", "tern bench kernels' copy: MemorySegment.copy of 1 GiB over all threads; bytes read + written");
        log.line("copy bandwidth", "%.1f GB/s", copy);
        double read = readBandwidth();
        out.put("read_bandwidth_gbps", round(read));
        out.put("read_method", "sum of every long of 1 GiB over all threads (median of 7); bytes read: the ceiling of a kernel that only reads");
        log.line("read bandwidth", "%.1f GB/s (%.0f%% of copy)", read, 100 * read / copy);

        // ---- the matvec at a shape far beyond the L3 --------------------------------------------------------
        out.put("matvec_rows", rows);
        out.put("matvec_cols", cols);
        double tFloatAct, tInt8Act, tF32;
        double[] perTurnFraction = new double[TURNS], perTurnCopy = new double[TURNS];
        long codeBytes;
        try (Arena arena = Arena.ofShared()) {
            codeBytes = PackedTernary.bytes(rows, cols, 1, ShardAxis.ROWS);
            MemorySegment codes = arena.allocate(codeBytes, 64);
            PackedTernary w = PackedTernary.pack(randomTrits(rows, cols), rows, cols, new float[] {0.01f}, ShardAxis.ROWS, codes);
            float[] x = new float[cols], y = new float[rows];
            SplittableRandom rnd = new SplittableRandom(7);
            for (int i = 0; i < cols; i++) x[i] = (float) rnd.nextGaussian();
            tFloatAct = timed(() -> PackedMatmul.matmul(w, x, 1, y, PackedMatmul.Activations.FLOAT), 15, WARMUP_CALLS);
            tInt8Act = timed(() -> PackedMatmul.matmul(w, x, 1, y, PackedMatmul.Activations.INT8), 15, WARMUP_CALLS);
            // The copy figure above was taken a minute earlier, and this VM's memory rate drifts by tens of percent
            // between minutes: copy and matvec also take turns here, and each turn's matvec GB/s is divided by the
            // copy GB/s around it.
            PackedMatmul.Activations faster = tFloatAct <= tInt8Act ? PackedMatmul.Activations.FLOAT : PackedMatmul.Activations.INT8;
            long movedBytes = codeBytes + 4L * cols + 4L * rows;
            try (BenchKernels.CopyProbe probe = new BenchKernels.CopyProbe()) {
                probe.copyOnce();
                double copyBefore = probe.gbps();
                for (int t = 0; t < TURNS; t++) {
                    double matvecS = BenchKernels.median(() -> PackedMatmul.matmul(w, x, 1, y, faster), 1, 5);
                    double copyAfter = probe.gbps();
                    // the copies on both sides of the matvec, so a drift during the turn falls on both alike
                    double copyGbps = (copyBefore + copyAfter) / 2;
                    perTurnFraction[t] = movedBytes / matvecS / 1e9 / copyGbps;
                    perTurnCopy[t] = copyGbps;
                    copyBefore = copyAfter;
                }
            }
        }
        try (Tensor wf = BenchKernels.random(4, rows, cols); Tensor xf = BenchKernels.random(5, 1, cols);
             Tensor yf = Tensor.zeros(DType.F32, 1, rows)) {
            tF32 = timed(() -> FloatMatmul.matmul(xf, false, wf, true, yf, false), 9, 3);
        }
        long moved = codeBytes + 4L * cols + 4L * rows;
        double tBest = Math.min(tFloatAct, tInt8Act);
        out.put("ternary_matvec_bytes", moved);
        out.put("ternary_matvec_float_act_ms", round(tFloatAct * 1e3));
        out.put("ternary_matvec_int8_act_ms", round(tInt8Act * 1e3));
        out.put("ternary_matvec_faster_activations", tFloatAct <= tInt8Act ? "float" : "int8");
        out.put("ternary_matvec_gbps", round(moved / tBest / 1e9));
        out.put("ternary_matvec_float_act_gbps", round(moved / tFloatAct / 1e9));
        out.put("ternary_matvec_int8_act_gbps", round(moved / tInt8Act / 1e9));
        out.put("bandwidth_fraction", round(moved / tBest / 1e9 / copy));
        // Paired: this VM's memory moves between fast and slow phases within a minute, so the matvec timed now
        // against the copy timed a minute ago can land on either side (BENCHMARKS.md, stop 11). The turns have
        // their own bias, though: their matvec has run 5-16 % below the warm figure above, cause not found.
        out.put("bandwidth_fraction_per_turn", round(BenchKernels.medianOf(perTurnFraction)));
        out.put("bandwidth_fraction_per_turn_method", TURNS + " turns of the matvec (median of 5 calls, faster activations) "
                + "between two 1 GiB copies; median over turns of its GB/s over the mean GB/s of the copies on either side; "
                + "copy per turn " + java.util.Arrays.toString(java.util.Arrays.stream(perTurnCopy).map(BenchGenerate::round).toArray()) + " GB/s");
        out.put("bandwidth_fraction_of_read", round(moved / tBest / 1e9 / read));
        // What bandwidth_fraction can reach at most here: a kernel that streams its codes in reads, and on this
        // VM a read-only stream runs below the copy's read + write figure (tools/membw/readcopy.c, BENCHMARKS.md).
        out.put("read_fraction_of_copy", round(read / copy));
        out.put("float32_matvec_ms", round(tF32 * 1e3));
        out.put("float32_matvec_gbps", round((4.0 * rows * cols + 4L * cols + 4L * rows) / tF32 / 1e9));
        out.put("ternary_vs_float32_matvec", round(tF32 / tBest));
        log.line("ternary matvec " + rows + "x" + cols + ", float act", "%.2f ms, %.1f GB/s (%.0f%% of copy)", tFloatAct * 1e3, moved / tFloatAct / 1e9, 100 * moved / tFloatAct / 1e9 / copy);
        log.line("ternary matvec, int8 act", "%.2f ms, %.1f GB/s (%.0f%% of copy)", tInt8Act * 1e3, moved / tInt8Act / 1e9, 100 * moved / tInt8Act / 1e9 / copy);
        log.line("  (a read-only stream reached)", "%.0f%% of copy, the ceiling of a kernel that only reads", 100 * read / copy);
        log.line("ternary matvec vs copy, paired turns", "%.0f%% of copy (bandwidth_fraction_per_turn)", 100 * BenchKernels.medianOf(perTurnFraction));
        log.line("float32 matvec, same shape", "%.2f ms, %.1f GB/s; ternary is %.1fx faster", tF32 * 1e3, 4.0 * rows * cols / tF32 / 1e9, tF32 / tBest);

        // ---- end-to-end decode ----------------------------------------------------------------------------
        out.put("decode_model", size + " (" + shape.describe().replace(", float weights", "") + ", random weights)");
        out.put("decode_tokens", tokens);
        out.put("decode_method", "per model: untimed generations of " + tokens + " tokens for at least " + DECODE_WARMUP_S
                + " s (JIT warm-up), then best of " + DECODE_RUNS + " generations, each timed from its first generated token to its last");
        int[] prompt = {11, 22, 33, 44, 55, 66, 77, 88};
        double floatTps, ternTps, ternInt8Tps;
        long packedBytesPerToken;
        Path tmp = Files.createTempFile("tern-bench", ".tern");
        try {
            try (LlamaModel m = new LlamaModel(new CpuBackend(), shape)) {
                m.initialize(1);
                try (Generator g = new Generator(m)) {
                    floatTps = decodeRate(t -> g.generate(prompt, tokens, SamplingOptions.greedy(), t));
                }
                log.line("decode float32 (" + size + ")", "%.2f tokens/s", floatTps);
                m.setPolicy(new LinearPolicy.Ternary(shape.modelParallel()));
                PackedModelWriter.write(m, null, PackedFloatMatvec.Format.F16, tmp);
            }
            try (InferenceModel im = InferenceModel.load(tmp)) {
                packedBytesPerToken = im.bytesPerToken();
                ternTps = decodeRate(t -> im.generate(prompt, tokens, SamplingOptions.greedy(), t));
                im.setActivations(PackedMatmul.Activations.INT8);
                ternInt8Tps = decodeRate(t -> im.generate(prompt, tokens, SamplingOptions.greedy(), t));
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        out.put("decode_tokens_per_s_float32", round(floatTps));
        out.put("decode_tokens_per_s_ternary", round(Math.max(ternTps, ternInt8Tps)));
        out.put("decode_tokens_per_s_ternary_float_act", round(ternTps));
        out.put("decode_tokens_per_s_ternary_int8_act", round(ternInt8Tps));
        out.put("decode_ternary_vs_float32", round(Math.max(ternTps, ternInt8Tps) / floatTps));
        out.put("decode_packed_bytes_per_token", packedBytesPerToken);
        out.put("decode_ternary_gbps", round(packedBytesPerToken * Math.max(ternTps, ternInt8Tps) / 1e9));   // at the faster activations, as decode_tokens_per_s_ternary
        out.put("load_average_after", BenchKernels.loadAverage());
        log.line("decode packed ternary, float act", "%.2f tokens/s (%.1fx float32, %.1f GB/s of weights)", ternTps, ternTps / floatTps, packedBytesPerToken * ternTps / 1e9);
        log.line("decode packed ternary, int8 act", "%.2f tokens/s (%.1fx float32)", ternInt8Tps, ternInt8Tps / floatTps);
        if (json) System.out.println(Json.write(out));
        else System.out.println("load average before/after: " + out.get("load_average_before") + " / " + out.get("load_average_after"));
        return 0;
    }

    /**
     * Warm-up before timing: at least this many seconds and {@link #WARMUP_CALLS} calls. The call count
     * matters: a kernel's once-per-call loops (the subset-sum tables) are compiled only after a few hundred
     * invocations, and interpreted Vector API code is a thousand times slower.
     */
    private static final double WARMUP_S = 3;
    private static final int WARMUP_CALLS = 300;

    /** Median seconds of {@code reps} runs (bench kernels' median) after the warm-up. */
    /** Turns of copy and matvec for {@code bandwidth_fraction_per_turn}. */
    private static final int TURNS = 9;

    static double timed(Runnable r, int reps, int warmupCalls) {
        long end = System.nanoTime() + (long) (WARMUP_S * 1e9);
        int runs = 0;
        while (System.nanoTime() < end || runs < warmupCalls) { r.run(); runs++; }
        return BenchKernels.median(r, 0, reps);
    }

    /** A generation that reports each token to the consumer. */
    private interface Generation {
        void run(java.util.function.IntConsumer onToken);
    }

    /** Seconds of untimed generation before a model's decode is timed. */
    static final double DECODE_WARMUP_S = 5;
    /** Timed generations per model; the best counts. */
    static final int DECODE_RUNS = 3;

    /**
     * Tokens/s of the decode steps: the time from the first generated token (the prompt's prefill ends
     * there) to the last, over the tokens in between; best of {@link #DECODE_RUNS} generations after
     * {@link #DECODE_WARMUP_S} seconds (and at least one generation) of untimed warm-up.
     */
    private static double decodeRate(Generation g) {
        long end = System.nanoTime() + (long) (DECODE_WARMUP_S * 1e9);
        do g.run(t -> {}); while (System.nanoTime() < end);
        double best = 0;
        for (int run = 0; run < DECODE_RUNS; run++) {
            long[] first = {0}, last = {0};
            int[] count = {0};
            g.run(t -> {
                long now = System.nanoTime();
                if (count[0]++ == 0) first[0] = now;
                last[0] = now;
            });
            best = Math.max(best, (count[0] - 1) / ((last[0] - first[0]) / 1e9));
        }
        return best;
    }

    /**
     * GB/s of reading 1 GiB (every long summed, 4 sums per thread so the adds keep up) split over all
     * threads: what a kernel that only streams its operand in can reach, next to the copy's read + write.
     */
    static double readBandwidth() {
        try (Arena arena = Arena.ofShared()) {
            long bytes = BenchKernels.COPY_BYTES;
            MemorySegment src = arena.allocate(bytes, 64);
            src.fill((byte) 1);
            int pieces = 64;
            long piece = bytes / pieces;
            long[] sink = new long[pieces];
            double s = BenchKernels.median(() -> Parallel.range(pieces, 1, (p0, p1) -> {
                long a = 0, b = 0, c = 0, d = 0;
                for (long o = p0 * piece, e = p1 * piece; o < e; o += 32) {
                    a += src.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o);
                    b += src.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o + 8);
                    c += src.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o + 16);
                    d += src.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, o + 24);
                }
                sink[p0] = a + b + c + d;   // kept, so the loads are not dead
            }), 2, 7);
            long total = 0;
            for (long v : sink) total += v;   // each thread's chunk sum sits at its first piece (wrapping arithmetic)
            if (total != bytes / 8 * 0x0101010101010101L) throw new IllegalStateException("read bandwidth: the sum of the bytes read is wrong");
            return bytes / s / 1e9;
        }
    }

    private static byte[] randomTrits(int rows, int cols) {
        byte[] t = new byte[Math.multiplyExact(rows, cols)];
        Parallel.range(rows, 64, (r0, r1) -> {
            SplittableRandom rnd = new SplittableRandom(31L * r0 + 1);
            for (long i = (long) r0 * cols; i < (long) r1 * cols; i++) t[(int) i] = (byte) (rnd.nextInt(3) - 1);
        });
        return t;
    }

    private static double round(double v) { return Math.round(v * 1000) / 1000.0; }

    private record Log(boolean enabled) {
        void line(String what, String format, Object... args) {
            if (enabled) System.out.printf("%-44s %s%n", what, String.format(format, args));
        }
    }
}

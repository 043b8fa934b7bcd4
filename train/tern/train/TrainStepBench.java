package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tern.model.LlamaModel;
import tern.simd.CpuBackend;
import tern.simd.Parallel;
import tern.simd.Vectorization;

/**
 * Times the trainer's optimizer step (forward, backward, clipping, AdamW) for a preset on random tokens,
 * after a warm-up, and reports tokens/s and peak memory. What BENCHMARKS.md's "Training step" rows come from:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp target/tern.jar tern.train.TrainStepBench PRESET PRECISION[,PRECISION...] [STEPS [WARMUP [ROUNDS]]]
 * </pre>
 * With several precisions (e.g. {@code float,ternary}) the models train side by side in one process and the
 * timing alternates between them in ROUNDS blocks of STEPS steps, so that a change in the machine's load
 * (other processes on a 2-core box) falls on both alike; each precision's figure is the median block, and the
 * ratio to the first precision is printed. The preset's own vocabulary is used (the tiny preset's 512, the
 * 10M preset's 4096) and the preset's batch and sequence; one micro-batch per step.
 */
public final class TrainStepBench {
    private TrainStepBench() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: TrainStepBench PRESET float|ternary|binary[,...] [STEPS [WARMUP [ROUNDS]]]");
            System.exit(2);
        }
        String preset = args[0];
        List<String> precisions = List.of(args[1].split(","));
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 20;
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 10;
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : (precisions.size() > 1 ? 5 : 1);
        Path dir = Files.createTempDirectory("tern-bench");
        List<LlamaModel> models = new ArrayList<>();
        List<Trainer> trainers = new ArrayList<>();
        try {
            int vocab = tern.model.LlamaConfig.preset(preset).vocabSize();
            Path shard = dir.resolve("train-00000.tok");
            var rng = new SplitMix64(42);
            try (TokenShardWriter w = new TokenShardWriter(shard, vocab)) {
                for (int i = 0; i < 2_000_000; i++) w.accept((int) rng.nextLong(vocab));
            }
            try (TokenShard s = TokenShard.open(shard)) {
                TrainConfig first = null;
                for (String precision : precisions) {
                    TrainConfig c = TrainConfig.resolve(Map.of("preset", preset, "precision", precision,
                            "steps", (long) steps * rounds + warmup, "accum", 1));
                    LlamaModel model = new LlamaModel(new CpuBackend(), TrainRun.modelConfig(c, vocab));
                    models.add(model);
                    model.initialize(1);
                    trainers.add(new Trainer(c, model, new BatchSampler(List.of(s), c.batch(), c.seq(), 1), List.of()));
                    if (first == null) first = c;
                }
                for (Trainer t : trainers)
                    for (int i = 0; i < warmup; i++) t.trainStep();
                double[][] msPerStep = new double[precisions.size()][rounds];
                for (int r = 0; r < rounds; r++)
                    for (int p = 0; p < trainers.size(); p++) {
                        long t0 = System.nanoTime();
                        for (int i = 0; i < steps; i++) trainers.get(p).trainStep();
                        msPerStep[p][r] = (System.nanoTime() - t0) / 1e6 / steps;
                    }
                Runtime rt = Runtime.getRuntime();
                double base = median(msPerStep[0]);
                for (int p = 0; p < precisions.size(); p++) {
                    double ms = median(msPerStep[p]);
                    System.out.printf(Locale.ROOT, "%s %s: %.2fM params, %d×%d tokens/step, %.1f ms/step (median of %d blocks of %d steps: %s), %.0f tokens/s%s%n",
                            preset, precisions.get(p), models.get(p).config().parameterCount() / 1e6, first.batch(), first.seq(), ms,
                            rounds, steps, blocks(msPerStep[p]), first.tokensPerStep() / (ms / 1e3),
                            p == 0 ? "" : String.format(Locale.ROOT, ", %.2f× the %s step (median of the per-round ratios %.2f)",
                                    ms / base, precisions.get(0), median(ratios(msPerStep[p], msPerStep[0]))));
                }
                System.out.printf(Locale.ROOT, "peak RSS %s MB, heap used %.0f MB; %d threads, %s%n", peakRssMb(),
                        (rt.totalMemory() - rt.freeMemory()) / 1e6, Parallel.THREADS, Vectorization.describe());
            }
        } finally {
            for (Trainer t : trainers) t.optimizer().close();
            for (LlamaModel m : models) m.close();
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    /** The median (the mean of the middle two for an even count). */
    public static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Round r's block time over the baseline's block time in the same round. */
    private static double[] ratios(double[] ms, double[] baseMs) {
        double[] r = new double[ms.length];
        for (int i = 0; i < ms.length; i++) r[i] = ms[i] / baseMs[i];
        return r;
    }

    private static String blocks(double[] ms) {
        StringBuilder b = new StringBuilder();
        for (double m : ms) b.append(b.isEmpty() ? "" : " ").append(String.format(Locale.ROOT, "%.1f", m));
        return b.toString();
    }

    /** VmHWM of /proc/self/status (Linux): the resident-set high-water mark, heap and off-heap together. */
    static String peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status")))
                if (line.startsWith("VmHWM:")) return String.format(Locale.ROOT, "%.0f", Long.parseLong(line.replaceAll("\\D", "")) / 1024.0);
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return "?";
    }
}

package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tern.model.LlamaModel;
import tern.simd.CpuBackend;
import tern.simd.Parallel;
import tern.simd.Vectorization;

/**
 * Times the trainer's optimizer step (forward, backward, clipping, AdamW) for a preset and precision on
 * random tokens, after a warm-up, and reports tokens/s and peak memory. What BENCHMARKS.md's "Training
 * step" rows come from:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp target/classes tern.train.TrainStepBench PRESET PRECISION [STEPS [WARMUP]]
 * </pre>
 * The preset's own vocabulary is used (the tiny preset's 512, the 10M preset's 4096) and the preset's
 * batch and sequence; one micro-batch per step.
 */
public final class TrainStepBench {
    private TrainStepBench() {}

    public static void main(String[] args) throws IOException {
        if (args.length < 2) {
            System.err.println("usage: TrainStepBench PRESET float|ternary|binary [STEPS [WARMUP]]");
            System.exit(2);
        }
        String preset = args[0], precision = args[1];
        int steps = args.length > 2 ? Integer.parseInt(args[2]) : 20;
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 10;
        Path dir = Files.createTempDirectory("tern-bench");
        try {
            int vocab = tern.model.LlamaConfig.preset(preset).vocabSize();
            Path shard = dir.resolve("train-00000.tok");
            var rng = new SplitMix64(42);
            try (TokenShardWriter w = new TokenShardWriter(shard, vocab)) {
                for (int i = 0; i < 2_000_000; i++) w.accept((int) rng.nextLong(vocab));
            }
            TrainConfig c = TrainConfig.resolve(Map.of("preset", preset, "precision", precision, "steps", (long) steps + warmup, "accum", 1));
            try (TokenShard s = TokenShard.open(shard);
                 LlamaModel model = new LlamaModel(new CpuBackend(), TrainRun.modelConfig(c, vocab))) {
                model.initialize(1);
                Trainer t = new Trainer(c, model, new BatchSampler(List.of(s), c.batch(), c.seq(), 1), List.of());
                for (int i = 0; i < warmup; i++) t.trainStep();
                long t0 = System.nanoTime();
                for (int i = 0; i < steps; i++) t.trainStep();
                double seconds = (System.nanoTime() - t0) / 1e9;
                double perStep = seconds / steps;
                Runtime rt = Runtime.getRuntime();
                System.out.printf(Locale.ROOT, "%s %s: %.2fM params, %d×%d tokens/step, %.1f ms/step, %.0f tokens/s, peak RSS %s MB, heap used %.0f MB; %d threads, %s%n",
                        preset, precision, model.config().parameterCount() / 1e6, c.batch(), c.seq(), perStep * 1e3,
                        c.tokensPerStep() / perStep, peakRssMb(), (rt.totalMemory() - rt.freeMemory()) / 1e6,
                        Parallel.THREADS, Vectorization.describe());
                t.optimizer().close();
            }
        } finally {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
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

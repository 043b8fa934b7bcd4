package tern.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.train.BatchSampler;
import tern.train.PrecisionSwitch;
import tern.train.TokenShard;
import tern.train.TokenShardWriter;
import tern.train.TrainConfig;
import tern.train.TrainRun;
import tern.train.Trainer;

/**
 * The optimizer step of three plans at one shape on the GPU, paired: the plain TriLM, a k-bit run (int4
 * weights per output channel, 8-bit activations) and a switched run (float → ternary) after its switch and
 * phase-in. The three trainers live side by side and the timing alternates between them in ROUNDS blocks of
 * STEPS steps; each figure is the median block, each ratio against the TriLM's. Issue #12 asks ≤ 1.15×.
 * <pre>
 *   bash .gpu/run.sh -cp CP tern.cuda.PlanStepBench PRESET BATCH SEQ COMPUTE [STEPS [ROUNDS]]
 * </pre>
 */
public final class PlanStepBench {
    private PlanStepBench() {}

    public static void main(String[] args) throws IOException {
        String preset = args[0];
        int batch = Integer.parseInt(args[1]), seq = Integer.parseInt(args[2]);
        String compute = args[3];
        int steps = args.length > 4 ? Integer.parseInt(args[4]) : 3, rounds = args.length > 5 ? Integer.parseInt(args[5]) : 5;
        int warmup = 2;
        Path dir = Files.createTempDirectory("tern-plan-bench");
        Map<String, Map<String, Object>> plans = new LinkedHashMap<>();
        plans.put("ternary", Map.of("precision", "ternary"));
        plans.put("int4-row+act8", Map.of("weight_bits", 4, "act_bits", 8));
        plans.put("float→ternary (after)", Map.of("precision", "float", "switch_to", "ternary", "switch_at", 1, "phase_in", 1));
        try (tern.runtime.Backend cuda = open(compute)) {
            int vocab = LlamaConfig.preset(preset).vocabSize();
            Path shard = dir.resolve("train-00000.tok");
            Random rnd = new Random(42);
            try (TokenShardWriter w = new TokenShardWriter(shard, vocab)) {
                for (int i = 0; i < 4_000_000; i++) w.accept(rnd.nextInt(vocab));
            }
            List<String> names = new ArrayList<>(plans.keySet());
            List<Trainer> trainers = new ArrayList<>();
            List<LlamaModel> models = new ArrayList<>();
            try (TokenShard s = TokenShard.open(shard)) {
                for (String name : names) {
                    Map<String, Object> settings = new LinkedHashMap<>(plans.get(name));
                    settings.put("preset", preset);
                    settings.put("steps", (long) warmup + (long) steps * rounds + 2);
                    settings.put("accum", 1);
                    settings.put("batch", batch);
                    settings.put("seq", seq);
                    TrainConfig c = TrainConfig.resolve(settings);
                    PrecisionSwitch schedule = c.precisionSchedule();
                    LlamaModel model = new LlamaModel(cuda, TrainRun.modelConfig(c, vocab));
                    models.add(model);
                    model.initialize(1);
                    // past the switch and its phase-in: the precision every later step trains in
                    model.setPrecision(schedule.precisionAt(c.steps() - 1));
                    Trainer t = new Trainer(c, model, new BatchSampler(List.of(s), c.batch(), c.seq(), 1), List.of());
                    trainers.add(t);
                    t.run(warmup, null, null, null, null);
                }
                sync(cuda);
                double[][] ms = new double[names.size()][rounds];
                for (int r = 0; r < rounds; r++)
                    for (int i = 0; i < names.size(); i++) {
                        Trainer t = trainers.get(i);
                        long t0 = System.nanoTime();
                        t.run(t.step() + steps, null, null, null, null);
                        sync(cuda);
                        ms[i][r] = (System.nanoTime() - t0) / 1e6 / steps;
                    }
                double base = median(ms[0]);
                System.out.printf(Locale.ROOT, "step time, %s %d×%d, compute %s, %d rounds of %d steps (median; ratio to ternary) on %s%n",
                        preset, batch, seq, cuda.compute(), rounds, steps, cuda.name());
                for (int i = 0; i < names.size(); i++)
                    System.out.printf(Locale.ROOT, "  %-24s %8.2f ms  %.3f×   rounds %s%n", names.get(i), median(ms[i]), median(ms[i]) / base,
                            Arrays.toString(Arrays.stream(ms[i]).map(v -> Math.round(v * 100) / 100.0).toArray()));
            } finally {
                for (LlamaModel m : models) m.close();
                for (Trainer t : trainers) t.optimizer().close();
            }
        } finally {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** "cpu" (a smoke run here) or a CUDA compute type. */
    static tern.runtime.Backend open(String compute) {
        return compute.equals("cpu") ? new tern.simd.CpuBackend() : CudaBackend.forCompute(compute);
    }

    static void sync(tern.runtime.Backend b) {
        if (b instanceof CudaBackend c) c.synchronize();
    }
}

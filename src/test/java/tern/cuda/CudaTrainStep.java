package tern.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.train.BatchSampler;
import tern.train.TokenShard;
import tern.train.TokenShardWriter;
import tern.train.MemoryPlan;
import tern.train.TrainConfig;
import tern.train.TrainRun;
import tern.train.Trainer;

/**
 * The trainer's optimizer step (forward, backward, clipping, AdamW; the same code as on the CPU) on the
 * CUDA backend, for a preset and precision on random tokens, after a warm-up: the Java side of the
 * training-step comparison with PyTorch eager (tools/gpu/torch_train_step.py). A main for the GPU machine:
 * <pre>
 *   bash .gpu/run.sh -cp CP tern.cuda.CudaTrainStep OUT.csv PRESET PRECISION BATCH SEQ [STEPS [WARMUP [PROFILED]]]
 * </pre>
 * PROFILED more steps after the timed ones print the GPU time per kernel ({@link CudaBackend#profile}).
 * {@code -Dtern.bench.vocab=N} trains a vocabulary of N tokens instead of the preset's (issue #13's second shape:
 * 16×1024 tokens over 8,192); {@code -Dtern.cuda.trainGraph=true} replays the step as a CUDA graph (rows end "_graph").
 */
public final class CudaTrainStep {
    private CudaTrainStep() {}

    private static final double GIB = 1L << 30;

    /**
     * Benchmark weights without 4 billion Java Gaussians (minutes at 3.9B): one random block of N(0, 0.02²)
     * values is uploaded once and copied on the device over every matrix at rotating offsets; norm gains 1.
     * Not a training initialization (the values repeat), but random data, not zeros (METHOD.md).
     */
    static void tiledInitialize(CudaBackend cuda, LlamaModel model) {
        int block = 1 << 22;
        Random rnd = new Random(1);
        float[] values = new float[block];
        for (int i = 0; i < block; i++) values[i] = (float) (0.02 * rnd.nextGaussian());
        try (var source = cuda.upload(values, block)) {
            long offset = 0;
            for (var p : model.parameters()) {
                var flat = p.value.reshape((int) p.value.size());
                if (p.value.rank() == 1) cuda.fill(p.value, 1f);
                else for (long at = 0; at < p.value.size(); ) {
                    int start = (int) (offset % (block / 2));
                    int n = (int) Math.min(block - start, p.value.size() - at);
                    cuda.copy(source.slice(start, start + n), flat.slice((int) at, (int) (at + n)));
                    at += n;
                    offset += 7919;
                }
                p.zeroGrad(cuda);
            }
        }
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        String preset = args[1], precision = args[2];
        int batch = Integer.parseInt(args[3]), seq = Integer.parseInt(args[4]);
        int steps = args.length > 5 ? Integer.parseInt(args[5]) : 10;
        int warmup = args.length > 6 ? Integer.parseInt(args[6]) : 3;
        int profiled = args.length > 7 ? Integer.parseInt(args[7]) : 0;
        Path dir = Files.createTempDirectory("tern-cuda-train");
        try (CudaBackend cuda = new CudaBackend()) {
            int vocab = Integer.getInteger("tern.bench.vocab", LlamaConfig.preset(preset).vocabSize());
            Path shard = dir.resolve("train-00000.tok");
            Random rnd = new Random(42);
            try (TokenShardWriter w = new TokenShardWriter(shard, vocab)) {
                for (int i = 0; i < 4_000_000; i++) w.accept(rnd.nextInt(vocab));
            }
            Map<String, Object> settings = new HashMap<>();
            settings.put("preset", preset);
            settings.put("precision", precision);
            settings.put("steps", (long) steps + warmup + profiled);
            settings.put("accum", 1);
            settings.put("batch", batch);
            settings.put("seq", seq);
            settings.put("checkpoint_activations", System.getProperty("tern.bench.checkpoint", "auto"));
            TrainConfig c = TrainConfig.resolve(settings);
            MemoryPlan plan = MemoryPlan.training(TrainRun.modelConfig(c, vocab), c, cuda);
            System.out.println(plan.describe());
            try (TokenShard s = TokenShard.open(shard);
                 LlamaModel model = plan.allocate(cfg -> new LlamaModel(cuda, cfg))) {
                model.setCheckpointedBlocks(plan.checkpointedBlocks());
                long t00 = System.nanoTime();
                if (model.config().parameterCount() > 300_000_000L) tiledInitialize(cuda, model);
                else model.initialize(1);
                cuda.synchronize();
                System.out.printf(Locale.ROOT, "initialized %.2fM parameters in %.1f s%n", model.config().parameterCount() / 1e6, (System.nanoTime() - t00) / 1e9);
                Trainer t = new Trainer(c, model, new BatchSampler(List.of(s), c.batch(), c.seq(), 1), List.of());
                t.run(warmup, null, null, null, null);
                cuda.synchronize();
                cuda.resetMemoryPeaks();
                long t0 = System.nanoTime();
                t.run(warmup + steps, null, null, null, null);
                cuda.synchronize();
                double perStep = (System.nanoTime() - t0) / 1e9 / steps;
                long[] peaks = cuda.memoryPeaks(), dev = cuda.deviceMemory();
                String mode = cuda.compute().equals("f32") ? "fp32"           // "-f32act": 16-bit products, activations stored f32
                        : cuda.compute() + (cuda.activationType() == tern.runtime.DType.F32 ? "-f32act" : "");
                String line = String.format(Locale.ROOT, "train_ms_%s_%s_%s%s,%.3f,%d x %d tokens %.2fM params %.0f tokens/s"
                                + " peak %.2f GiB in tensors %.2f GiB held %.2f GiB device used%s on %s",
                        preset, precision, mode, (plan.checkpointActivations() ? "_ckpt" + plan.checkpointedBlocks() : "")
                                + (vocab != LlamaConfig.preset(preset).vocabSize() ? "_v" + vocab : "")
                                + (t.stepReplay() != null ? "_graph" : ""), perStep * 1e3, batch, seq,
                        model.config().parameterCount() / 1e6, c.tokensPerStep() / perStep,
                        peaks[0] / GIB, peaks[1] / GIB, (dev[1] - dev[0]) / GIB,
                        plan.checkpointActivations() ? " (" + plan.checkpointedBlocks() + " of " + model.config().layers() + " blocks checkpointed)" : "", cuda.name());
                System.out.println(line);
                if (t.stepReplay() != null) System.out.println(t.stepGraphReport());
                Files.writeString(out, line + "\n", java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
                if (profiled > 0) {           // after the timed steps: events around each launch cost host time
                    cuda.profile(true);
                    long p0 = System.nanoTime();
                    t.run(warmup + steps + profiled, null, null, null, null);
                    cuda.synchronize();
                    double wall = (System.nanoTime() - p0) / 1e6 / profiled;
                    cuda.profile(false);
                    System.out.printf(Locale.ROOT, "GPU time per kernel, %s, over %d steps of %.1f ms wall (events included):%n",
                            line.substring(0, line.indexOf(',')), profiled, wall);
                    System.out.print(cuda.profileReport(profiled));
                }
            }
        } finally {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }
}

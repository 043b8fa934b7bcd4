package tern.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import tern.checkpoint.AtomicFiles;
import tern.checkpoint.CheckpointWriter;
import tern.checkpoint.Safetensors;
import tern.model.BpeTrainer;
import tern.model.HfConfig;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.model.TokenizerFiles;
import tern.runtime.Parameter;
import tern.runtime.Tensor;
import tern.simd.CpuBackend;

/**
 * Checkpoint folders made in milliseconds, without training: a seeded tiny model's config.json,
 * model.safetensors and a byte-level tokenizer.json, as a bare model folder or as a run's checkpoint
 * (with manifest and {@code latest}), optionally edited on the way out (a NaN weight, a config key removed).
 */
public final class TinyCheckpoints {
    /** 300-token vocabulary, 2 layers of width 16: about 25k parameters. */
    public static final LlamaConfig SHAPE = new LlamaConfig(300, 16, 32, 2, 2, 32, 1e-5f, 10000f, 1, Precision.FLOAT);
    public static final String SAMPLE = "the cat sat on the mat. the dog sat on the log. a cat and a dog. ";

    private TinyCheckpoints() {}

    /** The files of a checkpoint of {@code config}: weights (editable before writing), config text, tokenizer. */
    public static Map<String, AtomicFiles.Content> files(LlamaConfig config, Consumer<Map<String, Tensor>> editWeights,
                                                         java.util.function.UnaryOperator<String> editConfig) throws IOException {
        Map<String, Tensor> weights = new LinkedHashMap<>();
        try (LlamaModel model = new LlamaModel(new CpuBackend(), config)) {
            model.initialize(7);
            for (Parameter p : model.parameters()) weights.put(p.name, Tensor.of(p.value.toFloatArray(), p.value.shape()));
        }
        editWeights.accept(weights);
        Path tok = Files.createTempFile("tern-tok", ".json");
        try {
            TokenizerFiles.save(BpeTrainer.train(SAMPLE.repeat(20), 270), tok);
            Map<String, AtomicFiles.Content> files = new LinkedHashMap<>();
            files.put("model.safetensors", Safetensors.content(weights, Map.of("format", "pt"), tern.runtime.DType.F32));
            files.put("config.json", AtomicFiles.utf8(editConfig.apply(HfConfig.write(config))));
            files.put("tokenizer.json", AtomicFiles.utf8(Files.readString(tok)));
            return files;
        } finally {
            Files.deleteIfExists(tok);
        }
    }

    /** A bare model folder (what transformers or tern export writes): no manifest, no training state. */
    public static Path modelFolder(Path dir, LlamaConfig config, Consumer<Map<String, Tensor>> editWeights,
                                   java.util.function.UnaryOperator<String> editConfig) throws IOException {
        Files.createDirectories(dir);
        for (Map.Entry<String, AtomicFiles.Content> e : files(config, editWeights, editConfig).entrySet())
            AtomicFiles.writeFile(dir.resolve(e.getKey()), e.getValue());
        return dir;
    }

    public static Path modelFolder(Path dir) throws IOException { return modelFolder(dir, SHAPE, w -> {}, c -> c); }

    /** {@code run/checkpoints/step-000002}, complete (manifest, latest), as a trainer leaves it; returns the checkpoint. */
    public static Path checkpoint(Path run, LlamaConfig config, Consumer<Map<String, Tensor>> editWeights,
                                  java.util.function.UnaryOperator<String> editConfig) throws IOException {
        Map<String, AtomicFiles.Content> files = files(config, editWeights, editConfig);
        return new CheckpointWriter(run.resolve("checkpoints")).write("step-000002", files);
    }

    public static Path checkpoint(Path run) throws IOException { return checkpoint(run, SHAPE, w -> {}, c -> c); }

    /** Sets element {@code index} of tensor {@code name} to {@code value} (NaN, an infinity). */
    public static Consumer<Map<String, Tensor>> poke(String name, long index, float value) {
        return w -> w.get(name).segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, index, value);
    }
}

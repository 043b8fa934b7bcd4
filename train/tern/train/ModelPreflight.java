package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import tern.checkpoint.CheckpointManifest;
import tern.checkpoint.Json;
import tern.checkpoint.SafetensorsFile;
import tern.checkpoint.SafetensorsHeader;
import tern.checkpoint.TrainingState;
import tern.checkpoint.Utf8;
import tern.model.HfConfig;
import tern.model.LlamaConfig;
import tern.runtime.Device;

/**
 * What can be known about a model folder (config.json + model.safetensors) before its model is allocated, so a
 * wrong or damaged config fails in milliseconds with a message naming the key, instead of an
 * {@code OutOfMemoryError} or a shape error after gigabytes were zeroed:
 * <ol>
 *   <li>config.json parses ({@link HfConfig#read}) and states its precision when it must (below);</li>
 *   <li>its shape keys agree with the tensors' shapes in model.safetensors' header (read alone: the mapping is
 *       lazy, no tensor byte is touched): vocab_size and hidden_size against the embedding and LM head,
 *       num_hidden_layers against the layers present, intermediate_size against the MLP, then the parameter
 *       count against the header's element count;</li>
 *   <li>the parameters in f32 (plus one tensor's conversion from f16/bf16) fit in the physical memory
 *       available, when the model lives on the host ({@link MemoryPlan#available}).</li>
 * </ol>
 *
 * <p>Precision: a Tern checkpoint holds float latent weights and only {@code tern_precision} says they are to
 * be quantized (ternary, binary, int k) as they were in training. When config.json lacks it but the folder is
 * Tern's (a manifest.json or training_state.json beside it, or other {@code tern_*} keys in the config), the
 * key was lost and loading as float would compute another function: that is an error saying what to add
 * (from training_state.json when it records the precision). A folder with none of Tern's marks is a
 * transformers checkpoint and loads as float, as transformers runs it. An unknown precision is an error
 * ({@link HfConfig#read}). The precision is not guessed from the weights: latent weights look like any
 * float weights, and weights already holding ±γ/0 compute the same function in float.
 */
public final class ModelPreflight {
    /** The key that carries the block precision in a Tern config.json. */
    static final String PRECISION_KEY = "tern_precision";

    private ModelPreflight() {}

    /**
     * The checked config of the model folder {@code ckpt}, for a model on {@code device}; throws
     * {@link IOException} or {@link IllegalArgumentException} naming the file and the key otherwise.
     */
    public static LlamaConfig check(Path ckpt, Device device) throws IOException {
        Path configFile = ckpt.resolve(TrainCheckpoint.CONFIG);
        Path weights = ckpt.resolve(TrainCheckpoint.MODEL);
        if (!Files.isRegularFile(configFile))
            throw new IOException(configFile + ": missing (a checkpoint holds config.json beside model.safetensors)");
        String text;
        try {
            text = Utf8.read(configFile);
        } catch (Utf8.MalformedText e) {                       // Files.readString said only "Input length = 1"
            throw new IllegalArgumentException(configFile + ": " + e.problem(), e);
        }
        LlamaConfig config = HfConfig.read(text, configFile.toString());
        checkPrecisionStated(ckpt, configFile, Json.parseObject(text));
        SafetensorsHeader header;
        try (SafetensorsFile f = SafetensorsFile.open(weights, false)) {     // checksums come with the load
            header = f.header();
        }
        checkShapes(configFile, weights, config, header);
        if (device == Device.CPU) checkMemory(ckpt, config, header);
        return config;
    }

    // ---- precision -----------------------------------------------------------------------------------------

    private static void checkPrecisionStated(Path ckpt, Path configFile, Map<String, Object> config) {
        if (config.containsKey(PRECISION_KEY)) return;
        String why;
        if (Files.exists(ckpt.resolve(CheckpointManifest.FILE)) || Files.exists(ckpt.resolve(TrainingState.FILE)))
            why = "the folder is a Tern training checkpoint";
        else {
            List<String> tern = config.keySet().stream().filter(k -> k.startsWith("tern_")).toList();
            if (tern.isEmpty()) return;                        // a transformers checkpoint: float, as transformers runs it
            why = "it holds Tern's " + String.join(", ", tern);
        }
        String recorded = recordedPrecision(ckpt);
        throw new IllegalArgumentException(configFile + ": no '" + PRECISION_KEY + "' key, but " + why
                + ", whose model.safetensors holds float latent weights: without the key they would load as a float model and compute "
                + "something else. Add \"" + PRECISION_KEY + "\": \"" + (recorded == null ? "float|ternary|binary|int<k>" : recorded) + "\""
                + (recorded == null ? " as it was trained" : " (what " + TrainingState.FILE + " records)"));
    }

    /** The precision training_state.json records for this checkpoint's run, or null. */
    private static String recordedPrecision(Path ckpt) {
        try {
            if (!Files.isRegularFile(ckpt.resolve(TrainingState.FILE))) return null;
            TrainCheckpoint.State state = TrainCheckpoint.readState(ckpt);     // a switch run's policy at the saved step
            return state.config().precisionSchedule().precisionAt(Math.max(0, state.step() - 1)).weights().label();
        } catch (IOException | RuntimeException unreadable) {
            return null;
        }
    }

    // ---- shapes ---------------------------------------------------------------------------------------------

    private static void checkShapes(Path configFile, Path weights, LlamaConfig c, SafetensorsHeader header) {
        Map<String, SafetensorsHeader.Entry> t = header.entries();
        List<String> problems = new ArrayList<>();
        SafetensorsHeader.Entry embed = t.get("model.embed_tokens.weight"), head = t.get("lm_head.weight");
        SafetensorsHeader.Entry gate = t.get("model.layers.0.mlp.gate_proj.weight");
        java.util.Set<String> said = new java.util.HashSet<>();   // a key the embedding and the head both contradict: once
        for (SafetensorsHeader.Entry e : new SafetensorsHeader.Entry[]{embed, head}) {
            if (e == null || e.shape().length != 2) continue;
            if (e.shape()[0] != c.vocabSize() && said.add("vocab_size")) problems.add("vocab_size " + c.vocabSize() + ", but " + describe(e));
            if (e.shape()[1] != c.hidden() && said.add("hidden_size")) problems.add("hidden_size " + c.hidden() + ", but " + describe(e));
        }
        if (gate != null && gate.shape().length == 2 && gate.shape()[0] != c.intermediate())
            problems.add("intermediate_size " + c.intermediate() + ", but " + describe(gate));
        TreeSet<Integer> layers = new TreeSet<>();
        for (String name : t.keySet()) {
            if (!name.startsWith("model.layers.")) continue;
            int end = name.indexOf('.', "model.layers.".length());
            try {
                layers.add(Integer.parseInt(name.substring("model.layers.".length(), end < 0 ? name.length() : end)));
            } catch (NumberFormatException notALayer) {
                // reported by the load as a tensor matching no parameter
            }
        }
        if (!layers.isEmpty() && layers.size() != c.layers())
            problems.add("num_hidden_layers " + c.layers() + ", but the file holds " + layers.size() + " layers ("
                    + "model.layers." + layers.first() + " to model.layers." + layers.last() + ")");
        if (problems.isEmpty()) {
            long elements = 0;
            for (SafetensorsHeader.Entry e : t.values()) elements += e.elements();
            if (elements != c.parameterCount())
                problems.add(String.format(Locale.ROOT, "%,d parameters by its shape keys, but the file's %d tensors hold %,d values",
                        c.parameterCount(), t.size(), elements));
        }
        if (!problems.isEmpty())
            throw new IllegalArgumentException(configFile + ": " + String.join("; ", problems) + " (in " + weights
                    + "): the config does not describe these weights");
    }

    private static String describe(SafetensorsHeader.Entry e) { return e.name() + " is " + Arrays.toString(e.shape()); }

    // ---- memory ---------------------------------------------------------------------------------------------

    private static void checkMemory(Path ckpt, LlamaConfig c, SafetensorsHeader header) {
        long largestConverted = 0;
        for (SafetensorsHeader.Entry e : header.entries().values())
            if (e.dtype().bytes != 4) largestConverted = Math.max(largestConverted, e.elements() * 4);
        long needed = c.parameterCount() * 4 + largestConverted;
        long available = MemoryPlan.available();
        if (available >= 0 && needed > available)
            throw new MemoryPlan.InsufficientMemory(String.format(Locale.ROOT,
                    "not enough memory to load %s: its %,d parameters need about %s in f32%s, %s available",
                    ckpt, c.parameterCount(), size(needed), largestConverted > 0 ? " (with one tensor's conversion from 16 bits)" : "",
                    size(available)));
    }

    static String size(long bytes) {
        if (bytes >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        if (bytes >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
    }
}

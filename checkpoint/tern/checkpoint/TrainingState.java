package tern.checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@code --resume} needs besides the model weights and the optimizer's moments
 * ({@link OptimizerState}): counters, the random generators' states, the data sampler's cursor and the
 * training configuration. The three maps are opaque to this package (their owners define them); they must
 * be JSON-able: maps, lists, strings, booleans, numbers (longs are kept exact). Stored as
 * {@code training_state.json} in a checkpoint directory.
 *
 * @param step          training steps completed
 * @param tokensSeen    training tokens consumed
 * @param optimizerStep AdamW's own step counter (differs from step after an optimizer reset)
 * @param seconds       training wall time so far
 * @param rng           random generator states by name
 * @param dataCursor    the sampler's position
 * @param config        the training configuration
 */
public record TrainingState(long step, long tokensSeen, long optimizerStep, double seconds,
                            Map<String, Object> rng, Map<String, Object> dataCursor, Map<String, Object> config) {
    public static final String FILE = "training_state.json";
    static final String FORMAT = "tern-training-state/1";

    public TrainingState {
        if (step < 0 || tokensSeen < 0 || optimizerStep < 0 || !(seconds >= 0))
            throw new IllegalArgumentException("counters must be non-negative: step " + step + ", tokens " + tokensSeen
                    + ", optimizer step " + optimizerStep + ", seconds " + seconds);
        rng = copy(rng);
        dataCursor = copy(dataCursor);
        config = copy(config);
        Json.write(rng);          // fail now, not at save time, on something JSON cannot hold
        Json.write(dataCursor);
        Json.write(config);
    }

    public String toJson() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("format", FORMAT);
        root.put("step", step);
        root.put("tokens_seen", tokensSeen);
        root.put("optimizer_step", optimizerStep);
        root.put("seconds", seconds);
        root.put("rng", rng);
        root.put("data_cursor", dataCursor);
        root.put("config", config);
        return Json.pretty(root);
    }

    /** This state as a checkpoint file's content. */
    public AtomicFiles.Content content() { return AtomicFiles.utf8(toJson()); }

    /** Reads {@code training_state.json} from a checkpoint directory (or the file itself). */
    public static TrainingState read(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve(FILE) : path;
        try {
            return parse(Files.readString(file), file);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, "missing");
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read", e);
        }
    }

    /** Parses the JSON of a training state; {@code file} names it in errors. */
    public static TrainingState parse(String json, Path file) {
        Map<String, Object> m;
        try {
            m = Json.parseObject(json);
        } catch (Json.JsonException e) {
            throw new CheckpointException(file, "not valid JSON: " + e.getMessage());
        }
        if (!FORMAT.equals(m.get("format")))
            throw new CheckpointException(file, "format is " + m.get("format") + ", expected " + FORMAT);
        return new TrainingState(count(m, "step", file), count(m, "tokens_seen", file), count(m, "optimizer_step", file),
                seconds(m, file), object(m, "rng", file), object(m, "data_cursor", file), object(m, "config", file));
    }

    private static long count(Map<String, Object> m, String field, Path file) {
        if (!(m.get(field) instanceof Long v) || v < 0)
            throw new CheckpointException(file, "field " + field + " must be a non-negative integer, not " + m.get(field));
        return v;
    }

    private static double seconds(Map<String, Object> m, Path file) {
        if (!(m.get("seconds") instanceof Number v) || !(v.doubleValue() >= 0))
            throw new CheckpointException(file, "field seconds must be a non-negative number, not " + m.get("seconds"));
        return v.doubleValue();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Map<String, Object> m, String field, Path file) {
        if (!(m.get(field) instanceof Map<?, ?> v))
            throw new CheckpointException(file, "field " + field + " must be an object, not " + m.get(field));
        return (Map<String, Object>) v;
    }

    private static Map<String, Object> copy(Map<String, Object> m) {
        return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(m));
    }
}

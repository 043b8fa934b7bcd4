package tern.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import tern.checkpoint.Json;
import tern.model.HfConfig;
import tern.model.LlamaModel;
import tern.runtime.AdamW;
import tern.runtime.Backend;
import tern.runtime.Parameter;
import tern.runtime.Tensor;

/**
 * A training checkpoint: {@code OUT/checkpoints/step-NNNNNN/} holding
 * <ul>
 *   <li>{@code model.safetensors}: every parameter in f32 under its Hugging Face Llama name, and
 *       {@code config.json}: together they load in transformers' LlamaForCausalLM;</li>
 *   <li>{@code tokenizer.json}, copied from the data folder;</li>
 *   <li>{@code optimizer.safetensors}: AdamW's moments, {@code NAME.exp_avg} and {@code NAME.exp_avg_sq};</li>
 *   <li>{@code training_state.json}: step, optimizer step, training seconds, the sampler's cursor (its RNG
 *       state), and the full train config.</li>
 * </ul>
 * Crash safety: the folder is written as {@code step-NNNNNN.tmp}, every file fsynced, then renamed, then the
 * {@code latest} marker is replaced atomically; a folder without its marker entry or with a {@code .tmp}
 * suffix is never read. The oldest complete checkpoints beyond config.keep() are deleted after a save.
 *
 * <p>Weights and moments are stored in f32, the training precision, so resuming is exact. (Glue until the
 * checkpoint package's own safetensors and training-state classes land: this class keeps to the format
 * that they use, so the switch changes no file.)
 */
public final class TrainCheckpoint {
    public static final String FOLDER = "checkpoints";
    public static final String LATEST = "latest";
    public static final String MODEL = "model.safetensors";
    public static final String CONFIG = "config.json";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "training_state.json";
    private static final String FORMAT = "tern-training-state/1";

    private TrainCheckpoint() {}

    /** What training_state.json holds. */
    public record State(long step, long optimizerStep, double seconds, Map<String, Object> cursor, TrainConfig config) {}

    // ---- writing -------------------------------------------------------------------------------------------

    /** Saves the trainer's state into {@code checkpoints/step-NNNNNN} atomically; returns that folder. */
    public static Path save(Trainer trainer, Path checkpoints, Path tokenizerJson) throws IOException {
        Files.createDirectories(checkpoints);
        String name = String.format("step-%06d", trainer.step());
        Path dir = checkpoints.resolve(name);
        Path tmp = checkpoints.resolve(name + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        Backend backend = trainer.model().backend();
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (Parameter p : trainer.model().parameters()) weights.put(p.name, p.value);
        writeSafetensors(tmp.resolve(MODEL), weights, backend, Map.of("format", "pt", "tern_step", Long.toString(trainer.step())));
        writeText(tmp.resolve(CONFIG), HfConfig.write(trainer.model().config()));
        if (tokenizerJson != null) writeBytes(tmp.resolve(TOKENIZER), Files.readAllBytes(tokenizerJson));
        AdamW opt = trainer.optimizer();
        Map<String, Tensor> moments = new LinkedHashMap<>();
        for (Parameter p : opt.parameters()) {
            moments.put(p.name + ".exp_avg", opt.firstMoment(p));
            moments.put(p.name + ".exp_avg_sq", opt.secondMoment(p));
        }
        writeSafetensors(tmp.resolve(OPTIMIZER), moments, backend, Map.of("tern_optimizer_step", Long.toString(opt.step())));
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("format", FORMAT);
        state.put("step", trainer.step());
        state.put("optimizer_step", opt.step());
        state.put("seconds", trainer.seconds());
        state.put("data_cursor", trainer.sampler().cursor());
        state.put("config", trainer.config().toMap());
        writeText(tmp.resolve(STATE), Json.pretty(state));
        fsyncDirectory(tmp);
        deleteTree(dir);                                   // a re-save of the same step replaces it
        move(tmp, dir);
        Path marker = checkpoints.resolve(LATEST);
        Path markerTmp = checkpoints.resolve(LATEST + ".tmp");
        writeText(markerTmp, name + "\n");
        move(markerTmp, marker);
        fsyncDirectory(checkpoints);
        prune(checkpoints, trainer.config().keep(), name);
        return dir;
    }

    /** Deletes the oldest complete checkpoints so that {@code keep} remain (0 keeps all); never {@code current}. */
    static void prune(Path checkpoints, int keep, String current) throws IOException {
        if (keep <= 0) return;
        List<Path> all = complete(checkpoints);
        for (int i = 0; i < all.size() - keep; i++)
            if (!all.get(i).getFileName().toString().equals(current)) deleteTree(all.get(i));
    }

    /** Complete checkpoint folders (step-NNNNNN, no .tmp), oldest first. */
    static List<Path> complete(Path checkpoints) throws IOException {
        if (!Files.isDirectory(checkpoints)) return List.of();
        try (Stream<Path> s = Files.list(checkpoints)) {
            return s.filter(p -> p.getFileName().toString().matches("step-\\d{6,}") && Files.isRegularFile(p.resolve(STATE)))
                    .sorted(Comparator.comparing(p -> Long.parseLong(p.getFileName().toString().substring(5))))
                    .toList();
        }
    }

    // ---- finding and reading -------------------------------------------------------------------------------

    /**
     * The checkpoint folder to resume from: {@code dir} itself when it is one, else the one its
     * {@code latest} marker names (in {@code dir} or {@code dir/checkpoints}), else the newest complete one.
     */
    public static Path find(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(STATE))) return dir;
        Path checkpoints = Files.isDirectory(dir.resolve(FOLDER)) ? dir.resolve(FOLDER) : dir;
        Path marker = checkpoints.resolve(LATEST);
        if (Files.isRegularFile(marker)) {
            Path named = checkpoints.resolve(Files.readString(marker).strip());
            if (Files.isRegularFile(named.resolve(STATE))) return named;
        }
        List<Path> all = complete(checkpoints);
        if (all.isEmpty()) throw new IOException("no complete checkpoint in " + dir + " (looked for " + checkpoints.resolve("step-NNNNNN/" + STATE) + ")");
        return all.getLast();
    }

    @SuppressWarnings("unchecked")
    public static State readState(Path ckpt) throws IOException {
        Path file = ckpt.resolve(STATE);
        Map<String, Object> m;
        try {
            m = Json.parseObject(Files.readString(file));
        } catch (Json.JsonException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
        if (!FORMAT.equals(m.get("format"))) throw new IOException(file + ": not a Tern training state (format " + m.get("format") + ", expected " + FORMAT + ")");
        if (!(m.get("step") instanceof Number step) || !(m.get("optimizer_step") instanceof Number optStep)
                || !(m.get("seconds") instanceof Number seconds) || !(m.get("data_cursor") instanceof Map<?, ?> cursor)
                || !(m.get("config") instanceof Map<?, ?> config))
            throw new IOException(file + ": needs step, optimizer_step, seconds, data_cursor and config");
        TrainConfig c;
        try {
            c = TrainConfig.fromMap((Map<String, ?>) config);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
        return new State(step.longValue(), optStep.longValue(), seconds.doubleValue(), (Map<String, Object>) cursor, c);
    }

    /** Loads weights, moments, the sampler's cursor and the counters of {@code ckpt} into a fresh trainer. */
    public static void restore(Path ckpt, State state, Trainer trainer) throws IOException {
        Backend backend = trainer.model().backend();
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (Parameter p : trainer.model().parameters()) weights.put(p.name, p.value);
        readSafetensors(ckpt.resolve(MODEL), weights, backend);
        AdamW opt = trainer.optimizer();
        Map<String, Tensor> moments = new LinkedHashMap<>();
        for (Parameter p : opt.parameters()) {
            moments.put(p.name + ".exp_avg", opt.firstMoment(p));
            moments.put(p.name + ".exp_avg_sq", opt.secondMoment(p));
        }
        readSafetensors(ckpt.resolve(OPTIMIZER), moments, backend);
        opt.setStep(state.optimizerStep());
        trainer.sampler().restore(state.cursor());
        trainer.restoreCounters(state.step(), state.seconds());
    }

    /** Loads only the weights of a checkpoint into a model's parameters (generation, evaluation). */
    public static void loadWeights(Path ckpt, List<Parameter> parameters, Backend backend) throws IOException {
        Map<String, Tensor> weights = new LinkedHashMap<>();
        for (Parameter p : parameters) weights.put(p.name, p.value);
        readSafetensors(ckpt.resolve(MODEL), weights, backend);
    }

    /**
     * The model of a checkpoint (config.json + model.safetensors) found from {@code dir}: a checkpoint
     * folder, or a run / checkpoints folder (its latest checkpoint).
     */
    public static LlamaModel loadModel(Path dir, Backend backend) throws IOException {
        Path ckpt = Files.isRegularFile(dir.resolve(MODEL)) ? dir : find(dir);
        Path config = ckpt.resolve(CONFIG);
        if (!Files.isRegularFile(config)) throw new IOException(config + ": missing (a checkpoint holds config.json beside model.safetensors)");
        LlamaModel model = new LlamaModel(backend, HfConfig.read(Files.readString(config), config.toString()));
        try {
            loadWeights(ckpt, model.parameters(), backend);
            return model;
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The folder {@link #loadModel} reads from {@code dir}. */
    public static Path modelFolder(Path dir) throws IOException {
        return Files.isRegularFile(dir.resolve(MODEL)) ? dir : find(dir);
    }

    // ---- safetensors, f32 only (what training writes) ---------------------------------------------------

    private static void writeSafetensors(Path file, Map<String, Tensor> tensors, Backend backend, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("__metadata__", new LinkedHashMap<>(metadata));
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            long bytes = e.getValue().size() * 4L;
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", "F32");
            List<Object> shape = new ArrayList<>();
            for (int d : e.getValue().shape()) shape.add((long) d);
            info.put("shape", shape);
            info.put("data_offsets", List.of(offset, offset + bytes));
            header.put(e.getKey(), info);
            offset += bytes;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;                 // data starts 8-byte aligned
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            writeFully(ch, head);
            for (Tensor t : tensors.values()) {
                float[] values = backend.download(t);
                ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                buf.asFloatBuffer().put(values);
                writeFully(ch, buf);
            }
            ch.force(true);
        }
    }

    @SuppressWarnings("unchecked")
    private static void readSafetensors(Path file, Map<String, Tensor> into, Backend backend) throws IOException {
        if (!Files.isRegularFile(file)) throw new IOException(file + ": missing from the checkpoint");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new IOException(file + ": too short for a safetensors header (" + size + " bytes)");
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0);
            long headerLen = len.flip().getLong();
            if (headerLen <= 0 || headerLen > Math.min(size - 8, 100L << 20))
                throw new IOException(file + ": header length " + headerLen + " does not fit the file of " + size + " bytes");
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8);
            Map<String, Object> header;
            try {
                header = Json.parseObject(new String(hb.array(), StandardCharsets.UTF_8));
            } catch (Json.JsonException e) {
                throw new IOException(file + ": bad header: " + e.getMessage(), e);
            }
            long dataStart = 8 + headerLen, dataBytes = size - dataStart;
            for (Map.Entry<String, Tensor> e : into.entrySet()) {
                String name = e.getKey();
                Tensor t = e.getValue();
                if (!(header.get(name) instanceof Map<?, ?> info)) throw new IOException(file + ": no tensor '" + name + "'");
                if (!"F32".equals(info.get("dtype"))) throw new IOException(file + ": tensor '" + name + "' is " + info.get("dtype") + ", expected F32");
                List<Object> shape = (List<Object>) info.get("shape");
                int[] want = t.shape();
                boolean same = shape != null && shape.size() == want.length;
                for (int i = 0; same && i < want.length; i++) same = shape.get(i) instanceof Number n && n.longValue() == want[i];
                if (!same) throw new IOException(file + ": tensor '" + name + "' has shape " + shape + ", the model needs " + java.util.Arrays.toString(want));
                List<Object> off = (List<Object>) info.get("data_offsets");
                if (off == null || off.size() != 2 || !(off.get(0) instanceof Number b) || !(off.get(1) instanceof Number en))
                    throw new IOException(file + ": tensor '" + name + "' lacks data_offsets");
                long begin = b.longValue(), end = en.longValue();
                if (begin < 0 || end - begin != t.size() * 4L || end > dataBytes)
                    throw new IOException(file + ": tensor '" + name + "' data_offsets [" + begin + ", " + end + ") do not fit " + t.size() + " floats in " + dataBytes + " data bytes");
                ByteBuffer buf = ByteBuffer.allocate((int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
                readFully(ch, buf, dataStart + begin);
                float[] values = new float[(int) t.size()];
                buf.flip().asFloatBuffer().get(values);
                try (Tensor host = backend.upload(values, want)) {
                    backend.copy(host, t);
                }
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) throw new IOException("unexpected end of file at byte " + pos);
            pos += n;
        }
    }

    // ---- files ---------------------------------------------------------------------------------------------

    private static void writeText(Path file, String text) throws IOException {
        writeBytes(file, text.getBytes(StandardCharsets.UTF_8));
    }

    private static void writeBytes(Path file, byte[] bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            writeFully(ch, ByteBuffer.wrap(bytes));
            ch.force(true);
        }
    }

    private static void fsyncDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // some file systems cannot open a directory for syncing; the files themselves were synced
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }
}

package tern.train;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tern.checkpoint.AtomicFiles;
import tern.checkpoint.CheckpointException;
import tern.checkpoint.CheckpointManifest;
import tern.checkpoint.CheckpointWriter;
import tern.checkpoint.HostCopies;
import tern.checkpoint.OptimizerState;
import tern.checkpoint.Safetensors;
import tern.checkpoint.SafetensorsFile;
import tern.checkpoint.TrainingState;
import tern.model.HfConfig;
import tern.model.LlamaModel;
import tern.model.TensorParallel;
import tern.runtime.Backend;
import tern.runtime.DType;
import tern.runtime.Device;
import tern.runtime.FullMoments;
import tern.runtime.Parameter;
import tern.runtime.ParameterLayout;
import tern.runtime.Tensor;

/**
 * A training checkpoint: {@code OUT/checkpoints/step-NNNNNN/} holding
 * <ul>
 *   <li>{@code model.safetensors}: every parameter in f32 under its Hugging Face Llama name, and
 *       {@code config.json}: together they load in transformers' LlamaForCausalLM;</li>
 *   <li>{@code tokenizer.json}, copied from the data folder;</li>
 *   <li>{@code optimizer.safetensors}: AdamW's moments and step ({@link OptimizerState});</li>
 *   <li>{@code training_state.json} ({@link TrainingState}): step, tokens, training seconds, the
 *       sampler's cursor (which holds its RNG state), the model's initialization seed, and the full
 *       train config;</li>
 *   <li>{@code manifest.json}: sizes and CRC32s of the above.</li>
 * </ul>
 * For a TriLM or BiLM, model.safetensors holds the float latent weights (what training and an exact resume
 * need; config.json's {@code tern_precision} tells Tern to quantize them again as it trained). Transformers
 * ignores that key and would run those latent weights as a FloatLM: to serve a TriLM there, the weights
 * must first be replaced by their quantized values γ·T (Spectra's "Unpacked" form). Checked on the GPU
 * machine for a float demo checkpoint: {@code LlamaForCausalLM.from_pretrained} loads the folder and its
 * logits match Tern's within 6e-7, and the tokenizer.json encodes to the same ids.
 *
 * <p>The checkpoint package writes the folder crash-safely ({@link CheckpointWriter}: a {@code .tmp} folder,
 * fsync, rename, then the {@code latest} marker) and keeps the newest config.keep() of them. Weights and
 * moments stay f32, the training precision, so resuming is exact.
 */
public final class TrainCheckpoint {
    public static final String FOLDER = "checkpoints";
    public static final String MODEL = "model.safetensors";
    public static final String CONFIG = "config.json";
    public static final String TOKENIZER = "tokenizer.json";
    public static final String OPTIMIZER = OptimizerState.FILE;
    public static final String STATE = TrainingState.FILE;

    private TrainCheckpoint() {}

    /** What training_state.json holds, with the train config parsed. */
    public record State(TrainingState raw, TrainConfig config) {
        public long step() { return raw.step(); }
    }

    // ---- writing -------------------------------------------------------------------------------------------

    /**
     * Saves the trainer's state as {@code checkpoints/step-NNNNNN}; returns that folder. Under tensor
     * parallelism the weights and moments are those of the whole model, gathered from the slices (the other
     * ranks of this rank's tensor group call {@link #joinSave} at the same point), so the checkpoint is the
     * one a single process would write and resumes at any degree.
     */
    public static Path save(Trainer trainer, Path checkpoints, Path tokenizerJson) throws IOException {
        Backend backend = trainer.model().backend();
        try (HostCopies copies = new HostCopies(backend);                 // a GPU run's host copies, freed once written
             FullMoments local = trainer.optimizer().fullMoments();       // a sharded optimizer gathers them here
             Whole whole = Whole.of(trainer, local, copies)) {
            Map<String, AtomicFiles.Content> files = new LinkedHashMap<>();
            files.put(MODEL, Safetensors.content(whole.weights, Map.of("format", "pt", "tern_step", Long.toString(trainer.step())), DType.F32));
            files.put(CONFIG, AtomicFiles.utf8(HfConfig.write(trainer.model().config())));
            if (tokenizerJson != null) files.put(TOKENIZER, AtomicFiles.utf8(Files.readString(tokenizerJson)));
            files.put(OPTIMIZER, OptimizerState.content(trainer.optimizer(), whole.moments, copies));
            TrainConfig c = trainer.config();
            Map<String, Object> rng = new LinkedHashMap<>();
            rng.put("model_init_seed", c.seed());                  // the sampler's generator state is in data_cursor
            TrainingState state = new TrainingState(trainer.step(), trainer.step() * c.tokensPerStep(), trainer.optimizer().step(),
                    trainer.seconds(), rng, trainer.sampler().cursor(), c.toMap());
            files.put(STATE, state.content());
            CheckpointWriter writer = new CheckpointWriter(checkpoints);
            Path dir = writer.write(String.format("step-%06d", trainer.step()), files);
            if (c.keep() > 0) writer.keepNewest(c.keep());
            return dir;
        }
    }

    /**
     * A follower rank's part of a checkpoint rank 0 writes: it writes nothing, but a sharded optimizer's
     * moments are gathered from every rank of its data group, and the ranks of rank 0's tensor group
     * gather the whole weights and moments with it.
     */
    public static void joinSave(Trainer trainer) {
        Backend backend = trainer.model().backend();
        try (HostCopies copies = new HostCopies(backend);
             FullMoments local = trainer.optimizer().fullMoments()) {
            RankGrid grid = trainer.rankGrid();
            if (trainer.model().tensorParallel().ranks() > 1 && (grid == null || grid.dataRank() == 0))
                Whole.of(trainer, local, copies).close();
        }
    }

    /**
     * The whole model's weights and moments as host tensors: this rank's own (as host copies) without
     * tensor parallelism, else gathered over the tensor group parameter by parameter (weight, first
     * moment, second moment), in the same order on every rank of it.
     */
    private record Whole(Map<String, Tensor> weights, FullMoments moments, boolean owned) implements AutoCloseable {
        static Whole of(Trainer trainer, FullMoments local, HostCopies copies) {
            LlamaModel model = trainer.model();
            TensorParallel tp = model.tensorParallel();
            Map<String, Tensor> weights = new LinkedHashMap<>();
            if (tp.ranks() == 1) {
                for (Parameter p : model.parameters()) weights.put(p.name, copies.of(p.value));
                return new Whole(weights, local, false);
            }
            Backend b = model.backend();
            Map<Parameter, Tensor[]> moments = new LinkedHashMap<>();
            try {
                for (Parameter p : model.parameters()) {
                    int[] shape = tp.wholeShape(p);
                    weights.put(p.name, Tensor.of(tp.gatherWhole(b, p, p.value), shape));
                    moments.put(p, new Tensor[] {Tensor.of(tp.gatherWhole(b, p, local.first(p)), shape),
                            Tensor.of(tp.gatherWhole(b, p, local.second(p)), shape)});
                }
            } catch (RuntimeException e) {
                new Whole(weights, new FullMoments(moments, true), true).close();
                throw e;
            }
            return new Whole(weights, new FullMoments(moments, true), true);
        }

        @Override
        public void close() {
            if (!owned) return;
            for (Tensor t : weights.values()) t.close();
            moments.close();
        }
    }

    // ---- finding and reading -------------------------------------------------------------------------------

    /**
     * The checkpoint folder to resume from: {@code dir} itself when it is one, else the one the
     * {@code latest} marker of {@code dir/checkpoints} (or of {@code dir}) names, else the newest complete one.
     */
    public static Path find(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(CheckpointManifest.FILE))) return dir;
        Path checkpoints = Files.isDirectory(dir.resolve(FOLDER)) ? dir.resolve(FOLDER) : dir;
        CheckpointWriter writer = new CheckpointWriter(checkpoints);
        writer.recover();                                      // a save cut short leaves .tmp / .old folders
        Rollback.Search search = Rollback.search(writer, System.err::println);   // a damaged latest one falls back to the previous, with a warning
        if (search.found().isEmpty())
            throw new IOException("no intact checkpoint in " + dir + (search.why().isEmpty()
                    ? " (looked for " + checkpoints.resolve("step-NNNNNN") + ")" : ": " + search.why()));
        return search.found().get();
    }

    public static State readState(Path ckpt) throws IOException {
        TrainingState raw = TrainingState.read(ckpt);
        try {
            return new State(raw, TrainConfig.fromMap(withLegacyPlan(raw.config(), ckpt)));
        } catch (IllegalArgumentException e) {
            throw new IOException(ckpt.resolve(STATE) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Runs of earlier versions with a precision plan kept it in RUN/precision_switch.json and only the preset
     * recipe's precision in the config: the plan's keys join the config here, so such runs resume.
     */
    private static Map<String, Object> withLegacyPlan(Map<String, Object> config, Path ckpt) throws IOException {
        Path run = ckpt.toAbsolutePath().getParent() == null ? null : ckpt.toAbsolutePath().getParent().getParent();
        if (run == null || config.containsKey("act_bits")) return config;
        Path legacy = run.resolve(PrecisionSwitch.LEGACY_FILE);
        if (!Files.isRegularFile(legacy)) return config;
        Map<String, Object> m = new LinkedHashMap<>(config);
        try {
            m.putAll(tern.checkpoint.Json.parseObject(Files.readString(legacy)));
        } catch (tern.checkpoint.Json.JsonException e) {
            throw new IOException(legacy + ": " + e.getMessage(), e);
        }
        return m;
    }

    /** Loads weights, moments, the sampler's cursor and the counters of {@code ckpt} into a fresh trainer. */
    public static void restore(Path ckpt, State state, Trainer trainer) throws IOException {
        CheckpointManifest.read(ckpt).verify(ckpt);
        Backend backend = trainer.model().backend();
        TensorParallel tp = trainer.model().tensorParallel();         // the whole model's tensors, cut to this rank's slices
        loadWeights(ckpt, trainer.model().parameters(), backend, tp);
        OptimizerState.load(ckpt.resolve(OPTIMIZER), trainer.optimizer(), backend, tp);
        trainer.sampler().restore(state.raw().dataCursor());
        // a reset of the moments at a precision switch restarts Adam's own count (its bias correction) on purpose
        long optimizerStep = trainer.optimizer().step();
        long expected = trainer.config().precisionSchedule().optimizerStepAt(state.step());
        if (optimizerStep != expected)
            throw new IOException(ckpt + ": optimizer step " + optimizerStep + " where the run's precision plan expects " + expected
                    + " at training step " + state.step());
        trainer.optimizer().setStep(state.step());
        trainer.restoreCounters(state.step(), state.raw().seconds());
        trainer.optimizer().setStep(optimizerStep);
    }

    /**
     * Loads a checkpoint's weights into parameters, by Hugging Face name; every parameter must be there
     * with its shape, and the file must hold nothing else.
     */
    public static void loadWeights(Path ckpt, List<Parameter> parameters, Backend backend) {
        loadWeights(ckpt, parameters, backend, ParameterLayout.WHOLE);
    }

    /**
     * As {@link #loadWeights(Path, List, Backend)} for parameters that are {@code layout}'s parts of the
     * whole model's (a tensor-parallel rank's slices): the file's tensors have the whole shapes.
     */
    public static void loadWeights(Path ckpt, List<Parameter> parameters, Backend backend, ParameterLayout layout) {
        Path file = ckpt.resolve(MODEL);
        try (SafetensorsFile f = Safetensors.open(file)) {
            java.util.Set<String> names = new java.util.HashSet<>();
            for (Parameter p : parameters) {
                names.add(p.name);
                f.tensor(p.name, layout.wholeShape(p)).close();    // validates name, shape and float type first
            }
            for (String n : f.names())
                if (!names.contains(n)) throw new CheckpointException(file, "tensor '" + n + "' matches no parameter of this model");
            for (Parameter p : parameters) {
                try (Tensor whole = f.tensor(p.name, layout.wholeShape(p))) {
                    Tensor mine = layout.part(p, whole);              // this rank's slice, or the whole tensor
                    try {
                        if (p.value.device() == Device.CPU && mine.dtype() == DType.F32) {
                            MemorySegment.copy(mine.segment(), 0, p.value.segment(), 0, p.value.byteSize());
                        } else {
                            try (Tensor up = backend.upload(mine.toFloatArray(), p.value.shape())) {
                                backend.copy(up, p.value);
                            }
                        }
                    } finally {
                        if (mine != whole) mine.close();
                    }
                    if (!backend.allFinite(p.value)) throw notFinite(file, p.name, whole);
                }
            }
        }
    }

    private static CheckpointException notFinite(Path file, String name, Tensor src) {
        long n = src.size();
        for (long i = 0; i < n && src.dtype() == DType.F32; i++) {       // f16/bf16 arrive converted to f32
            float v = src.segment().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i);
            if (!Float.isFinite(v))
                return new CheckpointException(file, "tensor '" + name + "' holds " + v + " at element " + i + " (of " + n
                        + "); the checksum matches, so it was saved so: the weights are not usable");
        }
        return new CheckpointException(file, "tensor '" + name + "' holds a non-finite value (NaN or ±Infinity); the weights are not usable");
    }

    /**
     * The model of a checkpoint (config.json + model.safetensors) found from {@code dir}: a checkpoint
     * folder, or a run / checkpoints folder (its latest checkpoint).
     */
    public static LlamaModel loadModel(Path dir, Backend backend) throws IOException {
        Path ckpt = modelFolder(dir);
        // config, shapes, precision and memory are checked before a byte is allocated
        LlamaModel model = new LlamaModel(backend, ModelPreflight.check(ckpt, backend.device()));
        try {
            loadWeights(ckpt, model.parameters(), backend);
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The folder {@link #loadModel} reads from {@code dir}. */
    public static Path modelFolder(Path dir) throws IOException {
        return Files.isRegularFile(dir.resolve(MODEL)) ? dir : find(dir);
    }
}

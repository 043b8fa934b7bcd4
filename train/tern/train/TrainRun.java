package tern.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tern.checkpoint.CheckpointWriter;
import tern.model.LinearPolicy;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.Backend;
import tern.runtime.Granularity;

/**
 * One training run put together from a {@link TrainConfig}: the token shards of {@code config.data()}, the
 * model of the preset at the chosen precision (its vocabulary taken from the shards), the seeded sampler,
 * the fixed validation batches, the log and the checkpoints under {@code config.out()}. Fresh with
 * {@link #start}, continued from the latest complete checkpoint with {@link #resume}.
 */
public final class TrainRun implements AutoCloseable {
    /** Settings a resumed run may change; the others would change the trajectory the checkpoint is on. */
    public static final Set<String> RESUMABLE_CHANGES = Set.of("steps", "data", "out", "eval_every", "eval_batches", "save_every", "keep",
            "checkpoint_activations");   // the same gradients either way (Tape.checkpoint)

    private final TrainConfig config;
    private final TokenShardSet data;
    private final LlamaModel model;
    private final Trainer trainer;
    private final Path out;
    private final TrainLog log;

    private TrainRun(TrainConfig config, TokenShardSet data, LlamaModel model, Trainer trainer, Path out, TrainLog log) {
        this.config = config;
        this.data = data;
        this.model = model;
        this.trainer = trainer;
        this.out = out;
        this.log = log;
    }

    /** A fresh run: the model initialized from config.seed(), the sampler at its start, a new log. */
    public static TrainRun start(TrainConfig config, Backend backend) throws IOException {
        Path out = outDir(config);
        if (!new CheckpointWriter(out.resolve(TrainCheckpoint.FOLDER)).complete().isEmpty())
            throw new IllegalArgumentException(out + " already holds checkpoints of a run: continue it with --resume " + out
                    + ", or choose another --out");
        TokenShardSet data = openData(config);
        LlamaModel model = null;
        try {
            MemoryPlan plan = MemoryPlan.training(modelConfig(config, data.vocabSize()), config, backend);
            model = plan.allocate(c -> new LlamaModel(backend, c));
            model.setCheckpointedBlocks(plan.checkpointedBlocks());
            model.initialize(config.seed());
            Trainer trainer = newTrainer(config, data, model);
            Files.createDirectories(out);
            Files.writeString(out.resolve("train_config.json"), tern.checkpoint.Json.pretty(config.toMap()));
            return new TrainRun(config, data, model, trainer, out, TrainLog.create(out));
        } catch (RuntimeException | IOException e) {
            if (model != null) model.close();
            data.close();
            throw e;
        }
    }

    /**
     * Continues the run whose latest complete checkpoint is found from {@code dir} (a run folder, its
     * checkpoints folder, or one checkpoint). {@code changes} may alter only {@link #RESUMABLE_CHANGES}.
     */
    public static TrainRun resume(Path dir, Map<String, ?> changes, Backend backend) throws IOException {
        for (String k : changes.keySet())
            if (!RESUMABLE_CHANGES.contains(k))
                throw new IllegalArgumentException("cannot change '" + k + "' when resuming (it would change the trajectory the checkpoint is on); "
                        + "changeable: " + String.join(", ", RESUMABLE_CHANGES.stream().sorted().toList()));
        Path ckpt = TrainCheckpoint.find(dir);
        TrainCheckpoint.State state = TrainCheckpoint.readState(ckpt);
        TrainConfig config = state.config().with(changes);
        Path out = outDir(config);
        TokenShardSet data = openData(config);
        LlamaModel model = null;
        try {
            MemoryPlan plan = MemoryPlan.training(modelConfig(config, data.vocabSize()), config, backend);
            model = plan.allocate(c -> new LlamaModel(backend, c));
            model.setCheckpointedBlocks(plan.checkpointedBlocks());
            Trainer trainer = newTrainer(config, data, model);
            TrainCheckpoint.restore(ckpt, state, trainer);
            return new TrainRun(config, data, model, trainer, out, TrainLog.resume(out, trainer.step()));
        } catch (RuntimeException | IOException e) {
            if (model != null) model.close();
            data.close();
            throw e;
        }
    }

    private static Path outDir(TrainConfig config) {
        if (config.out() == null || config.out().isBlank()) throw new IllegalArgumentException("train setting 'out' (the run folder) is required");
        return Path.of(config.out());
    }

    private static TokenShardSet openData(TrainConfig config) throws IOException {
        if (config.data() == null || config.data().isBlank())
            throw new IllegalArgumentException("train setting 'data' (a folder of token shards made by tern prepare) is required");
        Path dir = Path.of(config.data());
        if (!Files.isDirectory(dir)) throw new DataException(dir, "no such data folder (make one with tern prepare)");
        return TokenShardSet.open(dir);
    }

    private static Trainer newTrainer(TrainConfig config, TokenShardSet data, LlamaModel model) {
        BatchSampler sampler = new BatchSampler(data.train(), config.batch(), config.seq(), config.seed());
        return new Trainer(config, model, sampler, validationBatches(config, data));
    }

    /** The first config.evalBatches() batches of the validation shards, in their fixed order. */
    static List<Batch> validationBatches(TrainConfig config, TokenShardSet data) {
        List<Batch> out = new ArrayList<>();
        if (data.val().isEmpty()) return out;
        Iterator<Batch> it = BatchSampler.validation(data.val(), config.batch(), config.seq());
        while (it.hasNext() && out.size() < config.evalBatches()) out.add(it.next());
        return out;
    }

    /**
     * The preset's shape at the run's precision, with the data's vocabulary and a context at least as
     * long as the training sequences.
     */
    public static LlamaConfig modelConfig(TrainConfig config, int vocabSize) {
        LlamaConfig p = LlamaConfig.preset(config.preset());
        LlamaConfig shaped = p.withVocabSize(vocabSize).withContextLength(Math.max(p.contextLength(), config.seq()));
        return switch (config.precision()) {
            case "float" -> shaped.withPolicy(LinearPolicy.FLOAT);
            case "ternary" -> shaped.ternary();
            case "binary" -> shaped.withPolicy(new LinearPolicy.Binary(Granularity.TENSOR));
            default -> throw new IllegalArgumentException("unknown precision '" + config.precision() + "'");
        };
    }

    public TrainConfig config() { return config; }
    public Trainer trainer() { return trainer; }
    public LlamaModel model() { return model; }
    public TokenShardSet data() { return data; }
    public Path out() { return out; }
    public Path checkpoints() { return out.resolve(TrainCheckpoint.FOLDER); }
    public TrainLog log() { return log; }

    /** Trains to {@code untilStep} (or config.steps()), checkpointing under {@code out/checkpoints}. */
    public Trainer.Result run(long untilStep, Progress progress, TrainerStop stop) {
        Path tokenizer = data.dir().resolve(TrainCheckpoint.TOKENIZER);
        Trainer.Checkpointer saver = t -> TrainCheckpoint.save(t, checkpoints(), Files.isRegularFile(tokenizer) ? tokenizer : null);
        return trainer.run(untilStep, log, progress, saver, stop);
    }

    @Override
    public void close() {
        log.close();
        model.close();
        trainer.optimizer().close();
        data.close();
    }
}

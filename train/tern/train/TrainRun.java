package tern.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import tern.checkpoint.CheckpointWriter;
import tern.checkpoint.Json;
import tern.model.HfConfig;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.model.Precision;
import tern.model.TensorParallel;
import tern.runtime.Backend;
import tern.runtime.GradientSync;

/**
 * One training run, whatever its precision plan and whichever backend computes it: the token shards of
 * {@code config.data()}, the model of the preset (its shape possibly overridden, its vocabulary taken from
 * the shards), the seeded sampler, the fixed validation batches, the log and the checkpoints in the run
 * folder. Fresh with {@link #start}, continued from the latest complete checkpoint with {@link #resume},
 * on the same device or another (checkpoints hold f32 weights and moments, whoever wrote them).
 *
 * <p>The block precision follows the config's {@link PrecisionPlan}: the unchanged {@link Trainer} runs in
 * segments whose ends are the steps where the precision changes (a switch, each step of a phase-in); before
 * each segment the model gets the precision of that step, so the learning-rate schedule, a function of the
 * trainer's step, runs on across a switch untouched. Once a switch has happened, {@code switch.json} holds
 * the validation loss of the same weights right before and right after it, and the training losses of the
 * last update before and the first after it (the loss spike).
 *
 * <p>The run folder is where the run lives: a resumed run writes there, whatever folder its checkpoint
 * recorded; the data folder is recorded as an absolute path (a relative one, from an older run, is resolved
 * against the run folder first, then the working directory). While a run is open the folder is locked
 * ({@link RunLock}): a second trainer on it is refused.
 */
public final class TrainRun implements AutoCloseable {
    /** Settings a resumed run may change; the others would change the trajectory the checkpoint is on. */
    public static final Set<String> RESUMABLE_CHANGES = Set.of("steps", "data", "eval_every", "eval_batches", "save_every", "keep",
            "checkpoint_activations");   // the same gradients either way (Tape.checkpoint)
    public static final String SWITCH_LOG = "switch.json";
    public static final String CONFIG_FILE = "train_config.json";

    private final TrainConfig config;
    private final PrecisionSwitch schedule;
    private final TokenShardSet data;
    private final LlamaModel model;
    private final Trainer trainer;
    private final Path out;
    private final TrainLog log;
    private final RunLock lock;
    private final boolean follower;
    private Path lastCheckpoint;

    /**
     * This process's place in a job of several ranks: its {@link RankGrid} (the data-parallel replicas, each
     * of K tensor-parallel ranks), and whether the optimizer state is sharded across the replicas (ZeRO-1).
     * World rank 0 is the run's only writer (log, config, checkpoints, the lock); the other ranks, followers,
     * read the data and the checkpoint and write nothing.
     */
    public record Ranks(RankGrid grid, boolean shardOptimizer) {
        /** Data parallelism alone over {@code sync}. */
        public Ranks(GradientSync sync, boolean shardOptimizer) { this(RankGrid.dataParallel(sync), shardOptimizer); }

        /** Every rank of the job. */
        public GradientSync sync() { return grid.world(); }

        public boolean follower() { return grid.world().rank() != 0; }

        /** This rank's slice of the model. */
        TensorParallel tensorParallel() { return grid.tensor() == null ? TensorParallel.NONE : new TensorParallel(grid.tensor()); }
    }

    private TrainRun(TrainConfig config, TokenShardSet data, LlamaModel model, Trainer trainer, Path out, TrainLog log, RunLock lock) {
        this.config = config;
        this.schedule = config.precisionSchedule();
        this.data = data;
        this.model = model;
        this.trainer = trainer;
        this.out = out;
        this.log = log;
        this.lock = lock;
        RankGrid grid = trainer.rankGrid();
        this.follower = grid != null && grid.world().rank() != 0;
    }

    /** A fresh run: the model initialized from config.seed(), the sampler at its start, a new log. */
    public static TrainRun start(TrainConfig config, Backend backend) throws IOException {
        return start(config, backend, null);
    }

    /**
     * A fresh run whose weights start from the checkpoint {@code init} (a checkpoint or run folder, e.g. a
     * FloatLM to continue in ternary), or from config.seed() when {@code init} is null.
     */
    public static TrainRun start(TrainConfig config, Backend backend, Path init) throws IOException {
        return start(config, backend, init, null);
    }

    /** As {@link #start(TrainConfig, Backend, Path)}, as one rank of a data-parallel job ({@code ranks} null: alone). */
    public static TrainRun start(TrainConfig config, Backend backend, Path init, Ranks ranks) throws IOException {
        Path out = outDir(config);
        boolean follower = ranks != null && ranks.follower();
        RunLock lock = follower ? null : RunLock.acquire(out);
        TokenShardSet data = null;
        LlamaModel model = null;
        try {
            if (!new CheckpointWriter(out.resolve(TrainCheckpoint.FOLDER)).complete().isEmpty())
                throw new IllegalArgumentException(out + " already holds checkpoints of a run: continue it with --resume " + out
                        + ", or choose another --out");
            Path dataDir = dataDir(config.data());
            data = openData(dataDir);
            config = config.withFolders(dataDir.toString(), out.toString());
            Precision first = config.precisionSchedule().precisionAt(0);
            TensorParallel tp = ranks == null ? TensorParallel.NONE : ranks.tensorParallel();
            MemoryPlan memory = MemoryPlan.training(modelConfig(config, data.vocabSize()), config, backend, tp.ranks());
            model = memory.allocate(c -> new LlamaModel(backend, c.withPrecision(first), tp));
            model.setCheckpointedBlocks(memory.checkpointedBlocks());
            model.initialize(config.seed());                     // a slice of the whole model's draws on each tensor-parallel rank
            if (init != null) TrainCheckpoint.loadWeights(TrainCheckpoint.modelFolder(init), model.parameters(), backend, tp);
            Trainer trainer = newTrainer(config, data, model, ranks);
            TrainLog log = null;
            if (!follower) {
                Files.writeString(out.resolve(CONFIG_FILE), Json.pretty(recordedConfig(config, backend, init, ranks)));
                Files.deleteIfExists(out.resolve(SWITCH_LOG));
                log = TrainLog.create(out);
                log.writeSession(session(0, backend, ranks));
            }
            return new TrainRun(config, data, model, trainer, out, log, lock);
        } catch (RuntimeException | IOException e) {
            if (model != null) model.close();
            if (data != null) data.close();
            if (lock != null) lock.close();
            throw e;
        }
    }

    /**
     * Continues the run whose latest complete checkpoint is found from {@code dir} (a run folder, its
     * checkpoints folder, or one checkpoint), in that run folder. {@code changes} may alter only
     * {@link #RESUMABLE_CHANGES}.
     */
    public static TrainRun resume(Path dir, Map<String, ?> changes, Backend backend) throws IOException {
        return resume(dir, changes, backend, null);
    }

    /**
     * As {@link #resume(Path, Map, Backend)}, as one rank of a data-parallel job. The ranks agree on the
     * checkpoint: rank 0 finds it (recovering a save that was cut short, which only the writer may do) and
     * the others take the step it found, so every rank loads the same one whatever the number of ranks
     * that wrote it.
     */
    public static TrainRun resume(Path dir, Map<String, ?> changes, Backend backend, Ranks ranks) throws IOException {
        for (String k : changes.keySet())
            if (!RESUMABLE_CHANGES.contains(k))
                throw new IllegalArgumentException("cannot change '" + k + "' when resuming (" + (k.equals("out")
                        ? "a resumed run lives in the folder given to --resume; copy the folder to continue it elsewhere"
                        : "it would change the trajectory the checkpoint is on") + "); changeable: "
                        + String.join(", ", RESUMABLE_CHANGES.stream().sorted().toList()));
        Path out = runFolder(dir);
        boolean follower = ranks != null && ranks.follower();
        RunLock lock = follower ? null : RunLock.acquire(out);
        TokenShardSet data = null;
        LlamaModel model = null;
        try {
            Path ckpt = agreedCheckpoint(dir, out, ranks);
            TrainCheckpoint.State state = TrainCheckpoint.readState(ckpt);
            TrainConfig recorded = state.config();
            // a fractional switch stays where it was when the run's length changes
            recorded = recorded.withPlan(recorded.precision().pinned(recorded.steps()));
            Map<String, Object> c = new LinkedHashMap<>(changes);
            Path dataDir = changes.containsKey("data") ? dataDir(String.valueOf(changes.get("data"))) : recordedData(recorded, out, ckpt);
            c.put("data", dataDir.toString());
            c.put("out", out.toString());
            TrainConfig config = recorded.with(c);
            data = openData(dataDir);
            LlamaConfig shape = modelConfig(config, data.vocabSize());
            LlamaConfig saved = savedShape(ckpt);
            if (saved != null && config.shape().isPreset() && !sameShape(saved, shape)) {
                // runs of earlier versions kept a shape override only in the checkpoint's config.json
                config = config.with(Map.of("hidden", saved.hidden(), "intermediate", saved.intermediate(), "layers", saved.layers(), "heads", saved.heads()));
                shape = modelConfig(config, data.vocabSize());
            }
            Precision now = config.precisionSchedule().precisionAt(state.step());
            TensorParallel tp = ranks == null ? TensorParallel.NONE : ranks.tensorParallel();
            MemoryPlan memory = MemoryPlan.training(shape, config, backend, tp.ranks());
            model = memory.allocate(x -> new LlamaModel(backend, x.withPrecision(now), tp));
            model.setCheckpointedBlocks(memory.checkpointedBlocks());
            Trainer trainer = newTrainer(config, data, model, ranks);
            TrainCheckpoint.restore(ckpt, state, trainer);
            TrainLog log = null;
            if (!follower) {
                log = TrainLog.resume(out, trainer.step());
                log.writeSession(session(trainer.step(), backend, ranks));
            }
            TrainRun run = new TrainRun(config, data, model, trainer, out, log, lock);
            run.lastCheckpoint = ckpt;
            return run;
        } catch (RuntimeException | IOException e) {
            if (model != null) model.close();
            if (data != null) data.close();
            if (lock != null) lock.close();
            throw e;
        }
    }

    /** The checkpoint to resume from, the same on every rank (see {@link #resume(Path, Map, Backend, Ranks)}). */
    private static Path agreedCheckpoint(Path dir, Path out, Ranks ranks) throws IOException {
        boolean given = Files.isRegularFile(dir.resolve(TrainCheckpoint.STATE));
        if (ranks == null) return given ? dir : TrainCheckpoint.find(out);
        Path found = ranks.follower() ? null : given ? dir : TrainCheckpoint.find(out);
        long step = found == null ? 0 : TrainCheckpoint.readState(found).step();
        long agreed = Math.round(ranks.sync().sum(step));        // the others add 0
        if (found != null) return found;
        Path ckpt = out.resolve(TrainCheckpoint.FOLDER).resolve(String.format("step-%06d", agreed));
        if (!Files.isRegularFile(ckpt.resolve(TrainCheckpoint.STATE)))
            throw new IOException("rank " + ranks.sync().rank() + ": rank 0 resumes from step " + agreed + ", but " + ckpt
                    + " is not there (the run folder must be the same for every rank, e.g. a shared file system)");
        return ckpt;
    }

    /** The run folder of {@code dir}: itself, or the run above a checkpoints folder or a checkpoint in one. */
    public static Path runFolder(Path dir) {
        Path d = dir.toAbsolutePath().normalize();
        if (Files.isRegularFile(d.resolve(TrainCheckpoint.STATE)) && d.getParent() != null
                && d.getParent().getFileName() != null && d.getParent().getFileName().toString().equals(TrainCheckpoint.FOLDER))
            return d.getParent().getParent();
        if (d.getFileName() != null && d.getFileName().toString().equals(TrainCheckpoint.FOLDER) && !Files.isDirectory(d.resolve(TrainCheckpoint.FOLDER)))
            return d.getParent();
        return d;
    }

    /** The checkpoint's recorded data folder: absolute as recorded, or (older runs) relative to the run folder, then to here. */
    private static Path recordedData(TrainConfig recorded, Path out, Path ckpt) {
        if (recorded.data() == null || recorded.data().isBlank())
            throw new IllegalArgumentException(ckpt.resolve(TrainCheckpoint.STATE) + " names no data folder: give --data DIR");
        Path p = Path.of(recorded.data());
        if (p.isAbsolute()) {
            if (!Files.isDirectory(p))
                throw new DataException(p, "no such data folder (recorded in " + ckpt.resolve(TrainCheckpoint.STATE) + "): give --data DIR");
            return p;
        }
        Path againstRun = out.resolve(p).normalize();
        if (Files.isDirectory(againstRun)) return againstRun;
        Path againstHere = p.toAbsolutePath().normalize();
        if (Files.isDirectory(againstHere)) return againstHere;
        throw new DataException(p, "no such data folder: the relative path recorded in " + ckpt.resolve(TrainCheckpoint.STATE)
                + " is neither in the run folder (" + againstRun + ") nor here (" + againstHere + "): give --data DIR");
    }

    private static LlamaConfig savedShape(Path ckpt) throws IOException {
        Path file = ckpt.resolve(TrainCheckpoint.CONFIG);
        if (!Files.isRegularFile(file)) return null;
        return HfConfig.read(Files.readString(file), file.toString());
    }

    private static boolean sameShape(LlamaConfig a, LlamaConfig b) {
        return a.hidden() == b.hidden() && a.intermediate() == b.intermediate() && a.layers() == b.layers() && a.heads() == b.heads();
    }

    private static Path outDir(TrainConfig config) {
        if (config.out() == null || config.out().isBlank()) throw new IllegalArgumentException("train setting 'out' (the run folder) is required");
        return Path.of(config.out()).toAbsolutePath().normalize();
    }

    private static Path dataDir(String data) {
        if (data == null || data.isBlank())
            throw new IllegalArgumentException("train setting 'data' (a folder of token shards made by tern prepare) is required");
        return Path.of(data).toAbsolutePath().normalize();
    }

    private static TokenShardSet openData(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) throw new DataException(dir, "no such data folder (make one with tern prepare)");
        return TokenShardSet.open(dir);
    }

    /** What train_config.json holds: the config, and the device, compute type and initialization of this session. */
    private static Map<String, Object> recordedConfig(TrainConfig config, Backend backend, Path init, Ranks ranks) {
        Map<String, Object> m = new LinkedHashMap<>(config.toMap());
        m.put("device", backend.name());
        m.put("compute", backend.compute());
        putRanks(m, ranks);
        if (init != null) m.put("init", init.toAbsolutePath().normalize().toString());
        return m;
    }

    private static Map<String, Object> session(long step, Backend backend, Ranks ranks) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("device", backend.name());
        m.put("compute", backend.compute());
        putRanks(m, ranks);
        return m;
    }

    /** How many ranks computed, and how (a session may change it: checkpoints do not depend on it). */
    private static void putRanks(Map<String, Object> m, Ranks ranks) {
        if (ranks == null) return;
        m.put("ranks", ranks.sync().ranks());
        m.put("tensor_parallel", ranks.grid().tensorRanks());
        m.put("optimizer_sharded", ranks.shardOptimizer() && ranks.grid().data() != null);   // no data group (one replica): whole
    }

    private static Trainer newTrainer(TrainConfig config, TokenShardSet data, LlamaModel model, Ranks ranks) {
        BatchSampler sampler = new BatchSampler(data.train(), config.batch(), config.seq(), config.seed());
        Trainer trainer = new Trainer(config, model, sampler, validationBatches(config, data));
        if (ranks != null) trainer.parallel(ranks.grid(), ranks.shardOptimizer());
        return trainer;
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
     * The preset's shape (with the config's overrides) at the plan's starting precision, with the data's
     * vocabulary and a context at least as long as the training sequences.
     */
    public static LlamaConfig modelConfig(TrainConfig config, int vocabSize) {
        LlamaConfig p = LlamaConfig.preset(config.preset());
        LlamaConfig shaped = config.shape().apply(p).withVocabSize(vocabSize).withContextLength(Math.max(p.contextLength(), config.seq()));
        PrecisionPlan plan = config.precision().withTernaryShards(config.ternaryShardsOr(shaped.modelParallel()));
        return shaped.withPrecision(new Precision(plan.start(), 1f, plan.activationBits(), plan.kvBits()));
    }

    public TrainConfig config() { return config; }
    public PrecisionSwitch schedule() { return schedule; }
    public Trainer trainer() { return trainer; }
    public LlamaModel model() { return model; }
    public TokenShardSet data() { return data; }
    public Path out() { return out; }
    public Path checkpoints() { return out.resolve(TrainCheckpoint.FOLDER); }
    /** The log; null on a follower rank, which writes none. */
    public TrainLog log() { return log; }

    /** Trains to {@code untilStep} (or config.steps()), checkpointing under {@code out/checkpoints}. */
    public Trainer.Result run(long untilStep, Progress progress, TrainerStop stop) {
        try {
            return run(untilStep, progress, stop, null);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Trains to {@code untilStep} (capped at config.steps()) or a stop request. Checkpoints follow
     * config.saveEvery(), plus the end of this invocation; segment ends at precision changes save nothing.
     * {@code console} (nullable) gets the switch report and, without a {@code progress}, a line per validation.
     */
    public Trainer.Result run(long untilStep, Progress progress, TrainerStop stop, PrintStream console) throws IOException {
        long end = Math.min(untilStep, config.steps());
        Path tokenizer = data.dir().resolve(TrainCheckpoint.TOKENIZER);
        Path checkpoints = checkpoints();
        Trainer.Checkpointer saver = t -> {
            boolean due = (config.saveEvery() > 0 && t.step() % config.saveEvery() == 0) || t.step() == end
                    || t.step() == config.steps() || t.stopping();
            if (due && follower) TrainCheckpoint.joinSave(t);        // rank 0 writes it
            else if (due) lastCheckpoint = TrainCheckpoint.save(t, checkpoints, Files.isRegularFile(tokenizer) ? tokenizer : null);
            return lastCheckpoint;
        };
        double lastVal = Double.NaN;
        boolean stopped = false;
        boolean reportValidations = console != null && progress == null;
        while (trainer.step() < end) {
            long s = trainer.step();
            Map<String, Object> event = applyPrecision(s);
            long segmentEnd = Math.min(end, schedule.nextChange(s));
            if (config.evalEvery() > 0 && reportValidations)             // report each validation as it comes
                segmentEnd = Math.min(segmentEnd, (s / config.evalEvery() + 1) * config.evalEvery());
            Trainer.Result r = trainer.run(segmentEnd, log, progress, saver, stop);
            if (!Double.isNaN(r.lastValidationLoss())) {
                lastVal = r.lastValidationLoss();
                if (reportValidations)
                    console.printf(Locale.ROOT, "step %d/%d: validation loss %.4f (%s)%n", r.step(), config.steps(), lastVal,
                            model.precision().weights().label());
            }
            if (event != null && !follower) finishSwitchLog(event, console, progress);
            if (r.stopped()) {
                stopped = true;
                break;
            }
        }
        return new Trainer.Result(trainer.step(), stopped, lastVal, lastCheckpoint);
    }

    /**
     * Gives the model the precision of update {@code step}; at the switch, resets the moments if asked and
     * measures the validation loss of the same weights before and after; returns that event (else null).
     */
    private Map<String, Object> applyPrecision(long step) throws IOException {
        boolean switching = schedule.switches() && step == schedule.switchAt();
        Map<String, Object> event = null;
        if (switching) {
            event = new LinkedHashMap<>();
            event.put("step", step);
            event.put("from", schedule.before().label());
            event.put("to", schedule.after().label());
            event.put("optimizer", schedule.resetOptimizer() ? "reset" : "kept");
            event.put("phase_in", schedule.phaseIn().steps());
            event.put("val_loss_before", trainer.validationLoss());
        }
        model.setPrecision(schedule.precisionAt(step));
        if (schedule.resetsAt(step)) trainer.optimizer().reset();
        if (switching) {
            // λ is 0 at the switch step with a phase-in, so "after" also shows the fully quantized weights
            Precision now = model.precision();
            model.setPrecision(now.withPhaseIn(1f));
            event.put("val_loss_quantized", trainer.validationLoss());
            model.setPrecision(now);
            if (!follower) Files.writeString(out.resolve(SWITCH_LOG), Json.pretty(event));
        }
        return event;
    }

    /** Adds the training losses around the switch (from the log) once the first switched update is done. */
    private void finishSwitchLog(Map<String, Object> event, PrintStream console, Progress progress) throws IOException {
        long at = ((Number) event.get("step")).longValue();
        Double before = null, after = null;
        for (TrainLog.Step st : TrainLog.readSteps(log.file())) {
            if (st.step() == at) before = (double) st.loss();           // the last update before the switch
            if (st.step() == at + 1) after = (double) st.loss();        // the first one after it
        }
        event.put("train_loss_before", before);
        event.put("train_loss_after", after);
        Files.writeString(out.resolve(SWITCH_LOG), Json.pretty(event));
        String line = String.format(Locale.ROOT, "switch at step %d: %s → %s, optimizer %s, phase-in %d; validation loss %.4f → %.4f quantized; training loss %s → %s",
                at, event.get("from"), event.get("to"), event.get("optimizer"), schedule.phaseIn().steps(),
                (Double) event.get("val_loss_before"), (Double) event.get("val_loss_quantized"), before, after);
        if (progress != null) progress.message(line);
        else if (console != null) console.println(line);
    }

    @Override
    public void close() {
        try {
            if (log != null) log.close();
            model.close();
            trainer.optimizer().close();
            data.close();
        } finally {
            if (lock != null) lock.close();
        }
    }
}

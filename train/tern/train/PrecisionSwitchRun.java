package tern.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import tern.checkpoint.CheckpointManifest;
import tern.checkpoint.Json;
import tern.checkpoint.OptimizerState;
import tern.model.HfConfig;
import tern.model.LlamaConfig;
import tern.model.LlamaModel;
import tern.runtime.Backend;

/**
 * A training run whose block precision follows a {@link PrecisionSwitch}: continual QAT (float, then ternary
 * from a step, optionally phased in, with the AdamW moments kept or reset) and k-bit training. It drives the
 * unchanged {@link Trainer} in segments whose ends are the steps where the precision changes; before each
 * segment the model gets {@code plan.precisionAt(step)}, so the learning-rate schedule (a function of the
 * trainer's step) runs on across the switch untouched.
 *
 * <p>Besides what {@link TrainRun} writes, the run folder holds {@code precision_switch.json} (the resolved
 * plan: a resumed run recomputes everything from it and the checkpoint's step), and, once the switch has
 * happened, {@code switch.json}: the validation loss of the same weights right before and right after the
 * switch, and the training losses of the last update before and the first after it (the loss spike).
 *
 * <p>A shape override (hidden, intermediate, layers, heads) lets a sweep train sizes between the presets; a
 * resumed run takes its shape from the checkpoint's config.json.
 */
public final class PrecisionSwitchRun implements AutoCloseable {
    public static final String SWITCH_LOG = "switch.json";

    private final TrainConfig config;
    private final PrecisionSwitch plan;
    private final TokenShardSet data;
    private final LlamaModel model;
    private final Trainer trainer;
    private final Path out;
    private final TrainLog log;
    private Path lastCheckpoint;

    private PrecisionSwitchRun(TrainConfig config, PrecisionSwitch plan, TokenShardSet data, LlamaModel model,
                               Trainer trainer, Path out, TrainLog log) {
        this.config = config;
        this.plan = plan;
        this.data = data;
        this.model = model;
        this.trainer = trainer;
        this.out = out;
        this.log = log;
    }

    /**
     * A fresh run. {@code shape} may override hidden, intermediate, layers and heads of the preset (null: the
     * preset's); {@code init} (null: seeded initialization) is a checkpoint whose weights start the run,
     * e.g. a FloatLM to continue in ternary.
     */
    public static PrecisionSwitchRun start(TrainConfig config, PrecisionSwitch plan, Map<String, ?> shape, Path init,
                                           Backend backend) throws IOException {
        Path out = Path.of(requireOut(config));
        TokenShardSet data = TokenShardSet.open(Path.of(requireData(config)));
        LlamaModel model = null;
        try {
            LlamaConfig shaped = reshape(TrainRun.modelConfig(config, data.vocabSize()), shape);
            model = new LlamaModel(backend, shaped.withPrecision(plan.precisionAt(0)));
            model.initialize(config.seed());
            if (init != null) TrainCheckpoint.loadWeights(TrainCheckpoint.modelFolder(init), model.parameters(), backend);
            Trainer trainer = newTrainer(config, data, model);
            Files.createDirectories(out);
            Files.writeString(out.resolve("train_config.json"), Json.pretty(config.toMap()));
            Files.writeString(out.resolve(PrecisionSwitch.FILE), Json.pretty(plan.toMap()));
            Files.deleteIfExists(out.resolve(SWITCH_LOG));
            return new PrecisionSwitchRun(config, plan, data, model, trainer, out, TrainLog.create(out));
        } catch (RuntimeException | IOException e) {
            if (model != null) model.close();
            data.close();
            throw e;
        }
    }

    /** True when {@code runDir} was started by this class (it holds the plan). */
    public static boolean isSwitchRun(Path runDir) { return Files.isRegularFile(runDir.resolve(PrecisionSwitch.FILE)); }

    /**
     * Continues the run in {@code runDir} from its latest complete checkpoint; {@code changes} may alter only
     * {@link TrainRun#RESUMABLE_CHANGES}.
     */
    public static PrecisionSwitchRun resume(Path runDir, Map<String, ?> changes, Backend backend) throws IOException {
        for (String k : changes.keySet())
            if (!TrainRun.RESUMABLE_CHANGES.contains(k))
                throw new IllegalArgumentException("cannot change '" + k + "' when resuming (it would change the trajectory the checkpoint is on)");
        Path planFile = runDir.resolve(PrecisionSwitch.FILE);
        if (!Files.isRegularFile(planFile)) throw new IOException(planFile + ": missing (not a precision-switch run folder)");
        Path ckpt = TrainCheckpoint.find(runDir);
        TrainCheckpoint.State state = TrainCheckpoint.readState(ckpt);
        TrainConfig config = state.config().with(changes);
        Path configJson = ckpt.resolve(TrainCheckpoint.CONFIG);
        LlamaConfig shape = HfConfig.read(Files.readString(configJson), configJson.toString());
        PrecisionSwitch plan;
        try {
            plan = PrecisionSwitch.fromMap(Json.parseObject(Files.readString(planFile)), shape.modelParallel());
        } catch (Json.JsonException | IllegalArgumentException e) {
            throw new IOException(planFile + ": " + e.getMessage(), e);
        }
        TokenShardSet data = TokenShardSet.open(Path.of(requireData(config)));
        LlamaModel model = null;
        try {
            model = new LlamaModel(backend, shape.withPrecision(plan.precisionAt(state.step())));
            Trainer trainer = newTrainer(config, data, model);
            restore(ckpt, state, trainer);
            Path out = Path.of(requireOut(config));
            PrecisionSwitchRun run = new PrecisionSwitchRun(config, plan, data, model, trainer, out, TrainLog.resume(out, trainer.step()));
            run.lastCheckpoint = ckpt;
            return run;
        } catch (RuntimeException | IOException e) {
            if (model != null) model.close();
            data.close();
            throw e;
        }
    }

    /**
     * {@link TrainCheckpoint#restore}, except that the optimizer's own step may trail the trainer's: a reset
     * at the switch restarts Adam's bias correction on purpose, which the trainer's consistency check (made
     * for runs without a reset) would refuse.
     */
    private static void restore(Path ckpt, TrainCheckpoint.State state, Trainer trainer) throws IOException {
        CheckpointManifest.read(ckpt).verify(ckpt);
        Backend backend = trainer.model().backend();
        TrainCheckpoint.loadWeights(ckpt, trainer.model().parameters(), backend);
        OptimizerState.load(ckpt.resolve(TrainCheckpoint.OPTIMIZER), trainer.optimizer(), backend);
        trainer.sampler().restore(state.raw().dataCursor());
        long optimizerStep = trainer.optimizer().step();
        if (optimizerStep > state.step())
            throw new IOException(ckpt + ": optimizer step " + optimizerStep + " is ahead of the training step " + state.step());
        trainer.optimizer().setStep(state.step());
        trainer.restoreCounters(state.step(), state.raw().seconds());
        trainer.optimizer().setStep(optimizerStep);
    }

    private static Trainer newTrainer(TrainConfig config, TokenShardSet data, LlamaModel model) {
        BatchSampler sampler = new BatchSampler(data.train(), config.batch(), config.seq(), config.seed());
        return new Trainer(config, model, sampler, TrainRun.validationBatches(config, data));
    }

    /** {@code base} with hidden/intermediate/layers/heads replaced where {@code shape} names them. */
    static LlamaConfig reshape(LlamaConfig base, Map<String, ?> shape) {
        if (shape == null || shape.isEmpty()) return base;
        for (String k : shape.keySet())
            if (!List.of("hidden", "intermediate", "layers", "heads").contains(k))
                throw new IllegalArgumentException("unknown shape setting '" + k + "' (known: hidden, intermediate, layers, heads)");
        return new LlamaConfig(base.vocabSize(), dim(shape, "hidden", base.hidden()), dim(shape, "intermediate", base.intermediate()),
                dim(shape, "layers", base.layers()), dim(shape, "heads", base.heads()), base.contextLength(),
                base.rmsEps(), base.ropeTheta(), base.modelParallel(), base.precision());
    }

    private static int dim(Map<String, ?> shape, String key, int fallback) {
        Object v = shape.get(key);
        if (v == null) return fallback;
        if (v instanceof Number n && n.intValue() == n.doubleValue() && n.intValue() > 0) return n.intValue();
        throw new IllegalArgumentException("shape setting '" + key + "' must be a positive whole number, got " + v);
    }

    private static String requireOut(TrainConfig c) {
        if (c.out() == null || c.out().isBlank()) throw new IllegalArgumentException("train setting 'out' (the run folder) is required");
        return c.out();
    }

    private static String requireData(TrainConfig c) {
        if (c.data() == null || c.data().isBlank()) throw new IllegalArgumentException("train setting 'data' (token shards from tern prepare) is required");
        return c.data();
    }

    // ---- training ------------------------------------------------------------------------------------------

    /**
     * Trains to {@code untilStep} (capped at config.steps()) or a stop request. Checkpoints follow
     * config.saveEvery(), plus the end of this invocation; segment ends at precision changes save nothing.
     * {@code out} (nullable) gets a line per validation and the switch report.
     */
    public Trainer.Result run(long untilStep, TrainerStop stop, PrintStream console) throws IOException {
        long end = Math.min(untilStep, config.steps());
        Path tokenizer = data.dir().resolve(TrainCheckpoint.TOKENIZER);
        Path checkpoints = out.resolve(TrainCheckpoint.FOLDER);
        Trainer.Checkpointer saver = t -> {
            boolean due = (config.saveEvery() > 0 && t.step() % config.saveEvery() == 0) || t.step() == end
                    || t.step() == config.steps() || (stop != null && stop.requested());
            if (due) lastCheckpoint = TrainCheckpoint.save(t, checkpoints, Files.isRegularFile(tokenizer) ? tokenizer : null);
            return lastCheckpoint;
        };
        double lastVal = Double.NaN;
        boolean stopped = false;
        while (trainer.step() < end) {
            long s = trainer.step();
            Map<String, Object> event = applyPrecision(s);
            long segmentEnd = Math.min(end, plan.nextChange(s));
            if (config.evalEvery() > 0 && console != null)         // report each validation as it comes
                segmentEnd = Math.min(segmentEnd, (s / config.evalEvery() + 1) * config.evalEvery());
            Trainer.Result r = trainer.run(segmentEnd, log, null, saver, stop);
            if (!Double.isNaN(r.lastValidationLoss())) {
                lastVal = r.lastValidationLoss();
                if (console != null)
                    console.printf(Locale.ROOT, "step %d/%d: validation loss %.4f (%s)%n", r.step(), config.steps(), lastVal,
                            model.precision().weights().label());
            }
            if (event != null) finishSwitchLog(event, console);
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
        boolean switching = plan.switches() && step == plan.switchAt();
        Map<String, Object> event = null;
        if (switching) {
            event = new LinkedHashMap<>();
            event.put("step", step);
            event.put("from", plan.before().label());
            event.put("to", plan.after().label());
            event.put("optimizer", plan.resetOptimizer() ? "reset" : "kept");
            event.put("phase_in", plan.phaseIn().steps());
            event.put("val_loss_before", trainer.validationLoss());
        }
        model.setPrecision(plan.precisionAt(step));
        if (plan.resetsAt(step)) trainer.optimizer().reset();
        if (switching) {
            // λ is 0 at the switch step with a phase-in, so "after" also shows the fully quantized weights
            tern.model.Precision now = model.precision();
            model.setPrecision(now.withPhaseIn(1f));
            event.put("val_loss_quantized", trainer.validationLoss());
            model.setPrecision(now);
            Files.writeString(out.resolve(SWITCH_LOG), Json.pretty(event));
        }
        return event;
    }

    /** Adds the training losses around the switch (from the log) once the first switched update is done. */
    private void finishSwitchLog(Map<String, Object> event, PrintStream console) throws IOException {
        long at = ((Number) event.get("step")).longValue();
        Double before = null, after = null;
        for (TrainLog.Step st : TrainLog.readSteps(log.file())) {
            if (st.step() == at) before = (double) st.loss();           // the last update before the switch
            if (st.step() == at + 1) after = (double) st.loss();        // the first one after it
        }
        event.put("train_loss_before", before);
        event.put("train_loss_after", after);
        Files.writeString(out.resolve(SWITCH_LOG), Json.pretty(event));
        if (console != null)
            console.printf(Locale.ROOT, "switch at step %d: %s → %s, optimizer %s, phase-in %d; validation loss %.4f → %.4f quantized; training loss %s → %s%n",
                    at, event.get("from"), event.get("to"), event.get("optimizer"), plan.phaseIn().steps(),
                    (Double) event.get("val_loss_before"), (Double) event.get("val_loss_quantized"), before, after);
    }

    public TrainConfig config() { return config; }
    public PrecisionSwitch plan() { return plan; }
    public Trainer trainer() { return trainer; }
    public LlamaModel model() { return model; }
    public TokenShardSet data() { return data; }
    public Path out() { return out; }
    public TrainLog log() { return log; }

    @Override
    public void close() {
        log.close();
        model.close();
        trainer.optimizer().close();
        data.close();
    }
}
